package lab

import (
	"bytes"
	"fmt"
	"maps"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/ottr-go/ottr/internal/config"
)

// credential is one named login of the lab's config. Secrets are file:
// references to files in the lab directory, never values.
type credential struct {
	Username   string `yaml:"username"`
	Password   string `yaml:"password,omitempty"`
	PrivateKey string `yaml:"private_key,omitempty"`
}

// labRoute is one route of the lab's config.
type labRoute struct {
	Name    string            `yaml:"name"`
	Match   map[string]string `yaml:"match,flow"`
	Driver  string            `yaml:"driver"`
	Options map[string]any    `yaml:"options"`
}

// writeConfig writes ottr.yaml for the lab and loads it back through the
// same parser an operator's file goes through.
func (l *Lab) writeConfig(o Options) error {
	var y bytes.Buffer
	fmt.Fprintf(&y, `# ottr.yaml written by 'ottr lab' for its embedded CA, DNS server and devices.
data_dir: %q
workers:
  concurrency: %d
  job_timeout: 2m
  memory_limit_mib: %d
scheduler:
  interval: 1m
certificate_authorities:
  %s:
    directory: %q
    roots_file: %q
    profile: %q
    key_type: ecdsa256
    expected_issuers: ["Pebble"]
    min_lifetime: 24h
dns:
  zones:
    %s: %s
  resolvers: [%q]
  propagation_timeout: 30s
  polling_interval: 100ms
  check_resolvers_only: true
  rfc2136:
    nameserver: %q
    tsig_key: %q
    tsig_algorithm: hmac-sha256.
    tsig_secret: %q
`, l.Dir, o.Concurrency, o.MemoryLimitMiB, CAName, l.CA.DirectoryURL(), l.path("ca-roots.pem"), o.Profile,
		DeviceZone, DelegateZone, l.DNS.Addr(), l.DNS.Addr(), tsigKeyName, "file:"+l.path("tsig.secret"))

	rest, err := l.credentialsAndRoutes()
	if err != nil {
		return err
	}
	enc := yaml.NewEncoder(&y)
	enc.SetIndent(2)
	if err := enc.Encode(rest); err != nil {
		return fmt.Errorf("lab: config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("lab: config: %w", err)
	}
	l.ConfigPath = l.path("ottr.yaml")
	if err := os.WriteFile(l.ConfigPath, y.Bytes(), 0o600); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	cfg, err := config.Load(l.ConfigPath)
	if err != nil {
		return fmt.Errorf("lab: the generated config does not load: %w", err)
	}
	l.Config = cfg
	return nil
}

// credentialsAndRoutes returns the credentials and routes sections: the
// lab's SSH login as "default", a password login per platform that has one,
// and one route per platform with the options that reach its devices.
func (l *Lab) credentialsAndRoutes() (any, error) {
	creds := map[string]credential{
		"default": {Username: "ottr", PrivateKey: "file:" + l.path("id_ed25519")},
	}
	routes := make([]labRoute, 0, len(l.platforms))
	for _, p := range l.platforms {
		if lg, ok := l.logins[p.name]; ok {
			c := credential{Username: lg.username, Password: "file:" + l.passwordFile(p.name)}
			if p.keyLogin {
				c = credential{Username: lg.username, PrivateKey: "file:" + l.scriptKeyFile()}
			}
			creds[p.credentialsName()] = c
		}
		first := l.firstDevice(p.name)
		if first == nil {
			// Fewer devices than platforms: this one has none, and
			// needs no route.
			continue
		}
		options := maps.Clone(first.Emulator.RouteOptions())
		if p.routeOptions != nil {
			var err error
			if options, err = p.routeOptions(l, first.Emulator); err != nil {
				return nil, err
			}
		}
		if p.caFile {
			options["ca_file"] = l.deviceRootsFile()
		}
		routes = append(routes, labRoute{
			Name:    "lab-" + p.name,
			Match:   map[string]string{"platform": p.name},
			Driver:  p.driver,
			Options: options,
		})
	}
	return struct {
		Credentials map[string]credential `yaml:"credentials"`
		Routes      []labRoute            `yaml:"routes"`
	}{creds, routes}, nil
}

// firstDevice returns the first device of a platform, or nil.
func (l *Lab) firstDevice(platform string) *Device {
	for _, d := range l.Devices {
		if d.Platform == platform {
			return d
		}
	}
	return nil
}
