package lab

import (
	"context"
	"crypto/tls"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	scriptdriver "github.com/ottr-go/ottr/examples/script-driver"
	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver/bigip/bigiplab"
	"github.com/ottr-go/ottr/internal/driver/junos/junoslab"
	"github.com/ottr-go/ottr/internal/driver/lighthouse/lighthouselab"
	"github.com/ottr-go/ottr/internal/driver/linux/linuxlab"
	"github.com/ottr-go/ottr/internal/driver/panos/panoslab"
	"github.com/ottr-go/ottr/internal/driver/ssm/ssmlab"
)

// Platforms the lab emulates. Each is an asset's host_platform and the
// platform of one route in the lab's ottr.yaml.
const (
	// PlatformLinux: a Linux host with an nginx-like TLS service, rotated
	// over SSH by the linux driver.
	PlatformLinux = "linux"
	// PlatformPANOS: a PAN-OS firewall's XML API (panos driver).
	PlatformPANOS = "panos"
	// PlatformBIGIP: an F5 BIG-IP's iControl REST API and a virtual server
	// with a client-ssl profile (bigip driver).
	PlatformBIGIP = "bigip"
	// PlatformLighthouse: an Opengear Lighthouse's REST API v3.7
	// (lighthouse driver).
	PlatformLighthouse = "lighthouse"
	// PlatformJunos: a JunOS device's NETCONF over SSH and J-Web's HTTPS
	// (junos driver).
	PlatformJunos = "junos"
	// PlatformScript: an emulated Linux host rotated by the script driver
	// running examples/script-driver, which reach the host with OpenSSH's
	// ssh client.
	PlatformScript = "script"
	// PlatformSSM: an EC2 instance behind an emulated AWS Systems Manager
	// endpoint (linux-ssm driver).
	PlatformSSM = "ssm"
)

// Ports every device of the lab listens on, each on its own loopback IP.
// Fixed ports let one route per platform reach every device of it.
// The devices share one socket per port (see sockets), which listens on a
// free port of its own: these are the ports the emulators are told, not
// the ports they answer on.
const (
	sshPort     = 2222 // linux and script hosts' SSH
	tlsPort     = 8443 // where every device serves the certificate ottr rotates
	apiPort     = 9443 // BIG-IP's management API, apart from its virtual server
	netconfPort = 8830 // JunOS NETCONF over SSH
)

// Emulator is what the lab needs of a running emulated device; each
// emulator package's device type has it.
type Emulator interface {
	// TLSAddr is where the device serves the certificate ottr rotates.
	TLSAddr() string
	// RouteOptions are the driver options that reach the device, without
	// ca_file or credentials.
	RouteOptions() map[string]any
	// PrivateKeyExported reports whether a private key ever left it.
	PrivateKeyExported() bool
	Close() error
}

// platform describes how the lab starts one kind of device and routes it.
type platform struct {
	name string
	// driver is the route's driver name.
	driver string
	// osVersion and model are the assets' os_version and device_model:
	// what such a device in a real inventory would report.
	osVersion, model string
	// keyType is the assets' key_type; empty: the CA profile's (ECDSA
	// P-256). Set where the device cannot make that key.
	keyType string
	// username is the login of the platform's named credentials, with a
	// random password; empty: the devices take the lab's SSH key
	// (credentials "default").
	username string
	// keyLogin: the named credentials log in with the lab's SSH key
	// instead of a password.
	keyLogin bool
	// accessKeyLogin: the login is an AWS access key, made for each lab:
	// a random access key ID as the username, its secret as the password.
	accessKeyLogin bool
	// caFile: the devices start with a certificate of the lab's device
	// CA and the driver verifies their API TLS, so the route gets ca_file.
	caFile bool
	// setUp, when set, starts what the platform's devices share (the SSM
	// endpoint), once per lab, before any device; Close stops it.
	setUp func(ctx context.Context, l *Lab) error
	// start starts the emulator of one device.
	start func(ctx context.Context, env *startEnv, name, ip string) (Emulator, error)
	// routeOptions turns the first device's RouteOptions into the route's
	// options; nil: they are used as they are.
	routeOptions func(l *Lab, first Emulator) (map[string]any, error)
}

// platforms returns every platform this build's lab can start, in the
// order `ottr lab --help` lists them.
func platforms() []platform {
	return []platform{
		{
			name: PlatformLinux, driver: "linux", osVersion: "12", model: "emulated",
			start: startLinuxHost,
		},
		{
			name: PlatformPANOS, driver: "panos", osVersion: panoslab.SoftwareVersion, model: "PA-3220",
			username: "admin", caFile: true, start: startPANOS,
		},
		{
			name: PlatformBIGIP, driver: "bigip", osVersion: bigipVersion, model: "BIG-IP Virtual Edition",
			username: "admin", caFile: true, start: startBIGIP,
		},
		{
			// Lighthouse makes RSA keys only.
			name: PlatformLighthouse, driver: "lighthouse", osVersion: "21.10", model: "Lighthouse VM",
			keyType: asset.KeyRSA2048, username: "root", caFile: true, start: startLighthouse,
		},
		{
			// The junos driver takes no ca_file: it reaches the device
			// over SSH, whose host key known_hosts pins.
			name: PlatformJunos, driver: "junos", osVersion: "18.2R3", model: "SRX5600",
			username: "ottr", start: startJunos,
		},
		{
			name: PlatformScript, driver: "script", osVersion: "12", model: "emulated",
			username: "ottr", keyLogin: true, start: startLinuxHost, routeOptions: scriptRouteOptions,
		},
		{
			// The instances share one SSM endpoint, whose certificate
			// joins the route's ca_file.
			name: PlatformSSM, driver: "linux-ssm", osVersion: "ubuntu-20.04", model: "t3.small",
			accessKeyLogin: true, caFile: true, setUp: startSSMEndpoint, start: startSSMInstance,
		},
	}
}

// bigipVersion is the TMOS version the lab's BIG-IPs run.
const bigipVersion = "16.1.3"

// KnownPlatforms returns the names Options.Platforms may use.
func KnownPlatforms() []string {
	ps := platforms()
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.name
	}
	return names
}

// ValidatePlatforms checks a list of platforms for Options.Platforms: each
// known, none twice.
func ValidatePlatforms(names []string) error {
	_, err := lookupPlatforms(names)
	return err
}

func lookupPlatforms(names []string) ([]platform, error) {
	known := platforms()
	out := make([]platform, 0, len(names))
	for i, name := range names {
		j := slices.IndexFunc(known, func(p platform) bool { return p.name == name })
		switch {
		case j < 0:
			return nil, fmt.Errorf("lab: unknown platform %q (known: %s)", name, strings.Join(KnownPlatforms(), ", "))
		case slices.Contains(names[:i], name):
			return nil, fmt.Errorf("lab: platform %q is listed twice", name)
		}
		out = append(out, known[j])
	}
	return out, nil
}

// startEnv is what starting a device needs from the lab.
type startEnv struct {
	lab      *Lab
	platform *platform
}

func (e *startEnv) username() string { return e.lab.logins[e.platform.name].username }
func (e *startEnv) password() string { return e.lab.logins[e.platform.name].password }

func (e *startEnv) initialCertificate(name string) (*tls.Certificate, error) {
	return e.lab.deviceCA.issue(name, e.lab.now())
}

func startLinuxHost(ctx context.Context, env *startEnv, name, ip string) (Emulator, error) {
	sshMux, err := env.lab.sockets.mux(sshPort)
	if err != nil {
		return nil, err
	}
	tlsMux, err := env.lab.sockets.mux(tlsPort)
	if err != nil {
		return nil, err
	}
	h, err := linuxlab.Start(ctx, linuxlab.Config{
		Name: name,
		Dir:  env.lab.path(filepath.Join("hosts", strings.SplitN(name, ".", 2)[0])),
		// Their connections go straight to the host, with no listener
		// (and no goroutine) per host.
		SSHAddr:       net.JoinHostPort(ip, "0"),
		TLSAddr:       net.JoinHostPort(ip, "0"),
		SharedSSH:     sshMux,
		SharedTLS:     tlsMux,
		User:          "ottr",
		AuthorizedKey: env.lab.clientKey,
		// Thousands of hosts share this machine: scripts and the
		// key-and-CSR command run in this process.
		InProcessShell:   true,
		OpenSSLProcesses: env.lab.openSSLProcesses,
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

func startPANOS(ctx context.Context, env *startEnv, name, ip string) (Emulator, error) {
	initial, err := env.initialCertificate(name)
	if err != nil {
		return nil, err
	}
	d, err := panoslab.Start(ctx, panoslab.Config{
		Listen:             env.lab.sockets.listen,
		Name:               name,
		Addr:               net.JoinHostPort(ip, strconv.Itoa(tlsPort)),
		Username:           env.username(),
		Password:           env.password(),
		InitialCertificate: initial,
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

func startBIGIP(ctx context.Context, env *startEnv, name, ip string) (Emulator, error) {
	initial, err := env.initialCertificate(name)
	if err != nil {
		return nil, err
	}
	d, err := bigiplab.Start(ctx, bigiplab.Config{
		Listen:             env.lab.sockets.listen,
		Name:               name,
		Addr:               net.JoinHostPort(ip, strconv.Itoa(apiPort)),
		VirtualAddr:        net.JoinHostPort(ip, strconv.Itoa(tlsPort)),
		Username:           env.username(),
		Password:           env.password(),
		InitialCertificate: initial,
		Target:             bigiplab.TargetClientSSL,
		Version:            bigipVersion,
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

func startLighthouse(ctx context.Context, env *startEnv, name, ip string) (Emulator, error) {
	initial, err := env.initialCertificate(name)
	if err != nil {
		return nil, err
	}
	d, err := lighthouselab.Start(ctx, lighthouselab.Config{
		Listen:             env.lab.sockets.listen,
		Name:               name,
		Addr:               net.JoinHostPort(ip, strconv.Itoa(tlsPort)),
		Username:           env.username(),
		Password:           env.password(),
		InitialCertificate: initial,
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

func startJunos(ctx context.Context, env *startEnv, name, ip string) (Emulator, error) {
	initial, err := env.initialCertificate(name)
	if err != nil {
		return nil, err
	}
	d, err := junoslab.Start(ctx, junoslab.Config{
		Listen:             env.lab.sockets.listen,
		Name:               name,
		Addr:               net.JoinHostPort(ip, strconv.Itoa(netconfPort)),
		TLSAddr:            net.JoinHostPort(ip, strconv.Itoa(tlsPort)),
		Username:           env.username(),
		Password:           env.password(),
		InitialCertificate: initial,
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// startSSMEndpoint starts the lab's emulated SSM and EC2 endpoint, which
// takes the platform's access key.
func startSSMEndpoint(ctx context.Context, l *Lab) error {
	login := l.logins[PlatformSSM]
	svc, err := ssmlab.Start(ctx, ssmlab.Config{AccessKeyID: login.username, SecretAccessKey: login.password})
	if err != nil {
		return err
	}
	l.ssm = svc
	return nil
}

// startSSMInstance adds an instance to the endpoint, with Name tag the
// device name's first label, which the driver looks instances up by.
func startSSMInstance(_ context.Context, env *startEnv, name, ip string) (Emulator, error) {
	initial, err := env.initialCertificate(name)
	if err != nil {
		return nil, err
	}
	short := strings.SplitN(name, ".", 2)[0]
	inst, err := env.lab.ssm.AddInstance(ssmlab.InstanceConfig{
		Listen:             env.lab.sockets.listen,
		Name:               short,
		HostName:           name,
		Dir:                env.lab.path(filepath.Join("hosts", short)),
		TLSAddr:            net.JoinHostPort(ip, strconv.Itoa(tlsPort)),
		InitialCertificate: initial,
	})
	if err != nil {
		return nil, err
	}
	return inst, nil
}

// scriptRouteOptions runs the shipped example scripts against the lab's
// Linux hosts: the lab writes them into its directory (the binary carries
// them), and gives them the host's paths and reload command in the route's
// plain_env, as examples/script-driver/README.md describes.
func scriptRouteOptions(l *Lab, first Emulator) (map[string]any, error) {
	dir, err := l.writeScripts()
	if err != nil {
		return nil, err
	}
	host := first.RouteOptions()
	return map[string]any{
		"generate_csr":        filepath.Join(dir, "generate_csr.sh"),
		"install_certificate": filepath.Join(dir, "install_certificate.sh"),
		"rollback":            filepath.Join(dir, "rollback.sh"),
		"current_certificate": filepath.Join(dir, "current_certificate.sh"),
		"plain_env": map[string]any{
			"CERT_PATH":      host["cert_path"],
			"KEY_PATH":       host["key_path"],
			"RELOAD_COMMAND": host["reload_command"],
			"SSH_PORT":       strconv.Itoa(first.(*linuxlab.Host).SSHPort()),
		},
	}, nil
}

// writeScripts copies the example scripts into the lab directory.
func (l *Lab) writeScripts() (string, error) {
	dir := l.path("script-driver")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("lab: script driver: %w", err)
	}
	scripts := scriptdriver.Scripts()
	names, err := fs.Glob(scripts, "*.sh")
	if err != nil {
		return "", fmt.Errorf("lab: script driver: %w", err)
	}
	for _, name := range names {
		data, err := fs.ReadFile(scripts, name)
		if err != nil {
			return "", fmt.Errorf("lab: script driver: %w", err)
		}
		// common.sh is sourced, the others are run.
		mode := os.FileMode(0o700)
		if name == "common.sh" {
			mode = 0o600
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, mode); err != nil {
			return "", fmt.Errorf("lab: script driver: %w", err)
		}
		// WriteFile keeps the mode of a file from an earlier run.
		if err := os.Chmod(path, mode); err != nil {
			return "", fmt.Errorf("lab: script driver: %w", err)
		}
	}
	return dir, nil
}
