// Package bigip is the driver for F5 BIG-IP (TMOS 14.x to 17.x) through
// iControl REST, over verified HTTPS only. It rotates the certificate of a
// client-ssl profile or of the management interface (sys httpd).
//
// Route options:
//
//	target           "client-ssl" (default) or "httpd"
//	profile          client-ssl profile name (required with target client-ssl)
//	partition        partition of the profile and of the objects ottr creates (default "Common")
//	cert_key_chain   certKeyChain entry to replace (default: the profile's first entry)
//	api_port         iControl REST port (default 443)
//	ca_file          PEM roots the API certificate may chain to, besides the system roots
//	tls_server_name  name the API certificate must carry (default: the asset's common name)
//	login_provider   loginProviderName of the token login (default "tmos")
//
// A session logs in once (POST /mgmt/shared/authn/login) and sends the token
// in X-F5-Auth-Token; Close deletes the token. The device generates each key
// (sys crypto key) and its CSR with every SAN (sys crypto csr); the CSR is
// read back with `tmsh list sys crypto csr` through util bash, as F5's
// kojot-acme does, and checked. Install uploads the leaf and the
// intermediates as two new certificate objects and, in one transaction,
// points the target at the new key, certificate and chain, then saves the
// configuration (`save sys config`) so a reboot keeps it; for sys httpd it
// then restarts httpd when the management interface does not serve the new
// certificate yet, as F5's bigip_device_certificate module does. Objects
// are never overwritten: every rotation creates uniquely named ones
// (ottr_<common name>_<time>_<random>), so Rollback points the target back
// at the objects it used before, and saves. Finalize deletes the objects of
// older rotations of the same target that nothing uses any more, keeping
// those the install replaced, and saves; it only ever deletes objects
// recorded in ottr's ledger, a data group on the device (see ledger.go).
// Every request and the published source that confirms it is in
// fidelity.go.
//
// The session user needs the Administrator role: util bash, sys httpd and
// crypto objects in every partition require it.
package bigip

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
)

// Name is the name routes use for this driver.
const Name = "bigip"

// Config configures the driver. The zero value is ready to use.
type Config struct {
	// Logger receives debug lines about each step; never secrets.
	// Default: discard.
	Logger *slog.Logger
	// Now names the objects a rotation creates. Default: time.Now.
	Now func() time.Time
	// HTTPTimeout bounds each API request. Default: 2 minutes, for an
	// RSA-4096 key generated on a busy device.
	HTTPTimeout time.Duration
	// Roots are the roots trusted besides a route's ca_file. Default:
	// the system roots.
	Roots *x509.CertPool
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.HTTPTimeout <= 0 {
		c.HTTPTimeout = 2 * time.Minute
	}
	return c
}

// Driver rotates certificates on BIG-IP devices.
type Driver struct {
	cfg Config
}

var _ driver.Driver = (*Driver)(nil)

// New returns the BIG-IP driver.
func New(cfg Config) *Driver { return &Driver{cfg: cfg.withDefaults()} }

// Name returns "bigip".
func (d *Driver) Name() string { return Name }

// Capabilities: BIG-IP generates RSA and EC keys itself, puts SANs in its
// CSRs, and the previous objects stay for rollback.
func (d *Driver) Capabilities() driver.Capabilities {
	return driver.Capabilities{
		OnDeviceKey: true,
		Rollback:    true,
		SANs:        true,
		KeyTypes:    asset.KeyTypes(),
	}
}

// ValidateOptions checks a route's options; the error names every bad option
// and the rule it breaks.
func (d *Driver) ValidateOptions(options map[string]any) error {
	if _, err := parseOptions(options); err != nil {
		return wrapf("options", err)
	}
	return nil
}

// Open logs in to the device's iControl REST API over HTTPS, verifying its
// certificate against the system roots and the route's ca_file.
func (d *Driver) Open(ctx context.Context, t driver.Target, c driver.Credentials) (driver.Session, error) {
	opts, err := parseOptions(t.Options)
	if err != nil {
		return nil, wrapf("options", err)
	}
	if c.Username == "" || c.Password == "" {
		return nil, errorf("open", "the device login needs a username and a password")
	}
	host := t.Asset.IPAddress
	if host == "" {
		host = t.Asset.CommonName
	}
	if host == "" {
		return nil, errorf("open", "the asset has neither ip_address nor common_name to reach the device at")
	}
	serverName := opts.TLSServerName
	if serverName == "" {
		serverName = t.Asset.CommonName
	}
	if serverName == "" {
		serverName = host
	}
	roots, err := d.roots(opts.CAFile)
	if err != nil {
		return nil, wrapf("open", err)
	}
	addr := net.JoinHostPort(host, strconv.Itoa(opts.APIPort))
	log := d.cfg.Logger.With("driver", Name, "device", addr, "asset", t.Asset.SystemName)
	tlsConfig := &tls.Config{RootCAs: roots, ServerName: serverName, MinVersion: tls.VersionTLS12}
	s := &session{
		drv: d, opts: opts, asset: t.Asset, roots: roots, serverName: serverName, log: log,
		addr: addr, tlsConfig: tlsConfig, username: c.Username,
		c:         newClient(addr, tlsConfig, d.cfg.HTTPTimeout, c.Username, c.Password, opts.LoginProvider, log),
		generated: map[string]string{},
	}
	if err := s.c.login(ctx); err != nil {
		s.c.http.CloseIdleConnections()
		return nil, wrapf("open", err)
	}
	log.Debug("bigip: logged in", "target", opts.Target)
	return s, nil
}

// roots returns the configured roots (default: the system's) plus caFile's.
func (d *Driver) roots(caFile string) (*x509.CertPool, error) {
	var pool *x509.CertPool
	if d.cfg.Roots != nil {
		pool = d.cfg.Roots.Clone()
	} else if sys, err := x509.SystemCertPool(); err == nil {
		pool = sys
	} else {
		pool = x509.NewCertPool()
	}
	if caFile == "" {
		return pool, nil
	}
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read ca_file: %w", err)
	}
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("ca_file %s holds no PEM certificate", caFile)
	}
	return pool, nil
}

// session is one login on one device.
type session struct {
	drv        *Driver
	c          *client
	opts       *options
	asset      asset.Asset
	roots      *x509.CertPool
	serverName string
	log        *slog.Logger
	// addr and tlsConfig reach the management interface, for the
	// certificate it presents (servedLeaf).
	addr      string
	tlsConfig *tls.Config
	// username is the login, whose role Check reads.
	username string

	// generated maps the public key (SHA-256 of the SPKI, hex) of each key
	// this session generated to its ledger record, so Install finds the key
	// without asking the device.
	mu        sync.Mutex
	generated map[string]string
	closed    bool
}

var (
	_ driver.Session   = (*session)(nil)
	_ driver.Finalizer = (*session)(nil)
)

// closeTimeout bounds the token deletion of Close, which has no context.
const closeTimeout = 15 * time.Second

// Close deletes the session's token on the device; closing again does
// nothing.
func (s *session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	if err := s.c.logout(ctx); err != nil {
		return wrapf("close", err)
	}
	return nil
}

// CurrentCertificate returns the chain the target is configured with: the
// certificate object (or file) followed by the chain object (or file).
func (s *session) CurrentCertificate(ctx context.Context) ([]*x509.Certificate, error) {
	b, err := s.currentBinding(ctx, s.opts.CertKeyChain)
	if err != nil {
		return nil, wrapf("current certificate", err)
	}
	chain, err := s.readChain(ctx, b)
	if err != nil {
		return nil, wrapf("current certificate", err)
	}
	return chain, nil
}

// errorf and wrapf prefix errors with the driver and the step.
func errorf(step, format string, args ...any) error {
	return fmt.Errorf("bigip: "+step+": "+format, args...)
}

func wrapf(step string, err error) error {
	return fmt.Errorf("bigip: %s: %w", step, err)
}

// errNoEntry: the profile has no certKeyChain entry of the configured name.
var errNoEntry = errors.New("no such certKeyChain entry")
