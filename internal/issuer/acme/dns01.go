package acme

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-acme/lego/v5/challenge"
	"github.com/go-acme/lego/v5/challenge/dns01"
	"github.com/go-acme/lego/v5/providers/dns/dnsupdate"
	"github.com/miekg/dns"
)

// DNS01Config is how challenge records are written: RFC 2136 dynamic
// updates signed with TSIG, into delegate zones the device names point to
// with _acme-challenge CNAMEs.
type DNS01Config struct {
	// Nameserver is the host:port that accepts the updates.
	Nameserver string
	// TSIGKey, TSIGAlgorithm and TSIGSecret sign the updates. The
	// algorithm defaults to hmac-sha256. Without a key, updates are sent
	// unsigned.
	TSIGKey, TSIGAlgorithm, TSIGSecret string
	// Zones are the delegate zones challenge records may be written to.
	// A name whose _acme-challenge does not lead into one of them fails
	// before any update is sent. Empty: any zone, found by asking
	// Nameserver for the SOA.
	Zones []string
	// PropagationTimeout bounds the wait for a record to be visible to the
	// resolvers. Default 2m.
	PropagationTimeout time.Duration
	// PollingInterval is the pause before the first propagation check and
	// between checks. Default 2s.
	PollingInterval time.Duration
	// TTL of the challenge records. Default 60 s.
	TTL int
	// CheckResolversOnly skips the check that every authoritative name
	// server of the zone (on port 53) serves the record, and trusts the
	// resolvers set with SetResolvers alone. The lab needs it: its DNS
	// server is authoritative but listens on another port.
	CheckResolversOnly bool
}

func (c DNS01Config) withDefaults() DNS01Config {
	if c.TSIGAlgorithm == "" {
		c.TSIGAlgorithm = dns.HmacSHA256
	}
	if c.PropagationTimeout <= 0 {
		c.PropagationTimeout = 2 * time.Minute
	}
	if c.PollingInterval <= 0 {
		c.PollingInterval = 2 * time.Second
	}
	if c.TTL <= 0 {
		c.TTL = 60
	}
	for i, zone := range c.Zones {
		c.Zones[i] = dns.CanonicalName(zone)
	}
	return c
}

func (c DNS01Config) validate() error {
	switch {
	case c.Nameserver == "":
		return errors.New("acme: dns01: nameserver is required")
	case (c.TSIGKey == "") != (c.TSIGSecret == ""):
		return errors.New("acme: dns01: set both the TSIG key name and its secret, or neither")
	}
	return nil
}

// newDNS01Provider builds lego's RFC 2136 provider, wrapped so records go
// only into the delegate zones.
func newDNS01Provider(c DNS01Config) (*delegateProvider, error) {
	// The provider's config is filled in here rather than from
	// dnsupdate.NewDefaultConfig, which reads the environment.
	inner, err := dnsupdate.NewDNSProviderConfig(&dnsupdate.Config{
		Nameserver:         c.Nameserver,
		DNSTimeout:         10 * time.Second,
		Zones:              append([]string(nil), c.Zones...),
		TSIGAlgorithm:      c.TSIGAlgorithm,
		TSIGKey:            c.TSIGKey,
		TSIGSecret:         c.TSIGSecret,
		PropagationTimeout: c.PropagationTimeout,
		PollingInterval:    c.PollingInterval,
		TTL:                c.TTL,
		// lego solves an order's names one after the other with this
		// pause between them (60 s by default); nothing here needs one.
		SequenceInterval: 0,
	})
	if err != nil {
		// lego's messages carry the nameserver and algorithm, never the secret.
		return nil, fmt.Errorf("acme: dns01: %w", err)
	}
	return &delegateProvider{inner: inner, zones: c.Zones}, nil
}

// challengeOptions are the dns-01 solver's options.
func challengeOptions(c DNS01Config) []dns01.ChallengeOption {
	return []dns01.ChallengeOption{
		dns01.CondOptions(c.CheckResolversOnly, dns01.DisableAuthoritativeNssPropagationRequirement()),
	}
}

// delegateProvider refuses to write a challenge record outside the
// delegate zones, with an error that says which CNAME is missing, instead
// of an update the server refuses.
type delegateProvider struct {
	inner *dnsupdate.DNSProvider
	zones []string
}

var (
	_ challenge.Provider        = (*delegateProvider)(nil)
	_ challenge.ProviderTimeout = (*delegateProvider)(nil)
)

// Present writes the TXT record for domain.
func (p *delegateProvider) Present(ctx context.Context, domain, token, keyAuth string) error {
	if err := p.checkDelegated(ctx, domain, keyAuth); err != nil {
		return err
	}
	return p.inner.Present(ctx, domain, token, keyAuth)
}

// CleanUp removes the TXT record for domain; there is none to remove when
// the name was not delegated.
func (p *delegateProvider) CleanUp(ctx context.Context, domain, token, keyAuth string) error {
	if p.checkDelegated(ctx, domain, keyAuth) != nil {
		return nil
	}
	return p.inner.CleanUp(ctx, domain, token, keyAuth)
}

// Timeout is the propagation timeout and polling interval.
func (p *delegateProvider) Timeout() (timeout, interval time.Duration) { return p.inner.Timeout() }

// Sequential makes lego solve an order's names one at a time, so a name
// and its wildcard, which share one TXT name, do not overwrite each
// other's record.
func (p *delegateProvider) Sequential() time.Duration { return p.inner.Sequential() }

func (p *delegateProvider) checkDelegated(ctx context.Context, domain, keyAuth string) error {
	if len(p.zones) == 0 {
		return nil
	}
	info := dns01.GetChallengeInfo(ctx, domain, keyAuth)
	target := dns.CanonicalName(info.EffectiveFQDN)
	for _, zone := range p.zones {
		if dns.IsSubDomain(zone, target) {
			return nil
		}
	}
	if target == dns.CanonicalName(info.FQDN) {
		return fmt.Errorf("%s is not a CNAME into a delegate zone (%s): add one pointing to a name in it",
			info.FQDN, strings.Join(p.zones, ", "))
	}
	return fmt.Errorf("%s leads to %s, which is outside the delegate zones (%s)",
		info.FQDN, target, strings.Join(p.zones, ", "))
}
