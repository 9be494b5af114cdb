package config

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/policy"
	"github.com/ottr-go/ottr/internal/ratelimit"
)

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte("certificate_authorities:\n  le:\n    directory: https://acme.example/dir\n"), "/etc/ottr/ottr.yaml")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"puts the data directory beside the config file", c.DataDir, "/etc/ottr/ottr-data"},
		{"keeps the database in the data directory", c.Database, "/etc/ottr/ottr-data/ottr.db"},
		{"keeps the master key in the data directory", c.MasterKeyFile, "/etc/ottr/ottr-data/master.key"},
		{"keeps known_hosts in the data directory", c.KnownHostsFile, "/etc/ottr/ottr-data/known_hosts"},
		{"scans every five minutes", c.Scheduler.Interval, 5 * time.Minute},
		{"enqueues at most ten thousand per scan", c.Scheduler.Batch, 10000},
		{"runs fifty rotations at once", c.Workers.Concurrency, 50},
		{"gives a rotation ten minutes", c.Workers.JobTimeout, 10 * time.Minute},
		{"has devices generate ECDSA P-256 keys", c.CertificateAuthorities["le"].KeyType, "ecdsa256"},
		{"wants a day of lifetime on a fresh certificate", c.CertificateAuthorities["le"].MinLifetime, 24 * time.Hour},
		{"looks at a challenge again after half a second when the CA sends no Retry-After", c.CertificateAuthorities["le"].PollInterval, 500 * time.Millisecond},
		{"waits two minutes for DNS propagation", c.DNS.PropagationTimeout, 2 * time.Minute},
		{"signs updates with hmac-sha256", c.DNS.RFC2136.TSIGAlgorithm, "hmac-sha256."},
		{"renews with a third of the lifetime left", c.Policy, policy.Settings{
			RenewFraction: 1.0 / 3,
			BackoffBase:   5 * time.Minute,
			BackoffMax:    24 * time.Hour,
			Jitter:        time.Hour,
		}},
		{"has no warnings", len(c.Warnings), 0},
	}
	for _, tt := range checks {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func TestDefaultsKeepWhatIsSet(t *testing.T) {
	c, err := Parse([]byte(`
scheduler: {interval: 1m, batch: 5}
workers: {concurrency: 7, job_timeout: 30m}
policy: {renew_fraction: 0.5, fixed_days: 30, backoff_base: 1m, backoff_max: 2h, jitter: 30m}
certificate_authorities:
  le: {directory: "https://acme.example/dir", key_type: rsa3072, min_lifetime: 2d}
dns:
  propagation_timeout: 30s
  rfc2136: {tsig_algorithm: HMAC-SHA512}
`), "ottr.yaml")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"keeps the interval", c.Scheduler.Interval, time.Minute},
		{"keeps the batch", c.Scheduler.Batch, 5},
		{"keeps the concurrency", c.Workers.Concurrency, 7},
		{"keeps the job timeout", c.Workers.JobTimeout, 30 * time.Minute},
		{"keeps the policy", c.Policy, policy.Settings{RenewFraction: 0.5, FixedDays: 30, BackoffBase: time.Minute, BackoffMax: 2 * time.Hour, Jitter: 30 * time.Minute}},
		{"keeps the key type", c.CertificateAuthorities["le"].KeyType, "rsa3072"},
		{"reads a lifetime in days", c.CertificateAuthorities["le"].MinLifetime, 48 * time.Hour},
		{"keeps the propagation timeout", c.DNS.PropagationTimeout, 30 * time.Second},
		{"writes the TSIG algorithm in lower case with its trailing dot", c.DNS.RFC2136.TSIGAlgorithm, "hmac-sha512."},
	}
	for _, tt := range checks {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func TestRelativePaths(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "conf", "ottr.yaml")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	text := `data_dir: state
known_hosts_file: /etc/ssh/ssh_known_hosts
certificate_authorities:
  le:
    directory: https://acme.example/dir
    roots_file: roots.pem
    eab: {kid: k, hmac_key: "file:eab.key"}
dns:
  rfc2136: {nameserver: "192.0.2.53:53", tsig_key: ottr., tsig_secret: "file:../tsig.key"}
credentials:
  default: {username: ottr, password: "env:OTTR_PASSWORD", private_key: "file:keys/id_ed25519"}
  abs: {private_key: "file:/etc/ottr/id"}
`
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	// Load from another working directory: the paths must not depend on it.
	t.Chdir(dir)
	c, err := Load(filepath.Join("conf", "ottr.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "conf")
	checks := []struct {
		name, got, want string
	}{
		{"resolves data_dir against the config file's directory", c.DataDir, filepath.Join(conf, "state")},
		{"puts the default database in the resolved data_dir", c.Database, filepath.Join(conf, "state", "ottr.db")},
		{"puts the default master key in the resolved data_dir", c.MasterKeyFile, filepath.Join(conf, "state", "master.key")},
		{"keeps an absolute path", c.KnownHostsFile, "/etc/ssh/ssh_known_hosts"},
		{"resolves roots_file", c.CertificateAuthorities["le"].RootsFile, filepath.Join(conf, "roots.pem")},
		{"resolves a file reference for the EAB key", c.CertificateAuthorities["le"].EAB.HMACKey, "file:" + filepath.Join(conf, "eab.key")},
		{"resolves a file reference that leaves the directory", c.DNS.RFC2136.TSIGSecret, "file:" + filepath.Join(dir, "tsig.key")},
		{"resolves a file reference for a private key", c.Credentials["default"].PrivateKey, "file:" + filepath.Join(conf, "keys", "id_ed25519")},
		{"keeps an absolute file reference", c.Credentials["abs"].PrivateKey, "file:/etc/ottr/id"},
		{"keeps an env reference", c.Credentials["default"].Password, "env:OTTR_PASSWORD"},
	}
	for _, tt := range checks {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	t.Run("names the file in problems as it was given", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "ottr.yaml")
		if err := os.WriteFile(path, []byte("workers:\n  concurency: 5\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		want := path + `:2: workers: unknown setting "concurency" (did you mean "concurrency"?)`
		if err == nil || err.Error() != want {
			t.Errorf("Load() = %v, want %s", err, want)
		}
	})
	t.Run("reports a missing file", func(t *testing.T) {
		_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"))
		if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "config: ") {
			t.Errorf("Load() = %v, want a config: not-exist error", err)
		}
	})
	t.Run("keeps a postgres URL as written", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "ottr.yaml")
		if err := os.WriteFile(path, []byte("database: postgres://ottr@db/ottr?sslmode=verify-full\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if c.Database != "postgres://ottr@db/ottr?sslmode=verify-full" {
			t.Errorf("database = %q", c.Database)
		}
	})
}

func TestAccessors(t *testing.T) {
	c, err := Parse([]byte(`
certificate_authorities:
  le: {directory: "https://acme.example/dir"}
  staging: {directory: "https://staging.acme.example/dir"}
dns:
  zones:
    Example.COM.: Example-ACME.com.
    corp.example.net: acme.example.net
routes:
  - {driver: linux, match: {platform: linux}}
  - {driver: panos, match: {platform: panos, certificate_authority: le}}
  - {driver: script}
`), "ottr.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("lists the platforms routes name", func(t *testing.T) {
		want := map[string]bool{"linux": true, "panos": true}
		if got := c.Platforms(); !maps.Equal(got, want) {
			t.Errorf("Platforms() = %v, want %v", got, want)
		}
	})
	t.Run("lists the CA profile names", func(t *testing.T) {
		want := map[string]bool{"le": true, "staging": true}
		if got := c.CANames(); !maps.Equal(got, want) {
			t.Errorf("CANames() = %v, want %v", got, want)
		}
	})
	t.Run("lists the managed zones sorted and in normal form", func(t *testing.T) {
		want := []string{"corp.example.net", "example.com"}
		if got := c.ManagedZones(); !slices.Equal(got, want) {
			t.Errorf("ManagedZones() = %v, want %v", got, want)
		}
	})
	t.Run("maps each managed zone to its delegate in normal form", func(t *testing.T) {
		if got := c.DNS.Zones["example.com"]; got != "example-acme.com" {
			t.Errorf("delegate of example.com = %q", got)
		}
	})
}

func TestExampleFile(t *testing.T) {
	path := filepath.Join("..", "..", "ottr.example.yaml")
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(text, path)
	if err != nil {
		t.Fatalf("the documented example does not load:\n%v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("the documented example does not validate:\n%v", err)
	}
	t.Run("has no warnings", func(t *testing.T) {
		if len(c.Warnings) > 0 {
			t.Errorf("warnings:\n%s", strings.Join(c.Warnings, "\n"))
		}
	})
	t.Run("documents the defaults it shows", func(t *testing.T) {
		defaults, err := Parse(nil, path)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range []struct {
			name              string
			example, defaults any
		}{
			{"data_dir", c.DataDir, defaults.DataDir},
			{"database", c.Database, defaults.Database},
			{"master_key_file", c.MasterKeyFile, defaults.MasterKeyFile},
			{"known_hosts_file", c.KnownHostsFile, defaults.KnownHostsFile},
			{"scheduler", c.Scheduler, defaults.Scheduler},
			{"workers", c.Workers, defaults.Workers},
			{"policy", c.Policy, defaults.Policy},
			{"propagation_timeout", c.DNS.PropagationTimeout, defaults.DNS.PropagationTimeout},
			{"polling_interval", c.DNS.PollingInterval, defaults.DNS.PollingInterval},
			{"secrets", c.Secrets, defaults.Secrets},
		} {
			if !reflect.DeepEqual(d.example, d.defaults) {
				t.Errorf("%s: the example sets %v, the default is %v", d.name, d.example, d.defaults)
			}
		}
	})
	t.Run("mentions every setting", func(t *testing.T) {
		for _, name := range settingNames(reflect.TypeFor[Config]()) {
			if !strings.Contains(string(text), name+":") {
				t.Errorf("the example does not mention %q", name)
			}
		}
	})
	t.Run("shows Let's Encrypt's published rate limits as they are", func(t *testing.T) {
		got, want := c.CertificateAuthorities["lets_encrypt"].RateLimits, ratelimit.Defaults(ratelimit.KindLetsEncrypt)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("the example sets %+v, Let's Encrypt's defaults are %+v", got, want)
		}
	})
	t.Run("has a production and a staging Let's Encrypt profile", func(t *testing.T) {
		for _, name := range []string{"lets_encrypt", "lets_encrypt_staging"} {
			if !c.CANames()[name] {
				t.Errorf("no CA profile %q", name)
			}
		}
	})
	t.Run("routes linux hosts to the linux driver with its options", func(t *testing.T) {
		if len(c.Routes) == 0 || c.Routes[0].Driver != "linux" {
			t.Fatalf("routes = %+v", c.Routes)
		}
		for _, option := range []string{"ssh_port", "cert_path", "key_path", "chain_path", "reload_command", "sudo"} {
			if _, ok := c.Routes[0].Options[option]; !ok {
				t.Errorf("the linux route does not show the %s option", option)
			}
		}
	})
	t.Run("keeps secrets as references", func(t *testing.T) {
		if !strings.HasPrefix(c.DNS.RFC2136.TSIGSecret, "file:") || !strings.HasPrefix(c.Credentials["firewalls"].Password, "env:") {
			t.Errorf("tsig_secret = %q, firewalls password = %q", c.DNS.RFC2136.TSIGSecret, c.Credentials["firewalls"].Password)
		}
	})
}

// settingNames returns the YAML name of every setting reachable from t.
func settingNames(t reflect.Type) []string {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map:
		return settingNames(t.Elem())
	case reflect.Struct:
		var names []string
		for name, index := range yamlFields(t) {
			names = append(names, name)
			names = append(names, settingNames(t.Field(index).Type)...)
		}
		return names
	}
	return nil
}

func TestLine(t *testing.T) {
	c, err := Parse([]byte("routes:\n  - driver: linux\n    options:\n      ssh_port: 22\n      sudo: true\n"), "ottr.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		want       int
	}{
		{"finds a route", "routes[0]", 2},
		{"finds a driver option", "routes[0].options.sudo", 5},
		{"falls back to the enclosing section", "routes[0].match.platform", 2},
		{"knows nothing of settings outside the file", "workers.concurrency", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.Line(tt.path); got != tt.want {
				t.Errorf("Line(%q) = %d, want %d", tt.path, got, tt.want)
			}
		})
	}
	if c.Source() != "ottr.yaml" {
		t.Errorf("Source() = %q", c.Source())
	}
}

// commentAbove returns the comment lines right above the first line of
// the example that starts with setting once trimmed, joined by spaces.
func commentAbove(t *testing.T, lines []string, setting string) string {
	t.Helper()
	for i, l := range lines {
		if !strings.HasPrefix(strings.TrimSpace(l), setting) {
			continue
		}
		var comment []string
		for j := i - 1; j >= 0 && strings.HasPrefix(strings.TrimSpace(lines[j]), "#"); j-- {
			comment = append([]string{strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(lines[j]), "#"))}, comment...)
		}
		return strings.Join(comment, " ")
	}
	t.Fatalf("ottr.example.yaml has no %s", setting)
	return ""
}

// The example says what each path of the Linux driver receives as the
// driver writes it (internal/driver/linux: cert_path the leaf and the
// intermediates, chain_path the intermediates alone), and how
// expected_issuers matches (internal/verify: a case-insensitive substring
// of the issuer's O or CN): a user who follows it must not break nginx.
func TestExampleSaysWhatTheSettingsDo(t *testing.T) {
	lines := exampleLines(t)
	tests := []struct {
		setting string
		want    []string
	}{
		{"cert_path:", []string{"leaf followed by its intermediates", "ssl_certificate"}},
		{"chain_path:", []string{"intermediates only, without the leaf"}},
		{"expected_issuers:", []string{"ignoring case", "substring", "organisation (O) or common name (CN)", `"let's encrypt" matches`}},
	}
	for _, tt := range tests {
		t.Run(tt.setting, func(t *testing.T) {
			comment := commentAbove(t, lines, tt.setting)
			for _, want := range tt.want {
				if !strings.Contains(comment, want) {
					t.Errorf("the comment above %s does not say %q:\n%s", tt.setting, want, comment)
				}
			}
		})
	}
}
