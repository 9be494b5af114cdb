package bigip

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
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

var knownOptions = []string{
	optAPIPort, optCAFile, optCertKeyChain, optLoginProvider, optPartition, optProfile, optTarget, optTLSServerName,
}

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

// parseOptions checks a route's options and returns them with defaults
// filled in. Every problem is reported, each naming the option and the rule.
func parseOptions(raw map[string]any) (*options, error) {
	o := &options{Target: targetClientSSL, Partition: "Common", APIPort: 443, LoginProvider: "tmos"}
	var errs []error
	bad := func(name, rule string, args ...any) {
		errs = append(errs, fmt.Errorf("option %q: "+rule, append([]any{name}, args...)...))
	}

	driver.CheckKnownOptions(raw, knownOptions, bad)

	if v, ok := raw[optTarget]; ok {
		s, isString := v.(string)
		switch {
		case !isString:
			bad(optTarget, "must be %q or %q, got %s", targetClientSSL, targetHTTPD, describe(v))
		case s != targetClientSSL && s != targetHTTPD:
			bad(optTarget, "must be %q (a client-ssl profile) or %q (the management interface), got %q", targetClientSSL, targetHTTPD, s)
		default:
			o.Target = s
		}
	}

	o.Profile = name(raw, optProfile, bad)
	o.CertKeyChain = name(raw, optCertKeyChain, bad)
	if p := name(raw, optPartition, bad); p != "" {
		o.Partition = p
	}
	switch o.Target {
	case targetClientSSL:
		if _, ok := raw[optProfile]; !ok {
			bad(optProfile, "is required with target %q: the name of the client-ssl profile, e.g. \"www_clientssl\"", targetClientSSL)
		}
	case targetHTTPD:
		for _, opt := range []string{optProfile, optCertKeyChain} {
			if _, ok := raw[opt]; ok {
				bad(opt, "applies to target %q only; target %q rotates the management interface's certificate", targetClientSSL, targetHTTPD)
			}
		}
	}

	if v, ok := raw[optAPIPort]; ok {
		port, err := driver.Integer(v)
		switch {
		case err != nil:
			bad(optAPIPort, "must be a whole number, got %s", describe(v))
		case port < 1 || port > 65535:
			bad(optAPIPort, "must be between 1 and 65535, got %d", port)
		default:
			o.APIPort = port
		}
	}

	if v, ok := raw[optCAFile]; ok {
		s, isString := v.(string)
		switch {
		case !isString:
			bad(optCAFile, "must be the path of a PEM file, got %s", describe(v))
		case strings.TrimSpace(s) == "" || strings.ContainsAny(s, "\x00\n\r"):
			bad(optCAFile, "must be the path of a PEM file, got %q", s)
		default:
			o.CAFile = s
		}
	}
	if v, ok := raw[optTLSServerName]; ok {
		s, isString := v.(string)
		if !isString || !serverNamePattern.MatchString(s) {
			bad(optTLSServerName, "must be a DNS name such as \"bigip1.example.com\", got %s", describe(v))
		} else {
			o.TLSServerName = s
		}
	}
	if p := name(raw, optLoginProvider, bad); p != "" {
		o.LoginProvider = p
	}

	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return o, nil
}

// name reads an optional option holding a BIG-IP object name.
func name(raw map[string]any, opt string, bad func(string, string, ...any)) string {
	v, ok := raw[opt]
	if !ok {
		return ""
	}
	s, isString := v.(string)
	if !isString || !objectNamePattern.MatchString(s) {
		bad(opt, "must be a BIG-IP name: a letter or underscore, then letters, digits, '.', '-' or '_'; got %s", describe(v))
		return ""
	}
	return s
}

func describe(v any) string {
	switch s := v.(type) {
	case nil:
		return "nothing"
	case string:
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%T %v", v, v)
}
