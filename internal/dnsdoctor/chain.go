package dnsdoctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/ottr-go/ottr/internal/dnsdelegate"
)

// resolver asks recursive resolvers, in order, until one answers.
type resolver struct {
	addrs   []string
	timeout time.Duration
}

func newResolver(addrs []string, timeout time.Duration) *resolver {
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			a = net.JoinHostPort(strings.Trim(a, "[]"), "53")
		}
		out = append(out, a)
	}
	return &resolver{addrs: out, timeout: timeout}
}

// query returns the first answer that says something about name: NOERROR
// or NXDOMAIN. A failure, a refusal or a referral from a server that does
// not recurse sends the question to the next resolver.
func (r *resolver) query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	resp, _, err := r.ask(ctx, name, qtype)
	return resp, err
}

// ask is query that also returns which resolver answered.
func (r *resolver) ask(ctx context.Context, name string, qtype uint16) (*dns.Msg, string, error) {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.RecursionDesired = true
	// 1232 bytes is the EDNS buffer size DNS Flag Day 2020 settled on.
	q.SetEdns0(1232, false)
	var errs []error
	for _, addr := range r.addrs {
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		resp, _, err := (&dns.Client{Net: "udp", Timeout: r.timeout}).ExchangeContext(ctx, q, addr)
		if err == nil && resp.Truncated {
			resp, _, err = (&dns.Client{Net: "tcp", Timeout: r.timeout}).ExchangeContext(ctx, q, addr)
		}
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("resolver %s: %w", addr, err))
		case resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError:
			errs = append(errs, fmt.Errorf("resolver %s answered %s", addr, dns.RcodeToString[resp.Rcode]))
		case isReferral(resp):
			errs = append(errs, fmt.Errorf("resolver %s answered with a referral: it is not a recursive resolver", addr))
		default:
			return resp, addr, nil
		}
	}
	return nil, "", errors.Join(errs...)
}

func isReferral(resp *dns.Msg) bool {
	if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) > 0 || resp.Authoritative {
		return false
	}
	for _, rr := range resp.Ns {
		if _, ok := rr.(*dns.NS); ok {
			return true
		}
	}
	return false
}

// cname returns the lower-cased target of the CNAME at name, or "" if
// there is none.
func (r *resolver) cname(ctx context.Context, name string) (string, error) {
	resp, err := r.query(ctx, name, dns.TypeCNAME)
	if err != nil {
		return "", err
	}
	for _, rr := range resp.Answer {
		if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, dns.Fqdn(name)) {
			return strings.ToLower(dns.Fqdn(c.Target)), nil
		}
	}
	return "", nil
}

// txt returns the TXT strings owned by name itself (not reached through a
// CNAME), one per record.
func (r *resolver) txt(ctx context.Context, name string) ([]string, error) {
	resp, err := r.query(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range resp.Answer {
		if t, ok := rr.(*dns.TXT); ok && strings.EqualFold(t.Hdr.Name, dns.Fqdn(name)) {
			out = append(out, strings.Join(t.Txt, ""))
		}
	}
	return out, nil
}

// walk follows the CNAME chain from name hop by hop, up to maxHops
// targets. It stops at a name with no CNAME, at a name it has seen (loop
// true), past maxHops (tooLong true) or at a failed lookup (err, with the
// chain so far).
func (r *resolver) walk(ctx context.Context, name string, maxHops int) (chain []string, loop, tooLong bool, err error) {
	seen := map[string]bool{strings.ToLower(dns.Fqdn(name)): true}
	cur := name
	for {
		target, err := r.cname(ctx, cur)
		if err != nil {
			return chain, false, false, fmt.Errorf("look up CNAME %s: %w", dns.Fqdn(cur), err)
		}
		if target == "" {
			return chain, false, false, nil
		}
		chain = append(chain, target)
		if seen[target] {
			return chain, true, false, nil
		}
		if len(chain) >= maxHops {
			return chain, false, true, nil
		}
		seen[target] = true
		cur = target
	}
}

// checkDelegation follows the live chain of one record and judges it.
func (d *Doctor) checkDelegation(ctx context.Context, res *resolver, name string, rec dnsdelegate.Record) Finding {
	f := Finding{Check: CheckDelegation, Name: name, Record: rec.Name, Want: rec.Target}
	chain, loop, tooLong, err := res.walk(ctx, rec.Name, d.maxHops())
	f.Chain = chain
	want := rec.Target
	path := strings.Join(append([]string{rec.Name}, chain...), " -> ")
	switch {
	case len(chain) == 0 && err != nil:
		f.Status = StatusLookupFailed
		f.Problem = d.redact(err.Error()) + "; whether the record exists is unknown"
		f.Fix = "check that the resolvers in dns.resolvers answer for " + rec.Name

	case len(chain) == 0:
		f.Status = StatusMissing
		f.Fix = rec.ZoneLine()
		f.Problem = "there is no CNAME at " + rec.Name
		// A TXT record written straight into the managed zone (a manual
		// challenge, say) would make the server refuse the CNAME.
		if txts, err := res.txt(ctx, rec.Name); err == nil && len(txts) > 0 {
			f.Problem += fmt.Sprintf(", and it holds %d TXT record(s), which a CNAME cannot sit beside", len(txts))
			lines := make([]string, len(txts))
			for i, v := range txts {
				lines[i] = fmt.Sprintf("%s IN TXT %q", rec.Name, v)
			}
			f.Remove = strings.Join(lines, "\n")
		}

	case loop:
		f.Status = StatusLoop
		f.Problem = "the CNAME chain loops: " + path
		f.Remove = cnameLine(rec.Name, chain[0])
		f.Fix = rec.ZoneLine()

	case tooLong:
		f.Status = StatusTooLong
		f.Problem = fmt.Sprintf("the CNAME chain is longer than %d hops: %s", d.maxHops(), path)
		f.Remove = cnameLine(rec.Name, chain[0])
		f.Fix = rec.ZoneLine()

	case chain[0] == want && len(chain) > 1:
		// The delegate name must hold the TXT record, so it cannot be a CNAME.
		f.Status = StatusExtraHop
		f.Problem = fmt.Sprintf("%s points to %s as it should, but that name is itself a CNAME (%s), so the challenge would be answered elsewhere",
			rec.Name, want, path)
		f.Remove = cnameLine(want, chain[1])

	case chain[0] == want && err != nil:
		f.Status = StatusLookupFailed
		f.Problem = fmt.Sprintf("%s points to %s as it should, but that name could not be looked up: %s",
			rec.Name, want, d.redact(err.Error()))
		f.Fix = "check that the delegate zone's name servers answer for " + want

	case chain[0] == want:
		f.Status = StatusOK

	case slices.Contains(chain, want):
		f.Status = StatusExtraHop
		f.Problem = fmt.Sprintf("%s reaches %s only through another CNAME (%s); the CNAME must point there directly",
			rec.Name, want, path)
		f.Remove = cnameLine(rec.Name, chain[0])
		f.Fix = rec.ZoneLine()

	default:
		f.Status = StatusWrongTarget
		final := chain[len(chain)-1]
		delegate := d.delegateZone(rec)
		where := "outside the delegate zone " + delegate
		if dns.IsSubDomain(delegate, final) {
			where = "in the delegate zone " + delegate + " but at the wrong name"
		}
		f.Problem = fmt.Sprintf("%s is a CNAME to %s, which is %s (want %s)", rec.Name, chain[0], where, want)
		if len(chain) > 1 {
			f.Problem = fmt.Sprintf("%s leads to %s, which is %s (want %s): %s", rec.Name, final, where, want, path)
		}
		if err != nil {
			f.Problem += "; the chain could not be followed further: " + d.redact(err.Error())
		}
		f.Remove = cnameLine(rec.Name, chain[0])
		f.Fix = rec.ZoneLine()
	}
	return f
}
