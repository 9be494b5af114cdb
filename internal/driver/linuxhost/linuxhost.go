// Package linuxhost is the Linux host logic of the linux and linux-ssm
// drivers, written once: the route options both take, where a new key is
// staged, the POSIX sh scripts that generate the key and its CSR, install a
// chain (backing up the files it replaces as hidden files pruned to
// keep_backups) and roll it back, the reading of what those scripts print,
// and the Installed handle. A driver brings the transport that runs the
// scripts on the host (Runner): package linux over SSH, package ssm through
// AWS Systems Manager Run Command. Package hostcheck is the read-only look
// both drivers' Check takes.
//
// Every script is sent as one POSIX sh script, every value in it
// shell-quoted. The private key never leaves the host: it is generated into
// work_dir as <key_path's name>.ottr-new (umask 077), with its CSR and
// public key beside it in <key_path's name>.ottr-new.csr; Install moves the
// key into key_path and removes both, and no script prints the key. Install
// backs up the previous files as hidden files beside them,
// <dir>/.<name>.ottr-backup-<UTC timestamp> (a service loading a whole
// directory, such as HAProxy's crt DIR, never takes one for its own),
// keeping the newest keep_backups of each; Rollback copies them back.
package linuxhost

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
)

// Runner runs scripts on one host: the transport a driver reaches it by.
type Runner interface {
	// Run runs script with a POSIX sh on the host, stdin (nil for none)
	// as its standard input, and returns its standard output. A script
	// that ran and failed returns what it printed along with an error
	// saying how it ended (its exit status, the last lines of its
	// standard error), so the caller can tell how far it got. step names
	// what the driver is doing, for the transport's logs. The error
	// carries no driver or step prefix: the caller adds them.
	Run(ctx context.Context, step, script string, stdin []byte) ([]byte, error)
}

// Hooks are the operator's programs a transport runs inside the scripts,
// before the key is generated and after each reload (package ssm's hook
// directories).
type Hooks interface {
	// Prelude returns the script lines that define what Before and After
	// call; they may call "section NAME TEXT" (SectionFunc).
	Prelude() []string
	// Before returns the script line that runs the hooks due before the
	// key is generated, After the one that runs those due after a reload;
	// each runs onFail, shell code, when a hook fails.
	Before(onFail string) string
	After(onFail string) string
	// Report reads what the hooks of phase ("pre", "post") did from a
	// script's output and returns the hook that failed, or nil.
	Report(phase string, out *Output) error
}

// Config describes a host and the transport that reaches it.
type Config struct {
	// Runner runs the scripts.
	Runner Runner
	// Options are the route's host options.
	Options *Options
	// Name starts every error and log message: "linux", "ssm".
	Name string
	// Noun is what errors call the host: "host", "instance".
	Noun string
	// ReloadInScript runs the reload command inside the install and
	// rollback scripts, which then put the backups back themselves when it
	// fails: each step is one command, for a transport where a command is
	// a costly round trip (SSM). Otherwise the reload command is sent on
	// its own after them, so its exit status and messages are the
	// command's (SSH).
	ReloadInScript bool
	// Hooks, when set, run inside the scripts; the hooks due after a
	// reload run only with ReloadInScript.
	Hooks Hooks
	// DeviceKey names the machine by the channel that reaches it (its SSH
	// address and port, its instance ID): the rotations that change it
	// take it in turns (driver.DeviceKeyer).
	DeviceKey string
	// Now names backups. Default: time.Now.
	Now func() time.Time
	// Logger receives debug lines about each step; never secrets.
	// Default: discard.
	Logger *slog.Logger
}

// Host is one Linux host as the scripts see it: the driver.Session steps of
// a rotation, each run through the Runner. A transport's session embeds it
// and adds Close and Check.
type Host struct {
	cfg  Config
	opts *Options
	log  *slog.Logger
}

// New returns the host cfg describes.
func New(cfg Config) *Host {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Host{cfg: cfg, opts: cfg.Options, log: cfg.Logger}
}

// DeviceKey names the machine the host's scripts change
// (driver.DeviceKeyer).
func (h *Host) DeviceKey() string { return h.cfg.DeviceKey }

// BatchesInstalls reports whether Install shares its reload with the other
// installs of its turn (driver.InstallBatcher): when the reload command is
// sent on its own. A transport that reloads in the install script (SSM)
// reloads once per install.
func (h *Host) BatchesInstalls() bool { return !h.cfg.ReloadInScript }

// Options returns the route's host options.
func (h *Host) Options() *Options { return h.opts }

// Capabilities are those of every driver built on the host logic: openssl
// on the host generates keys of every supported type, and the backups
// Install keeps make a rollback possible.
func Capabilities() driver.Capabilities {
	return driver.Capabilities{
		OnDeviceKey: true,
		Rollback:    true,
		SANs:        true,
		KeyTypes:    asset.KeyTypes(),
	}
}

// errorf returns an error prefixed with the driver and the step.
func (h *Host) errorf(step, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", h.cfg.Name, step, fmt.Errorf(format, args...))
}

// wrap prefixes err with the driver and the step.
func (h *Host) wrap(step string, err error) error {
	return fmt.Errorf("%s: %s: %w", h.cfg.Name, step, err)
}

// hooksReport reads what the hooks of phase did from out; nil without
// hooks.
func (h *Host) hooksReport(phase string, out *Output) error {
	if h.cfg.Hooks == nil {
		return nil
	}
	return h.cfg.Hooks.Report(phase, out)
}
