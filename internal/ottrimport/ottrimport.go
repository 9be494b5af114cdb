// Package ottrimport takes over an Ottr deployment as it is: the DynamoDB
// export of its asset table, its route.json, the names of its secrets in AWS
// Secrets Manager and its acme.sh Let's Encrypt account become ottr's
// inventory, a section of ottr.yaml (routes and credentials, the secrets as
// aws-sm: references) and the ACME account of a CA profile. It reads and
// checks; the command line writes.
package ottrimport

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/route"
)

// Input is an Ottr deployment as exported.
type Input struct {
	// Items is the export of the asset table (see ReadItems); ItemsName
	// names it in errors.
	Items     []byte
	ItemsName string
	// RouteJSON is Ottr's route.json.
	RouteJSON     []byte
	RouteJSONName string
	// SecretsPrefix is the {prefix} of Ottr's secrets,
	// {prefix}/otter/{platform}.
	SecretsPrefix string
	// Account is acme.sh's account; nil imports none.
	Account *AccountFiles
	// RouteOptions are route options laid over the imported routes', by
	// Ottr platform; RouteOptionsName names their file in errors.
	RouteOptions     map[string]map[string]any
	RouteOptionsName string
	// AWSRegion is the region of the instances Ottr reached through SSM.
	AWSRegion string
	// KeyType is the key_type given to assets that name none; "" leaves the
	// CA profile's.
	KeyType string
	// SlackChannel, when set, adds a Slack channel with Ottr's bot token
	// ({prefix}/otter/slack).
	SlackChannel string
	// Drivers are the names of the drivers this build has.
	Drivers []string
}

// Credential is a device login of the section: references, never values.
type Credential struct {
	Username string `yaml:"username,omitempty"`
	Password string `yaml:"password,omitempty"`
}

// Plan is what the import would do.
type Plan struct {
	// Items are the assets to import, ready to validate.
	Items []Item
	// Routes and Credentials are the section's.
	Routes      []route.Route
	Credentials map[string]Credential
	// CertificateAuthorities and Zones are what route.json names, for the
	// operator to configure.
	CertificateAuthorities []string
	Zones                  []string
	// Pending are the platforms route.json marks PENDING; none of the
	// items is on one.
	Pending []string
	// Account is the ACME account to keep; nil: none.
	Account *Account
	// SlackToken is the reference to Ottr's Slack token, and SlackChannel
	// where to post; both empty: no channel.
	SlackToken, SlackChannel string
}

// Build reads and checks an Ottr deployment. Every problem found is
// reported in one error, each naming its file and item, so one run shows
// all that needs fixing.
func Build(in Input) (*Plan, error) {
	p := &Plan{Credentials: map[string]Credential{}}
	var problems []error
	prefix := strings.Trim(in.SecretsPrefix, "/")
	if prefix == "" {
		problems = append(problems, errors.New("--secrets-prefix: required: the {prefix} of Ottr's secrets {prefix}/otter/{platform} in AWS Secrets Manager"))
	}

	items, err := ReadItems(in.Items)
	if err != nil {
		problems = append(problems, prefixErrors(in.ItemsName, err)...)
	}
	imp, pending, routesErr := readRouteJSON(in.RouteJSON)
	if routesErr != nil {
		problems = append(problems, fmt.Errorf("%s: %w", in.RouteJSONName, routesErr))
	}
	p.Pending, p.CertificateAuthorities, p.Zones = pending, imp.CertificateAuthorities, imp.Zones

	// The routes, each with its driver and options, and a login per
	// platform.
	credentialOf := map[string]string{}
	platforms := map[string]bool{}
	for _, r := range imp.Routes {
		r.Driver = ottrDriver(r)
		if !slices.Contains(in.Drivers, r.Driver) {
			problems = append(problems, fmt.Errorf("%s: platform %q (executor %s): ottr has no driver for it; mark the platform \"PENDING\" in route.json and route it yourself (the script driver runs your own two scripts)",
				in.RouteJSONName, r.Match.Platform, r.Name))
			continue
		}
		r.Options = withOptions(defaultOptions(r.Driver, in.AWSRegion), in.RouteOptions[r.Match.Platform])
		if _, ok := r.Options["region"]; r.Driver == driverSSM && !ok {
			problems = append(problems, fmt.Errorf("%s: platform %q (executor %s) reached its hosts through SSM, which needs their AWS region: pass --aws-region, or region in --route-options",
				in.RouteJSONName, r.Match.Platform, r.Name))
		}
		p.Routes = append(p.Routes, r)
		platforms[r.Match.Platform] = true
		name, cred := credentialFor(prefix, r.Match.Platform, r.Driver)
		credentialOf[r.Match.Platform] = name
		p.Credentials[name] = cred
	}
	for _, platform := range slices.Sorted(maps.Keys(in.RouteOptions)) {
		if !platforms[platform] && routesErr == nil {
			problems = append(problems, fmt.Errorf("%s: platform %q: route.json has no routes for it (its platforms: %s)",
				in.RouteOptionsName, platform, strings.Join(slices.Sorted(maps.Keys(platforms)), ", ")))
		}
	}

	for _, it := range items {
		platform := it.Asset.HostPlatform
		switch {
		case routesErr != nil:
		case platforms[platform]:
		case slices.Contains(pending, platform):
			problems = append(problems, fmt.Errorf("%s: %s: host_platform %q is PENDING in route.json: Ottr never rotated it; route it in ottr.yaml (the script driver runs your own two scripts) and drop it from this import, or leave the item out of the export",
				in.ItemsName, it.name(), platform))
		default:
			problems = append(problems, fmt.Errorf("%s: %s: host_platform %q is not a platform of route.json (%s): fix the item, or add the platform to route.json",
				in.ItemsName, it.name(), platform, strings.Join(slices.Sorted(maps.Keys(platforms)), ", ")))
		}
		if it.Asset.Credentials == "" {
			it.Asset.Credentials = credentialOf[platform]
		}
		if it.Asset.KeyType == "" {
			it.Asset.KeyType = in.KeyType
		}
		p.Items = append(p.Items, it)
	}
	if in.Account != nil {
		if p.Account, err = ParseAccount(*in.Account); err != nil {
			problems = append(problems, unjoin(err)...)
		}
	}
	if in.SlackChannel != "" {
		p.SlackToken, p.SlackChannel = secretRef(prefix, "slack", ""), in.SlackChannel
	}
	if len(problems) > 0 {
		return nil, &Problems{Errs: problems}
	}
	return p, nil
}

// ssmCredential is the login of the routes through SSM.
const ssmCredential = "otter-ssm"

// Problems is everything wrong with an import; nothing was written.
type Problems struct{ Errs []error }

func (p *Problems) Error() string {
	lines := make([]string, len(p.Errs))
	for i, e := range p.Errs {
		lines[i] = e.Error()
	}
	return fmt.Sprintf("nothing imported, %d problem(s) to fix:\n%s", len(p.Errs), strings.Join(lines, "\n"))
}

func (p *Problems) Unwrap() []error { return p.Errs }

// credentialFor names the login of an Ottr platform's devices and gives its
// references: Ottr kept each platform's login in Secrets Manager as the JSON
// {"username", "password"} at {prefix}/otter/{platform}. Ottr's Linux
// platform had none: SSM took the task's IAM role, as an empty login takes
// the AWS SDK's default credentials.
func credentialFor(prefix, platform, driver string) (string, Credential) {
	if driver == driverSSM {
		return ssmCredential, Credential{}
	}
	return "otter-" + platform, Credential{
		Username: secretRef(prefix, platform, "username"),
		Password: secretRef(prefix, platform, "password"),
	}
}

// AccountRefs are the aws-sm: references of the acme.sh account files Ottr
// kept in Secrets Manager: {prefix}/otter/account.key, account.json and
// ca.conf, each read whole.
func AccountRefs(prefix string) (key, json, caConf string) {
	prefix = strings.Trim(prefix, "/")
	return secretRef(prefix, AccountKeyFile, ""), secretRef(prefix, AccountJSONFile, ""), secretRef(prefix, CAConfFile, "")
}

// secretRef is the aws-sm: reference of Ottr's secret {prefix}/otter/{name},
// of one key of it when key is set.
func secretRef(prefix, name, key string) string {
	ref := "aws-sm:" + prefix + "/otter/" + name
	if key != "" {
		ref += "#" + key
	}
	return ref
}

// prefixErrors names file in front of each of err's errors.
func prefixErrors(file string, err error) []error {
	var out []error
	for _, e := range unjoin(err) {
		out = append(out, fmt.Errorf("%s: %w", file, e))
	}
	return out
}

// unjoin returns the errors errors.Join joined into err, or err alone.
func unjoin(err error) []error {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		return joined.Unwrap()
	}
	return []error{err}
}

// Assets returns the items' assets.
func (p *Plan) Assets() []asset.Asset {
	out := make([]asset.Asset, len(p.Items))
	for i, it := range p.Items {
		out[i] = it.Asset
	}
	return out
}
