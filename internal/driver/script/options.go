package script

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
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

var knownOptions = []string{
	optCurrentCertificate, optEnv, optGenerateCSR, optInstallCertificate,
	optPlainEnv, optRollback, optTimeout, optWorkdir,
}

// secretOptions hold references to secrets (driver.CheckSecretOptions):
// env is where operators give scripts tokens and passwords.
var secretOptions = []string{optEnv}

// plainEnvHint says where the values of env that are not secret go.
var plainEnvHint = fmt.Sprintf("values that are not secret, such as paths, go under %q instead", optPlainEnv)

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

// parseOptions checks a route's options and returns them with defaults
// filled in. Every problem is reported, each naming the option and the rule.
// Whether the executables exist is checked by Open, on the machine that
// runs them.
func parseOptions(raw map[string]any) (*options, error) {
	o := &options{Timeout: defaultTimeout}
	var errs []error
	bad := func(name, rule string, args ...any) {
		errs = append(errs, fmt.Errorf("option %q: "+rule, append([]any{name}, args...)...))
	}

	driver.CheckKnownOptions(raw, knownOptions, bad)

	o.GenerateCSR = absolute(raw, optGenerateCSR, true, bad)
	o.InstallCertificate = absolute(raw, optInstallCertificate, true, bad)
	o.Rollback = absolute(raw, optRollback, false, bad)
	o.CurrentCertificate = absolute(raw, optCurrentCertificate, false, bad)
	o.Workdir = absolute(raw, optWorkdir, false, bad)

	if s, ok := driver.StringOption(raw, optTimeout, bad); ok {
		d, err := time.ParseDuration(s)
		switch {
		case err != nil:
			bad(optTimeout, "must be a duration such as \"90s\" or \"5m\", got %q", s)
		case d <= 0:
			bad(optTimeout, "must be positive, got %s", s)
		default:
			o.Timeout = d
		}
	}

	if v, ok := raw[optPlainEnv]; ok {
		o.PlainEnv = environment(optPlainEnv, v, false, bad)
	}
	if v, ok := raw[optEnv]; ok {
		o.Env = environment(optEnv, v, true, bad)
		for _, kv := range o.Env {
			name, value, _ := strings.Cut(kv, "=")
			if slices.ContainsFunc(o.PlainEnv, func(p string) bool { return strings.HasPrefix(p, name+"=") }) {
				bad(optEnv, "variable %s is set in %s too; set it in one", name, optPlainEnv)
			}
			if value != "" {
				o.Secrets = append(o.Secrets, value)
			}
		}
	}

	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return o, nil
}

// environment reads the env or plain_env option: a map of variable names to
// string values. Names starting with OTTR_ are ottr's own and refused, so a
// route cannot hide the asset or the credentials from a script. The values
// of a secret option are never quoted in a problem.
func environment(option string, v any, secret bool, bad func(string, string, ...any)) []string {
	var values map[string]any
	switch m := v.(type) {
	case map[string]any:
		values = m
	case map[string]string:
		values = make(map[string]any, len(m))
		for k, s := range m {
			values[k] = s
		}
	default:
		got := driver.DescribeValue(v)
		if secret {
			got = fmt.Sprintf("a value of type %T", v)
		}
		bad(option, "must be a map of variable names to strings, got %s", got)
		return nil
	}
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	sort.Strings(names)
	env := make([]string, 0, len(names))
	for _, name := range names {
		s, isString := values[name].(string)
		switch {
		case !envName.MatchString(name):
			bad(option, "variable name %q must be letters, digits and underscores, not starting with a digit", name)
		case strings.HasPrefix(strings.ToUpper(name), "OTTR_"):
			bad(option, "variable %s: names starting with OTTR_ are set by ottr", name)
		case !isString && secret:
			bad(option, "variable %s must be a reference such as env:%s, got a value of type %T", name, name, values[name])
		case !isString:
			bad(option, "variable %s must be a string (quote numbers and booleans), got %s", name, driver.DescribeValue(values[name]))
		case strings.ContainsRune(s, 0):
			bad(option, "variable %s must not contain a NUL byte", name)
		default:
			env = append(env, name+"="+s)
		}
	}
	return env
}

// absolute reads an option naming a file or directory by absolute path.
func absolute(raw map[string]any, name string, required bool, bad func(string, string, ...any)) string {
	s, ok := driver.StringOption(raw, name, bad)
	if !ok {
		if _, present := raw[name]; !present && required {
			bad(name, "is required: the absolute path of an executable on the machine that runs ottr's workers")
		}
		return ""
	}
	if !filepath.IsAbs(s) {
		bad(name, "must be an absolute path, got %q", s)
		return ""
	}
	return filepath.Clean(s)
}
