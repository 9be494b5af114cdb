// Package junos is the driver for Juniper JunOS devices (18.2 and later,
// e.g. SRX) reached over NETCONF over SSH (RFC 6241/6242). The device
// generates the key pair and the CSR; ottr loads the signed certificate as a
// local certificate, loads the chain's CA certificates into CA profiles,
// binds the certificate to J-Web (or another configuration statement) and
// commits with `commit confirmed`, so the device undoes the change by itself
// unless ottr confirms it after verifying from the network.
//
// Route options:
//
//	netconf_port     NETCONF port (default 830)
//	confirm_minutes  minutes JunOS waits for the confirmation (default 5)
//	bind_path        configuration statement that takes the certificate-id
//	                 (default "system/services/web-management/https/pki-local-certificate";
//	                 list entries as "services/ssl/termination/profile[name='web']/server-certificate")
//	upload_dir       directory on the device for transferred files (default /var/tmp)
//
// The RPCs, in order, under the names of JunOS's own schema (Juniper/yang,
// junos-es-rpc-*.yang; Requests lists each with its source):
//
//	GenerateCSR  get-configuration; clear-pki-local-certificate, clear-pki-key-pair (the slot);
//	             generate-pki-key-pair, generate-pki-certificate-request
//	             (one domain-name, the common name: the schema's single leaf;
//	             filename upload_dir/ID.csr)
//	Install      file-show (the slots' CSRs); file-put + load-pki-local-certificate (the leaf),
//	             read back with request-security-local-certificate-export + file-show;
//	             for new CA profiles: lock, load-configuration, commit confirmed, unlock;
//	             file-put + load-pki-ca-certificate (each CA certificate), read back with
//	             get-pki-ca-certificate; lock, load-configuration (the binding), commit
//	             confirmed, unlock, and get-configuration to read the binding back; a
//	             repeated install reads get-rollback-information for the binding before
//	Finalize     lock, commit (confirms), unlock; then get-configuration to prove
//	             the device had not already rolled back
//	Rollback     lock, load-configuration (the previous binding), commit, unlock,
//	             get-configuration
//	Check        get-software-information, get-configuration, get-pki-local-certificate,
//	             file-list: nothing that changes the device
//
// The PKI and file commands may answer in plain <output> text alone: text
// that reports a failure ("error", "failed", "invalid", "not found", ...)
// is a failed step carrying the device's words, and every write is read
// back, so a command that silently did nothing fails the step too.
//
// Certificate IDs are "ottr-<first label>-<hash>-a" and "...-b": two slots
// per certificate, the new key always going into the one not in service, so
// the certificate a rollback returns to is never overwritten. Install finds
// which slot a certificate belongs to by comparing its public key with the
// CSR the device saved. CA profiles are named "ottr-ca-<fingerprint>" and
// shared by every certificate the CA issued; rollback leaves them.
//
// Host keys are always checked against a known_hosts file; every command's
// device error (<rpc-error> error-message) is returned as the device wrote
// it.
package junos

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/sshconn"
)

// Name is the name routes use for this driver.
const Name = "junos"

// Config configures the driver. The zero value is ready to use.
type Config struct {
	// KnownHostsFile is the OpenSSH known_hosts file host keys are
	// verified against (ottr.yaml's known_hosts_file); until it is set,
	// every device is refused.
	KnownHostsFile string
	// Logger receives debug lines about each RPC; never secrets.
	// Default: discard.
	Logger *slog.Logger
	// Now dates commit comments. Default time.Now.
	Now func() time.Time
	// DialTimeout bounds the TCP connect, SSH handshake and NETCONF
	// hello together. Default 20s.
	DialTimeout time.Duration
	// RPCTimeout bounds one RPC. Default 3 minutes: an SRX busy with
	// traffic takes its time over an RSA-4096 key.
	RPCTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 20 * time.Second
	}
	if c.RPCTimeout <= 0 {
		c.RPCTimeout = 3 * time.Minute
	}
	return c
}

// Driver rotates certificates on JunOS devices over NETCONF.
type Driver struct {
	cfg Config

	// ssh dials devices; it caches the parsed known_hosts files.
	ssh *sshconn.Dialer
}

var _ driver.Driver = (*Driver)(nil)

// New returns the JunOS driver.
func New(cfg Config) *Driver {
	return &Driver{cfg: cfg.withDefaults(), ssh: &sshconn.Dialer{}}
}

// Name returns "junos".
func (d *Driver) Name() string { return Name }

// Capabilities: the device generates RSA (2048, 4096) and ECDSA (P-256,
// P-384) keys (the schema's sizes: no RSA-3072), its CSR carries the common
// name as its one DNS name, and the driver rolls back.
func (d *Driver) Capabilities() driver.Capabilities {
	return driver.Capabilities{
		OnDeviceKey: true,
		Rollback:    true,
		SANs:        true,
		KeyTypes:    []string{asset.KeyRSA2048, asset.KeyRSA4096, asset.KeyECDSA256, asset.KeyECDSA384},
	}
}

// ValidateOptions checks a route's options; the error names every bad option
// and the rule it breaks.
func (d *Driver) ValidateOptions(options map[string]any) error {
	if _, err := parseOptions(options); err != nil {
		return wrap("options", err)
	}
	return nil
}

// Open connects to the device's NETCONF service, verifying its host key
// against the driver's known_hosts file, and checks that it is a JunOS
// device that can commit confirmed.
func (d *Driver) Open(ctx context.Context, t driver.Target, c driver.Credentials) (driver.Session, error) {
	opts, err := parseOptions(t.Options)
	if err != nil {
		return nil, wrap("options", err)
	}
	host := t.Asset.IPAddress
	if host == "" {
		host = t.Asset.CommonName
	}
	if host == "" {
		return nil, errorf("open", "the asset has neither ip_address nor common_name")
	}
	addr := net.JoinHostPort(host, strconv.Itoa(opts.NetconfPort))
	log := d.cfg.Logger.With("driver", Name, "device", addr)

	ctx, cancel := context.WithTimeout(ctx, d.cfg.DialTimeout)
	defer cancel()
	sshClient, conn, err := d.dial(ctx, addr, d.cfg.KnownHostsFile, c)
	if err != nil {
		return nil, wrap("open", err)
	}
	nc, err := startNetconf(ctx, conn, sshClient, d.cfg.RPCTimeout, log)
	if err != nil {
		_ = sshClient.Close()
		return nil, errorf("open", "%s: %w", addr, err)
	}
	for _, c := range []struct{ uri, what string }{
		{capJunos, "the JunOS XML API"},
		{capCandidate, "a candidate configuration"},
		{capConfirmed, "commit confirmed"},
	} {
		if !nc.has(c.uri) {
			_ = nc.close()
			return nil, errorf("open", "%s does not announce %s (%s): it is not a JunOS device this driver can rotate", addr, c.what, c.uri)
		}
	}
	return &session{drv: d, nc: nc, api: &client{nc: nc}, opts: opts, addr: addr, user: c.Username,
		commonName: t.Asset.CommonName, log: log}, nil
}

// session is one NETCONF session with one device.
type session struct {
	drv  *Driver
	nc   *netconf
	api  *client
	opts *options
	addr string
	user string
	// commonName is the asset's, which names its certificate slots.
	commonName string
	log        *slog.Logger
}

var (
	_ driver.Session   = (*session)(nil)
	_ driver.Finalizer = (*session)(nil)
)

// Close ends the NETCONF session; closing it again does nothing.
func (s *session) Close() error {
	if err := s.nc.close(); err != nil {
		return wrap("close", err)
	}
	return nil
}
