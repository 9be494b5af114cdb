package panos

import (
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

// defaultCommitTimeout bounds a commit job when neither the route nor the
// driver's Config says.
const defaultCommitTimeout = 10 * time.Minute

// Schema declares the route options the driver takes.
func (d *Driver) Schema() driver.Schema { return optionSchema() }

func optionSchema() driver.Schema {
	return driver.Schema{
		{Name: optAPIPort, Kind: driver.OptionInt, Default: "443", Doc: "management HTTPS port"},
		{Name: optCAFile, Kind: driver.OptionString, Doc: "PEM file of roots the API certificate may chain to, besides the system roots"},
		{Name: optTLSServerName, Kind: driver.OptionString, Default: "the common name, or its first SAN that is not a wildcard",
			Doc: "name the API certificate must carry"},
		{Name: optBind, Kind: driver.OptionString, Default: bindManagement,
			Doc: "service the certificate is bound to: " + strings.Join(bindValues, ", ")},
		{Name: optGlobalProtect, Kind: driver.OptionString,
			Doc: "the GlobalProtect portal or gateway entry to bind, with bind " + bindPortal + " or " + bindGateway},
		{Name: optVSys, Kind: driver.OptionString, Default: defaultVSys, Doc: "virtual system of the GlobalProtect portal or gateway"},
		{Name: optProfileName, Kind: driver.OptionString, Default: defaultProfileName, Doc: "SSL/TLS service profile ottr manages"},
		{Name: optMinTLSVersion, Kind: driver.OptionString, Default: defaultMinTLS,
			Doc: "lowest TLS version the profile allows, " + strings.Join(tlsVersions, " or ") + "; a profile that is already stricter is left as it is"},
		{Name: optDigest, Kind: driver.OptionString, Default: "sha256; sha384 for ECDSA P-384",
			Doc: "digest of the CSR: " + strings.Join(digestValues, ", ")},
		{Name: optCommitTimeout, Kind: driver.OptionDuration, Default: driver.FormatDuration(defaultCommitTimeout),
			Doc: "how long one commit job may take, 10s to 2h"},
	}
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
	r := optionSchema().Read(raw)

	if n, ok := r.IntIn(optAPIPort, 1, 65535); ok {
		o.APIPort = n
	}
	if s, ok := r.String(optCAFile); ok {
		if strings.TrimSpace(s) == "" {
			r.Bad(optCAFile, "must be the path of a PEM file of CA certificates, got an empty string")
		}
		o.CAFile = s
	}
	if s, ok := r.String(optTLSServerName); ok {
		if !serverName.MatchString(s) {
			r.Bad(optTLSServerName, "must be a DNS name such as fw1.example.com, got %q", s)
		}
		o.TLSServerName = s
	}
	if s, ok := r.String(optBind); ok {
		if !slices.Contains(bindValues, s) {
			r.Bad(optBind, "must be one of %s, got %q", strings.Join(bindValues, ", "), s)
		}
		o.Bind = s
	}
	gp := o.Bind == bindPortal || o.Bind == bindGateway
	if s, ok := r.String(optGlobalProtect); ok {
		switch {
		case !gp:
			r.Bad(optGlobalProtect, "applies only when bind is %s or %s", bindPortal, bindGateway)
		case len(s) > 31 || !gpName.MatchString(s):
			r.Bad(optGlobalProtect, "must be the name of the GlobalProtect portal or gateway (up to 31 letters, digits, spaces, '.', '_' or '-'), got %q", s)
		}
		o.GlobalProtectName = s
	} else if gp && r.Missing(optGlobalProtect) {
		r.Bad(optGlobalProtect, "is required when bind is %s: the name of the GlobalProtect entry to bind", o.Bind)
	}
	if s, ok := r.String(optVSys); ok {
		switch {
		case !gp:
			r.Bad(optVSys, "applies only when bind is %s or %s", bindPortal, bindGateway)
		case !vsysName.MatchString(s):
			r.Bad(optVSys, "must be a virtual system such as vsys1, got %q", s)
		}
		o.VSys = s
	}
	if gp && o.VSys == "" {
		o.VSys = defaultVSys
	}
	if s, ok := r.String(optProfileName); ok {
		if len(s) > maxProfileNameChars || !objectName.MatchString(s) {
			r.Bad(optProfileName, "must be an SSL/TLS service profile name of up to %d letters, digits, '.', '_' or '-', got %q", maxProfileNameChars, s)
		}
		o.ProfileName = s
	}
	if s, ok := r.String(optMinTLSVersion); ok {
		if !slices.Contains(tlsVersions, s) {
			r.Bad(optMinTLSVersion, "must be one of %s (older versions are not offered), got %q", strings.Join(tlsVersions, ", "), s)
		}
		o.MinTLSVersion = s
	}
	if s, ok := r.String(optDigest); ok {
		if !slices.Contains(digestValues, s) {
			r.Bad(optDigest, "must be one of %s, got %q", strings.Join(digestValues, ", "), s)
		}
		o.Digest = s
	}
	if d, ok := r.Duration(optCommitTimeout); ok {
		if d < 10*time.Second || d > 2*time.Hour {
			r.Bad(optCommitTimeout, "must be between 10s and 2h, got %s", d)
		}
		o.CommitTimeout = d
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return o, nil
}
