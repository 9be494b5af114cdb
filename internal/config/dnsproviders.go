package config

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// DNS provider types, as dns.providers.<zone>.type names them.
const (
	ProviderRFC2136    = "rfc2136"
	ProviderRoute53    = "route53"
	ProviderCloudflare = "cloudflare"
	ProviderACMEDNS    = "acme-dns"
	ProviderExec       = "exec"
	ProviderHTTPReq    = "httpreq"
)

// providerTypes lists every type, in the order errors list them.
var providerTypes = []string{ProviderRFC2136, ProviderRoute53, ProviderCloudflare, ProviderACMEDNS, ProviderExec, ProviderHTTPReq}

// DNSProvider writes the challenge records of one delegate zone. Type picks
// the provider; only the block of that type may be set.
type DNSProvider struct {
	// Type is rfc2136, route53, cloudflare, acme-dns, exec or httpreq.
	Type       string     `yaml:"type"`
	RFC2136    RFC2136    `yaml:"rfc2136"`
	Route53    Route53    `yaml:"route53"`
	Cloudflare Cloudflare `yaml:"cloudflare"`
	ACMEDNS    ACMEDNS    `yaml:"acme_dns"`
	Exec       Exec       `yaml:"exec"`
	HTTPReq    HTTPReq    `yaml:"httpreq"`
}

// Route53 writes records into an AWS Route 53 hosted zone.
type Route53 struct {
	// Region of the API; Route 53 is global, so any region works.
	// Default us-east-1.
	Region string `yaml:"region"`
	// HostedZoneID pins the hosted zone; empty finds it by name.
	HostedZoneID string `yaml:"hosted_zone_id"`
	// AccessKeyID and SecretAccessKey (a secret reference) are static
	// credentials; both empty use the AWS SDK's default chain
	// (environment, shared config, instance role).
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key"`
	// AssumeRoleARN, when set, is assumed for the updates.
	AssumeRoleARN string `yaml:"assume_role_arn"`
}

// Cloudflare writes records through Cloudflare's API with a scoped token.
type Cloudflare struct {
	// APIToken (a secret reference) needs Zone:DNS:Edit on the zone.
	APIToken string `yaml:"api_token"`
	// ZoneToken (a secret reference), when set, is a second token with
	// Zone:Zone:Read, for tokens split by permission.
	ZoneToken string `yaml:"zone_token"`
}

// ACMEDNS writes records through an acme-dns server.
type ACMEDNS struct {
	// APIBase is the acme-dns server's URL.
	APIBase string `yaml:"api_base"`
	// StoragePath is the JSON file holding the acme-dns accounts, one per
	// name, as acme-dns clients keep them.
	StoragePath string `yaml:"storage_path"`
}

// Exec runs a program to write and remove records, lego's exec contract:
// program present|cleanup FQDN VALUE (or DOMAIN TOKEN KEY_AUTH in RAW mode).
type Exec struct {
	Program string `yaml:"program"`
	// Mode is "" or "RAW".
	Mode string `yaml:"mode"`
}

// HTTPReq posts records to an HTTP endpoint, for anything else.
type HTTPReq struct {
	// Endpoint receives POST /present and /cleanup.
	Endpoint string `yaml:"endpoint"`
	// Mode is "" or "RAW".
	Mode string `yaml:"mode"`
	// Username and Password (a secret reference) are sent with basic
	// authentication when set.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// providerDefaults resolves the paths and secret references of p.
func providerDefaults(baseDir string, p DNSProvider) DNSProvider {
	p.Type = strings.ToLower(strings.TrimSpace(p.Type))
	p.RFC2136.TSIGAlgorithm = normalTSIGAlgorithm(p.RFC2136.TSIGAlgorithm)
	p.RFC2136.TSIGSecret = resolveSecretRef(baseDir, p.RFC2136.TSIGSecret)
	if p.Type == ProviderRoute53 && p.Route53.Region == "" {
		p.Route53.Region = "us-east-1"
	}
	p.Route53.SecretAccessKey = resolveSecretRef(baseDir, p.Route53.SecretAccessKey)
	p.Cloudflare.APIToken = resolveSecretRef(baseDir, p.Cloudflare.APIToken)
	p.Cloudflare.ZoneToken = resolveSecretRef(baseDir, p.Cloudflare.ZoneToken)
	p.ACMEDNS.StoragePath = resolvePath(baseDir, p.ACMEDNS.StoragePath)
	p.Exec.Program = resolvePath(baseDir, p.Exec.Program)
	p.HTTPReq.Password = resolveSecretRef(baseDir, p.HTTPReq.Password)
	return p
}

// checkProviders checks dns.providers: every key is a delegate zone of
// dns.zones, every provider has a known type and the settings it needs,
// and no block of another type is set.
func (k *checker) checkProviders() {
	delegates := map[string]bool{}
	for _, d := range k.c.DNS.Zones {
		delegates[normalZone(d)] = true
	}
	for _, zone := range k.c.inFileOrder("dns.providers", maps.Keys(k.c.DNS.Providers)) {
		p := k.c.DNS.Providers[zone]
		path := join("dns.providers", zone)
		if !delegates[normalZone(zone)] {
			k.add(path, "%q is not a delegate zone: dns.providers is keyed by the delegate zones that dns.zones points to (%s)",
				zone, listOrNone(slices.Sorted(maps.Keys(delegates))))
		}
		if !slices.Contains(providerTypes, p.Type) {
			k.add(path+".type", "%q is not a DNS provider; use one of %s", p.Type, strings.Join(providerTypes, ", "))
			continue
		}
		set := map[string]bool{
			ProviderRFC2136:    p.RFC2136 != (RFC2136{TSIGAlgorithm: p.RFC2136.TSIGAlgorithm}),
			ProviderRoute53:    p.Route53 != (Route53{Region: p.Route53.Region}),
			ProviderCloudflare: p.Cloudflare != (Cloudflare{}),
			ProviderACMEDNS:    p.ACMEDNS != (ACMEDNS{}),
			ProviderExec:       p.Exec != (Exec{}),
			ProviderHTTPReq:    p.HTTPReq != (HTTPReq{}),
		}
		for _, other := range providerTypes {
			if other != p.Type && set[other] {
				k.add(path+"."+blockName(other), "is set, but type is %s: remove it or change type", p.Type)
			}
		}
		switch p.Type {
		case ProviderRFC2136:
			k.checkRFC2136At(path+".rfc2136", p.RFC2136, true)
		case ProviderRoute53:
			r := p.Route53
			if (r.AccessKeyID == "") != (r.SecretAccessKey == "") {
				k.add(path+".route53", "set both access_key_id and secret_access_key, or neither to use the AWS default credentials")
			}
			k.checkSecretRef(path+".route53.secret_access_key", r.SecretAccessKey)
			if r.AssumeRoleARN != "" && !strings.HasPrefix(r.AssumeRoleARN, "arn:") {
				k.add(path+".route53.assume_role_arn", "%q is not an ARN such as arn:aws:iam::123456789012:role/ottr-dns", r.AssumeRoleARN)
			}
		case ProviderCloudflare:
			if p.Cloudflare.APIToken == "" {
				k.add(path+".cloudflare.api_token", "is required: env:NAME or file:PATH holding a token with Zone:DNS:Edit")
			}
			k.checkSecretRef(path+".cloudflare.api_token", p.Cloudflare.APIToken)
			k.checkSecretRef(path+".cloudflare.zone_token", p.Cloudflare.ZoneToken)
		case ProviderACMEDNS:
			if reason := checkServiceURL(p.ACMEDNS.APIBase); reason != "" {
				k.add(path+".acme_dns.api_base", "%s", reason)
			}
			if p.ACMEDNS.StoragePath == "" {
				k.add(path+".acme_dns.storage_path", "is required: the JSON file of acme-dns accounts")
			}
		case ProviderExec:
			if p.Exec.Program == "" {
				k.add(path+".exec.program", "is required: the program called as PROGRAM present|cleanup FQDN VALUE")
			}
			k.checkMode(path+".exec.mode", p.Exec.Mode)
		case ProviderHTTPReq:
			if reason := checkServiceURL(p.HTTPReq.Endpoint); reason != "" {
				k.add(path+".httpreq.endpoint", "%s", reason)
			}
			k.checkMode(path+".httpreq.mode", p.HTTPReq.Mode)
			if p.HTTPReq.Password != "" && p.HTTPReq.Username == "" {
				k.add(path+".httpreq.username", "is required when password is set")
			}
			k.checkSecretRef(path+".httpreq.password", p.HTTPReq.Password)
		}
	}
	if k.c.DNS.DoH != "" {
		if reason := checkServiceURL(k.c.DNS.DoH); reason != "" {
			k.add("dns.doh", "%s", reason)
		}
	}
}

func blockName(providerType string) string {
	if providerType == ProviderACMEDNS {
		return "acme_dns"
	}
	return providerType
}

func (k *checker) checkMode(path, mode string) {
	if mode != "" && mode != "RAW" {
		k.add(path, "%q is not a mode; leave it empty or use RAW", mode)
	}
}

// checkServiceURL returns why s is not an https:// URL (http:// only to
// loopback), or "". It never quotes s: a URL may carry credentials.
func checkServiceURL(s string) string {
	if s == "" {
		return "is required: an https:// URL"
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "must be an https:// URL"
	}
	if u.User != nil {
		return "must not carry a user name or password; use the username and password settings"
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return ""
	case "http":
		if isLoopback(u.Hostname()) {
			return ""
		}
		return "must use https://; http:// is only allowed to a loopback host"
	}
	return fmt.Sprintf("must be an https:// URL, not %s://", u.Scheme)
}

// delegatesWithoutProvider lists the delegate zones that fall back to
// dns.rfc2136.
func (c *Config) delegatesWithoutProvider() []string {
	var out []string
	for _, d := range c.DNS.Zones {
		if _, ok := c.DNS.Providers[d]; !ok && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}
