package ssm

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"
	"text/template"
	"time"

	"github.com/ottr-go/ottr/internal/driver"
)

// Route option names the driver understands.
const (
	optRegion          = "region"
	optEndpoint        = "endpoint"
	optCAFile          = "ca_file"
	optDocument        = "document"
	optTimeout         = "timeout"
	optNameTag         = "name_tag"
	optInstanceIDFrom  = "instance_id_from"
	optInstanceIDField = "instance_id_field"
	optPreHooksDir     = "pre_hooks_dir"
	optPostHooksDir    = "post_hooks_dir"
	optCertPath        = "cert_path"
	optKeyPath         = "key_path"
	optChainPath       = "chain_path"
	optReloadCommand   = "reload_command"
	optWorkDir         = "work_dir"
	optOwner           = "owner"
	optMode            = "mode"
)

var knownOptions = []string{
	optCAFile, optCertPath, optChainPath, optDocument, optEndpoint, optInstanceIDField,
	optInstanceIDFrom, optKeyPath, optMode, optNameTag, optOwner, optPostHooksDir,
	optPreHooksDir, optRegion, optReloadCommand, optTimeout, optWorkDir,
}

// Ways to find the instance (instance_id_from).
const (
	fromNameTag    = "name-tag"
	fromAssetField = "asset-field"
)

// Defaults of the options.
const (
	defaultDocument        = "AWS-RunShellScript"
	defaultNameTag         = "{{.ShortName}}"
	defaultInstanceIDField = "labels.instance_id"
	defaultPreHooksDir     = "/opt/otter/hooks/pre"
	defaultPostHooksDir    = "/opt/otter/hooks/post"
	defaultTimeout         = 10 * time.Minute
	// minTimeout and maxTimeout are the limits SSM puts on a command's
	// delivery timeout (30 s) and on AWS-RunShellScript's
	// executionTimeout (48 h).
	minTimeout = 30 * time.Second
	maxTimeout = 48 * time.Hour
)

// options are a route's options, parsed and checked.
type options struct {
	Region   string
	Endpoint string
	CAFile   string
	Document string
	// Timeout bounds each command on the instance.
	Timeout time.Duration
	// NameTag computes the Name tag from the asset (instance_id_from
	// name-tag).
	NameTag *template.Template
	// InstanceIDFrom is fromNameTag or fromAssetField.
	InstanceIDFrom string
	// InstanceIDField is "system_name" or "labels.<key>" (asset-field).
	InstanceIDField string
	// PreHooksDir and PostHooksDir hold the hooks; empty runs none.
	PreHooksDir  string
	PostHooksDir string

	CertPath      string
	KeyPath       string
	ChainPath     string
	ReloadCommand string
	WorkDir       string
	Owner         string
	Mode          string
}

// Why these shapes: an owner reaches chown and a mode reaches chmod; both are
// quoted, but refusing anything odd here turns a typo into a clear message at
// load time instead of a failed rotation.
var (
	ownerPattern    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*(:[A-Za-z0-9_][A-Za-z0-9._-]*)?$`)
	modePattern     = regexp.MustCompile(`^0?[0-7]{3}$`)
	regionPattern   = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	documentPattern = regexp.MustCompile(`^[A-Za-z0-9_.:/-]{3,128}$`)
	labelKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_.:/-]+$`)
)

// stagedKeyPath is where GenerateCSR leaves the new key until Install moves
// it into place. The name is derived, not random, so an Install run by
// another process after a crash finds the key of the CSR it was issued for.
func (o *options) stagedKeyPath() string {
	return path.Join(o.WorkDir, path.Base(o.KeyPath)+".ottr-new")
}

// stagedCSRPath is where GenerateCSR keeps the staged key's public key and
// CSR (public data), so Install can check that the staged key is the
// certificate's by comparing text instead of running openssl on the key.
func (o *options) stagedCSRPath() string {
	return o.stagedKeyPath() + ".csr"
}

// keyModeIsDefault reports whether the installed key keeps the mode the
// staged key is created with (0600), so no chmod is needed.
func (o *options) keyModeIsDefault() bool {
	return strings.TrimLeft(o.Mode, "0") == "600"
}

// parseOptions checks a route's options and returns them with defaults
// filled in. Every problem is reported, each naming the option and the rule.
func parseOptions(raw map[string]any) (*options, error) {
	o := &options{
		Document:       defaultDocument,
		Timeout:        defaultTimeout,
		InstanceIDFrom: fromNameTag,
		PreHooksDir:    defaultPreHooksDir,
		PostHooksDir:   defaultPostHooksDir,
		Mode:           "0600",
	}
	var errs []error
	bad := func(name, rule string, args ...any) {
		errs = append(errs, fmt.Errorf("option %q: "+rule, append([]any{name}, args...)...))
	}

	driver.CheckKnownOptions(raw, knownOptions, bad)

	if _, ok := raw[optRegion]; !ok {
		bad(optRegion, "is required: the AWS region of the instances, e.g. \"us-east-1\"")
	} else if o.Region, _ = driver.StringOption(raw, optRegion, bad); o.Region != "" && !regionPattern.MatchString(o.Region) {
		bad(optRegion, "must be an AWS region such as \"us-east-1\", got %q", o.Region)
	}
	o.Endpoint = parseEndpoint(raw, bad)
	if _, ok := raw[optCAFile]; ok {
		o.CAFile = absolute(raw, optCAFile, bad)
	}
	if _, ok := raw[optDocument]; ok {
		if o.Document, _ = driver.StringOption(raw, optDocument, bad); !documentPattern.MatchString(o.Document) {
			bad(optDocument, "must be an SSM document name such as %q, got %q", defaultDocument, o.Document)
		}
	}
	if v, ok := raw[optTimeout]; ok {
		d, err := driver.Duration(v)
		switch {
		case err != nil:
			bad(optTimeout, "must be a duration such as \"10m\" or a number of seconds, got %s", driver.DescribeValue(v))
		case d < minTimeout || d > maxTimeout:
			bad(optTimeout, "must be between %s and %s (SSM's limits), got %s", minTimeout, maxTimeout, d)
		default:
			o.Timeout = d
		}
	}
	parseInstanceLookup(raw, o, bad)

	for _, h := range []struct {
		name  string
		field *string
	}{{optPreHooksDir, &o.PreHooksDir}, {optPostHooksDir, &o.PostHooksDir}} {
		if _, ok := raw[h.name]; !ok {
			continue
		}
		// An empty string turns the hooks off.
		if s, isString := raw[h.name].(string); isString && s == "" {
			*h.field = ""
			continue
		}
		*h.field = cleanPath(absolute(raw, h.name, bad))
	}

	o.CertPath = filePath(raw, optCertPath, true, bad)
	o.KeyPath = filePath(raw, optKeyPath, true, bad)
	o.ChainPath = filePath(raw, optChainPath, false, bad)
	if _, ok := raw[optWorkDir]; ok {
		o.WorkDir = cleanPath(absolute(raw, optWorkDir, bad))
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
		if other, dup := distinct[p.value]; dup {
			bad(p.name, "must differ from %s: one file cannot hold both (got %q)", other, p.value)
			continue
		}
		distinct[p.value] = p.name
	}

	before := len(errs)
	o.ReloadCommand, _ = driver.StringOption(raw, optReloadCommand, bad)
	if _, ok := raw[optReloadCommand]; !ok {
		bad(optReloadCommand, "is required, e.g. \"systemctl reload nginx\"")
	} else if len(errs) == before && strings.TrimSpace(o.ReloadCommand) == "" {
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

	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return o, nil
}

// parseEndpoint reads the endpoint option: an https URL with a host and
// nothing that could carry a secret (no user info, query or fragment).
func parseEndpoint(raw map[string]any, bad func(string, string, ...any)) string {
	if _, ok := raw[optEndpoint]; !ok {
		return ""
	}
	s, _ := driver.StringOption(raw, optEndpoint, bad)
	u, err := url.Parse(s)
	switch {
	case s == "":
		bad(optEndpoint, "must not be empty when set; leave it out to use AWS's own endpoints")
	case err != nil || u.Host == "" || u.Opaque != "":
		bad(optEndpoint, "must be a URL such as \"https://ssm.us-east-1.amazonaws.com\", got %q", s)
	case u.Scheme != "https":
		bad(optEndpoint, "must use https: the endpoint receives signed requests and returns command output, got %q", s)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		bad(optEndpoint, "must be a bare https URL without user info, query or fragment, got %q", s)
	default:
		return strings.TrimSuffix(s, "/")
	}
	return ""
}

// parseInstanceLookup reads instance_id_from, name_tag and
// instance_id_field, which depend on each other.
func parseInstanceLookup(raw map[string]any, o *options, bad func(string, string, ...any)) {
	if _, ok := raw[optInstanceIDFrom]; ok {
		o.InstanceIDFrom, _ = driver.StringOption(raw, optInstanceIDFrom, bad)
		if o.InstanceIDFrom != fromNameTag && o.InstanceIDFrom != fromAssetField {
			bad(optInstanceIDFrom, "must be %q or %q, got %q", fromNameTag, fromAssetField, o.InstanceIDFrom)
			return
		}
	}
	_, hasNameTag := raw[optNameTag]
	_, hasField := raw[optInstanceIDField]
	switch o.InstanceIDFrom {
	case fromNameTag:
		if hasField {
			bad(optInstanceIDField, "applies only with instance_id_from %q", fromAssetField)
		}
		text := defaultNameTag
		if hasNameTag {
			text, _ = driver.StringOption(raw, optNameTag, bad)
		}
		tmpl, err := parseNameTag(text)
		if err != nil {
			bad(optNameTag, "%v", err)
			return
		}
		o.NameTag = tmpl
	case fromAssetField:
		if hasNameTag {
			bad(optNameTag, "applies only with instance_id_from %q (the default)", fromNameTag)
		}
		o.InstanceIDField = defaultInstanceIDField
		if hasField {
			o.InstanceIDField, _ = driver.StringOption(raw, optInstanceIDField, bad)
		}
		key, isLabel := strings.CutPrefix(o.InstanceIDField, "labels.")
		if o.InstanceIDField != "system_name" && (!isLabel || !labelKeyPattern.MatchString(key)) {
			bad(optInstanceIDField, "must be \"system_name\" or \"labels.<key>\", got %q", o.InstanceIDField)
		}
	}
}

// filePath reads an option naming a file on the instance.
func filePath(raw map[string]any, name string, required bool, bad func(string, string, ...any)) string {
	if _, ok := raw[name]; !ok {
		if required {
			bad(name, "is required: the absolute path of the file on the instance, e.g. /etc/nginx/ssl/site.pem")
		}
		return ""
	}
	p := absolute(raw, name, bad)
	if p != "" && strings.HasSuffix(p, "/") {
		bad(name, "must name a file, not a directory, got %q", p)
		return ""
	}
	return cleanPath(p)
}

func absolute(raw map[string]any, name string, bad func(string, string, ...any)) string {
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
