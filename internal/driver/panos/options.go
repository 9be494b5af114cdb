package panos

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/driver"
)

// Route option names the driver understands.
const (
	optAPIPort          = "api_port"
	optCAFile           = "ca_file"
	optTLSServerName    = "tls_server_name"
	optBind             = "bind"
	optGlobalProtect    = "globalprotect_name"
	optVSys             = "vsys"
	optProfileName      = "profile_name"
	optMinTLSVersion    = "min_tls_version"
	optDigest           = "digest"
	optCommitTimeout    = "commit_timeout"
	defaultProfileName  = "ottr"
	defaultVSys         = "vsys1"
	defaultMinTLS       = "tls1-2"
	maxProfileNameChars = 31
)

var knownOptions = []string{
	optAPIPort, optBind, optCAFile, optCommitTimeout, optDigest, optGlobalProtect,
	optMinTLSVersion, optProfileName, optTLSServerName, optVSys,
}

// Services a certificate can be bound to.
const (
	bindManagement = "management"
	bindPortal     = "globalprotect-portal"
	bindGateway    = "globalprotect-gateway"
)

var (
	bindValues   = []string{bindManagement, bindPortal, bindGateway}
	tlsVersions  = []string{"tls1-2", "tls1-3"}
	digestValues = []string{"sha256", "sha384", "sha512"}
)

// Why these shapes: names end up inside xpaths between single quotes and in
// XML; PAN-OS object names are letters, digits, and . _ - (space for some),
// so refusing anything else turns a typo into a clear message at load time.
var (
	objectName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	gpName     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._ -]*$`)
	vsysName   = regexp.MustCompile(`^vsys[0-9]{1,3}$`)
	serverName = regexp.MustCompile(`^[A-Za-z0-9*]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)
)

// options are a route's options, parsed and checked.
type options struct {
	// APIPort is the management interface's HTTPS port.
	APIPort int
	// CAFile is a PEM bundle of extra roots the API certificate may chain
	// to.
	CAFile string
	// TLSServerName is the name the API certificate must carry; empty:
	// the asset's common name.
	TLSServerName string
	// Bind is the service the certificate is bound to.
	Bind string
	// GlobalProtectName names the portal or gateway entry for GlobalProtect
	// binds.
	GlobalProtectName string
	// VSys holds the GlobalProtect portal or gateway.
	VSys string
	// ProfileName is the SSL/TLS service profile ottr points at the new
	// certificate.
	ProfileName string
	// MinTLSVersion is the lowest TLS version the profile allows.
	MinTLSVersion string
	// Digest overrides the CSR's digest; empty: by key type.
	Digest string
	// CommitTimeout bounds one commit job; zero: the driver's default.
	CommitTimeout time.Duration
}

// parseOptions checks a route's options and returns them with defaults
// filled in. Every problem is reported, each naming the option and the rule.
func parseOptions(raw map[string]any) (*options, error) {
	o := &options{APIPort: 443, Bind: bindManagement, ProfileName: defaultProfileName, MinTLSVersion: defaultMinTLS}
	var errs []error
	bad := func(name, rule string, args ...any) {
		errs = append(errs, fmt.Errorf("option %q: "+rule, append([]any{name}, args...)...))
	}

	driver.CheckKnownOptions(raw, knownOptions, bad)

	o.APIPort = driver.IntOption(raw, optAPIPort, o.APIPort, 1, 65535, bad)
	if s, ok := driver.StringOption(raw, optCAFile, bad); ok {
		if strings.TrimSpace(s) == "" {
			bad(optCAFile, "must be the path of a PEM file of CA certificates, got an empty string")
		}
		o.CAFile = s
	}
	if s, ok := driver.StringOption(raw, optTLSServerName, bad); ok {
		if !serverName.MatchString(s) {
			bad(optTLSServerName, "must be a DNS name such as fw1.example.com, got %q", s)
		}
		o.TLSServerName = s
	}
	if s, ok := driver.StringOption(raw, optBind, bad); ok {
		if !slices.Contains(bindValues, s) {
			bad(optBind, "must be one of %s, got %q", strings.Join(bindValues, ", "), s)
		}
		o.Bind = s
	}
	gp := o.Bind == bindPortal || o.Bind == bindGateway
	if s, ok := driver.StringOption(raw, optGlobalProtect, bad); ok {
		switch {
		case !gp:
			bad(optGlobalProtect, "applies only when bind is %s or %s", bindPortal, bindGateway)
		case len(s) > 31 || !gpName.MatchString(s):
			bad(optGlobalProtect, "must be the name of the GlobalProtect portal or gateway (up to 31 letters, digits, spaces, '.', '_' or '-'), got %q", s)
		}
		o.GlobalProtectName = s
	} else if gp && !hasOption(raw, optGlobalProtect) {
		bad(optGlobalProtect, "is required when bind is %s: the name of the GlobalProtect entry to bind", o.Bind)
	}
	if s, ok := driver.StringOption(raw, optVSys, bad); ok {
		switch {
		case !gp:
			bad(optVSys, "applies only when bind is %s or %s", bindPortal, bindGateway)
		case !vsysName.MatchString(s):
			bad(optVSys, "must be a virtual system such as vsys1, got %q", s)
		}
		o.VSys = s
	}
	if gp && o.VSys == "" {
		o.VSys = defaultVSys
	}
	if s, ok := driver.StringOption(raw, optProfileName, bad); ok {
		if len(s) > maxProfileNameChars || !objectName.MatchString(s) {
			bad(optProfileName, "must be an SSL/TLS service profile name of up to %d letters, digits, '.', '_' or '-', got %q", maxProfileNameChars, s)
		}
		o.ProfileName = s
	}
	if s, ok := driver.StringOption(raw, optMinTLSVersion, bad); ok {
		if !slices.Contains(tlsVersions, s) {
			bad(optMinTLSVersion, "must be one of %s (older versions are not offered), got %q", strings.Join(tlsVersions, ", "), s)
		}
		o.MinTLSVersion = s
	}
	if s, ok := driver.StringOption(raw, optDigest, bad); ok {
		if !slices.Contains(digestValues, s) {
			bad(optDigest, "must be one of %s, got %q", strings.Join(digestValues, ", "), s)
		}
		o.Digest = s
	}
	if v, ok := raw[optCommitTimeout]; ok {
		d, err := driver.Duration(v)
		switch {
		case err != nil:
			bad(optCommitTimeout, "must be a duration such as \"10m\" or a number of seconds, got %s", driver.DescribeValue(v))
		case d < 10*time.Second || d > 2*time.Hour:
			bad(optCommitTimeout, "must be between 10s and 2h, got %s", d)
		default:
			o.CommitTimeout = d
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return o, nil
}

func hasOption(raw map[string]any, name string) bool {
	_, ok := raw[name]
	return ok
}
