package acme

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-acme/lego/v5/challenge"
	"github.com/go-acme/lego/v5/challenge/dns01"
	"github.com/go-acme/lego/v5/providers/dns/dnsupdate"
	"github.com/miekg/dns"
)

// DNS01Config is how challenge records are written: into delegate zones the
// device names point to with _acme-challenge CNAMEs, by the provider of
// each zone, or by RFC 2136 dynamic updates signed with TSIG.
type DNS01Config struct {
	// Nameserver is the host:port that accepts the updates for delegate
	// zones without an entry in Providers. Required unless every zone of
	// Zones has one.
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
	// between checks. Default 500ms.
	PollingInterval time.Duration
	// TTL of the challenge records. Default 60 s.
	TTL int
	// CheckResolversOnly skips the check that every authoritative name
	// server of the zone (on port 53) serves the record, and trusts the
	// resolvers set with SetResolvers alone. The lab needs it: its DNS
	// server is authoritative but listens on another port.
	CheckResolversOnly bool
	// Providers write the records of the delegate zones they are keyed
	// by, instead of RFC 2136 updates to Nameserver: one per zone.
	Providers map[string]challenge.Provider
	// DoHURL, when set, is a DNS-over-HTTPS endpoint (RFC 8484) that
	// propagation checks ask, instead of the resolvers, following the
	// CNAME to the record. DoHClient sends the queries; default a client
	// with a 10-second timeout and the system's roots.
	DoHURL    string
	DoHClient *http.Client
	// Observe, if set, is told of every challenge record written or
	// removed, for metrics. It must not block.
	Observe func(DNSUpdate)
}

// DNSUpdate is one challenge record written (Present) or removed
// (CleanUp).
type DNSUpdate struct {
	// Operation is "present" or "cleanup".
	Operation string
	// Zone is the delegate zone written to, without the trailing dot;
	// empty when no delegate zones are configured, or the record's name
	// is not in one.
	Zone     string
	Duration time.Duration
	// Err is why the update failed; nil when it succeeded.
	Err error
}

func (c DNS01Config) withDefaults() DNS01Config {
	if c.TSIGAlgorithm == "" {
		c.TSIGAlgorithm = dns.HmacSHA256
	}
	if c.PropagationTimeout <= 0 {
		c.PropagationTimeout = 2 * time.Minute
	}
	if c.PollingInterval <= 0 {
		c.PollingInterval = 500 * time.Millisecond
	}
	if c.TTL <= 0 {
		c.TTL = 60
	}
	c.Zones = slices.Clone(c.Zones)
	for i, zone := range c.Zones {
		c.Zones[i] = dns.CanonicalName(zone)
	}
	providers := make(map[string]challenge.Provider, len(c.Providers))
	for zone, p := range c.Providers {
		providers[dns.CanonicalName(zone)] = p
	}
	c.Providers = providers
	return c
}

func (c DNS01Config) validate() error {
	if c.Nameserver == "" {
		var unwritten []string
		for _, zone := range c.Zones {
			if c.Providers[zone] == nil {
				unwritten = append(unwritten, strings.TrimSuffix(zone, "."))
			}
		}
		switch {
		case len(c.Zones) == 0 && len(c.Providers) == 0:
			return errors.New("acme: dns01: nameserver is required")
		case len(unwritten) > 0:
			return fmt.Errorf("acme: dns01: no DNS provider writes the delegate zone %s: give it one in dns.providers or set dns.rfc2136", strings.Join(unwritten, ", "))
		}
	}
	for zone := range c.Providers {
		if len(c.Zones) > 0 && !slices.Contains(c.Zones, zone) {
			return fmt.Errorf("acme: dns01: a DNS provider is set for %s, which is not a delegate zone", strings.TrimSuffix(zone, "."))
		}
	}
	if (c.TSIGKey == "") != (c.TSIGSecret == "") {
		return errors.New("acme: dns01: set both the TSIG key name and its secret, or neither")
	}
	return nil
}

// newDNS01Provider builds the provider lego writes challenge records
// through: the provider of the record's delegate zone, or lego's RFC 2136
// provider for zones without one, wrapped so records go only into the
// delegate zones.
func newDNS01Provider(c DNS01Config) (*delegateProvider, error) {
	p := &delegateProvider{providers: c.Providers, zones: c.Zones, timeout: c.PropagationTimeout, interval: c.PollingInterval, observe: c.Observe}
	if c.Nameserver == "" {
		return p, nil
	}
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
	p.rfc2136 = inner
	return p, nil
}

// NewChallengeWriter returns the provider issuance writes challenge
// records through for c, for tools that must write as issuance does (the
// delegation doctor's write test).
func NewChallengeWriter(c DNS01Config) (challenge.Provider, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	return newDNS01Provider(c)
}

// challengeOptions are the dns-01 solver's options.
func challengeOptions(c DNS01Config) []dns01.ChallengeOption {
	opts := []dns01.ChallengeOption{
		dns01.CondOptions(c.CheckResolversOnly, dns01.DisableAuthoritativeNssPropagationRequirement()),
	}
	if c.DoHURL != "" {
		doh := newDoHChecker(c.DoHURL, c.DoHClient)
		opts = append(opts, dns01.WrapPreCheck(doh.check))
	}
	return opts
}

// delegateProvider refuses to write a challenge record outside the
// delegate zones, with an error that says which CNAME is missing, instead
// of an update the server refuses; inside them it hands the record to the
// zone's provider.
type delegateProvider struct {
	providers map[string]challenge.Provider
	// rfc2136 writes the zones without a provider; nil when there is no
	// nameserver.
	rfc2136           *dnsupdate.DNSProvider
	timeout, interval time.Duration
	zones             []string
	observe           func(DNSUpdate)
}

var (
	_ challenge.Provider        = (*delegateProvider)(nil)
	_ challenge.ProviderTimeout = (*delegateProvider)(nil)
)

// Present writes the TXT record for domain.
func (p *delegateProvider) Present(ctx context.Context, domain, token, keyAuth string) error {
	started := time.Now()
	zone, inner, err := p.providerFor(ctx, domain, keyAuth)
	if err == nil {
		err = inner.Present(ctx, domain, token, keyAuth)
	}
	p.report("present", zone, started, err)
	return err
}

// CleanUp removes the TXT record for domain; there is none to remove when
// the name was not delegated.
func (p *delegateProvider) CleanUp(ctx context.Context, domain, token, keyAuth string) error {
	started := time.Now()
	zone, inner, err := p.providerFor(ctx, domain, keyAuth)
	if err != nil {
		return nil
	}
	err = inner.CleanUp(ctx, domain, token, keyAuth)
	p.report("cleanup", zone, started, err)
	return err
}

func (p *delegateProvider) report(operation, zone string, started time.Time, err error) {
	if p.observe != nil {
		p.observe(DNSUpdate{Operation: operation, Zone: strings.TrimSuffix(zone, "."), Duration: time.Since(started), Err: err})
	}
}

// Timeout is the longest propagation timeout of the providers, and the
// shortest polling interval.
func (p *delegateProvider) Timeout() (timeout, interval time.Duration) {
	timeout, interval = p.timeout, p.interval
	for _, inner := range p.providers {
		t, i := dns01.DefaultPropagationTimeout, dns01.DefaultPollingInterval
		if pt, ok := inner.(challenge.ProviderTimeout); ok {
			t, i = pt.Timeout()
		}
		timeout = max(timeout, t)
		if interval == 0 || i < interval {
			interval = i
		}
	}
	return timeout, interval
}

// sequential reports whether a zone's provider asks for an order's names
// to be solved one at a time (lego providers whose API keeps one TXT value
// per name do), and the longest pause it asks for between them. The RFC
// 2136 writer does not: names that share a record are kept apart by
// solveAll anyway.
func (p *delegateProvider) sequential() (bool, time.Duration) {
	var one bool
	var pause time.Duration
	for _, inner := range p.providers {
		if s, ok := inner.(interface{ Sequential() time.Duration }); ok {
			one = true
			pause = max(pause, s.Sequential())
		}
	}
	return one, pause
}

// providerFor returns the delegate zone of domain's challenge record and
// the provider that writes it, after checking the record's name is in a
// delegate zone.
func (p *delegateProvider) providerFor(ctx context.Context, domain, keyAuth string) (string, challenge.Provider, error) {
	zone, err := p.checkDelegated(ctx, domain, keyAuth)
	if err != nil {
		return "", nil, err
	}
	if inner := p.providers[zone]; inner != nil {
		return zone, inner, nil
	}
	if p.rfc2136 == nil {
		return zone, nil, fmt.Errorf("no DNS provider writes the delegate zone %s: give it one in dns.providers or set dns.rfc2136", strings.TrimSuffix(zone, "."))
	}
	return zone, p.rfc2136, nil
}

// checkDelegated returns the delegate zone domain's challenge record is
// written to: the longest of the zones holding the end of its CNAME chain.
// Without zones, any zone is fine and "" is returned.
func (p *delegateProvider) checkDelegated(ctx context.Context, domain, keyAuth string) (string, error) {
	if len(p.zones) == 0 {
		return "", nil
	}
	info := dns01.GetChallengeInfo(ctx, domain, keyAuth)
	target := dns.CanonicalName(info.EffectiveFQDN)
	found := ""
	for _, zone := range p.zones {
		if dns.IsSubDomain(zone, target) && len(zone) > len(found) {
			found = zone
		}
	}
	if found != "" {
		return found, nil
	}
	if target == dns.CanonicalName(info.FQDN) {
		return "", fmt.Errorf("%s is not a CNAME into a delegate zone (%s): add one pointing to a name in it",
			info.FQDN, strings.Join(p.zones, ", "))
	}
	return "", fmt.Errorf("%s leads to %s, which is outside the delegate zones (%s)",
		info.FQDN, target, strings.Join(p.zones, ", "))
}
