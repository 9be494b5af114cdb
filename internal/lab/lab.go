// Package lab builds a whole rotation environment inside one process: an
// embedded ACME CA (Pebble), an authoritative DNS server holding a device
// zone whose _acme-challenge CNAMEs point into a delegate zone that accepts
// TSIG-signed RFC 2136 updates, and a fleet of emulated devices — Linux
// hosts by default, or any mix of the platforms in KnownPlatforms, each
// device on its own loopback address, all of them on listening sockets
// they share (one per port), so a fleet of 100,000 fits in a process's
// open-files limit. It writes an ottr.yaml for that
// environment, with one route per platform, so ottr runs against the lab
// exactly as it runs against a real fleet. `ottr lab` and the end-to-end
// tests use it.
package lab

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/driver/linux/linuxlab"
	"github.com/ottr-go/ottr/internal/driver/ssm/ssmlab"
	"github.com/ottr-go/ottr/internal/lab/dnsserver"
	"github.com/ottr-go/ottr/internal/lab/pebble"
)

// Names of the lab's zones, CA profile and credentials.
const (
	DeviceZone   = "lab.ottr.test"
	DelegateZone = "acme.ottr.test"
	CAName       = "lab"
	tsigKeyName  = "ottr-lab."
)

// Options tune Start.
type Options struct {
	// Devices is how many emulated devices to start. Default 20.
	Devices int
	// Platforms are the kinds of device to start, from KnownPlatforms;
	// device i is of Platforms[i % len(Platforms)]. Default: linux only.
	Platforms []string
	// DataDir keeps the lab's database, keys and host directories. Empty
	// means a temporary directory removed by Close.
	DataDir string
	// Profile is the ACME profile the lab's CA profile orders: "default"
	// (90 days, the default) or "shortlived" (6 days).
	Profile string
	// Concurrency is workers.concurrency in the lab's config. Default 50.
	Concurrency int
	// MemoryLimitMiB is workers.memory_limit_mib in the lab's config
	// (0: no limit).
	MemoryLimitMiB int
	// RotatesElsewhere says ottr runs in another process ('ottr lab
	// --no-rotate'): the lab holds one end of each rotation's connections,
	// not both, and needs fewer open files.
	RotatesElsewhere bool
	// CAValidationTime is how long the lab CA keeps a validated challenge
	// processing before it turns valid (pebble.Config.ValidationTime).
	// Default 0: at once.
	CAValidationTime time.Duration
	// OpenSSLProcesses makes Linux hosts run openssl as a program for
	// every key, instead of making keys and CSRs in the process (see
	// linuxlab.Config.OpenSSLProcesses): slower, for measuring what the real
	// program costs a fleet.
	OpenSSLProcesses bool
	// Subnet is the second octet of the hosts' 127.S.x.y addresses;
	// 0 picks one from the process ID, so parallel labs do not collide.
	Subnet int
	// CA and DNS reuse a running CA and DNS server instead of starting new
	// ones: Pebble cannot be started twice in one process.
	CA  *pebble.CA
	DNS *dnsserver.Server
	// TSIGSecret is the DNS server's update key when DNS is given.
	TSIGSecret string
	Logger     *slog.Logger
}

// Lab is a running lab.
type Lab struct {
	Dir        string
	ConfigPath string
	Config     *config.Config
	CA         *pebble.CA
	DNS        *dnsserver.Server
	// Devices are every emulated device, in Assets' order.
	Devices []*Device
	// Hosts are the emulated Linux hosts (platforms linux and script), in
	// device order: in a lab of Linux hosts only, Hosts[i] is device i.
	Hosts []*linuxlab.Host
	// Assets are the devices as inventory records, in Devices' order.
	Assets []asset.Asset
	// TSIGSecret signs updates to the delegate zone.
	TSIGSecret string

	platforms []platform
	// clientKey is the SSH key ottr logs in to Linux hosts with.
	clientKey ssh.PublicKey
	// deviceCA signs the API devices' initial certificates; nil when no
	// platform of the lab needs it.
	deviceCA *deviceCA
	// logins are the device logins by platform; the config refers to
	// their secrets as files.
	logins map[string]login
	// ssm is the SSM endpoint of the ssm platform's instances.
	ssm *ssmlab.Service
	// sockets are the listening sockets the devices share.
	sockets *sockets

	ownCA, ownDNS, ownDir bool
	// openSSLProcesses is Options.OpenSSLProcesses.
	openSSLProcesses bool
}

// Start builds the lab. The caller must Close it.
func Start(ctx context.Context, o Options) (l *Lab, err error) {
	if o.Devices <= 0 {
		o.Devices = 20
	}
	if o.Devices > MaxDevices {
		return nil, fmt.Errorf("lab: %d devices: at most %d, on 127.S.0.0/16 and the subnets after it", o.Devices, MaxDevices)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 50
	}
	if o.Profile == "" {
		// Pebble picks a profile at random for an order that names none.
		o.Profile = "default"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if len(o.Platforms) == 0 {
		o.Platforms = []string{PlatformLinux}
	}
	ps, err := lookupPlatforms(o.Platforms)
	if err != nil {
		return nil, err
	}
	if err := EnsureOpenFiles(OpenFilesNeeded(o), o.Logger); err != nil {
		return nil, err
	}
	l = &Lab{Dir: o.DataDir, CA: o.CA, DNS: o.DNS, TSIGSecret: o.TSIGSecret, platforms: ps, openSSLProcesses: o.OpenSSLProcesses}
	defer func() {
		if err != nil {
			l.Close()
			l = nil
		}
	}()
	if l.Dir == "" {
		if l.Dir, err = os.MkdirTemp("", "ottr-lab-"); err != nil {
			return l, fmt.Errorf("lab: %w", err)
		}
		l.ownDir = true
	} else if l.Dir, err = filepath.Abs(l.Dir); err != nil {
		return l, fmt.Errorf("lab: %w", err)
	}
	if err = os.MkdirAll(l.Dir, 0o700); err != nil {
		return l, fmt.Errorf("lab: %w", err)
	}

	if l.DNS == nil {
		secret := make([]byte, 32)
		if _, err = rand.Read(secret); err != nil {
			return l, err
		}
		l.TSIGSecret = base64.StdEncoding.EncodeToString(secret)
		l.DNS, err = dnsserver.Start(ctx, dnsserver.Config{
			Zones:          []string{DeviceZone + ".", DelegateZone + "."},
			UpdatableZones: []string{DelegateZone + "."},
			TSIG:           map[string]string{tsigKeyName: l.TSIGSecret},
			Logger:         o.Logger,
		})
		if err != nil {
			return l, fmt.Errorf("lab: DNS server: %w", err)
		}
		l.ownDNS = true
	}
	if l.CA == nil {
		if l.CA, err = pebble.Start(ctx, pebble.Config{DNSResolver: l.DNS.Addr(), ValidationTime: o.CAValidationTime, Logger: o.Logger}); err != nil {
			return l, fmt.Errorf("lab: CA: %w", err)
		}
		l.ownCA = true
	}

	if l.clientKey, err = l.writeClientKey(); err != nil {
		return l, err
	}
	if err = l.writeDeviceLogins(); err != nil {
		return l, err
	}
	for _, p := range ps {
		if p.setUp != nil {
			if err = p.setUp(ctx, l); err != nil {
				return l, fmt.Errorf("lab: %s: %w", p.name, err)
			}
		}
	}
	if err = l.startDevices(ctx, o, ps); err != nil {
		return l, err
	}
	if err = l.writeTrust(ctx); err != nil {
		return l, err
	}
	if err = l.writeConfig(o); err != nil {
		return l, err
	}
	return l, nil
}

// Close stops every part the lab started and removes a temporary directory.
func (l *Lab) Close() {
	l.closeDevices()
	if l.sockets != nil {
		l.sockets.close()
	}
	if l.ssm != nil {
		_ = l.ssm.Close()
	}
	if l.ownCA && l.CA != nil {
		_ = l.CA.Close()
	}
	if l.ownDNS && l.DNS != nil {
		_ = l.DNS.Close()
	}
	if l.ownDir {
		_ = os.RemoveAll(l.Dir)
	}
}

func (l *Lab) path(name string) string { return filepath.Join(l.Dir, name) }

// writeClientKey makes the SSH key ottr logs in to the hosts with.
func (l *Lab) writeClientKey() (ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "ottr lab")
	if err != nil {
		return nil, fmt.Errorf("lab: client key: %w", err)
	}
	key := pem.EncodeToMemory(block)
	if err := os.WriteFile(l.path("id_ed25519"), key, 0o600); err != nil {
		return nil, fmt.Errorf("lab: client key: %w", err)
	}
	// The same key for the script driver's credentials, with one more
	// newline: a file: secret loses its last newline, the script driver
	// writes the key for ssh as it gets it, and OpenSSH refuses a key file
	// whose armour does not end in a newline ("error in libcrypto").
	if slices.ContainsFunc(l.platforms, func(p platform) bool { return p.keyLogin }) {
		if err := os.WriteFile(l.scriptKeyFile(), append(key, '\n'), 0o600); err != nil {
			return nil, fmt.Errorf("lab: client key: %w", err)
		}
	}
	return ssh.NewPublicKey(pub)
}

// login is a device login of the lab.
type login struct{ username, password string }

// writeDeviceLogins makes the login of each platform that has its own:
// a random password (or AWS secret access key) in a 0600 file the config
// names, or the lab's SSH key. It also makes the device CA when a platform
// needs one.
func (l *Lab) writeDeviceLogins() error {
	l.logins = map[string]login{}
	for _, p := range l.platforms {
		if p.caFile && l.deviceCA == nil {
			ca, err := newDeviceCA(l.now())
			if err != nil {
				return err
			}
			l.deviceCA = ca
		}
		if !p.namedLogin() {
			continue
		}
		lg := login{username: p.username}
		if p.keyLogin {
			l.logins[p.name] = lg
			continue
		}
		secret := make([]byte, 30)
		if _, err := rand.Read(secret); err != nil {
			return fmt.Errorf("lab: %s password: %w", p.name, err)
		}
		lg.password = base64.RawURLEncoding.EncodeToString(secret)
		if p.accessKeyLogin {
			id := make([]byte, 10)
			if _, err := rand.Read(id); err != nil {
				return fmt.Errorf("lab: %s access key: %w", p.name, err)
			}
			// An access key ID's shape: AKIA and 16 base32 characters.
			lg.username = "AKIA" + base32.StdEncoding.EncodeToString(id)
		}
		if err := os.WriteFile(l.passwordFile(p.name), []byte(lg.password+"\n"), 0o600); err != nil {
			return fmt.Errorf("lab: %s password: %w", p.name, err)
		}
		l.logins[p.name] = lg
	}
	return nil
}

func (l *Lab) passwordFile(platform string) string { return l.path(platform + ".password") }

func (l *Lab) scriptKeyFile() string { return l.path("id_ed25519.script") }

// deviceRootsFile is the ca_file of the API devices' routes.
func (l *Lab) deviceRootsFile() string { return l.path("device-roots.pem") }

// now dates the device CA and the devices' initial certificates.
func (l *Lab) now() time.Time { return time.Now() }

// MaxDevices is the most devices one lab starts: their addresses span
// four /16 subnets of 127.0.0.0/8 from the lab's own.
const MaxDevices = 4 * hostsPerSubnet

// hostsPerSubnet is how many hosts one 127.S.0.0/16 holds: 250 to a /24.
const hostsPerSubnet = 250 * 256

// HostIP returns the loopback address of host i (0-based) in subnet s;
// hosts past a /16's 64,000 go on in the next one.
func HostIP(subnet, i int) string {
	in := i % hostsPerSubnet
	return fmt.Sprintf("127.%d.%d.%d", subnet+i/hostsPerSubnet, in/250, in%250+1)
}

// HostName returns the name of host i (0-based).
func HostName(i int) string { return fmt.Sprintf("host-%04d.%s", i+1, DeviceZone) }

func defaultSubnet() int { return 100 + os.Getpid()%150 }

// writeTrust writes the roots ottr trusts for the lab's CA: the ACME
// server's TLS root and the roots it issues under.
func (l *Lab) writeTrust(ctx context.Context) error {
	issuance, err := l.CA.IssuanceRootsPEM(ctx)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	bundle := append(append([]byte{}, l.CA.TLSRootPEM()...), issuance...)
	if err := os.WriteFile(l.path("ca-roots.pem"), bundle, 0o644); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if l.deviceCA != nil {
		// The API devices start with a certificate of the device CA, and
		// after a rotation serve their API with the CA's: their drivers
		// must trust both. The SSM endpoint's certificate is self-signed.
		devices := append(l.deviceCA.PEM(), issuance...)
		if l.ssm != nil {
			devices = append(devices, l.ssm.CertificatePEM()...)
		}
		if err := os.WriteFile(l.deviceRootsFile(), devices, 0o644); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
	}
	return os.WriteFile(l.path("tsig.secret"), []byte(l.TSIGSecret+"\n"), 0o600)
}

// EarlierRun reports whether dir holds what an earlier lab left there:
// its ottr.yaml or its database. A directory that does not exist holds
// nothing.
func EarlierRun(dir string) (bool, error) {
	for _, name := range []string{"ottr.yaml", "ottr.db"} {
		_, err := os.Stat(filepath.Join(dir, name))
		switch {
		case err == nil:
			return true, nil
		case !errors.Is(err, fs.ErrNotExist):
			return false, fmt.Errorf("lab: %w", err)
		}
	}
	return false, nil
}
