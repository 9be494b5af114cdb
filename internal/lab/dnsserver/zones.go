package dnsserver

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

const (
	// recordTTL is the TTL of the apex records; short, because lab records
	// change while resolvers may be watching.
	recordTTL = 60
	// maxCNAMEChain bounds how many CNAMEs one answer follows.
	maxCNAMEChain = 8
)

// zoneSet holds the records of every served zone, keyed by canonical owner
// name and type. Stored records are never modified in place: writers
// replace them, so a reply may keep pointers to them after the lock is
// released.
type zoneSet struct {
	mu        sync.RWMutex
	zones     []string // canonical names, longest first
	updatable map[string]bool
	serials   map[string]uint32
	rrsets    map[string]map[uint16][]dns.RR
}

func newZoneSet(zones, updatable []string, nsIP net.IP) (*zoneSet, error) {
	if len(zones) == 0 {
		return nil, fmt.Errorf("dnsserver: no zones configured")
	}
	z := &zoneSet{
		updatable: make(map[string]bool),
		serials:   make(map[string]uint32),
		rrsets:    make(map[string]map[uint16][]dns.RR),
	}
	for _, name := range zones {
		name = dns.CanonicalName(name)
		if _, ok := dns.IsDomainName(name); !ok {
			return nil, fmt.Errorf("dnsserver: zone %q is not a domain name", name)
		}
		if slices.Contains(z.zones, name) {
			continue
		}
		z.zones = append(z.zones, name)
	}
	slices.SortFunc(z.zones, func(a, b string) int { return dns.CountLabel(b) - dns.CountLabel(a) })
	for _, name := range updatable {
		name = dns.CanonicalName(name)
		if !slices.Contains(z.zones, name) {
			return nil, fmt.Errorf("dnsserver: updatable zone %q is not among the served zones", name)
		}
		z.updatable[name] = true
	}
	for _, zone := range z.zones {
		z.serials[zone] = 1
		z.putApex(zone, nsIP)
	}
	return z, nil
}

// putApex creates the SOA and NS records of zone and the address of its
// name server.
func (z *zoneSet) putApex(zone string, nsIP net.IP) {
	ns := "ns." + zone
	z.replace(zone, dns.TypeSOA, []dns.RR{z.soa(zone)})
	z.replace(zone, dns.TypeNS, []dns.RR{&dns.NS{
		Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: recordTTL},
		Ns:  ns,
	}})
	switch {
	case nsIP.To4() != nil:
		z.replace(ns, dns.TypeA, []dns.RR{&dns.A{
			Hdr: dns.RR_Header{Name: ns, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: recordTTL},
			A:   nsIP.To4(),
		}})
	case nsIP != nil:
		z.replace(ns, dns.TypeAAAA, []dns.RR{&dns.AAAA{
			Hdr:  dns.RR_Header{Name: ns, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: recordTTL},
			AAAA: nsIP,
		}})
	}
}

func (z *zoneSet) soa(zone string) *dns.SOA {
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: recordTTL},
		Ns:      "ns." + zone,
		Mbox:    "hostmaster." + zone,
		Serial:  z.serials[zone],
		Refresh: 3600,
		Retry:   600,
		Expire:  86400,
		Minttl:  recordTTL,
	}
}

// bumpSerial records that zone changed, so its SOA says so.
func (z *zoneSet) bumpSerial(zone string) {
	z.serials[zone]++
	z.replace(zone, dns.TypeSOA, []dns.RR{z.soa(zone)})
}

func (z *zoneSet) names() []string { return slices.Clone(z.zones) }

// zoneOf returns the served zone name belongs to, or "".
func (z *zoneSet) zoneOf(name string) string {
	for _, zone := range z.zones {
		if dns.IsSubDomain(zone, name) {
			return zone
		}
	}
	return ""
}

// replace sets the RRset of name and type; an empty rrs deletes it. The
// caller holds the write lock or owns z exclusively.
func (z *zoneSet) replace(name string, rrtype uint16, rrs []dns.RR) {
	sets := z.rrsets[name]
	if len(rrs) == 0 {
		delete(sets, rrtype)
		if len(sets) == 0 {
			delete(z.rrsets, name)
		}
		return
	}
	if sets == nil {
		sets = make(map[uint16][]dns.RR)
		z.rrsets[name] = sets
	}
	sets[rrtype] = rrs
}

// add appends rr to its RRset unless an identical record is there. It
// reports whether the zone changed.
func (z *zoneSet) add(rr dns.RR) bool {
	h := rr.Header()
	existing := z.rrsets[h.Name][h.Rrtype]
	for _, old := range existing {
		if dns.IsDuplicate(old, rr) {
			return false
		}
	}
	z.replace(h.Name, h.Rrtype, append(slices.Clip(existing), rr))
	return true
}

// isApexGuarded reports whether name/type is the zone's own SOA or NS,
// which updates and removals leave alone.
func (z *zoneSet) isApexGuarded(name string, rrtype uint16) bool {
	return (rrtype == dns.TypeSOA || rrtype == dns.TypeNS) && slices.Contains(z.zones, name)
}

// exists reports whether name owns records or is an empty non-terminal (a
// name with records below it).
func (z *zoneSet) exists(name string) bool {
	if len(z.rrsets[name]) > 0 {
		return true
	}
	suffix := "." + name
	for owner := range z.rrsets {
		if strings.HasSuffix(owner, suffix) {
			return true
		}
	}
	return false
}

// canonicalCopy returns a copy of rr with a canonical owner name and class
// IN, fit for storing.
func canonicalCopy(rr dns.RR) dns.RR {
	c := dns.Copy(rr)
	c.Header().Name = dns.CanonicalName(c.Header().Name)
	c.Header().Class = dns.ClassINET
	return c
}

// SetRecord replaces the RRset of rr's name and type with rr alone. The
// name must be in one of the served zones.
func (s *Server) SetRecord(rr dns.RR) error {
	rr = canonicalCopy(rr)
	h := rr.Header()
	z := s.zones
	z.mu.Lock()
	defer z.mu.Unlock()
	zone := z.zoneOf(h.Name)
	if zone == "" {
		return fmt.Errorf("dnsserver: set %s: not in a served zone", h.Name)
	}
	z.replace(h.Name, h.Rrtype, []dns.RR{rr})
	z.bumpSerial(zone)
	return nil
}

// AddRecord adds one record given in zone-file format, e.g.
// "_acme-challenge.dev1.lab.ottr.test. 60 IN CNAME _acme-challenge.dev1.acme.ottr.test.",
// to its RRset. Names must be fully qualified.
func (s *Server) AddRecord(record string) error {
	rr, err := dns.NewRR(record)
	if err != nil {
		return fmt.Errorf("dnsserver: add record: %w", err)
	}
	if rr == nil {
		return fmt.Errorf("dnsserver: add record: %q holds no record", record)
	}
	rr = canonicalCopy(rr)
	z := s.zones
	z.mu.Lock()
	defer z.mu.Unlock()
	zone := z.zoneOf(rr.Header().Name)
	if zone == "" {
		return fmt.Errorf("dnsserver: add %s: not in a served zone", rr.Header().Name)
	}
	if z.add(rr) {
		z.bumpSerial(zone)
	}
	return nil
}

// RemoveRecords deletes the RRset of name and rrtype; dns.TypeANY deletes
// every RRset of name. The apex SOA and NS stay.
func (s *Server) RemoveRecords(name string, rrtype uint16) {
	name = dns.CanonicalName(name)
	z := s.zones
	z.mu.Lock()
	defer z.mu.Unlock()
	zone := z.zoneOf(name)
	if zone == "" {
		return
	}
	if z.removeRRsets(name, rrtype) {
		z.bumpSerial(zone)
	}
}

// removeRRsets deletes one RRset, or all of name's for dns.TypeANY, and
// reports whether anything went.
func (z *zoneSet) removeRRsets(name string, rrtype uint16) bool {
	changed := false
	for t := range z.rrsets[name] {
		if (rrtype == dns.TypeANY || t == rrtype) && !z.isApexGuarded(name, t) {
			z.replace(name, t, nil)
			changed = true
		}
	}
	return changed
}

// Records returns copies of the records of name and rrtype (dns.TypeANY:
// all of name's), for tests and the lab's status page.
func (s *Server) Records(name string, rrtype uint16) []dns.RR {
	name = dns.CanonicalName(name)
	z := s.zones
	z.mu.RLock()
	defer z.mu.RUnlock()
	var out []dns.RR
	for t, rrs := range z.rrsets[name] {
		if rrtype != dns.TypeANY && t != rrtype {
			continue
		}
		for _, rr := range rrs {
			out = append(out, dns.Copy(rr))
		}
	}
	return out
}

// answerQuery builds the authoritative reply to a QUERY.
func (s *Server) answerQuery(req *dns.Msg) *dns.Msg {
	reply := new(dns.Msg).SetReply(req)
	if req.IsEdns0() != nil {
		reply.SetEdns0(dns.DefaultMsgSize, false)
	}
	if len(req.Question) != 1 {
		reply.Rcode = dns.RcodeFormatError
		return reply
	}
	q := req.Question[0]
	name := dns.CanonicalName(q.Name)
	z := s.zones
	z.mu.RLock()
	defer z.mu.RUnlock()
	if z.zoneOf(name) == "" {
		reply.Rcode = dns.RcodeRefused
		s.log.Debug("dnsserver: refused query outside the served zones", "name", name, "type", dns.TypeToString[q.Qtype])
		return reply
	}
	reply.Authoritative = true
	reply.Answer, reply.Ns, reply.Rcode = z.resolve(name, q.Qtype)
	s.log.Debug("dnsserver: query", "name", name, "type", dns.TypeToString[q.Qtype],
		"rcode", dns.RcodeToString[reply.Rcode], "answers", len(reply.Answer))
	return reply
}

// resolve answers name/qtype from the zones, following CNAMEs whose
// targets are served here. The caller holds the read lock and has checked
// that name is in a served zone.
func (z *zoneSet) resolve(name string, qtype uint16) (answer, authority []dns.RR, rcode int) {
	for range maxCNAMEChain {
		sets := z.rrsets[name]
		switch {
		case qtype == dns.TypeANY && len(sets) > 0:
			for _, rrs := range sets {
				answer = append(answer, rrs...)
			}
			return answer, nil, dns.RcodeSuccess
		case len(sets[qtype]) > 0:
			return append(answer, sets[qtype]...), nil, dns.RcodeSuccess
		case len(sets[dns.TypeCNAME]) > 0 && qtype != dns.TypeCNAME:
			cname := sets[dns.TypeCNAME][0]
			answer = append(answer, cname)
			target := dns.CanonicalName(cname.(*dns.CNAME).Target)
			if z.zoneOf(target) == "" {
				// A resolver takes it from here.
				return answer, nil, dns.RcodeSuccess
			}
			name = target
			continue
		case z.exists(name):
			return answer, []dns.RR{z.apexSOA(name)}, dns.RcodeSuccess
		default:
			return answer, []dns.RR{z.apexSOA(name)}, dns.RcodeNameError
		}
	}
	return answer, nil, dns.RcodeServerFailure
}

func (z *zoneSet) apexSOA(name string) dns.RR {
	return z.rrsets[z.zoneOf(name)][dns.TypeSOA][0]
}
