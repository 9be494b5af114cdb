package linux

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/ottr-go/ottr/internal/driver"
)

// Route option names the driver understands.
const (
	optSSHPort       = "ssh_port"
	optAddress       = "address"
	optCertPath      = "cert_path"
	optKeyPath       = "key_path"
	optChainPath     = "chain_path"
	optReloadCommand = "reload_command"
	optSudo          = "sudo"
	optWorkDir       = "work_dir"
	optOwner         = "owner"
	optMode          = "mode"
	optKeepBackups   = "keep_backups"
)

// Bounds of keep_backups.
const (
	defaultKeepBackups = 3
	maxKeepBackups     = 100
)

var knownOptions = []string{
	optAddress, optCertPath, optChainPath, optKeepBackups, optKeyPath, optMode, optOwner,
	optReloadCommand, optSSHPort, optSudo, optWorkDir,
}

// options are a route's options, parsed and checked.
type options struct {
	// SSHPort is the device's SSH port.
	SSHPort int
	// Address overrides the asset's ip_address when set.
	Address string
	// CertPath receives the leaf followed by the intermediates.
	CertPath string
	// KeyPath receives the key the device generated for the CSR.
	KeyPath string
	// ChainPath, when set, receives the intermediates without the leaf.
	ChainPath string
	// ReloadCommand puts the new files in service.
	ReloadCommand string
	// Sudo runs every command through "sudo -n".
	Sudo bool
	// WorkDir holds the staged key between GenerateCSR and Install.
	WorkDir string
	// Owner is "user" or "user:group" for the installed files; empty keeps
	// whatever the login user creates.
	Owner string
	// Mode is the octal mode of the installed key file.
	Mode string
	// KeepBackups is how many backups of each file the host keeps; older
	// ones, old private keys among them, are removed at the next install.
	KeepBackups int
}

// Why these shapes: an owner reaches chown and a mode reaches chmod; both are
// quoted, but refusing anything odd here turns a typo into a clear message at
// load time instead of a failed rotation.
var (
	ownerPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*(:[A-Za-z0-9_][A-Za-z0-9._-]*)?$`)
	modePattern  = regexp.MustCompile(`^0?[0-7]{3}$`)
)

// stagedKeyPath is where GenerateCSR leaves the new key until Install moves
// it into place. The name is derived, not random, so an Install run by
// another process after a crash finds the key of the CSR it was issued for.
func (o *options) stagedKeyPath() string {
	return path.Join(o.WorkDir, path.Base(o.KeyPath)+".ottr-new")
}

// stagedCSRPath is where GenerateCSR keeps the staged key's public key and
// CSR (public data), so Install can check that the staged key is the
// certificate's by comparing text instead of running openssl on the key.
func (o *options) stagedCSRPath() string {
	return o.stagedKeyPath() + ".csr"
}

// keyModeIsDefault reports whether the installed key keeps the mode the
// staged key is created with (0600), so no chmod is needed.
func (o *options) keyModeIsDefault() bool {
	return strings.TrimLeft(o.Mode, "0") == "600"
}

// parseOptions checks a route's options and returns them with defaults
// filled in. Every problem is reported, each naming the option and the rule.
func parseOptions(raw map[string]any) (*options, error) {
	o := &options{SSHPort: 22, Mode: "0600"}
	var errs []error
	bad := func(name, rule string, args ...any) {
		errs = append(errs, fmt.Errorf("option %q: "+rule, append([]any{name}, args...)...))
	}

	driver.CheckKnownOptions(raw, knownOptions, bad)

	o.SSHPort = driver.IntOption(raw, optSSHPort, o.SSHPort, 1, 65535, bad)
	before := len(errs)
	o.Address, _ = driver.StringOption(raw, optAddress, bad)
	if _, ok := raw[optAddress]; ok && len(errs) == before && strings.TrimSpace(o.Address) == "" {
		bad(optAddress, "must not be empty when set")
	}

	o.CertPath = filePath(raw, optCertPath, true, bad)
	o.KeyPath = filePath(raw, optKeyPath, true, bad)
	o.ChainPath = filePath(raw, optChainPath, false, bad)
	o.WorkDir = dirPath(raw, optWorkDir, bad)
	if o.WorkDir == "" && o.KeyPath != "" {
		o.WorkDir = path.Dir(o.KeyPath)
	}
	distinct := map[string]string{}
	for _, p := range []struct{ name, value string }{
		{optCertPath, o.CertPath}, {optKeyPath, o.KeyPath}, {optChainPath, o.ChainPath},
	} {
		if p.value == "" {
			continue
		}
		if other, dup := distinct[p.value]; dup {
			bad(p.name, "must differ from %s: one file cannot hold both (got %q)", other, p.value)
			continue
		}
		distinct[p.value] = p.name
	}

	before = len(errs)
	o.ReloadCommand, _ = driver.StringOption(raw, optReloadCommand, bad)
	if _, ok := raw[optReloadCommand]; !ok {
		bad(optReloadCommand, "is required, e.g. \"systemctl reload nginx\"")
	} else if len(errs) == before && strings.TrimSpace(o.ReloadCommand) == "" {
		bad(optReloadCommand, "must not be empty, e.g. \"systemctl reload nginx\"")
	}

	if v, ok := raw[optSudo]; ok {
		b, isBool := v.(bool)
		if !isBool {
			bad(optSudo, "must be true or false, got %s", driver.DescribeValue(v))
		}
		o.Sudo = b
	}

	o.Owner, _ = driver.StringOption(raw, optOwner, bad)
	if _, ok := raw[optOwner]; ok && !ownerPattern.MatchString(o.Owner) {
		bad(optOwner, "must be \"user\" or \"user:group\", got %q", o.Owner)
	}
	if v, ok := raw[optMode]; ok {
		s, isString := v.(string)
		switch {
		case !isString:
			bad(optMode, "must be a quoted octal string such as \"0640\", got %s", driver.DescribeValue(v))
		case !modePattern.MatchString(s):
			bad(optMode, "must be an octal mode such as \"0600\" or \"0640\", got %q", s)
		default:
			o.Mode = s
		}
	}

	o.KeepBackups = defaultKeepBackups
	if v, ok := raw[optKeepBackups]; ok {
		n, err := driver.Integer(v)
		switch {
		case err != nil:
			bad(optKeepBackups, "must be a whole number, got %s", driver.DescribeValue(v))
		case n < 1 || n > maxKeepBackups:
			bad(optKeepBackups, "must be between 1 and %d (the backup rollback restores is always kept), got %d", maxKeepBackups, n)
		default:
			o.KeepBackups = n
		}
	}

	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return o, nil
}

// filePath reads an option naming a file on the device.
func filePath(raw map[string]any, name string, required bool, bad func(string, string, ...any)) string {
	if _, ok := raw[name]; !ok {
		if required {
			bad(name, "is required: the absolute path of the file on the device, e.g. /etc/nginx/ssl/site.pem")
		}
		return ""
	}
	p := absolute(raw, name, bad)
	if p != "" && strings.HasSuffix(p, "/") {
		bad(name, "must name a file, not a directory, got %q", p)
		return ""
	}
	return cleanPath(p)
}

// dirPath reads an optional option naming a directory on the device.
func dirPath(raw map[string]any, name string, bad func(string, string, ...any)) string {
	if _, ok := raw[name]; !ok {
		return ""
	}
	return cleanPath(absolute(raw, name, bad))
}

func absolute(raw map[string]any, name string, bad func(string, string, ...any)) string {
	p, _ := driver.StringOption(raw, name, bad)
	switch {
	case p == "":
		if _, isString := raw[name].(string); isString {
			bad(name, "must not be empty")
		}
		return ""
	case !path.IsAbs(p):
		bad(name, "must be an absolute path, got %q", p)
		return ""
	}
	return p
}

func cleanPath(p string) string {
	if p == "" {
		return ""
	}
	return path.Clean(p)
}
