package dnsdoctor

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/ottr-go/ottr/internal/dnsdelegate"
)

// A CA validating DNS-01 asks one question, the TXT records at
// _acme-challenge.<name>, and some CAs (Pebble, and any that talk to an
// authoritative server directly) take the answer as it comes, without
// chasing a CNAME it carries. A resolver that answers for the managed
// zone alone, as an authoritative-only server does, returns the CNAME
// without the delegate zone's records: ottr's own checks, which follow
// the chain one hop at a time, pass, and such a CA finds "No TXT records
// found". The answer check asks the CA's question.

// unfollowed is a certificate name whose TXT answer carried its CNAME
// and nothing of the target.
type unfollowed struct {
	// server is the resolver that answered.
	server string
	record dnsdelegate.Record
}

// checkAnswer asks the resolvers for the TXT records at rec's name, whose
// CNAME to rec.Target is in place, and reports the resolver that answered
// when its answer says nothing of the target. A failed question reports
// nothing: the delegation check has said what it could.
func checkAnswer(ctx context.Context, res *resolver, rec dnsdelegate.Record) (unfollowed, bool) {
	resp, server, err := res.ask(ctx, rec.Name, dns.TypeTXT)
	if err != nil || carriesTarget(resp, rec.Name, rec.Target) {
		return unfollowed{}, false
	}
	return unfollowed{server: server, record: rec}, true
}

// carriesTarget reports whether resp, the answer to a TXT question for
// name, says anything of target, where name's CNAME leads: a record the
// target owns, or in a negative answer the SOA of the target's zone. An
// answer that carries no CNAME for name is not about the chain at all.
func carriesTarget(resp *dns.Msg, name, target string) bool {
	name, target = strings.ToLower(dns.Fqdn(name)), strings.ToLower(dns.Fqdn(target))
	cname := false
	for _, rr := range resp.Answer {
		owner := strings.ToLower(dns.Fqdn(rr.Header().Name))
		if owner != name {
			return true
		}
		if _, ok := rr.(*dns.CNAME); ok {
			cname = true
		}
	}
	if !cname {
		return true
	}
	for _, rr := range resp.Ns {
		if soa, ok := rr.(*dns.SOA); ok && dns.IsSubDomain(strings.ToLower(soa.Hdr.Name), target) {
			return true
		}
	}
	return false
}

// answerFindings makes one finding per resolver that answered with the
// CNAME alone, naming one of its records and how many there were.
func answerFindings(found []unfollowed) []Finding {
	byServer := map[string][]dnsdelegate.Record{}
	for _, u := range found {
		byServer[u.server] = append(byServer[u.server], u.record)
	}
	out := make([]Finding, 0, len(byServer))
	for _, server := range slices.Sorted(maps.Keys(byServer)) {
		records := byServer[server]
		slices.SortFunc(records, func(a, b dnsdelegate.Record) int { return strings.Compare(a.Name, b.Name) })
		first := records[0]
		others := ""
		if n := len(records) - 1; n > 0 {
			others = fmt.Sprintf(" (and %d other name(s))", n)
		}
		out = append(out, Finding{
			Check:  CheckAnswer,
			Name:   server,
			Record: first.Name,
			Want:   first.Target,
			Chain:  []string{first.Target},
			Status: StatusCNAMENotFollowed,
			Problem: fmt.Sprintf("asked for the TXT records at %s%s, the resolver %s answered with the CNAME to %s and nothing from the delegate zone: "+
				"it does not follow CNAMEs out of the zones it serves, as an authoritative-only server does. "+
				"ottr's checks follow the chain one hop at a time and pass, but a CA that asks this server and does not chase CNAMEs itself finds \"No TXT records found\"",
				first.Name, others, server, first.Target),
			Fix: "point dns.resolvers, and the resolver the CA asks, at a recursive resolver (one that follows CNAMEs into the delegate zone); " +
				"or have " + server + " serve the delegate zone too",
		})
	}
	return out
}
