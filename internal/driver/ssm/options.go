package ssm

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/linuxhost"
)

// Route option names of the SSM transport.
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
)

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

// Schema returns the driver's route options: the SSM transport's, its
// hooks', and the host logic's (linuxhost.Schema).
func Schema() driver.Schema {
	return append(driver.Schema{
		{Name: optRegion, Kind: driver.OptionString, Required: true, Doc: "AWS region of the instances"},
		{Name: optEndpoint, Kind: driver.OptionString, Doc: "https URL used instead of AWS's SSM and EC2 endpoints"},
		{Name: optCAFile, Kind: driver.OptionString,
			Doc: "PEM roots the endpoint's certificate may chain to, besides the system's (a file on the ottr host)"},
		{Name: optDocument, Kind: driver.OptionString, Default: defaultDocument, Doc: "SSM document that runs shell scripts"},
		{Name: optTimeout, Kind: driver.OptionDuration, Default: "10m",
			Doc: fmt.Sprintf("bound on each command, %s to %s", minTimeout, maxTimeout)},
		{Name: optInstanceIDFrom, Kind: driver.OptionString, Default: fromNameTag,
			Doc: fmt.Sprintf("how the instance is found: %s or %s", fromNameTag, fromAssetField)},
		{Name: optNameTag, Kind: driver.OptionString, Default: defaultNameTag,
			Doc: "template of the Name tag (.ShortName is system_name's first label); fields .SystemName, .ShortName, " +
				".CommonName, .DataCenter, .IPAddress and {{label \"key\"}}"},
		{Name: optInstanceIDField, Kind: driver.OptionString, Default: defaultInstanceIDField,
			Doc: "with asset-field: system_name or labels.<key>"},
		{Name: optPreHooksDir, Kind: driver.OptionPath, Default: defaultPreHooksDir,
			Doc: "directory of hooks run before the CSR; \"\" for none"},
		{Name: optPostHooksDir, Kind: driver.OptionPath, Default: defaultPostHooksDir,
			Doc: "directory of hooks run after install and rollback; \"\" for none"},
	}, linuxhost.Schema()...)
}

// options are a route's options, parsed and checked.
type options struct {
	linuxhost.Options
	Region   string
	Endpoint string
	CAFile   string
	Document string
	// Timeout bounds each command on the instance.
	Timeout time.Duration
	// NameTag computes the Name tag from the asset (instance_id_from
	// name-tag).
	NameTag *driver.AssetTemplate
	// InstanceIDFrom is fromNameTag or fromAssetField.
	InstanceIDFrom string
	// InstanceIDField is "system_name" or "labels.<key>" (asset-field).
	InstanceIDField string
	// PreHooksDir and PostHooksDir hold the hooks; empty runs none.
	PreHooksDir  string
	PostHooksDir string
}

var (
	regionPattern   = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	documentPattern = regexp.MustCompile(`^[A-Za-z0-9_.:/-]{3,128}$`)
	labelKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_.:/-]+$`)
)

// parseOptions checks a route's options and returns them with defaults
// filled in. Every problem is reported, each naming the option and the rule.
func parseOptions(raw map[string]any) (*options, error) {
	o := &options{
		Document:       defaultDocument,
		Timeout:        defaultTimeout,
		InstanceIDFrom: fromNameTag,
		PreHooksDir:    defaultPreHooksDir,
		PostHooksDir:   defaultPostHooksDir,
	}
	host, err := linuxhost.ParseOptions(raw, Schema(), func(bad driver.BadOption) { parseTransportOptions(raw, o, bad) })
	if err != nil {
		return nil, wrapf("options", err)
	}
	o.Options = *host
	return o, nil
}

// parseTransportOptions reads the options of the SSM transport and its
// hooks into o.
func parseTransportOptions(raw map[string]any, o *options, bad driver.BadOption) {
	if _, ok := raw[optRegion]; !ok {
		bad(optRegion, "is required: the AWS region of the instances, e.g. \"us-east-1\"")
	} else if o.Region, _ = driver.StringOption(raw, optRegion, bad); o.Region != "" && !regionPattern.MatchString(o.Region) {
		bad(optRegion, "must be an AWS region such as \"us-east-1\", got %q", o.Region)
	}
	o.Endpoint = parseEndpoint(raw, bad)
	if _, ok := raw[optCAFile]; ok {
		o.CAFile = linuxhost.AbsolutePath(raw, optCAFile, bad)
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
		*h.field = linuxhost.AbsolutePath(raw, h.name, bad)
	}
}

// parseEndpoint reads the endpoint option: an https URL with a host and
// nothing that could carry a secret (no user info, query or fragment).
func parseEndpoint(raw map[string]any, bad driver.BadOption) string {
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
func parseInstanceLookup(raw map[string]any, o *options, bad driver.BadOption) {
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
