// Package lighthouse is the driver for Opengear Lighthouse appliances,
// through their REST API v3.7: the appliance generates the RSA key and the
// CSR for its web server (PUT /services/https with csr "new"), the driver
// downloads the CSR (GET /services/https?zip=true), uploads the signed chain
// (PUT /services/https with cert) and then waits, polling with backoff, until
// the restarted web server serves the new certificate over a verified TLS
// connection, and reads the certificate back.
//
// Where the v3.7 reference (the RAML in opengear/oglhclient) is silent the
// driver accepts each answer a release may give and checks the result: the
// CSR download may be a zip archive holding the request or the PEM request
// itself (anything else is a failed step quoting the answer, keys and
// secrets redacted); the CSR is checked for every name and the key length
// asked for, since the SAN field and key lengths above 2048 are not in the
// reference; and an upload is read back, since the reference does not say
// https.cert keeps a chain. Requests lists each call with its source.
//
// Route options:
//
//	ca_file          PEM roots the appliance's certificate may chain to, besides the system roots
//	tls_server_name  name the appliance's certificate must carry (default: the asset's common_name)
//	api_port         HTTPS port of the API (default 443)
//	restart_timeout  how long to wait for the web server after an upload (default "3m")
//	restart_settle   how long the new certificate must be served when the restart itself
//	                 was not observed (default "5s")
//	sans             send the names to the CSR form (default true; false for releases
//	                 whose CSR form has no SAN field: assets then need no SAN beyond the CN)
//	country, state, locality, organization, org_unit, email
//	                 the CSR's other subject fields (optional)
//
// The API and the rotated certificate share the appliance's web server, so
// after an upload the driver's own connections must trust the new
// certificate: Install refuses a chain that would not verify with the
// route's ca_file and tls_server_name, before changing anything.
//
// Rollback is not possible: the API installs a certificate only for the
// pending CSR's key or together with an uploaded private key, and ottr never
// holds the appliance's key. Capabilities says so, and Rollback returns an
// error naming the certificate that was replaced (unless the install never
// took effect, when there is nothing to undo).
package lighthouse

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
)

// Name is the name routes use for this driver.
const Name = "lighthouse"

// Config configures the driver. The zero value is ready to use.
type Config struct {
	// Logger receives a line per step and per wait; never secrets.
	// Default: discard.
	Logger *slog.Logger
	// Now is the time certificates are verified at. Default time.Now.
	Now func() time.Time
	// RequestTimeout bounds one API call; an appliance takes a while to
	// make a 4096-bit RSA key. Default 2m.
	RequestTimeout time.Duration
	// DialTimeout bounds a TCP connect and TLS handshake. Default 20s.
	DialTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 2 * time.Minute
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 20 * time.Second
	}
	return c
}

// Driver rotates the web server certificate of Lighthouse appliances.
type Driver struct {
	cfg Config
}

var _ driver.Driver = (*Driver)(nil)

// New returns the Lighthouse driver.
func New(cfg Config) *Driver {
	return &Driver{cfg: cfg.withDefaults()}
}

// Name returns "lighthouse".
func (d *Driver) Name() string { return Name }

// Capabilities: the appliance makes RSA keys for CSRs with SANs; it cannot
// go back to a previous certificate (see the package documentation).
func (d *Driver) Capabilities() driver.Capabilities {
	return driver.Capabilities{
		OnDeviceKey: true,
		Rollback:    false,
		SANs:        true,
		KeyTypes:    []string{asset.KeyRSA2048, asset.KeyRSA3072, asset.KeyRSA4096},
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

// Open logs in to the appliance's API over verified TLS.
func (d *Driver) Open(ctx context.Context, t driver.Target, c driver.Credentials) (driver.Session, error) {
	opts, err := parseOptions(t.Options)
	if err != nil {
		return nil, wrapf("options", err)
	}
	host := t.Asset.IPAddress
	if host == "" {
		host = t.Asset.CommonName
	}
	serverName := opts.TLSServerName
	if serverName == "" {
		serverName = t.Asset.CommonName
	}
	switch {
	case host == "":
		return nil, errorf("open", "the asset has no ip_address or common_name to connect to")
	case serverName == "":
		return nil, errorf("open", "the asset has no common_name and the route sets no tls_server_name")
	case c.Username == "" || c.Password == "":
		return nil, errorf("open", "the credentials need a username and a password")
	}
	roots, err := loadRoots(opts.CAFile)
	if err != nil {
		return nil, wrapf("open", err)
	}
	addr := net.JoinHostPort(host, strconv.Itoa(opts.APIPort))
	tlsConfig := &tls.Config{RootCAs: roots, ServerName: serverName, MinVersion: tls.VersionTLS12, Time: d.cfg.Now}
	dialer := &net.Dialer{Timeout: d.cfg.DialTimeout}
	transport := &http.Transport{
		DialContext:         dialer.DialContext,
		TLSClientConfig:     tlsConfig,
		TLSHandshakeTimeout: d.cfg.DialTimeout,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     30 * time.Second,
	}
	log := d.cfg.Logger.With("driver", Name, "asset", t.Asset.SystemName, "api", addr)
	s := &session{
		drv:       d,
		opts:      opts,
		addr:      addr,
		roots:     roots,
		tlsConfig: tlsConfig,
		transport: transport,
		log:       log,
		client: &client{
			base:     url.URL{Scheme: "https", Host: addr, Path: apiBase},
			http:     driver.NewHTTPClient(transport, d.cfg.RequestTimeout),
			username: c.Username,
			password: c.Password,
			log:      log,
		},
	}
	if err := s.client.login(ctx); err != nil {
		transport.CloseIdleConnections()
		return nil, errorf("open", "log in to %s as %q: %w", addr, c.Username, err)
	}
	log.Debug("lighthouse: logged in")
	return s, nil
}

// loadRoots returns the system roots plus those of caFile.
func loadRoots(caFile string) (*x509.CertPool, error) {
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if caFile == "" {
		return roots, nil
	}
	pemData, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read ca_file: %w", err)
	}
	if !roots.AppendCertsFromPEM(pemData) {
		return nil, fmt.Errorf("ca_file %s holds no PEM certificate", caFile)
	}
	return roots, nil
}

// session is one logged-in API session.
type session struct {
	drv       *Driver
	opts      *options
	addr      string
	roots     *x509.CertPool
	tlsConfig *tls.Config
	transport *http.Transport
	client    *client
	log       *slog.Logger
}

var _ driver.Session = (*session)(nil)

// logoutTimeout bounds the logout Close sends.
const logoutTimeout = 10 * time.Second

// Close logs out; closing again does nothing.
func (s *session) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), logoutTimeout)
	defer cancel()
	err := s.client.logout(ctx)
	s.transport.CloseIdleConnections()
	if err != nil {
		return errorf("close", "log out: %w", err)
	}
	return nil
}

func errorf(step, format string, args ...any) error {
	return fmt.Errorf("lighthouse: "+step+": "+format, args...)
}

func wrapf(step string, err error) error {
	return fmt.Errorf("lighthouse: %s: %w", step, err)
}

// ErrRollbackUnsupported is returned by Rollback when the install changed
// the appliance's certificate: the API cannot bring the previous one back.
var ErrRollbackUnsupported = errors.New("the appliance cannot go back to its previous certificate: " +
	"the Lighthouse API installs a certificate only for the pending CSR's key or with an uploaded private key, " +
	"and ottr never holds the appliance's key")
