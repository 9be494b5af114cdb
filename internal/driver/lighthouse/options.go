package lighthouse

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/driver"
)

// Route option names the driver understands.
const (
	optCAFile         = "ca_file"
	optTLSServerName  = "tls_server_name"
	optAPIPort        = "api_port"
	optRestartTimeout = "restart_timeout"
	optRestartSettle  = "restart_settle"
	optSANs           = "sans"
	optCountry        = "country"
	optState          = "state"
	optLocality       = "locality"
	optOrganization   = "organization"
	optOrgUnit        = "org_unit"
	optEmail          = "email"
)

var knownOptions = []string{
	optAPIPort, optCAFile, optCountry, optEmail, optLocality, optOrgUnit, optOrganization,
	optRestartSettle, optRestartTimeout, optSANs, optState, optTLSServerName,
}

// Defaults of the options.
const (
	defaultAPIPort        = 443
	defaultRestartTimeout = 3 * time.Minute
	defaultRestartSettle  = 5 * time.Second
)

// options are a route's options, parsed and checked.
type options struct {
	// CAFile holds PEM roots the API certificate may chain to, besides
	// the system roots.
	CAFile string
	// TLSServerName is the name the API certificate must carry; empty
	// means the asset's common name.
	TLSServerName string
	APIPort       int
	// RestartTimeout bounds the wait for the web server after an upload.
	RestartTimeout time.Duration
	// RestartSettle is how long the new certificate must be served when
	// the restart itself was not seen, before the install counts as done.
	RestartSettle time.Duration
	// SANs sends the names to the CSR form; false for releases whose form
	// has no SAN field.
	SANs bool
	// Subject holds the CSR's distinguished name fields besides the CN.
	Subject subjectFields
}

// subjectFields are the CSR form's optional DN fields.
type subjectFields struct {
	Country      string `json:"country,omitempty"`
	State        string `json:"state,omitempty"`
	Locality     string `json:"locality,omitempty"`
	Organization string `json:"organization,omitempty"`
	OrgUnit      string `json:"org_unit,omitempty"`
	Email        string `json:"email,omitempty"`
}

// parseOptions checks a route's options and returns them with defaults
// filled in. Every problem is reported, each naming the option and the rule.
func parseOptions(raw map[string]any) (*options, error) {
	o := &options{
		APIPort:        defaultAPIPort,
		RestartTimeout: defaultRestartTimeout,
		RestartSettle:  defaultRestartSettle,
		SANs:           true,
	}
	var errs []error
	bad := func(name, rule string, args ...any) {
		errs = append(errs, fmt.Errorf("option %q: "+rule, append([]any{name}, args...)...))
	}

	driver.CheckKnownOptions(raw, knownOptions, bad)

	o.APIPort = driver.IntOption(raw, optAPIPort, o.APIPort, 1, 65535, bad)
	if s, ok := driver.StringOption(raw, optCAFile, bad); ok {
		if strings.TrimSpace(s) == "" {
			bad(optCAFile, "must name a PEM file of root certificates, got an empty string")
		}
		o.CAFile = s
	}
	if s, ok := driver.StringOption(raw, optTLSServerName, bad); ok {
		if !driver.IsDNSName(s) && net.ParseIP(s) == nil {
			bad(optTLSServerName, "must be a host name or IP address the API certificate carries, got %q", s)
		}
		o.TLSServerName = s
	}
	o.RestartTimeout = duration(raw, optRestartTimeout, o.RestartTimeout, bad)
	o.RestartSettle = duration(raw, optRestartSettle, o.RestartSettle, bad)
	if o.RestartSettle >= o.RestartTimeout {
		bad(optRestartSettle, "must be shorter than %s (%s), got %s", optRestartTimeout, o.RestartTimeout, o.RestartSettle)
	}
	if v, ok := raw[optSANs]; ok {
		b, isBool := v.(bool)
		if !isBool {
			bad(optSANs, "must be true or false, got %s", driver.DescribeValue(v))
		}
		o.SANs = b
	}

	for _, f := range []struct {
		name string
		dst  *string
	}{
		{optState, &o.Subject.State}, {optLocality, &o.Subject.Locality},
		{optOrganization, &o.Subject.Organization}, {optOrgUnit, &o.Subject.OrgUnit},
	} {
		if s, ok := driver.StringOption(raw, f.name, bad); ok {
			if s == "" || len(s) > 64 {
				bad(f.name, "must be 1 to 64 characters, got %d", len(s))
			}
			*f.dst = s
		}
	}
	if s, ok := driver.StringOption(raw, optCountry, bad); ok {
		if len(s) != 2 || strings.ToUpper(s) != s || strings.ToLower(s) == s {
			bad(optCountry, "must be a two-letter upper-case ISO 3166 code such as \"US\", got %q", s)
		}
		o.Subject.Country = s
	}
	if s, ok := driver.StringOption(raw, optEmail, bad); ok {
		if at := strings.Index(s, "@"); at < 1 || at == len(s)-1 || strings.ContainsAny(s, " \t") {
			bad(optEmail, "must be an e-mail address, got %q", s)
		}
		o.Subject.Email = s
	}

	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return o, nil
}

// duration reads a duration option written as Go durations are ("90s",
// "3m").
func duration(raw map[string]any, name string, def time.Duration, bad func(string, string, ...any)) time.Duration {
	s, ok := driver.StringOption(raw, name, bad)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		bad(name, "must be a duration such as \"90s\" or \"3m\", got %q", s)
		return def
	case d <= 0:
		bad(name, "must be positive, got %s", s)
		return def
	}
	return d
}
