package dnsdoctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// tsigFudge is the clock skew allowed on signed messages (RFC 8945).
const tsigFudge = 300

// RFC2136 adds CNAMEs with TSIG-signed dynamic updates (RFC 2136) sent to
// the primary server of the managed zones. Every update carries the
// prerequisite "name is not in use", so the server itself refuses to
// touch a name that owns any record: nothing is ever overwritten, even
// when the zone changed since the doctor looked.
type RFC2136 struct {
	// Nameserver is the "host:port" (port 53 if omitted) that accepts
	// updates for the managed zones.
	Nameserver string
	// Zones are the managed zones; the most specific one holding a name is
	// the zone of its update. Empty: found by asking Nameserver for the
	// name's SOA.
	Zones []string
	// TSIGKey, TSIGAlgorithm (default hmac-sha256) and TSIGSecret (base64)
	// sign the updates. Without a key they are sent unsigned.
	TSIGKey, TSIGAlgorithm, TSIGSecret string
	// Timeout bounds one exchange with Nameserver. Default 10 s.
	Timeout time.Duration
}

var _ Applier = (*RFC2136)(nil)

// AddCNAME adds name as a CNAME to target unless name owns any record, in
// which case it returns a *ConflictError describing what is there.
func (u *RFC2136) AddCNAME(ctx context.Context, name, target string, ttl int) error {
	name, target = strings.ToLower(dns.Fqdn(name)), strings.ToLower(dns.Fqdn(target))
	if (u.TSIGKey == "") != (u.TSIGSecret == "") {
		return errors.New("dnsdoctor: rfc2136: set both the TSIG key name and its secret, or neither")
	}
	zone, err := u.zoneOf(ctx, name)
	if err != nil {
		return fmt.Errorf("dnsdoctor: rfc2136: add CNAME %s: %w", name, err)
	}
	m := new(dns.Msg).SetUpdate(zone)
	cname := &dns.CNAME{
		Hdr:    dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: uint32(max(ttl, 0))},
		Target: target,
	}
	m.NameNotUsed([]dns.RR{cname})
	m.Insert([]dns.RR{cname})
	reply, err := u.exchange(ctx, m, true)
	if err != nil {
		return fmt.Errorf("dnsdoctor: rfc2136: add CNAME %s in zone %s: %w", name, zone, err)
	}
	switch reply.Rcode {
	case dns.RcodeSuccess:
		return nil
	case dns.RcodeYXDomain:
		return u.conflict(ctx, name)
	}
	return fmt.Errorf("dnsdoctor: rfc2136: add CNAME %s in zone %s: %s", name, zone, explainRcode(reply.Rcode, u.Nameserver))
}

// conflict reads what name owns from the server, for the error.
func (u *RFC2136) conflict(ctx context.Context, name string) error {
	e := &ConflictError{Name: name}
	for _, qtype := range []uint16{dns.TypeCNAME, dns.TypeANY} {
		q := new(dns.Msg)
		q.SetQuestion(name, qtype)
		reply, err := u.exchange(ctx, q, false)
		if err != nil || reply.Rcode != dns.RcodeSuccess {
			continue
		}
		for _, rr := range reply.Answer {
			if !strings.EqualFold(rr.Header().Name, name) {
				continue
			}
			if c, ok := rr.(*dns.CNAME); ok {
				e.Target = strings.ToLower(dns.Fqdn(c.Target))
			}
			e.Records = append(e.Records, rr.String())
		}
		if len(e.Records) > 0 {
			break
		}
	}
	return e
}

// zoneOf returns the zone whose update may add name.
func (u *RFC2136) zoneOf(ctx context.Context, name string) (string, error) {
	best := ""
	for _, z := range u.Zones {
		z = strings.ToLower(dns.Fqdn(z))
		if dns.IsSubDomain(z, name) && len(z) > len(best) {
			best = z
		}
	}
	if best != "" {
		return best, nil
	}
	if len(u.Zones) > 0 {
		return "", fmt.Errorf("not in any of the zones %s", strings.Join(u.Zones, ", "))
	}
	// The SOA of an existing name is in the answer; of a missing one, in
	// the authority section of the NXDOMAIN or NODATA reply.
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeSOA)
	reply, err := u.exchange(ctx, q, false)
	if err != nil {
		return "", fmt.Errorf("find the zone: %w", err)
	}
	for _, rr := range append(reply.Answer, reply.Ns...) {
		if soa, ok := rr.(*dns.SOA); ok && dns.IsSubDomain(strings.ToLower(soa.Hdr.Name), name) {
			return strings.ToLower(soa.Hdr.Name), nil
		}
	}
	return "", fmt.Errorf("find the zone: %s answered no SOA (%s)", u.server(), dns.RcodeToString[reply.Rcode])
}

// exchange sends m to the name server, signed when sign is set and a key
// is configured, over UDP and again over TCP when the reply is truncated.
func (u *RFC2136) exchange(ctx context.Context, m *dns.Msg, sign bool) (*dns.Msg, error) {
	timeout := u.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	var secrets map[string]string
	if sign && u.TSIGKey != "" {
		alg := u.TSIGAlgorithm
		if alg == "" {
			alg = dns.HmacSHA256
		}
		key := dns.Fqdn(u.TSIGKey)
		m.SetTsig(key, dns.Fqdn(alg), tsigFudge, time.Now().Unix())
		secrets = map[string]string{key: u.TSIGSecret}
	}
	reply, _, err := (&dns.Client{Net: "udp", Timeout: timeout, TsigSecret: secrets}).ExchangeContext(ctx, m, u.server())
	if err == nil && reply.Truncated {
		reply, _, err = (&dns.Client{Net: "tcp", Timeout: timeout, TsigSecret: secrets}).ExchangeContext(ctx, m, u.server())
	}
	switch {
	case errors.Is(err, dns.ErrAuth), errors.Is(err, dns.ErrSig), errors.Is(err, dns.ErrSecret):
		// The secret is never quoted: only what went wrong with it.
		return nil, fmt.Errorf("the reply from %s failed TSIG verification (%v): is tsig_secret the key's secret?", u.server(), err)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", u.server(), err)
	}
	return reply, nil
}

func (u *RFC2136) server() string {
	if _, _, err := net.SplitHostPort(u.Nameserver); err != nil {
		return net.JoinHostPort(strings.Trim(u.Nameserver, "[]"), "53")
	}
	return u.Nameserver
}

// explainRcode turns the rcode of a refused update into what to do.
func explainRcode(rcode int, server string) string {
	name := dns.RcodeToString[rcode]
	switch rcode {
	case dns.RcodeNotAuth:
		return server + " answered NOTAUTH: it did not accept the TSIG key (wrong key name, secret or algorithm), or is not authoritative for the zone"
	case dns.RcodeRefused:
		return server + " answered REFUSED: the key may not update this zone (allow it, e.g. BIND's update-policy)"
	case dns.RcodeNotZone:
		return server + " answered NOTZONE: the name is not in the zone the update was sent for"
	case dns.RcodeNXRrset, dns.RcodeYXRrset:
		return server + " answered " + name + ": a prerequisite failed"
	}
	return server + " answered " + name
}
