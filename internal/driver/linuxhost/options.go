package linuxhost

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/linuxhost/hostcheck"
)

// Route option names of the host logic.
const (
	optCertPath      = "cert_path"
	optKeyPath       = "key_path"
	optChainPath     = "chain_path"
	optReloadCommand = "reload_command"
	optWorkDir       = "work_dir"
	optOwner         = "owner"
	optMode          = "mode"
	optKeepBackups   = "keep_backups"
)

// Defaults and bounds of the options.
const (
	defaultMode        = "0600"
	defaultKeepBackups = 3
	maxKeepBackups     = 100
)

// Schema returns the route options of the host logic, which every driver
// built on it takes besides its transport's own.
func Schema() driver.Schema {
	return driver.Schema{
		{Name: optCertPath, Kind: driver.OptionPath, Required: true,
			Doc: "the absolute path of the file that receives the leaf followed by its chain, such as /etc/nginx/ssl/site.pem"},
		{Name: optKeyPath, Kind: driver.OptionPath, Required: true,
			Doc: "the absolute path of the file that receives the new private key; cert_path's own path makes that file a bundle, switched in one rename"},
		{Name: optChainPath, Kind: driver.OptionPath,
			Doc: "the absolute path of a file that receives the chain without the leaf"},
		{Name: optReloadCommand, Kind: driver.OptionString, Required: true,
			Doc: "command that loads the new files, such as \"systemctl reload nginx\""},
		{Name: optWorkDir, Kind: driver.OptionPath, Default: "key_path's directory",
			Doc: "directory for the staged key"},
		{Name: optOwner, Kind: driver.OptionString,
			Doc: "user or user:group that owns the installed files"},
		{Name: optMode, Kind: driver.OptionString, Default: `"0600"`,
			Doc: "octal mode of the installed key, as a string"},
		{Name: optKeepBackups, Kind: driver.OptionInt, Default: fmt.Sprint(defaultKeepBackups),
			Doc: fmt.Sprintf("backups kept of each file, 1 to %d; older ones, old private keys among them, are removed at the next install", maxKeepBackups)},
	}
}

// Options are the host options of a route, parsed and checked.
type Options struct {
	// CertPath receives the leaf followed by the intermediates.
	CertPath string
	// KeyPath receives the key the host generated for the CSR.
	KeyPath string
	// ChainPath, when set, receives the intermediates without the leaf.
	ChainPath string
	// ReloadCommand puts the new files in service.
	ReloadCommand string
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

// StagedKeyPath is where GenerateCSR leaves the new key until Install moves
// it into place. The name is derived, not random, so an Install run by
// another process after a crash finds the key of the CSR it was issued for.
func (o *Options) StagedKeyPath() string {
	return path.Join(o.WorkDir, path.Base(o.KeyPath)+".ottr-new")
}

// StagedCSRPath is where GenerateCSR keeps the staged key's public key and
// CSR (public data), so Install can check that the staged key is the
// certificate's by comparing text instead of running openssl on the key.
func (o *Options) StagedCSRPath() string {
	return o.StagedKeyPath() + ".csr"
}

// Bundle reports whether key_path is cert_path: one file holds the key
// followed by the chain, so installing them is one rename.
func (o *Options) Bundle() bool { return o.KeyPath == o.CertPath }

// keyModeIsDefault reports whether the installed key keeps the mode the
// staged key is created with (0600), so no chmod is needed.
func (o *Options) keyModeIsDefault() bool {
	return strings.TrimLeft(o.Mode, "0") == "600"
}

// keyStagedElsewhere reports whether work_dir is not key_path's directory,
// so the staged key may be on another file system.
func (o *Options) keyStagedElsewhere() bool {
	return path.Dir(o.KeyPath) != o.WorkDir
}

// HostCheck is what the route asks of the host, for the check script; the
// transport adds how the commands run and its hooks.
func (o *Options) HostCheck() hostcheck.Host {
	return hostcheck.Host{
		CertPath: o.CertPath, KeyPath: o.KeyPath, ChainPath: o.ChainPath, WorkDir: o.WorkDir,
		ReloadCommand: o.ReloadCommand, Owner: o.Owner, Chmod: !o.keyModeIsDefault(),
	}
}

// ParseOptions checks a route's options, raw, against schema, the driver's
// whole Schema (an option it does not name is unknown), reads the host
// options and has transport read the transport's own. Every problem is
// reported, each naming the option and the rule it breaks.
func ParseOptions(raw map[string]any, schema driver.Schema, transport func(bad driver.BadOption)) (*Options, error) {
	var errs []error
	bad := func(name, rule string, args ...any) {
		errs = append(errs, fmt.Errorf("option %q: "+rule, append([]any{name}, args...)...))
	}
	driver.CheckKnownOptions(raw, schema.Names(), bad)
	o := parseHostOptions(sampleRendering(raw, bad))
	transport(bad)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return o, nil
}

// sampleRendering applies the templated options of raw to a sample asset,
// so a route's templates are checked when it is loaded: one that does not
// parse or apply is reported, and the checks of the plain value then apply
// to the sample's rendering, their errors saying so. The BadOption it
// returns reports nothing more about an option whose template failed.
func sampleRendering(raw map[string]any, bad driver.BadOption) (map[string]any, driver.BadOption) {
	failed := map[string]bool{}
	rendered := renderOptions(raw, asset.Asset{}, true, func(name, rule string, args ...any) {
		failed[name] = true
		bad(name, rule, args...)
	})
	return rendered, func(name, rule string, args ...any) {
		switch {
		case failed[name]:
		case isTemplate(raw[name]):
			bad(name, rule+" (the template's value for an asset named %s)", append(args, driver.TemplateSampleName)...)
		default:
			bad(name, rule, args...)
		}
	}
}

func parseHostOptions(raw map[string]any, bad driver.BadOption) *Options {
	o := &Options{Mode: defaultMode, KeepBackups: defaultKeepBackups}
	o.CertPath = filePath(raw, optCertPath, true, bad)
	o.KeyPath = filePath(raw, optKeyPath, true, bad)
	o.ChainPath = filePath(raw, optChainPath, false, bad)
	if _, ok := raw[optWorkDir]; ok {
		o.WorkDir = AbsolutePath(raw, optWorkDir, bad)
	}
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
		if other, dup := distinct[p.value]; dup && !(p.name == optKeyPath && other == optCertPath) {
			bad(p.name, "must differ from %s: one file cannot hold both (got %q)", other, p.value)
			continue
		}
		distinct[p.value] = p.name
	}

	reported := false
	o.ReloadCommand, _ = driver.StringOption(raw, optReloadCommand, func(name, rule string, args ...any) {
		reported = true
		bad(name, rule, args...)
	})
	if _, ok := raw[optReloadCommand]; !ok {
		bad(optReloadCommand, "is required, e.g. \"systemctl reload nginx\"")
	} else if !reported && strings.TrimSpace(o.ReloadCommand) == "" {
		bad(optReloadCommand, "must not be empty, e.g. \"systemctl reload nginx\"")
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
	return o
}

// filePath reads an option naming a file on the host.
func filePath(raw map[string]any, name string, required bool, bad driver.BadOption) string {
	if _, ok := raw[name]; !ok {
		if required {
			bad(name, "is required: the absolute path of the file on the host, e.g. /etc/nginx/ssl/site.pem")
		}
		return ""
	}
	p := absolute(raw, name, bad)
	if strings.HasSuffix(p, "/") {
		bad(name, "must name a file, not a directory, got %q", p)
		return ""
	}
	return cleanPath(p)
}

// AbsolutePath reads the option name, which must be an absolute path on
// the host, and returns it cleaned; "" when it is absent or wrong, which
// is reported.
func AbsolutePath(raw map[string]any, name string, bad driver.BadOption) string {
	return cleanPath(absolute(raw, name, bad))
}

func absolute(raw map[string]any, name string, bad driver.BadOption) string {
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
