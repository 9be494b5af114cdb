package dnsserver

import (
	"slices"
	"time"

	"github.com/miekg/dns"
)

// tsigFudge is the clock skew allowed on signed replies, as in RFC 8945.
const tsigFudge = 300

// acceptedTSIGAlgorithm reports whether updates may be signed with alg;
// MD5 and SHA-1 are refused.
func acceptedTSIGAlgorithm(alg string) bool {
	switch dns.CanonicalName(alg) {
	case dns.HmacSHA256, dns.HmacSHA384, dns.HmacSHA512:
		return true
	}
	return false
}

// applyUpdate handles an RFC 2136 UPDATE: it checks the signature, the
// zone, the prerequisites, then applies every change or none.
func (s *Server) applyUpdate(req *dns.Msg, tsigStatus error) *dns.Msg {
	reply := new(dns.Msg).SetReply(req)
	tsig := req.IsTsig()
	sign := func(rcode int) *dns.Msg {
		reply.Rcode = rcode
		if tsig != nil && tsigStatus == nil {
			reply.SetTsig(tsig.Hdr.Name, tsig.Algorithm, tsigFudge, time.Now().Unix())
		}
		return reply
	}
	log := s.log
	switch {
	case tsig == nil:
		log.Info("dnsserver: refused unsigned update")
		reply.Rcode = dns.RcodeRefused
		return reply
	case tsigStatus != nil:
		log.Info("dnsserver: refused update with a bad signature", "key", tsig.Hdr.Name, "err", tsigStatus)
		reply.Rcode = dns.RcodeNotAuth
		return reply
	case !acceptedTSIGAlgorithm(tsig.Algorithm):
		log.Info("dnsserver: refused update signed with a weak algorithm", "key", tsig.Hdr.Name, "algorithm", tsig.Algorithm)
		reply.Rcode = dns.RcodeNotAuth
		return reply
	}

	q := req.Question[0]
	zone := dns.CanonicalName(q.Name)
	z := s.zones
	z.mu.Lock()
	defer z.mu.Unlock()

	switch {
	case q.Qtype != dns.TypeSOA || q.Qclass != dns.ClassINET:
		return sign(dns.RcodeFormatError)
	case !slices.Contains(z.zones, zone):
		// RFC 2136 says NOTAUTH, but a signed NOTAUTH reads as a TSIG
		// failure to clients (RFC 8945), which would hide the real cause.
		log.Info("dnsserver: refused update for a zone not served here", "zone", zone)
		return sign(dns.RcodeRefused)
	case !z.updatable[zone]:
		log.Info("dnsserver: refused update for a zone that is not updatable", "zone", zone, "key", tsig.Hdr.Name)
		return sign(dns.RcodeRefused)
	}
	if rcode := z.checkPrerequisites(zone, req.Answer); rcode != dns.RcodeSuccess {
		return sign(rcode)
	}
	if rcode := z.checkUpdates(zone, req.Ns); rcode != dns.RcodeSuccess {
		return sign(rcode)
	}
	changed := false
	for _, rr := range req.Ns {
		if z.applyOne(rr) {
			changed = true
		}
		h := rr.Header()
		log.Info("dnsserver: update", "zone", zone, "op", updateOp(h.Class, h.Rrtype),
			"name", dns.CanonicalName(h.Name), "type", dns.TypeToString[h.Rrtype], "key", tsig.Hdr.Name)
	}
	if changed {
		z.bumpSerial(zone)
	}
	return sign(dns.RcodeSuccess)
}

func updateOp(class, rrtype uint16) string {
	switch {
	case class == dns.ClassINET:
		return "add"
	case class == dns.ClassANY && rrtype == dns.TypeANY:
		return "delete name"
	case class == dns.ClassANY:
		return "delete rrset"
	default:
		return "delete record"
	}
}

// checkPrerequisites evaluates the prerequisite section (RFC 2136 §3.2).
func (z *zoneSet) checkPrerequisites(zone string, prereqs []dns.RR) int {
	// Value-dependent prerequisites are compared per RRset once all are read.
	wanted := make(map[string]map[uint16][]dns.RR)
	for _, rr := range prereqs {
		h := rr.Header()
		name := dns.CanonicalName(h.Name)
		if h.Ttl != 0 {
			return dns.RcodeFormatError
		}
		if !dns.IsSubDomain(zone, name) {
			return dns.RcodeNotZone
		}
		switch h.Class {
		case dns.ClassANY:
			if h.Rdlength != 0 {
				return dns.RcodeFormatError
			}
			if h.Rrtype == dns.TypeANY {
				if len(z.rrsets[name]) == 0 {
					return dns.RcodeNameError
				}
			} else if len(z.rrsets[name][h.Rrtype]) == 0 {
				return dns.RcodeNXRrset
			}
		case dns.ClassNONE:
			if h.Rdlength != 0 {
				return dns.RcodeFormatError
			}
			if h.Rrtype == dns.TypeANY {
				if len(z.rrsets[name]) > 0 {
					return dns.RcodeYXDomain
				}
			} else if len(z.rrsets[name][h.Rrtype]) > 0 {
				return dns.RcodeYXRrset
			}
		case dns.ClassINET:
			if wanted[name] == nil {
				wanted[name] = make(map[uint16][]dns.RR)
			}
			wanted[name][h.Rrtype] = append(wanted[name][h.Rrtype], canonicalCopy(rr))
		default:
			return dns.RcodeFormatError
		}
	}
	for name, sets := range wanted {
		for rrtype, want := range sets {
			if !sameRRset(want, z.rrsets[name][rrtype]) {
				return dns.RcodeNXRrset
			}
		}
	}
	return dns.RcodeSuccess
}

func sameRRset(a, b []dns.RR) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		found := false
		for _, y := range b {
			if dns.IsDuplicate(x, y) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// checkUpdates validates the update section before anything is applied
// (RFC 2136 §3.4.1), so an update is all or nothing.
func (z *zoneSet) checkUpdates(zone string, updates []dns.RR) int {
	for _, rr := range updates {
		h := rr.Header()
		if !dns.IsSubDomain(zone, dns.CanonicalName(h.Name)) {
			return dns.RcodeNotZone
		}
		switch h.Class {
		case dns.ClassINET:
			if h.Rrtype == dns.TypeANY || h.Rrtype == dns.TypeAXFR || h.Rrtype == dns.TypeIXFR || h.Rdlength == 0 {
				return dns.RcodeFormatError
			}
		case dns.ClassANY:
			if h.Ttl != 0 || h.Rdlength != 0 || h.Rrtype == dns.TypeAXFR || h.Rrtype == dns.TypeIXFR {
				return dns.RcodeFormatError
			}
		case dns.ClassNONE:
			if h.Ttl != 0 || h.Rrtype == dns.TypeANY || h.Rrtype == dns.TypeAXFR || h.Rrtype == dns.TypeIXFR {
				return dns.RcodeFormatError
			}
		default:
			return dns.RcodeFormatError
		}
	}
	return dns.RcodeSuccess
}

// applyOne applies one checked update record (RFC 2136 §3.4.2) and reports
// whether the zone changed. The apex SOA and NS are left alone.
func (z *zoneSet) applyOne(rr dns.RR) bool {
	h := rr.Header()
	name := dns.CanonicalName(h.Name)
	if z.isApexGuarded(name, h.Rrtype) {
		return false
	}
	switch h.Class {
	case dns.ClassINET:
		sets := z.rrsets[name]
		_, hasCNAME := sets[dns.TypeCNAME]
		hasOther := len(sets) > 1 || (len(sets) == 1 && !hasCNAME)
		// A CNAME cannot share its name with other data (RFC 2136 §3.4.2.2).
		switch {
		case h.Rrtype == dns.TypeCNAME && hasOther, h.Rrtype != dns.TypeCNAME && hasCNAME:
			return false
		case h.Rrtype == dns.TypeCNAME:
			// A name has one CNAME: adding replaces it.
			z.replace(name, dns.TypeCNAME, []dns.RR{canonicalCopy(rr)})
			return true
		}
		return z.add(canonicalCopy(rr))
	case dns.ClassANY:
		return z.removeRRsets(name, h.Rrtype)
	default: // dns.ClassNONE: delete the one matching record
		target := canonicalCopy(rr)
		existing := z.rrsets[name][h.Rrtype]
		kept := make([]dns.RR, 0, len(existing))
		for _, old := range existing {
			if !dns.IsDuplicate(old, target) {
				kept = append(kept, old)
			}
		}
		if len(kept) == len(existing) {
			return false
		}
		z.replace(name, h.Rrtype, kept)
		return true
	}
}
