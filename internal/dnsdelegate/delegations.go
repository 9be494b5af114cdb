// Package dnsdelegate works out which _acme-challenge CNAMEs each certificate
// name needs and checks from DNS that they are in place.
//
// ottr answers DNS-01 challenges in a delegate zone only, as Ottr did with
// acme.sh's challenge alias: for a name test.example.com under the managed
// zone example.com delegated to example-acme.com, the organisation publishes
// once
//
//	_acme-challenge.test.example.com. 300 IN CNAME _acme-challenge.test.example-acme.com.
//
// and ottr writes TXT records only under example-acme.com, so it never needs
// write access to the organisation's own zones. Every name this package
// returns is lower-case and fully qualified (trailing dot).
package dnsdelegate

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// ChallengeLabel is the label DNS-01 puts in front of a name (RFC 8555 §8.4).
const ChallengeLabel = "_acme-challenge"

// DefaultTTL is the TTL, in seconds, of the CNAME lines this package prints.
const DefaultTTL = 300

// Delegations maps each managed zone to the zone its challenges are
// delegated to. It is immutable once built and safe for concurrent use.
type Delegations struct {
	// delegates is keyed by managed zone; keys and values are normalised FQDNs.
	delegates map[string]string
	// zones lists the managed zones, longest first, so the first zone a
	// name falls under is the most specific one.
	zones []string
}

// New builds Delegations from a map of managed zone to delegate zone, as in
// ottr.yaml's dns.zones. Zone names are case-insensitive and may be given
// with or without a trailing dot. It refuses invalid names, a zone given
// twice (for example "Example.com" and "example.com."), and a zone delegated
// to itself, which would make the CNAME point at itself.
//
// A delegate inside a managed zone (example.com delegated to
// acme.example.com) is allowed: it is a common set-up where acme.example.com
// is its own zone, cut from example.com, that ottr may write to.
func New(zones map[string]string) (*Delegations, error) {
	d := &Delegations{delegates: make(map[string]string, len(zones))}
	given := make(map[string]string, len(zones)) // normalised zone -> as written
	var errs []error
	for zone, delegate := range zones {
		z, err := normaliseZone(zone)
		if err != nil {
			errs = append(errs, fmt.Errorf("zone %q: %w", zone, err))
			continue
		}
		dz, err := normaliseZone(delegate)
		if err != nil {
			errs = append(errs, fmt.Errorf("zone %q: delegate %q: %w", zone, delegate, err))
			continue
		}
		if other, dup := given[z]; dup {
			// Sort the pair so the message does not depend on map order.
			pair := []string{other, zone}
			slices.Sort(pair)
			errs = append(errs, fmt.Errorf("zone %q and zone %q are the same zone", pair[0], pair[1]))
			continue
		}
		if z == dz {
			errs = append(errs, fmt.Errorf("zone %q is delegated to itself: the delegate must be another zone", zone))
			continue
		}
		given[z] = zone
		d.delegates[z] = dz
		d.zones = append(d.zones, z)
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return nil, fmt.Errorf("dnsdelegate: %w", errors.Join(errs...))
	}
	slices.SortFunc(d.zones, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	return d, nil
}

// Zones returns the managed zones, sorted.
func (d *Delegations) Zones() []string {
	zones := slices.Clone(d.zones)
	slices.Sort(zones)
	return zones
}

// Delegate returns the delegate zone of the managed zone, given in any case
// with or without a trailing dot.
func (d *Delegations) Delegate(zone string) (string, bool) {
	dz, ok := d.delegates[dns.Fqdn(strings.ToLower(strings.TrimSpace(zone)))]
	return dz, ok
}

// Record is one CNAME a certificate name needs: Name is where the ACME CA
// looks for the challenge, Target the name in the delegate zone ottr writes
// the TXT record to. Both are lower-case FQDNs.
type Record struct {
	Name   string `json:"name"`
	Target string `json:"target"`
}

// ZoneLine returns the record in zone-file syntax, ready to paste into the
// managed zone:
//
//	_acme-challenge.test.example.com. 300 IN CNAME _acme-challenge.test.example-acme.com.
func (r Record) ZoneLine() string {
	return fmt.Sprintf("%s %d IN CNAME %s", r.Name, DefaultTTL, r.Target)
}

// String returns the record as "NAME -> TARGET".
func (r Record) String() string { return r.Name + " -> " + r.Target }

// Record returns the CNAME that name needs. A wildcard name needs the same
// record as its base (*.test.example.com and test.example.com share
// _acme-challenge.test.example.com). The most specific managed zone the name
// falls under decides the delegate. A name under no managed zone, an IP
// address (DNS-01 cannot validate one) and an invalid name are errors.
func (d *Delegations) Record(name string) (Record, error) {
	fqdn, err := normaliseName(name)
	if err != nil {
		return Record{}, fmt.Errorf("dnsdelegate: name %q: %w", name, err)
	}
	for _, zone := range d.zones {
		var prefix string // the labels of name in front of zone, with their dot
		switch {
		case fqdn == zone:
		case strings.HasSuffix(fqdn, "."+zone):
			prefix = strings.TrimSuffix(fqdn, zone)
		default:
			continue
		}
		r := Record{
			Name:   ChallengeLabel + "." + fqdn,
			Target: ChallengeLabel + "." + prefix + d.delegates[zone],
		}
		for _, n := range []string{r.Name, r.Target} {
			if _, ok := dns.IsDomainName(n); !ok || len(n) > 254 {
				return Record{}, fmt.Errorf("dnsdelegate: name %q: %s would be longer than DNS allows", name, n)
			}
		}
		return r, nil
	}
	if len(d.zones) == 0 {
		return Record{}, fmt.Errorf("dnsdelegate: name %q: no managed DNS zones are configured (dns.zones)", name)
	}
	return Record{}, fmt.Errorf("dnsdelegate: name %q is under none of the managed zones %s",
		name, strings.Join(d.Zones(), ", "))
}

// Records returns the CNAMEs that names need, one per distinct record,
// sorted by Name. It reports every name it cannot map at once, and refuses a
// set of names where one name's record would sit where another's challenge
// is answered (possible when a delegate zone lies inside a managed zone): a
// name cannot be both a CNAME and hold the TXT record.
func (d *Delegations) Records(names []string) ([]Record, error) {
	byName := make(map[string]Record, len(names))
	var errs []error
	for _, n := range names {
		r, err := d.Record(n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		byName[r.Name] = r
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	records := make([]Record, 0, len(byName))
	for _, r := range byName {
		records = append(records, r)
	}
	slices.SortFunc(records, func(a, b Record) int { return strings.Compare(a.Name, b.Name) })
	for _, r := range records {
		if clash, ok := byName[r.Target]; ok {
			return nil, fmt.Errorf("dnsdelegate: %s is both the challenge target of %s and a CNAME itself (%s)",
				r.Target, r.Name, clash.ZoneLine())
		}
	}
	return records, nil
}

// normaliseZone returns zone as a lower-case FQDN, or why it is not a zone.
func normaliseZone(zone string) (string, error) {
	z := strings.ToLower(strings.TrimSpace(zone))
	if z == "" || z == "." {
		return "", errors.New("empty zone name")
	}
	if strings.Contains(z, "*") {
		return "", errors.New("a zone name cannot contain a wildcard")
	}
	return checkDomainName(z)
}

// normaliseName returns a certificate name as the lower-case FQDN whose
// challenge it needs: a leading wildcard label is dropped.
func normaliseName(name string) (string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "" {
		return "", errors.New("empty name")
	}
	if net.ParseIP(strings.Trim(n, "[]")) != nil {
		return "", errors.New("an IP address cannot be validated with a DNS-01 challenge")
	}
	if n == "*" || n == "*." {
		return "", errors.New("a bare wildcard is not a name")
	}
	n = strings.TrimPrefix(n, "*.")
	if strings.Contains(n, "*") {
		return "", errors.New("only a whole left-most label may be a wildcard")
	}
	return checkDomainName(n)
}

// checkDomainName checks a lower-cased name and returns it fully qualified.
func checkDomainName(n string) (string, error) {
	fqdn := dns.Fqdn(n)
	for _, r := range fqdn {
		if r > 0x7e || r < 0x21 {
			return "", errors.New("not an ASCII host name: give internationalised names in their xn-- form")
		}
	}
	if strings.HasPrefix(fqdn, ".") || strings.Contains(fqdn, "..") {
		return "", errors.New("empty label")
	}
	if _, ok := dns.IsDomainName(fqdn); !ok {
		return "", errors.New("not a valid domain name")
	}
	return fqdn, nil
}
