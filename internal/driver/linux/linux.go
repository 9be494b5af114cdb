// Package linux is the driver for Linux hosts reached over SSH: openssl on
// the host generates the key and the CSR, the chain is written next to the
// key, and a reload command (e.g. "systemctl reload nginx") puts it in
// service. Host keys are always checked against a known_hosts file.
//
// Route options:
//
//	ssh_port        SSH port (default 22)
//	address         host to connect to instead of the asset's ip_address
//	cert_path       absolute path that receives the leaf and its chain (required)
//	key_path        absolute path that receives the new private key (required)
//	chain_path      absolute path that receives the chain without the leaf
//	reload_command  command that loads the new files (required)
//	sudo            run every command through "sudo -n" (default false)
//	work_dir        directory for the staged key (default: key_path's directory)
//	owner           "user" or "user:group" for the installed files
//	mode            octal mode of the installed key, as a string (default "0600")
//
// The private key never leaves the host: it is generated into work_dir as
// <key_path's name>.ottr-new (umask 077), with its CSR and public key beside
// it in <key_path's name>.ottr-new.csr; Install moves the key into key_path
// and removes both, and no command ever prints the key. Install backs up the
// previous files as hidden files beside them, <dir>/.<name>.ottr-backup-<UTC
// timestamp> (a service loading a whole directory, such as HAProxy's crt
// DIR, never takes one for its own), keeping the newest keep_backups of
// each (default 3; older private keys go with them); Rollback copies them
// back.
//
// Every program a script starts costs the host a fork and an exec, so the
// scripts do what they can with shell builtins. A rotation sends three
// scripts and the reload command, and the scripts start eight processes in
// all: their three shells, one openssl for key and CSR, and a cp (backup)
// and an mv (atomic rename) for each of the certificate and key files;
// chain_path adds one of each. The last rm replaces its shell (exec).
//
// The host needs a POSIX sh, cp, mv, rm and OpenSSL 1.1.1 or later (for
// "openssl req -addext"); mkdir, chmod and chown run only when a directory
// is missing or the route sets mode or owner. Every command is sent as
// sh -c '<script>' (sudo -n sh -c '<script>' with sudo), every value in it
// shell-quoted. Check (ottr device check) sends one read-only script,
// package hostcheck's, and Requests lists every command the driver sends
// with the manual that confirms it.
package linux

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/sshconn"
)

// Name is the name routes use for this driver.
const Name = "linux"

// Config configures the driver. The zero value is ready to use.
type Config struct {
	// Logger receives debug lines about each step; never secrets.
	// Default: discard.
	Logger *slog.Logger
	// Now names backups. Default: time.Now.
	Now func() time.Time
	// DialTimeout bounds the TCP connect and the SSH handshake together.
	// Default: 20s.
	DialTimeout time.Duration
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
	return c
}

// Driver rotates certificates on Linux hosts over SSH.
type Driver struct {
	cfg Config

	// ssh dials hosts; it caches the parsed known_hosts files.
	ssh *sshconn.Dialer
}

var _ driver.Driver = (*Driver)(nil)

// New returns the Linux driver.
func New(cfg Config) *Driver {
	cfg = cfg.withDefaults()
	return &Driver{cfg: cfg, ssh: &sshconn.Dialer{Timeout: cfg.DialTimeout}}
}

// Name returns "linux".
func (d *Driver) Name() string { return Name }

// Capabilities: the host generates keys of every supported type, and the
// driver keeps backups it can roll back to.
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

// Open connects to the host over SSH, verifying its host key against
// t.KnownHostsFile, and logs in with c's key or password.
func (d *Driver) Open(ctx context.Context, t driver.Target, c driver.Credentials) (driver.Session, error) {
	opts, err := parseOptions(t.Options)
	if err != nil {
		return nil, wrapf("options", err)
	}
	host := opts.Address
	if host == "" {
		host = t.Asset.IPAddress
	}
	if host == "" {
		host = t.Asset.SystemName
	}
	if host == "" {
		return nil, errorf("open", "asset has no ip_address or system_name, and the route sets no address")
	}
	addr := net.JoinHostPort(host, strconv.Itoa(opts.SSHPort))
	client, err := d.dial(ctx, addr, t.KnownHostsFile, c)
	if err != nil {
		return nil, err
	}
	return &session{
		drv:    d,
		client: client,
		opts:   opts,
		addr:   addr,
		log:    d.cfg.Logger.With("driver", Name, "host", addr),
	}, nil
}

// session is one SSH connection to one host. Every command runs in a new SSH
// session (channel) of that connection.
type session struct {
	drv    *Driver
	client *ssh.Client
	opts   *options
	addr   string
	log    *slog.Logger
}

var _ driver.Session = (*session)(nil)

// Close closes the SSH connection; closing it again does nothing.
func (s *session) Close() error {
	if err := s.client.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return wrapf("close", err)
	}
	return nil
}
