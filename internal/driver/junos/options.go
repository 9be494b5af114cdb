package junos

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ottr-go/ottr/internal/driver"
)

// Route option names the driver understands.
const (
	optNetconfPort    = "netconf_port"
	optConfirmMinutes = "confirm_minutes"
	optBindPath       = "bind_path"
	optUploadDir      = "upload_dir"
)

// tlsOptions are the API TLS options HTTPS drivers take; JunOS's API is
// NETCONF over SSH, so they are refused with an explanation rather than
// silently ignored.
var tlsOptions = []string{"api_port", "ca_file", "tls_server_name"}

// Defaults of the route options.
const (
	DefaultNetconfPort    = 830
	DefaultConfirmMinutes = 5
	// DefaultBindPath is J-Web's HTTPS certificate:
	// `set system services web-management https pki-local-certificate ID`.
	DefaultBindPath  = "system/services/web-management/https/pki-local-certificate"
	DefaultUploadDir = "/var/tmp"
)

// alternatives lists, per bind path, the statements JunOS's schema makes
// exclusive with the bound one (a "choice"): binding deletes whichever is
// set, and rollback sets it again.
var alternatives = map[string][]string{
	DefaultBindPath: {"system-generated-certificate", "local-certificate"},
}

// options are a route's options, parsed and checked.
type options struct {
	NetconfPort    int
	ConfirmMinutes int
	BindPath       string
	bindSteps      []pathStep
	UploadDir      string
}

// statementPattern is a JunOS configuration statement name; keyPattern a
// list key that needs no quoting inside the path's predicate.
var (
	statementPattern = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	keyPattern       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]*$`)
	dirPattern       = regexp.MustCompile(`^(/[A-Za-z0-9._-]+)+$`)
)

// Schema declares the route options the driver takes.
func (d *Driver) Schema() driver.Schema { return optionSchema() }

func optionSchema() driver.Schema {
	return driver.Schema{
		{Name: optNetconfPort, Kind: driver.OptionInt, Default: strconv.Itoa(DefaultNetconfPort), Doc: "NETCONF port"},
		{Name: optConfirmMinutes, Kind: driver.OptionInt, Default: strconv.Itoa(DefaultConfirmMinutes),
			Doc: "minutes JunOS waits for the commit to be confirmed before it rolls back by itself, 1 to 65535"},
		{Name: optBindPath, Kind: driver.OptionString, Default: DefaultBindPath,
			Doc: "configuration statement that takes the certificate-id; list entries as services/ssl/termination/profile[name='web']/server-certificate"},
		{Name: optUploadDir, Kind: driver.OptionPath, Default: DefaultUploadDir, Doc: "directory on the device for transferred files"},
	}
}

// parseOptions checks a route's options and returns them with defaults
// filled in. Every problem is reported, each naming the option and the rule.
func parseOptions(raw map[string]any) (*options, error) {
	o := &options{
		NetconfPort:    DefaultNetconfPort,
		ConfirmMinutes: DefaultConfirmMinutes,
		BindPath:       DefaultBindPath,
		UploadDir:      DefaultUploadDir,
	}
	r := optionSchema().Read(raw)

	for _, name := range tlsOptions {
		if _, ok := raw[name]; ok {
			r.Bad(name, "not used by the junos driver: it talks NETCONF over SSH (port: %s), and the device is "+
				"authenticated by its SSH host key in known_hosts, not by TLS", optNetconfPort)
		}
	}

	if n, ok := r.IntIn(optNetconfPort, 1, 65535); ok {
		o.NetconfPort = n
	}
	// JunOS takes confirm-timeout in whole minutes, 1 to 65535.
	if n, ok := r.IntIn(optConfirmMinutes, 1, 65535); ok {
		o.ConfirmMinutes = n
	}

	if s, ok := r.String(optBindPath); ok {
		if err := checkBindPath(s); err != nil {
			r.Bad(optBindPath, "%v", err)
		} else {
			o.BindPath = s
		}
	}
	o.bindSteps, _ = parseBindPath(o.BindPath)

	if s, ok := r.String(optUploadDir); ok {
		if !dirPattern.MatchString(s) || slices.Contains(strings.Split(s, "/"), "..") {
			r.Bad(optUploadDir, "must be an absolute directory on the device of letters, digits, '.', '_' and '-' "+
				"such as %q, got %q", DefaultUploadDir, s)
		} else {
			o.UploadDir = strings.TrimSuffix(s, "/")
		}
	}

	if err := r.Err(); err != nil {
		return nil, err
	}
	return o, nil
}

// checkBindPath explains what is wrong with a bind path.
func checkBindPath(s string) error {
	steps, err := parseBindPath(s)
	if err != nil {
		return err
	}
	if len(steps) < 2 {
		return fmt.Errorf("must name a statement inside a container, such as %q, got %q", DefaultBindPath, s)
	}
	if steps[len(steps)-1].Key != "" {
		return fmt.Errorf("must end with the statement that takes the certificate-id, not a list entry, got %q", s)
	}
	return nil
}

// parseBindPath reads "a/b[name='key']/c": configuration statements
// separated by slashes, list entries selected by their name.
func parseBindPath(s string) ([]pathStep, error) {
	if s == "" {
		return nil, errors.New("must not be empty")
	}
	var steps []pathStep
	for _, part := range strings.Split(s, "/") {
		step := pathStep{Name: part}
		if i := strings.IndexByte(part, '['); i >= 0 {
			step.Name = part[:i]
			pred := part[i:]
			key, ok := strings.CutPrefix(pred, "[name=")
			key, closed := strings.CutSuffix(key, "]")
			if !ok || !closed || len(key) < 2 || (key[0] != '\'' && key[0] != '"') || key[len(key)-1] != key[0] {
				return nil, fmt.Errorf("list entries are selected as [name='key'], got %q in %q", pred, s)
			}
			step.Key = key[1 : len(key)-1]
			if !keyPattern.MatchString(step.Key) {
				return nil, fmt.Errorf("list key %q must be letters, digits, '.', '_', ':', '/' and '-'", step.Key)
			}
		}
		if !statementPattern.MatchString(step.Name) {
			return nil, fmt.Errorf("%q is not a configuration statement name (lower-case letters, digits and '-') in %q", step.Name, s)
		}
		steps = append(steps, step)
	}
	return steps, nil
}
