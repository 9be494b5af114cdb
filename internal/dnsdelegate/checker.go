package dnsdelegate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// DefaultTimeout bounds one query to one resolver when Checker.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// checkConcurrency bounds how many records CheckAll looks up at once: enough
// to hide latency, few enough not to flood a resolver.
const checkConcurrency = 8

// MissingError reports that the CNAME a name needs does not exist. Its
// message is the zone-file line to add.
type MissingError struct {
	Record Record
}

func (e *MissingError) Error() string {
	return "missing DNS record: " + e.Record.ZoneLine()
}

// WrongTargetError reports a CNAME that exists but points elsewhere.
type WrongTargetError struct {
	Record Record
	// Got is the target the CNAME has now.
	Got string
}

func (e *WrongTargetError) Error() string {
	return fmt.Sprintf("wrong DNS record: %s is a CNAME to %s; want %s", e.Record.Name, e.Got, e.Record.ZoneLine())
}

// LookupError reports that no resolver gave an answer, so whether the
// record exists is unknown. It is never a MissingError: callers should
// retry rather than tell an operator to add a record.
type LookupError struct {
	Record Record
	// Err holds what went wrong with each resolver tried.
	Err error
}

func (e *LookupError) Error() string {
	return fmt.Sprintf("dnsdelegate: look up CNAME %s: %v", e.Record.Name, e.Err)
}

func (e *LookupError) Unwrap() error { return e.Err }

// Checker looks up _acme-challenge CNAMEs through recursive resolvers.
// The zero value uses the system's resolvers from /etc/resolv.conf.
type Checker struct {
	// Resolvers are "host:port" addresses (port 53 if omitted), tried in
	// order until one answers. Empty: the system's.
	Resolvers []string
	// Timeout bounds one query to one resolver. Zero: DefaultTimeout.
	Timeout time.Duration
}

// Check reports whether r.Name is a CNAME to r.Target: nil if so, a
// *MissingError if no CNAME exists, a *WrongTargetError if it points
// elsewhere, and a *LookupError if no resolver answered.
//
// It asks for the CNAME itself rather than following it, so the answer
// does not depend on whether the challenge TXT exists at the target yet.
func (c *Checker) Check(ctx context.Context, r Record) error {
	resolvers, err := c.resolvers()
	if err != nil {
		return &LookupError{Record: r, Err: err}
	}
	var errs []error
	for _, resolver := range resolvers {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		resp, err := c.exchange(ctx, resolver, r.Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("resolver %s: %w", resolver, err))
			continue
		}
		target, err := cnameTarget(resp, r.Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("resolver %s: %w", resolver, err))
			continue
		}
		switch {
		case target == "":
			return &MissingError{Record: r}
		case target != strings.ToLower(dns.Fqdn(r.Target)):
			return &WrongTargetError{Record: r, Got: target}
		default:
			return nil
		}
	}
	return &LookupError{Record: r, Err: errors.Join(errs...)}
}

// CheckAll checks records concurrently and returns the failures in the
// order of records; an empty result means every record is in place. Each
// error is one of Check's and names its record.
func (c *Checker) CheckAll(ctx context.Context, records []Record) []error {
	results := make([]error, len(records))
	sem := make(chan struct{}, checkConcurrency)
	var wg sync.WaitGroup
	for i, r := range records {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = c.Check(ctx, r)
		})
	}
	wg.Wait()
	var failed []error
	for _, err := range results {
		if err != nil {
			failed = append(failed, err)
		}
	}
	return failed
}

// SystemResolvers returns the name servers listed in a resolv.conf file
// (normally /etc/resolv.conf) as "host:port" addresses.
func SystemResolvers(path string) ([]string, error) {
	conf, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("dnsdelegate: read resolvers: %w", err)
	}
	if len(conf.Servers) == 0 {
		return nil, fmt.Errorf("dnsdelegate: read resolvers: %s lists no name server", path)
	}
	out := make([]string, 0, len(conf.Servers))
	for _, s := range conf.Servers {
		out = append(out, net.JoinHostPort(s, conf.Port))
	}
	return out, nil
}

// resolvers returns the configured resolvers with their ports, or the system's.
func (c *Checker) resolvers() ([]string, error) {
	if len(c.Resolvers) == 0 {
		return SystemResolvers("/etc/resolv.conf")
	}
	out := make([]string, 0, len(c.Resolvers))
	for _, r := range c.Resolvers {
		if _, _, err := net.SplitHostPort(r); err != nil {
			r = net.JoinHostPort(strings.Trim(r, "[]"), "53")
		}
		out = append(out, r)
	}
	return out, nil
}

// exchange asks resolver for the CNAME at name over UDP, and again over TCP
// if the UDP answer was truncated.
func (c *Checker) exchange(ctx context.Context, resolver, name string) (*dns.Msg, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), dns.TypeCNAME)
	q.RecursionDesired = true
	// 1232 bytes is the EDNS buffer size DNS Flag Day 2020 settled on: big
	// enough for most answers without IP fragmentation.
	q.SetEdns0(1232, false)

	resp, _, err := (&dns.Client{Net: "udp", Timeout: timeout}).ExchangeContext(ctx, q, resolver)
	if err == nil && resp.Truncated {
		resp, _, err = (&dns.Client{Net: "tcp", Timeout: timeout}).ExchangeContext(ctx, q, resolver)
	}
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// cnameTarget returns the lower-cased target of the CNAME at name in resp,
// "" if the response says there is none, or an error if the response is no
// answer at all (a server failure, a refusal, or a referral from a server
// that does not recurse).
func cnameTarget(resp *dns.Msg, name string) (string, error) {
	switch resp.Rcode {
	case dns.RcodeNameError:
		return "", nil
	case dns.RcodeSuccess:
	default:
		return "", fmt.Errorf("answered %s", dns.RcodeToString[resp.Rcode])
	}
	for _, rr := range resp.Answer {
		if cname, ok := rr.(*dns.CNAME); ok && strings.EqualFold(cname.Hdr.Name, dns.Fqdn(name)) {
			return strings.ToLower(dns.Fqdn(cname.Target)), nil
		}
	}
	if len(resp.Answer) == 0 && !resp.Authoritative {
		for _, rr := range resp.Ns {
			if _, ok := rr.(*dns.NS); ok {
				return "", errors.New("answered with a referral: it is not a recursive resolver")
			}
		}
	}
	return "", nil
}
