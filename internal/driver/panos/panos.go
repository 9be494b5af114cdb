// Package panos is the driver for Palo Alto Networks firewalls (PAN-OS 8.x
// to 11.x) through the PAN-OS XML API. The firewall generates the key and
// the CSR itself (request certificate generate, signed-by external); the
// driver exports the CSR, imports the signed chain into the same entry,
// points an SSL/TLS service profile at it, binds the profile to the
// management interface or a GlobalProtect portal or gateway, and commits
// the API administrator's changes only (partial commit), waiting for the
// commit job and failing on any result but OK. A rollback loads the
// configuration saved before Install and commits the whole of it with
// force, the only commit PAN-OS accepts after a load.
//
// Route options:
//
//	api_port            management HTTPS port (default 443)
//	ca_file             PEM roots the API certificate may chain to, besides the system roots
//	tls_server_name     name the API certificate must carry (default: the asset's common_name,
//	                    or its first SAN that is not a wildcard)
//	bind                management (default), globalprotect-portal or globalprotect-gateway
//	globalprotect_name  the portal or gateway entry (required for GlobalProtect binds)
//	vsys                virtual system of the portal or gateway (default vsys1)
//	profile_name        SSL/TLS service profile ottr manages (default "ottr")
//	min_tls_version     tls1-2 (default) or tls1-3; a profile already stricter is left so
//	digest              sha256, sha384 or sha512 (default sha256; sha384 for ECDSA P-384)
//	commit_timeout      how long one commit job may take (default 10m)
//
// The API is reached at the asset's ip_address (common_name when empty), and
// its TLS certificate is always verified: after a rotation of the
// management certificate, new connections meet the new certificate, which
// must verify too.
//
// Secrets never appear in URLs: every request is a POST with a form body,
// the login goes in the keygen body and the API key in the X-PAN-KEY header,
// or in the POST body on a device that refuses the header.
//
// Certificates ottr creates are named ottr-<common name slug>-<UTC
// time>-<random>. Before changing anything, Install saves the candidate
// configuration as <certificate name>.xml on the device; Rollback loads it
// and commits it with force, from any session. Finalize, after verification, deletes the
// older ottr certificates of the same name slug that nothing references,
// and the snapshots taken before them; it never touches certificates ottr
// did not create.
package panos

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
)

// Name is the name routes use for this driver.
const Name = "panos"

// Config configures the driver. The zero value is ready to use.
type Config struct {
	// Logger receives debug lines about each step; never secrets.
	// Default: discard.
	Logger *slog.Logger
	// Now names certificates. Default: time.Now.
	Now func() time.Time
	// RequestTimeout bounds one API request. Default: 2m (a CSR with an
	// RSA-4096 key takes the device a while).
	RequestTimeout time.Duration
	// CommitTimeout bounds one commit job when the route sets no
	// commit_timeout. Default: 10m.
	CommitTimeout time.Duration
	// PollInterval is the first wait between two polls of a commit job;
	// it doubles up to MaxPollInterval. Defaults: 2s and 15s.
	PollInterval    time.Duration
	MaxPollInterval time.Duration
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
	if c.CommitTimeout <= 0 {
		c.CommitTimeout = defaultCommitTimeout
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 2 * time.Second
	}
	if c.MaxPollInterval < c.PollInterval {
		c.MaxPollInterval = max(15*time.Second, c.PollInterval)
	}
	return c
}

// Driver rotates certificates on PAN-OS firewalls.
type Driver struct {
	cfg Config
}

var _ driver.Driver = (*Driver)(nil)

// New returns the PAN-OS driver.
func New(cfg Config) *Driver { return &Driver{cfg: cfg.withDefaults()} }

// Name returns "panos".
func (d *Driver) Name() string { return Name }

// Capabilities: the firewall generates RSA 2048/3072/4096 and ECDSA P-256
// and P-384 keys, puts SANs in the CSR, and keeps config snapshots the
// driver rolls back to.
func (d *Driver) Capabilities() driver.Capabilities {
	return driver.Capabilities{
		OnDeviceKey: true,
		Rollback:    true,
		SANs:        true,
		KeyTypes:    []string{asset.KeyRSA2048, asset.KeyRSA3072, asset.KeyRSA4096, asset.KeyECDSA256, asset.KeyECDSA384},
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

// Open connects to the firewall's XML API, verifying its certificate, and
// gets an API key for c's login.
func (d *Driver) Open(ctx context.Context, t driver.Target, c driver.Credentials) (driver.Session, error) {
	opts, err := parseOptions(t.Options)
	if err != nil {
		return nil, wrapf("options", err)
	}
	host := t.Asset.IPAddress
	if host == "" {
		host = t.Asset.CommonName
	}
	if host == "" {
		return nil, errorf("open", "the asset has no ip_address or common_name")
	}
	serverName := opts.TLSServerName
	if serverName == "" {
		serverName = defaultServerName(t.Asset)
	}
	if serverName == "" {
		return nil, errorf("open", "every name of the asset is a wildcard; set the route option tls_server_name to the name the API certificate must carry")
	}
	if c.Username == "" || c.Password == "" {
		return nil, errorf("open", "the credentials need a username and a password")
	}
	log := d.cfg.Logger.With("driver", Name, "host", host, "asset", t.Asset.SystemName)
	cl, err := newClient(host, opts.APIPort, opts.CAFile, serverName, d.cfg.RequestTimeout)
	if err != nil {
		return nil, wrapf("open", err)
	}
	cl.log = log
	if err := cl.keygen(ctx, c.Username, c.Password); err != nil {
		cl.close()
		return nil, wrapf(fmt.Sprintf("log in as %q", c.Username), err)
	}
	log.Debug("logged in", "user", c.Username)
	return &session{drv: d, c: cl, opts: opts, asset: t.Asset.Clone(), user: c.Username, log: log}, nil
}

// defaultServerName is the name the API certificate is checked for: the
// common name, or the first SAN when the common name is a wildcard (a TLS
// client cannot ask for "*.example.com").
func defaultServerName(a asset.Asset) string {
	for _, n := range a.Names() {
		if !strings.HasPrefix(n, "*") {
			return n
		}
	}
	return ""
}

// session is one logged-in API client for one firewall.
type session struct {
	drv   *Driver
	c     *client
	opts  *options
	asset asset.Asset
	// user is the API administrator: partial commits take their changes.
	user string
	log  *slog.Logger
}

var (
	_ driver.Session   = (*session)(nil)
	_ driver.Finalizer = (*session)(nil)
)

// Close drops the session's connections. The API key stays valid on the
// device, as PAN-OS keys do until the password changes.
func (s *session) Close() error {
	s.c.close()
	return nil
}

// errorf returns an error prefixed with the driver and the step.
func errorf(step, format string, args ...any) error {
	return fmt.Errorf("panos: "+step+": "+format, args...)
}

// wrapf prefixes err with the driver and the step.
func wrapf(step string, err error) error {
	return fmt.Errorf("panos: %s: %w", step, err)
}
