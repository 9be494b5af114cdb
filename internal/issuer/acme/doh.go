package acme

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/go-acme/lego/v5/challenge/dns01"
	"github.com/miekg/dns"
)

// dohMessageType is RFC 8484's media type for DNS messages.
const dohMessageType = "application/dns-message"

// maxCNAMEHops bounds a CNAME chain, as resolvers do.
const maxCNAMEHops = 8

// dohChecker checks challenge record propagation through a DNS-over-HTTPS
// resolver, as Ottr did with Cloudflare's: the record counts as visible
// once that resolver answers it.
type dohChecker struct {
	endpoint string
	client   *http.Client
}

func newDoHChecker(endpoint string, client *http.Client) *dohChecker {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &dohChecker{endpoint: endpoint, client: client}
}

// check is a dns01.WrapPreCheckFunc: it follows fqdn's CNAME chain through
// the DoH resolver and reports whether value is among the TXT records at
// its end. lego's own check is not run.
func (d *dohChecker) check(ctx context.Context, _, fqdn, value string, _ dns01.PreCheckFunc) (bool, error) {
	name := dns.Fqdn(fqdn)
	for hop := 0; hop <= maxCNAMEHops; hop++ {
		r, err := d.query(ctx, name, dns.TypeTXT)
		if err != nil {
			return false, err
		}
		if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
			return false, fmt.Errorf("DNS over HTTPS: %s TXT: %s", name, dns.RcodeToString[r.Rcode])
		}
		// Resolvers answer the chain and the TXT at its end together;
		// follow it through the answer before asking again.
		moved := false
		for changed := true; changed; {
			changed = false
			for _, rr := range r.Answer {
				if c, ok := rr.(*dns.CNAME); ok && equalNames(c.Hdr.Name, name) {
					name, moved, changed = c.Target, true, true
				}
			}
		}
		for _, rr := range r.Answer {
			if t, ok := rr.(*dns.TXT); ok && equalNames(t.Hdr.Name, name) && slices.Contains(t.Txt, value) {
				return true, nil
			}
		}
		if !moved {
			return false, nil
		}
	}
	return false, fmt.Errorf("DNS over HTTPS: %s: more than %d CNAMEs in a row", fqdn, maxCNAMEHops)
}

func equalNames(a, b string) bool { return dns.CanonicalName(a) == dns.CanonicalName(b) }

// query sends one question as an RFC 8484 POST.
func (d *dohChecker) query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	// RFC 8484 §4.1: ID 0 makes answers cacheable.
	q.Id = 0
	packed, err := q.Pack()
	if err != nil {
		return nil, fmt.Errorf("DNS over HTTPS: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.endpoint, bytes.NewReader(packed))
	if err != nil {
		return nil, fmt.Errorf("DNS over HTTPS: %w", redactURL(err))
	}
	req.Header.Set("Content-Type", dohMessageType)
	req.Header.Set("Accept", dohMessageType)
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("DNS over HTTPS: %w", redactURL(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, dns.MaxMsgSize))
	if err != nil {
		return nil, fmt.Errorf("DNS over HTTPS: read the answer: %w", redactURL(err))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("DNS over HTTPS: the resolver answered %s", resp.Status)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != dohMessageType {
		return nil, fmt.Errorf("DNS over HTTPS: the resolver answered %q, not %s", mt, dohMessageType)
	}
	r := new(dns.Msg)
	if err := r.Unpack(body); err != nil {
		return nil, fmt.Errorf("DNS over HTTPS: unreadable answer: %w", err)
	}
	return r, nil
}

// redactURL drops the URL from a *url.Error: a DoH endpoint may carry a
// token in its path or query.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
