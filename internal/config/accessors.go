package config

import (
	"maps"
	"slices"

	"github.com/ottr-go/ottr/internal/ratelimit"
)

// Platforms returns the host platforms the routes name. A route without a
// platform matches every platform and adds nothing here, so a caller that
// checks an asset's platform against this set must allow for such a route.
func (c *Config) Platforms() map[string]bool {
	platforms := map[string]bool{}
	for _, r := range c.Routes {
		if r.Match.Platform != "" {
			platforms[r.Match.Platform] = true
		}
	}
	return platforms
}

// CANames returns the names of the configured CA profiles: the values an
// asset's certificate_authority may take.
func (c *Config) CANames() map[string]bool {
	names := make(map[string]bool, len(c.CertificateAuthorities))
	for name := range c.CertificateAuthorities {
		names[name] = true
	}
	return names
}

// ManagedZones returns the zones of dns.zones, sorted, in lower case and
// without a trailing dot: the zones every asset name must fall under.
func (c *Config) ManagedZones() []string {
	zones := map[string]bool{}
	for zone := range c.DNS.Zones {
		zones[normalZone(zone)] = true
	}
	return slices.Sorted(maps.Keys(zones))
}

// RateLimits returns every CA profile's rate limits, keyed by its name, as
// ratelimit.New takes them.
func (c *Config) RateLimits() map[string]ratelimit.Limits {
	limits := make(map[string]ratelimit.Limits, len(c.CertificateAuthorities))
	for name, ca := range c.CertificateAuthorities {
		limits[name] = ca.RateLimits
	}
	return limits
}
