// Package linux is the driver for Linux hosts reached over SSH: the host
// logic of package linuxhost (openssl on the host generates the key and
// the CSR, the chain is written next to the key with hidden backups pruned
// to keep_backups, a reload command puts it in service) over one SSH
// connection per session. Host keys are always checked against the
// known_hosts file the driver is configured with.
//
// Route options (Schema): linuxhost's cert_path, key_path, chain_path,
// reload_command, work_dir, owner, mode and keep_backups, and
//
//	ssh_port        SSH port (default 22)
//	address         host to connect to instead of the asset's ip_address
//	sudo            run every command through "sudo -n" (default false)
//
// The path options and reload_command may be templates of the asset's
// fields ({{.CommonName}}, {{label "key"}}), rendered when a session
// opens, so one route serves every vhost of a host; key_path set to
// cert_path makes the file a bundle of key and chain, which one rename
// switches, so a reload run by another rotation never reads a mismatched
// pair.
//
// Every script goes in its own SSH session (channel) of the connection,
// which is cheap, so the reload command is sent on its own after the
// install and rollback scripts: its exit status and messages are the
// command's. Every program a script starts costs the host a fork and an
// exec, so the scripts do what they can with shell builtins. A rotation
// sends three scripts and the reload command, and the scripts start eight
// processes in all: their three shells, one openssl for key and CSR, and a
// cp (backup) and an mv (atomic rename) for each of the certificate and key
// files; chain_path adds one of each. The last rm replaces its shell
// (exec).
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
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/linuxhost"
	"github.com/ottr-go/ottr/internal/driver/sshconn"
)

// Name is the name routes use for this driver.
const Name = "linux"

// Config configures the driver. The zero value is ready to use, but
// refuses every host until KnownHostsFile is set.
type Config struct {
	// KnownHostsFile is the OpenSSH known_hosts file host keys are
	// verified against (ottr.yaml's known_hosts_file).
	KnownHostsFile string
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

	// ssh dials hosts; it caches the parsed known_hosts file.
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

// Capabilities are the host logic's (linuxhost.Capabilities).
func (d *Driver) Capabilities() driver.Capabilities { return linuxhost.Capabilities() }

// Schema returns the driver's route options (the package's Schema).
func (d *Driver) Schema() driver.Schema { return Schema() }

// ValidateOptions checks a route's options; the error names every bad option
// and the rule it breaks.
func (d *Driver) ValidateOptions(options map[string]any) error {
	_, err := parseOptions(options)
	return err
}

// Open connects to the host over SSH, verifying its host key against the
// driver's known_hosts file, and logs in with c's key or password.
func (d *Driver) Open(ctx context.Context, t driver.Target, c driver.Credentials) (driver.Session, error) {
	raw, err := linuxhost.ForAsset(t.Options, t.Asset)
	if err != nil {
		return nil, wrapf("options", err)
	}
	opts, err := parseOptions(raw)
	if err != nil {
		return nil, err
	}
	host := opts.Address
	if host == "" {
		host = t.Asset.IPAddress
	}
	if host == "" {
		host = t.Asset.SystemName
	}
	if host == "" {
		return nil, errors.New("linux: open: asset has no ip_address or system_name, and the route sets no address")
	}
	addr := net.JoinHostPort(host, strconv.Itoa(opts.SSHPort))
	client, _, err := d.ssh.Dial(ctx, addr, d.cfg.KnownHostsFile, c)
	if err != nil {
		return nil, wrapf("open", err)
	}
	log := d.cfg.Logger.With("driver", Name, "host", addr)
	runner := &sshRunner{client: client, sudo: opts.Sudo, addr: addr, log: log}
	return &session{
		Host: linuxhost.New(linuxhost.Config{
			Runner: runner, Options: &opts.Options, Name: Name, Noun: "host", DeviceKey: "ssh " + addr,
			Now: d.cfg.Now, Logger: log,
		}),
		sshRunner: runner,
	}, nil
}

// session is one SSH connection to one host, the host logic running its
// scripts over it.
type session struct {
	*linuxhost.Host
	*sshRunner
}

var _ driver.Session = (*session)(nil)

// Close closes the SSH connection; closing it again does nothing.
func (s *session) Close() error {
	if err := s.client.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return wrapf("close", err)
	}
	return nil
}

// wrapf prefixes err with the driver and the step.
func wrapf(step string, err error) error {
	return fmt.Errorf("linux: %s: %w", step, err)
}
