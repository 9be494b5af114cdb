// Package dnsprovider builds, from ottr.yaml's dns settings, the lego DNS-01
// providers that write challenge records into the delegate zones: RFC 2136
// (dnsupdate), Route 53, Cloudflare, acme-dns, exec and httpreq, one per
// delegate zone. Only lego's own provider packages write records; this
// package only configures them, explicitly, never from the environment.
package dnsprovider

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/go-acme/lego/v5/challenge"
	"github.com/go-acme/lego/v5/providers/dns/acmedns"
	"github.com/go-acme/lego/v5/providers/dns/cloudflare"
	"github.com/go-acme/lego/v5/providers/dns/dnsupdate"
	"github.com/go-acme/lego/v5/providers/dns/exec"
	"github.com/go-acme/lego/v5/providers/dns/httpreq"
	"github.com/go-acme/lego/v5/providers/dns/route53"

	"github.com/ottr-go/ottr/internal/config"
)

// Settings apply to every provider.
type Settings struct {
	// PropagationTimeout and PollingInterval bound the wait for a record
	// to be visible.
	PropagationTimeout time.Duration
	PollingInterval    time.Duration
	// TTL of the challenge records, in seconds. Default 60 (Cloudflare's
	// least is 120, which it gets instead).
	TTL int
	// Resolve reads a secret reference (env:NAME, file:PATH or a value).
	Resolve func(ref string) (string, error)
}

// httpTimeout bounds one call to a provider's API.
const httpTimeout = 30 * time.Second

// New builds the provider p for the delegate zone zone. Errors name the
// setting (dns.providers.<zone>....) and never carry a secret.
func New(zone string, p config.DNSProvider, s Settings) (challenge.Provider, error) {
	if s.TTL <= 0 {
		s.TTL = 60
	}
	path := "dns.providers." + zone
	secret := func(setting, ref string) (string, error) {
		if ref == "" {
			return "", nil
		}
		v, err := s.Resolve(ref)
		if err != nil {
			return "", fmt.Errorf("%s.%s: %w", path, setting, err)
		}
		return v, nil
	}
	var (
		provider challenge.Provider
		err      error
	)
	switch p.Type {
	case config.ProviderRFC2136:
		provider, err = NewRFC2136(zone, p.RFC2136, s)
	case config.ProviderRoute53:
		key, serr := secret("route53.secret_access_key", p.Route53.SecretAccessKey)
		if serr != nil {
			return nil, serr
		}
		provider, err = route53.NewDNSProviderConfig(&route53.Config{
			AccessKeyID:        p.Route53.AccessKeyID,
			SecretAccessKey:    key,
			Region:             p.Route53.Region,
			HostedZoneID:       p.Route53.HostedZoneID,
			AssumeRoleArn:      p.Route53.AssumeRoleARN,
			MaxRetries:         5,
			TTL:                s.TTL,
			PropagationTimeout: s.PropagationTimeout,
			PollingInterval:    s.PollingInterval,
		})
	case config.ProviderCloudflare:
		token, serr := secret("cloudflare.api_token", p.Cloudflare.APIToken)
		if serr != nil {
			return nil, serr
		}
		zoneToken, serr := secret("cloudflare.zone_token", p.Cloudflare.ZoneToken)
		if serr != nil {
			return nil, serr
		}
		provider, err = cloudflare.NewDNSProviderConfig(&cloudflare.Config{
			AuthToken:          token,
			ZoneToken:          zoneToken,
			BaseURL:            "https://api.cloudflare.com/client/v4",
			TTL:                max(s.TTL, 120),
			PropagationTimeout: s.PropagationTimeout,
			PollingInterval:    s.PollingInterval,
			HTTPClient:         &http.Client{Timeout: httpTimeout},
		})
	case config.ProviderACMEDNS:
		provider, err = acmedns.NewDNSProviderConfig(&acmedns.Config{
			APIBase:     p.ACMEDNS.APIBase,
			StoragePath: p.ACMEDNS.StoragePath,
		})
	case config.ProviderExec:
		provider, err = exec.NewDNSProviderConfig(&exec.Config{
			Program:            p.Exec.Program,
			Mode:               p.Exec.Mode,
			PropagationTimeout: s.PropagationTimeout,
			PollingInterval:    s.PollingInterval,
		})
	case config.ProviderHTTPReq:
		endpoint, perr := url.Parse(p.HTTPReq.Endpoint)
		if perr != nil {
			// Not quoted: the URL may carry a token.
			return nil, fmt.Errorf("%s.httpreq.endpoint: not a URL", path)
		}
		password, serr := secret("httpreq.password", p.HTTPReq.Password)
		if serr != nil {
			return nil, serr
		}
		provider, err = httpreq.NewDNSProviderConfig(&httpreq.Config{
			Endpoint:           endpoint,
			Mode:               p.HTTPReq.Mode,
			Username:           p.HTTPReq.Username,
			Password:           password,
			PropagationTimeout: s.PropagationTimeout,
			PollingInterval:    s.PollingInterval,
			HTTPClient:         &http.Client{Timeout: httpTimeout},
		})
	default:
		return nil, fmt.Errorf("%s.type: %q is not a DNS provider", path, p.Type)
	}
	if err != nil {
		// lego's constructors describe settings, never secret values.
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return provider, nil
}

// NewRFC2136 builds lego's RFC 2136 provider for the delegate zone zone.
func NewRFC2136(zone string, r config.RFC2136, s Settings) (challenge.Provider, error) {
	secret := ""
	if r.TSIGSecret != "" {
		var err error
		if secret, err = s.Resolve(r.TSIGSecret); err != nil {
			return nil, fmt.Errorf("tsig_secret: %w", err)
		}
	}
	if s.TTL <= 0 {
		s.TTL = 60
	}
	return dnsupdate.NewDNSProviderConfig(&dnsupdate.Config{
		Nameserver:         r.Nameserver,
		DNSTimeout:         10 * time.Second,
		Zones:              []string{zone},
		TSIGAlgorithm:      r.TSIGAlgorithm,
		TSIGKey:            r.TSIGKey,
		TSIGSecret:         secret,
		PropagationTimeout: s.PropagationTimeout,
		PollingInterval:    s.PollingInterval,
		TTL:                s.TTL,
		// lego solves an order's names one after the other with this
		// pause between them (60 s by default); nothing here needs one.
		SequenceInterval: 0,
	})
}
