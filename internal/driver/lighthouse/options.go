package lighthouse

import (
	"net"
	"strconv"
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

// Schema declares the route options the driver takes.
func (d *Driver) Schema() driver.Schema { return optionSchema() }

func optionSchema() driver.Schema {
	subject := func(name, field string) driver.OptionSpec {
		return driver.OptionSpec{Name: name, Kind: driver.OptionString, Doc: "the CSR's " + field + ", 1 to 64 characters"}
	}
	return driver.Schema{
		{Name: optCAFile, Kind: driver.OptionString, Doc: "PEM file of roots the appliance's certificate may chain to, besides the system roots"},
		{Name: optTLSServerName, Kind: driver.OptionString, Default: "the asset's common name", Doc: "name the appliance's certificate must carry"},
		{Name: optAPIPort, Kind: driver.OptionInt, Default: strconv.Itoa(defaultAPIPort), Doc: "HTTPS port of the API"},
		{Name: optRestartTimeout, Kind: driver.OptionDuration, Default: driver.FormatDuration(defaultRestartTimeout),
			Doc: "how long to wait for the web server after an upload"},
		{Name: optRestartSettle, Kind: driver.OptionDuration, Default: driver.FormatDuration(defaultRestartSettle),
			Doc: "how long the new certificate must be served when the restart itself was not seen; shorter than restart_timeout"},
		{Name: optSANs, Kind: driver.OptionBool, Default: "true",
			Doc: "send the names to the CSR form; false for releases whose form has no SAN field, whose assets then need no SAN beyond the CN"},
		{Name: optCountry, Kind: driver.OptionString, Doc: "the CSR's country, a two-letter upper-case ISO 3166 code such as \"US\""},
		subject(optState, "state or province"),
		subject(optLocality, "locality"),
		subject(optOrganization, "organization"),
		subject(optOrgUnit, "organizational unit"),
		{Name: optEmail, Kind: driver.OptionString, Doc: "the CSR's e-mail address"},
	}
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
	r := optionSchema().Read(raw)

	if n, ok := r.IntIn(optAPIPort, 1, 65535); ok {
		o.APIPort = n
	}
	if s, ok := r.String(optCAFile); ok {
		if strings.TrimSpace(s) == "" {
			r.Bad(optCAFile, "must name a PEM file of root certificates, got an empty string")
		}
		o.CAFile = s
	}
	if s, ok := r.String(optTLSServerName); ok {
		if !driver.IsDNSName(s) && net.ParseIP(s) == nil {
			r.Bad(optTLSServerName, "must be a host name or IP address the API certificate carries, got %q", s)
		}
		o.TLSServerName = s
	}
	o.RestartTimeout = positive(r, optRestartTimeout, o.RestartTimeout)
	o.RestartSettle = positive(r, optRestartSettle, o.RestartSettle)
	if o.RestartSettle >= o.RestartTimeout {
		r.Bad(optRestartSettle, "must be shorter than %s (%s), got %s", optRestartTimeout, o.RestartTimeout, o.RestartSettle)
	}
	if b, ok := r.Bool(optSANs); ok {
		o.SANs = b
	}

	for _, f := range []struct {
		name string
		dst  *string
	}{
		{optState, &o.Subject.State}, {optLocality, &o.Subject.Locality},
		{optOrganization, &o.Subject.Organization}, {optOrgUnit, &o.Subject.OrgUnit},
	} {
		if s, ok := r.String(f.name); ok {
			if s == "" || len(s) > 64 {
				r.Bad(f.name, "must be 1 to 64 characters, got %d", len(s))
			}
			*f.dst = s
		}
	}
	if s, ok := r.String(optCountry); ok {
		if len(s) != 2 || strings.ToUpper(s) != s || strings.ToLower(s) == s {
			r.Bad(optCountry, "must be a two-letter upper-case ISO 3166 code such as \"US\", got %q", s)
		}
		o.Subject.Country = s
	}
	if s, ok := r.String(optEmail); ok {
		if at := strings.Index(s, "@"); at < 1 || at == len(s)-1 || strings.ContainsAny(s, " \t") {
			r.Bad(optEmail, "must be an e-mail address, got %q", s)
		}
		o.Subject.Email = s
	}

	if err := r.Err(); err != nil {
		return nil, err
	}
	return o, nil
}

// positive reads a duration option that must be more than zero.
func positive(r *driver.OptionReader, name string, def time.Duration) time.Duration {
	d, ok := r.Duration(name)
	switch {
	case !ok:
		return def
	case d <= 0:
		r.Bad(name, "must be positive, got %s", d)
		return def
	}
	return d
}
