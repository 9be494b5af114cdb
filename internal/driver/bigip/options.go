package bigip

import (
	"regexp"
	"strings"

	"github.com/ottr-go/ottr/internal/driver"
)

// Route option names the driver understands.
const (
	optTarget        = "target"
	optProfile       = "profile"
	optPartition     = "partition"
	optCertKeyChain  = "cert_key_chain"
	optAPIPort       = "api_port"
	optCAFile        = "ca_file"
	optTLSServerName = "tls_server_name"
	optLoginProvider = "login_provider"
)

// Targets: what the rotated certificate serves.
const (
	targetClientSSL = "client-ssl"
	targetHTTPD     = "httpd"
)

// options are a route's options, parsed and checked.
type options struct {
	// Target is targetClientSSL or targetHTTPD.
	Target string
	// Profile is the client-ssl profile's name (targetClientSSL).
	Profile string
	// Partition holds the profile and the objects ottr creates.
	Partition string
	// CertKeyChain names the profile's certKeyChain entry to replace;
	// empty: the first entry.
	CertKeyChain string
	// APIPort is the iControl REST port.
	APIPort int
	// CAFile is a PEM bundle of roots the API certificate may chain to,
	// besides the system roots.
	CAFile string
	// TLSServerName is the name the API certificate must carry; empty:
	// the asset's common name.
	TLSServerName string
	// LoginProvider is the loginProviderName of the token login.
	LoginProvider string
}

// Why these shapes: names reach URLs, JSON and (for the CSR) a tmsh
// command line; BIG-IP itself refuses anything else, and refusing it here
// turns a typo into a clear message when routes load.
var (
	objectNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)
	serverNamePattern = regexp.MustCompile(`^[A-Za-z0-9*]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)
)

// fullPath is the BIG-IP full path of an object named name in the route's
// partition.
func (o *options) fullPath(name string) string { return "/" + o.Partition + "/" + name }

// profilePath is the full path of the client-ssl profile.
func (o *options) profilePath() string { return o.fullPath(o.Profile) }

// Schema declares the route options the driver takes.
func (d *Driver) Schema() driver.Schema { return optionSchema() }

func optionSchema() driver.Schema {
	return driver.Schema{
		{Name: optTarget, Kind: driver.OptionString, Default: targetClientSSL,
			Doc: "what the certificate serves: " + targetClientSSL + " (a client-ssl profile) or " + targetHTTPD + " (the management interface)"},
		{Name: optProfile, Kind: driver.OptionString, Doc: "client-ssl profile name, required with target " + targetClientSSL},
		{Name: optPartition, Kind: driver.OptionString, Default: defaultPartition, Doc: "partition of the profile and of the objects ottr creates"},
		{Name: optCertKeyChain, Kind: driver.OptionString, Default: "the profile's first entry", Doc: "certKeyChain entry to replace"},
		{Name: optAPIPort, Kind: driver.OptionInt, Default: "443", Doc: "iControl REST port"},
		{Name: optCAFile, Kind: driver.OptionString, Doc: "PEM file of roots the API certificate may chain to, besides the system roots"},
		{Name: optTLSServerName, Kind: driver.OptionString, Default: "the asset's common name", Doc: "name the API certificate must carry"},
		{Name: optLoginProvider, Kind: driver.OptionString, Default: defaultLoginProvider, Doc: "loginProviderName of the token login"},
	}
}

// Defaults of the options.
const (
	defaultPartition     = "Common"
	defaultLoginProvider = "tmos"
)

// parseOptions checks a route's options and returns them with defaults
// filled in. Every problem is reported, each naming the option and the rule.
func parseOptions(raw map[string]any) (*options, error) {
	o := &options{Target: targetClientSSL, Partition: defaultPartition, APIPort: 443, LoginProvider: defaultLoginProvider}
	r := optionSchema().Read(raw)

	if s, ok := r.String(optTarget); ok {
		if s != targetClientSSL && s != targetHTTPD {
			r.Bad(optTarget, "must be %q (a client-ssl profile) or %q (the management interface), got %q", targetClientSSL, targetHTTPD, s)
		} else {
			o.Target = s
		}
	}

	o.Profile = name(r, optProfile)
	o.CertKeyChain = name(r, optCertKeyChain)
	if p := name(r, optPartition); p != "" {
		o.Partition = p
	}
	switch o.Target {
	case targetClientSSL:
		if r.Missing(optProfile) {
			r.Bad(optProfile, "is required with target %q: the name of the client-ssl profile, e.g. \"www_clientssl\"", targetClientSSL)
		}
	case targetHTTPD:
		for _, opt := range []string{optProfile, optCertKeyChain} {
			if _, ok := raw[opt]; ok {
				r.Bad(opt, "applies to target %q only; target %q rotates the management interface's certificate", targetClientSSL, targetHTTPD)
			}
		}
	}

	if port, ok := r.IntIn(optAPIPort, 1, 65535); ok {
		o.APIPort = port
	}
	if s, ok := r.String(optCAFile); ok {
		if strings.TrimSpace(s) == "" {
			r.Bad(optCAFile, "must be the path of a PEM file, got %q", s)
		}
		o.CAFile = s
	}
	if s, ok := r.String(optTLSServerName); ok {
		if !serverNamePattern.MatchString(s) {
			r.Bad(optTLSServerName, "must be a DNS name such as \"bigip1.example.com\", got %q", s)
		}
		o.TLSServerName = s
	}
	if p := name(r, optLoginProvider); p != "" {
		o.LoginProvider = p
	}

	if err := r.Err(); err != nil {
		return nil, err
	}
	return o, nil
}

// name reads an optional option holding a BIG-IP object name.
func name(r *driver.OptionReader, opt string) string {
	s, ok := r.String(opt)
	if !ok {
		return ""
	}
	if !objectNamePattern.MatchString(s) {
		r.Bad(opt, "must be a BIG-IP name: a letter or underscore, then letters, digits, '.', '-' or '_'; got %q", s)
		return ""
	}
	return s
}
