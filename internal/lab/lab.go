// Package lab builds a whole rotation environment inside one process: an
// embedded ACME CA (Pebble), an authoritative DNS server holding a device
// zone whose _acme-challenge CNAMEs point into a delegate zone that accepts
// TSIG-signed RFC 2136 updates, and a fleet of emulated Linux hosts. It
// writes an ottr.yaml for that environment, so ottr runs against the lab
// exactly as it runs against a real fleet. `ottr lab` and the end-to-end
// tests use it.
package lab

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/miekg/dns"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/dnsdelegate"
	"github.com/ottr-go/ottr/internal/lab/devices/linux"
	"github.com/ottr-go/ottr/internal/lab/dnsserver"
	"github.com/ottr-go/ottr/internal/lab/pebble"
)

// Names of the lab's zones, CA profile and credentials.
const (
	DeviceZone   = "lab.ottr.test"
	DelegateZone = "acme.ottr.test"
	CAName       = "lab"
	tsigKeyName  = "ottr-lab."
	sshPort      = 2222
	tlsPort      = 8443
)

// Options tune Start.
type Options struct {
	// Devices is how many emulated Linux hosts to start. Default 20.
	Devices int
	// DataDir keeps the lab's database, keys and host directories. Empty
	// means a temporary directory removed by Close.
	DataDir string
	// Profile is the ACME profile the lab's CA profile orders: "default"
	// (90 days, the default) or "shortlived" (6 days).
	Profile string
	// Concurrency is workers.concurrency in the lab's config. Default 50.
	Concurrency int
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
	Hosts      []*linux.Host
	// Assets are the hosts as inventory records, in Hosts' order.
	Assets []asset.Asset
	// TSIGSecret signs updates to the delegate zone.
	TSIGSecret string

	ownCA, ownDNS, ownDir bool
}

// Start builds the lab. The caller must Close it.
func Start(ctx context.Context, o Options) (l *Lab, err error) {
	if o.Devices <= 0 {
		o.Devices = 20
	}
	if o.Devices > 60000 {
		return nil, fmt.Errorf("lab: %d devices: at most 60000 fit in one 127.S.0.0/16 subnet", o.Devices)
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
	l = &Lab{Dir: o.DataDir, CA: o.CA, DNS: o.DNS, TSIGSecret: o.TSIGSecret}
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
		if l.CA, err = pebble.Start(ctx, pebble.Config{DNSResolver: l.DNS.Addr(), Logger: o.Logger}); err != nil {
			return l, fmt.Errorf("lab: CA: %w", err)
		}
		l.ownCA = true
	}

	clientKey, err := l.writeClientKey()
	if err != nil {
		return l, err
	}
	if err = l.startHosts(ctx, o, clientKey); err != nil {
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
	var wg sync.WaitGroup
	for _, h := range l.Hosts {
		wg.Add(1)
		go func() { defer wg.Done(); _ = h.Close() }()
	}
	wg.Wait()
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
	if err := os.WriteFile(l.path("id_ed25519"), pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, fmt.Errorf("lab: client key: %w", err)
	}
	return ssh.NewPublicKey(pub)
}

// HostIP returns the loopback address of host i (0-based) in subnet s.
func HostIP(subnet, i int) string {
	return fmt.Sprintf("127.%d.%d.%d", subnet, i/250, i%250+1)
}

// HostName returns the name of host i (0-based).
func HostName(i int) string { return fmt.Sprintf("host-%04d.%s", i+1, DeviceZone) }

func defaultSubnet() int { return 100 + os.Getpid()%150 }

// startHosts starts the emulated hosts in parallel, registers their DNS
// names and delegations, and writes known_hosts.
func (l *Lab) startHosts(ctx context.Context, o Options, clientKey ssh.PublicKey) error {
	delegations, err := dnsdelegate.New(map[string]string{DeviceZone: DelegateZone})
	if err != nil {
		return err
	}
	subnet := o.Subnet
	if subnet == 0 {
		subnet = defaultSubnet()
	}
	for attempt := 1; ; attempt++ {
		err := l.startHostsIn(ctx, o.Devices, subnet, clientKey, delegations)
		if err == nil {
			break
		}
		// Another lab (a parallel test binary, say) holds this subnet:
		// move to the next one, unless the caller chose it.
		if o.Subnet != 0 || attempt == 10 || !errors.Is(err, syscall.EADDRINUSE) {
			return err
		}
		subnet = 100 + (subnet-100+1)%150
	}
	var known strings.Builder
	for i, h := range l.Hosts {
		addr := net.JoinHostPort(HostIP(subnet, i), strconv.Itoa(sshPort))
		known.WriteString(knownhosts.Line([]string{knownhosts.Normalize(addr)}, h.HostKey()) + "\n")
	}
	return os.WriteFile(l.path("known_hosts"), []byte(known.String()), 0o600)
}

// startHostsIn starts n hosts in 127.subnet.0.0/16; on failure it stops the
// ones it started.
func (l *Lab) startHostsIn(ctx context.Context, n, subnet int, clientKey ssh.PublicKey, d *dnsdelegate.Delegations) error {
	l.Hosts = make([]*linux.Host, n)
	l.Assets = make([]asset.Asset, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = l.startHost(ctx, i, subnet, clientKey, d)
		}()
	}
	wg.Wait()
	err := errors.Join(errs...)
	if err != nil {
		for _, h := range l.Hosts {
			if h != nil {
				_ = h.Close()
			}
		}
		l.Hosts, l.Assets = nil, nil
	}
	return err
}

func (l *Lab) startHost(ctx context.Context, i, subnet int, clientKey ssh.PublicKey, d *dnsdelegate.Delegations) error {
	name, ip := HostName(i), HostIP(subnet, i)
	h, err := linux.Start(ctx, linux.Config{
		Name:          name,
		Dir:           l.path(filepath.Join("hosts", strings.SplitN(name, ".", 2)[0])),
		SSHAddr:       net.JoinHostPort(ip, strconv.Itoa(sshPort)),
		TLSAddr:       net.JoinHostPort(ip, strconv.Itoa(tlsPort)),
		User:          "ottr",
		AuthorizedKey: clientKey,
		// Thousands of hosts share this machine: keep processes for
		// openssl, where the keys are made.
		InProcessShell: true,
	})
	if err != nil {
		return fmt.Errorf("lab: %w (is %s in use by another lab? pass another subnet)", err, ip)
	}
	l.Hosts[i] = h
	rec, err := d.Record(name)
	if err != nil {
		return err
	}
	// Set, not add: a retry in another subnet replaces the address.
	for _, rr := range []string{
		fmt.Sprintf("%s. 60 IN A %s", name, ip),
		rec.ZoneLine(),
	} {
		parsed, err := dns.NewRR(rr)
		if err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		if err := l.DNS.SetRecord(parsed); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
	}
	l.Assets[i] = asset.Asset{
		SystemName:             name,
		CommonName:             name,
		SubjectAlternativeName: []string{name},
		CertificateAuthority:   CAName,
		DataCenter:             fmt.Sprintf("lab%d", i%2+1),
		DeviceModel:            "emulated",
		HostPlatform:           "linux",
		IPAddress:              ip,
		Origin:                 "lab",
		OSVersion:              "12",
		Port:                   tlsPort,
	}
	return nil
}

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
	return os.WriteFile(l.path("tsig.secret"), []byte(l.TSIGSecret+"\n"), 0o600)
}

// writeConfig writes ottr.yaml for the lab and loads it back through the
// same parser an operator's file goes through.
func (l *Lab) writeConfig(o Options) error {
	opts := l.Hosts[0].RouteOptions()
	var y strings.Builder
	fmt.Fprintf(&y, `# ottr.yaml written by 'ottr lab' for its embedded CA, DNS server and devices.
data_dir: %q
workers:
  concurrency: %d
  job_timeout: 2m
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
credentials:
  default:
    username: ottr
    private_key: %q
routes:
  - name: lab-linux
    match: {platform: linux}
    driver: linux
    options:
      ssh_port: %d
      cert_path: %q
      key_path: %q
      reload_command: %q
`, l.Dir, o.Concurrency, CAName, l.CA.DirectoryURL(), l.path("ca-roots.pem"), o.Profile,
		DeviceZone, DelegateZone, l.DNS.Addr(), l.DNS.Addr(), tsigKeyName, "file:"+l.path("tsig.secret"),
		"file:"+l.path("id_ed25519"), sshPort, opts["cert_path"], opts["key_path"], opts["reload_command"])
	l.ConfigPath = l.path("ottr.yaml")
	if err := os.WriteFile(l.ConfigPath, []byte(y.String()), 0o600); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	cfg, err := config.Load(l.ConfigPath)
	if err != nil {
		return fmt.Errorf("lab: the generated config does not load: %w", err)
	}
	l.Config = cfg
	return nil
}
