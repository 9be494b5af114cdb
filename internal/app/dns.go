package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-acme/lego/v5/challenge"
	"github.com/go-acme/lego/v5/challenge/dns01"

	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/dnsdelegate"
	"github.com/ottr-go/ottr/internal/dnsdoctor"
	"github.com/ottr-go/ottr/internal/dnsprovider"
	"github.com/ottr-go/ottr/internal/issuer/acme"
)

// zoneCacheLifetime is how long lego's DNS-01 client keeps the zones it
// found. It caches the zone of every name it looked up and never drops one
// (an expired entry is replaced, not removed): about 200 bytes for each
// certificate name ever issued, 20 MiB for a fleet of 100,000. A rotation
// looks its names up within seconds, so clearing the cache this often costs
// a name at most one more SOA query.
const zoneCacheLifetime = 5 * time.Minute

// clearZoneCache empties lego's zone cache every period until ctx ends.
func clearZoneCache(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			dns01.DefaultClient().ClearFqdnCache()
		}
	}
}

func delegateZones(zones map[string]string) []string {
	out := make([]string, 0, len(zones))
	for _, d := range zones {
		out = append(out, d)
	}
	return out
}

// newDelegations returns the delegations of dns.zones, nil when there are
// none.
func newDelegations(cfg *config.Config) (*dnsdelegate.Delegations, error) {
	if len(cfg.DNS.Zones) == 0 {
		return nil, nil
	}
	d, err := dnsdelegate.New(cfg.DNS.Zones)
	if err != nil {
		return nil, fmt.Errorf("dns.zones: %w", err)
	}
	return d, nil
}

// DNS01 is how challenge records are written, from the dns section.
func (a *App) DNS01() (acme.DNS01Config, error) { return a.dns01(a.Current()) }

// dns01 is how challenge records are written, from cfg's dns section.
func (a *App) dns01(cfg *config.Config) (acme.DNS01Config, error) {
	d := cfg.DNS
	c := acme.DNS01Config{
		Nameserver:         d.RFC2136.Nameserver,
		TSIGKey:            d.RFC2136.TSIGKey,
		TSIGAlgorithm:      d.RFC2136.TSIGAlgorithm,
		Zones:              delegateZones(d.Zones),
		PropagationTimeout: d.PropagationTimeout,
		PollingInterval:    d.PollingInterval,
		CheckResolversOnly: d.CheckResolversOnly,
		DoHURL:             d.DoH,
	}
	var err error
	if s := d.RFC2136.TSIGSecret; s != "" {
		if c.TSIGSecret, err = a.resolve(s); err != nil {
			return c, fmt.Errorf("dns.rfc2136.tsig_secret: %w", err)
		}
	}
	if c.Providers, err = a.dnsProviders(d); err != nil {
		return c, err
	}
	return c, nil
}

// dnsProviders builds the provider of every delegate zone that has one in
// dns.providers; the others are written through dns.rfc2136.
func (a *App) dnsProviders(d config.DNS) (map[string]challenge.Provider, error) {
	if len(d.Providers) == 0 {
		return nil, nil
	}
	settings := dnsprovider.Settings{
		PropagationTimeout: d.PropagationTimeout,
		PollingInterval:    d.PollingInterval,
		Resolve:            a.resolve,
	}
	out := make(map[string]challenge.Provider, len(d.Providers))
	for zone, p := range d.Providers {
		provider, err := dnsprovider.New(zone, p, settings)
		if err != nil {
			return nil, err
		}
		out[zone] = provider
	}
	return out, nil
}

func (a *App) checkDelegation(ctx context.Context, names []string) error {
	l := a.live.Load()
	if l.delegations == nil {
		return nil
	}
	records, err := l.delegations.Records(names)
	if err != nil {
		return err
	}
	checker := &dnsdelegate.Checker{Resolvers: l.cfg.DNS.Resolvers, Timeout: 5 * time.Second}
	return errors.Join(checker.CheckAll(ctx, records)...)
}

// DelegationDoctor returns the doctor that looks up the _acme-challenge
// CNAMEs of the configuration in effect through dns.resolvers, without
// writing to the delegate zones (`ottr dns doctor --no-write`, the web
// UI's DNS screen); nil when dns.zones is empty.
func (a *App) DelegationDoctor() *dnsdoctor.Doctor {
	l := a.live.Load()
	if l.delegations == nil {
		return nil
	}
	return &dnsdoctor.Doctor{
		Delegations:        l.delegations,
		Resolvers:          l.cfg.DNS.Resolvers,
		PropagationTimeout: l.cfg.DNS.PropagationTimeout,
		PollingInterval:    l.cfg.DNS.PollingInterval,
	}
}
