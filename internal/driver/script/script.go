// Package script is Ottr's contributor contract as a driver: a device is
// supported by two executables, one that has the device make a key and
// prints its CSR, one that receives the signed chain and puts it in
// service; a third, optional, undoes an install, and a fourth, optional,
// prints the chain the device is configured with. They are written in any
// language and run on the worker, which is where they reach the device from.
//
// Route options:
//
//	generate_csr         absolute path of the CSR executable (required)
//	install_certificate  absolute path of the install executable (required)
//	rollback             absolute path of the rollback executable (optional)
//	current_certificate  absolute path of an executable printing the configured chain (optional;
//	                     without it the chain the device serves at ip_address:port is read)
//	timeout              bound of each run, a duration such as "90s" (default "2m")
//	workdir              the scripts' working directory (default: a private directory per session)
//	plain_env            map of extra environment variables for every script, shown to every API user
//	env                  map of secret environment variables for every script: each value is a
//	                     reference, env:NAME or file:/absolute/path, resolved by the process that
//	                     runs the scripts when it opens the session; a value written out is refused
//
// What a script gets. Every script is run with no arguments, in its own
// process group, with a small environment (PATH, HOME, USER, LOGNAME, LANG,
// LC_ALL, LC_CTYPE, TZ and TMPDIR of the worker, then the route's plain_env
// and env, then ottr's variables, which nothing overrides):
//
//	OTTR_STEP               generate_csr, install_certificate, rollback or current_certificate
//	OTTR_SYSTEM_NAME, OTTR_COMMON_NAME, OTTR_IP_ADDRESS, OTTR_PORT (the TLS port),
//	OTTR_DATA_CENTER, OTTR_HOST_PLATFORM, OTTR_OS_VERSION, OTTR_DEVICE_MODEL
//	OTTR_SANS               every name the certificate covers, the CN first, comma-separated
//	OTTR_KEY_TYPE           rsa2048, rsa3072, rsa4096, ecdsa256 or ecdsa384 (the request's,
//	                        for generate_csr; the asset's otherwise, possibly empty)
//	OTTR_KNOWN_HOSTS_FILE   the known_hosts file SSH host keys must be checked against
//	OTTR_USERNAME, OTTR_PASSWORD
//	OTTR_PRIVATE_KEY_FILE   the credentials' private key in a 0600 file, removed after the run
//	                        (absent when the credentials have none)
//	OTTR_HANDLE             rollback only: the install's handle as a JSON object of strings
//
// Credentials are never on a command line and never in the JSON below.
// generate_csr, rollback and current_certificate read on standard input a
// JSON object {"step", "asset", "request" (generate_csr: common_name,
// dns_names, key_type), "handle" (rollback)}; install_certificate reads the
// chain, leaf first, as PEM.
//
// What a script returns. Exit status 0 is success. generate_csr prints the
// CSR in PEM on standard output; the driver checks its signature, common
// name, SANs (exactly the requested names) and key type. install_certificate
// may print one line "OTTR_HANDLE {...}", a JSON object of strings, which
// becomes the install's handle: it is journaled, and given back to rollback
// even in another process. install_certificate must be idempotent: a
// resumed rotation runs it again with the same chain, and the handle it
// prints then must still lead back to the certificate from before the
// first run. current_certificate prints a PEM chain. Standard error goes to
// the rotation's log line by line; when a script fails, its exit status and
// last 20 standard error lines are in the error. Passwords, keys and env
// values a script echoes are redacted from both, and output holding a private key is
// refused: the key must stay on the device.
//
// Scripts that run longer than the timeout, or whose rotation is cancelled,
// are killed with their whole process group. Check (ottr device check)
// runs current_certificate alone: every other script changes the device.
package script

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
)

// Name is the name routes use for this driver.
const Name = "script"

// Config configures the driver. The zero value is ready to use.
type Config struct {
	// KnownHostsFile is ottr.yaml's known_hosts_file, which scripts that
	// reach their device over SSH get as OTTR_KNOWN_HOSTS_FILE.
	KnownHostsFile string
	// Logger receives the scripts' standard error lines and a line per
	// run; never secrets. Default: discard.
	Logger *slog.Logger
	// Log, when set, also receives the scripts' standard error lines, for
	// the rotation log.
	Log driver.LogFunc
	// BaseEnv is the environment every script starts from, as KEY=VALUE.
	// Nil means the worker's PATH, HOME, USER, LOGNAME, LANG, LC_ALL,
	// LC_CTYPE, TZ and TMPDIR, read when a script starts.
	BaseEnv []string
	// TempDir holds each session's private directory. Default: the
	// system's temporary directory.
	TempDir string
	// DialTimeout bounds reading the served chain. Default 20s.
	DialTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 20 * time.Second
	}
	return c
}

// Driver runs an operator's scripts against a device.
type Driver struct {
	cfg Config
}

var _ driver.Driver = (*Driver)(nil)

// New returns the script driver.
func New(cfg Config) *Driver {
	return &Driver{cfg: cfg.withDefaults()}
}

// Name returns "script".
func (d *Driver) Name() string { return Name }

// Capabilities: the contract has the device make the key, carries SANs and
// every key type, and has a rollback script; whether a route names one is
// known only from its options, and Rollback says so when it does not.
func (d *Driver) Capabilities() driver.Capabilities {
	return driver.Capabilities{
		OnDeviceKey: true,
		Rollback:    true,
		SANs:        true,
		KeyTypes:    asset.KeyTypes(),
	}
}

// ValidateOptions checks a route's options; the error names every bad
// option and the rule it breaks. That env's values are references, its
// Schema says and driver.CheckOptions checks: a session is opened with
// them resolved.
func (d *Driver) ValidateOptions(options map[string]any) error {
	if _, err := parseOptions(options); err != nil {
		return wrapf("options", err)
	}
	return nil
}

// Open checks that the route's executables can be run and prepares the
// session's private directory. t.Options hold env's secrets, resolved. It
// runs no script: the scripts reach the device themselves, so a wrong login
// shows at the first one.
func (d *Driver) Open(_ context.Context, t driver.Target, c driver.Credentials) (driver.Session, error) {
	opts, err := parseOptions(t.Options)
	if err != nil {
		return nil, wrapf("options", err)
	}
	var errs []error
	for _, exe := range []struct{ option, path string }{
		{optGenerateCSR, opts.GenerateCSR}, {optInstallCertificate, opts.InstallCertificate},
		{optRollback, opts.Rollback}, {optCurrentCertificate, opts.CurrentCertificate},
	} {
		if exe.path == "" {
			continue
		}
		if err := checkExecutable(exe.path); err != nil {
			errs = append(errs, fmt.Errorf("option %q: %w", exe.option, err))
		}
	}
	if opts.Workdir != "" {
		if info, err := os.Stat(opts.Workdir); err != nil || !info.IsDir() {
			errs = append(errs, fmt.Errorf("option %q: %s is not a directory", optWorkdir, opts.Workdir))
		}
	}
	if len(errs) > 0 {
		return nil, wrapf("open", errors.Join(errs...))
	}
	dir, err := os.MkdirTemp(d.cfg.TempDir, "ottr-script-")
	if err != nil {
		return nil, errorf("open", "make the session's directory: %w", err)
	}
	return &session{
		drv:    d,
		opts:   opts,
		target: t,
		creds:  c,
		dir:    dir,
		redact: newRedactor(c, opts.Secrets),
		log:    d.cfg.Logger.With("driver", Name, "asset", t.Asset.SystemName),
	}, nil
}

// checkExecutable reports why path cannot be run, if it cannot.
func checkExecutable(path string) error {
	info, err := os.Stat(path)
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", path, errors.Unwrap(err))
	case !info.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", path)
	case info.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("%s is not executable (chmod +x)", path)
	}
	return nil
}

// session is one device's scripts with one set of credentials.
type session struct {
	drv    *Driver
	opts   *options
	target driver.Target
	creds  driver.Credentials
	// dir is private (0700): it holds the key files and, without
	// workdir, is the scripts' working directory.
	dir    string
	redact *redactor
	log    *slog.Logger

	closeOnce sync.Once
}

var _ driver.Session = (*session)(nil)

// Close removes the session's private directory; closing again does nothing.
func (s *session) Close() error {
	var err error
	s.closeOnce.Do(func() {
		if rmErr := os.RemoveAll(s.dir); rmErr != nil {
			err = errorf("close", "remove the session's directory: %w", rmErr)
		}
	})
	return err
}

// CurrentCertificate runs current_certificate when the route names one, and
// otherwise reads the chain the device presents at its TLS address.
func (s *session) CurrentCertificate(ctx context.Context) ([]*x509.Certificate, error) {
	if s.opts.CurrentCertificate == "" {
		chain, err := s.servedChain(ctx)
		if err != nil {
			return nil, wrapf("current certificate", err)
		}
		return chain, nil
	}
	out, err := s.runJSON(ctx, optCurrentCertificate, s.opts.CurrentCertificate, nil, nil)
	if err != nil {
		return nil, wrapf("current certificate", err)
	}
	defer clear(out)
	if containsPrivateKey(out) {
		return nil, errorf("current certificate", "%s printed a private key; its output was discarded: print only certificates", optCurrentCertificate)
	}
	chain, err := driver.ParseCertificates(out)
	if err != nil {
		return nil, errorf("current certificate", "%s: %w", optCurrentCertificate, err)
	}
	return chain, nil
}

func errorf(step, format string, args ...any) error {
	return fmt.Errorf("script: "+step+": "+format, args...)
}

func wrapf(step string, err error) error {
	return fmt.Errorf("script: %s: %w", step, err)
}

// containsPrivateKey reports whether b holds a PEM private key's armour.
func containsPrivateKey(b []byte) bool {
	return bytes.Contains(b, []byte("PRIVATE KEY-----"))
}
