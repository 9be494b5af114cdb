package script

import (
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/driver"
)

// Route option names the driver understands.
const (
	optGenerateCSR        = "generate_csr"
	optInstallCertificate = "install_certificate"
	optRollback           = "rollback"
	optCurrentCertificate = "current_certificate"
	optTimeout            = "timeout"
	optWorkdir            = "workdir"
	optEnv                = "env"
	optPlainEnv           = "plain_env"
)

// defaultTimeout bounds each script run unless the route says otherwise.
const defaultTimeout = 2 * time.Minute

// envName is a portable environment variable name.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// options are a route's options, parsed and checked.
type options struct {
	// Executables by step; CurrentCertificate and Rollback may be empty.
	GenerateCSR        string
	InstallCertificate string
	Rollback           string
	CurrentCertificate string
	// Timeout bounds one run of one script.
	Timeout time.Duration
	// Workdir is the scripts' working directory; empty means a private
	// directory made for the session.
	Workdir string
	// PlainEnv holds extra variables for every script, sorted by name.
	PlainEnv []string
	// Env holds the secret variables, sorted by name, their references
	// resolved when the session opened.
	Env []string
	// Secrets are Env's values, for redacting from what scripts print.
	Secrets []string
}

// Schema declares the route options the driver takes.
func (d *Driver) Schema() driver.Schema { return optionSchema() }

func optionSchema() driver.Schema {
	return driver.Schema{
		{Name: optGenerateCSR, Kind: driver.OptionPath, Required: true,
			Doc: "the absolute path of the executable that has the device make a key and prints its CSR"},
		{Name: optInstallCertificate, Kind: driver.OptionPath, Required: true,
			Doc: "the absolute path of the executable that installs the chain it is given"},
		{Name: optRollback, Kind: driver.OptionPath, Doc: "the absolute path of the executable that puts the previous certificate back"},
		{Name: optCurrentCertificate, Kind: driver.OptionPath, Default: "the chain served at ip_address:port is read",
			Doc: "the absolute path of an executable printing the configured chain"},
		{Name: optTimeout, Kind: driver.OptionDuration, Default: driver.FormatDuration(defaultTimeout), Doc: "bound of each run of a script"},
		{Name: optWorkdir, Kind: driver.OptionPath, Default: "a private directory per session", Doc: "the scripts' working directory"},
		{Name: optPlainEnv, Kind: driver.OptionStringMap,
			Doc: "environment variables for every script, for settings that are not secret; every API user sees them (names starting with OTTR_ are refused)"},
		{Name: optEnv, Kind: driver.OptionStringMap, Secret: true,
			Doc: "environment variables for every script whose values are references, env:NAME or file:/absolute/path, resolved by the worker when it opens the session; a value a script prints is redacted from the rotation log"},
	}
}

// parseOptions checks a route's options and returns them with defaults
// filled in. Every problem is reported, each naming the option and the rule.
// Whether the executables exist is checked by Open, on the machine that
// runs them.
func parseOptions(raw map[string]any) (*options, error) {
	o := &options{Timeout: defaultTimeout}
	r := optionSchema().Read(raw)

	o.GenerateCSR = cleanPath(r, optGenerateCSR)
	o.InstallCertificate = cleanPath(r, optInstallCertificate)
	o.Rollback = cleanPath(r, optRollback)
	o.CurrentCertificate = cleanPath(r, optCurrentCertificate)
	o.Workdir = cleanPath(r, optWorkdir)

	if d, ok := r.Duration(optTimeout); ok {
		if d <= 0 {
			r.Bad(optTimeout, "must be positive, got %s", d)
		}
		o.Timeout = d
	}

	if values, ok := r.StringMap(optPlainEnv); ok {
		o.PlainEnv = environment(r, optPlainEnv, values)
	}
	if values, ok := r.StringMap(optEnv); ok {
		o.Env = environment(r, optEnv, values)
		for _, kv := range o.Env {
			name, value, _ := strings.Cut(kv, "=")
			if slices.ContainsFunc(o.PlainEnv, func(p string) bool { return strings.HasPrefix(p, name+"=") }) {
				r.BadEntry(optEnv, name, "is set in %s too; set it in one", optPlainEnv)
			}
			if value != "" {
				o.Secrets = append(o.Secrets, value)
			}
		}
	}

	if err := r.Err(); err != nil {
		return nil, err
	}
	return o, nil
}

// environment reads the variables of the env or plain_env option as
// NAME=value, sorted by name. Names starting with OTTR_ are ottr's own and
// refused, so a route cannot hide the asset or the credentials from a
// script. The values of a secret option are never quoted in a problem.
func environment(r *driver.OptionReader, option string, values map[string]string) []string {
	env := make([]string, 0, len(values))
	for _, name := range slices.Sorted(maps.Keys(values)) {
		switch s := values[name]; {
		case !envName.MatchString(name):
			r.BadEntry(option, name, "a variable name must be letters, digits and underscores, not starting with a digit")
		case strings.HasPrefix(strings.ToUpper(name), "OTTR_"):
			r.BadEntry(option, name, "names starting with OTTR_ are set by ottr")
		case strings.ContainsRune(s, 0):
			r.BadEntry(option, name, "must not contain a NUL byte")
		default:
			env = append(env, name+"="+s)
		}
	}
	return env
}

// cleanPath reads an option naming an executable or a directory by its
// absolute path, cleaned.
func cleanPath(r *driver.OptionReader, name string) string {
	s, ok := r.String(name)
	if !ok {
		return ""
	}
	return filepath.Clean(s)
}
