package acme

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-acme/lego/v5/challenge"
	"github.com/go-acme/lego/v5/providers/dns/dnsupdate"
	"github.com/miekg/dns"

	"github.com/ottr-go/ottr/internal/issuer"
	"github.com/ottr-go/ottr/internal/lab/pebble"
)

// countingProvider counts the records a provider writes.
type countingProvider struct {
	challenge.Provider
	presents atomic.Int32
}

func (c *countingProvider) Present(ctx context.Context, domain, token, keyAuth string) error {
	c.presents.Add(1)
	return c.Provider.Present(ctx, domain, token, keyAuth)
}

func labRFC2136(t *testing.T) challenge.Provider {
	t.Helper()
	p, err := dnsupdate.NewDNSProviderConfig(&dnsupdate.Config{
		Nameserver: testDNS.Addr(), DNSTimeout: 5 * time.Second, Zones: []string{delegateZone},
		TSIGAlgorithm: dns.HmacSHA256, TSIGKey: tsigKey, TSIGSecret: tsigSecret,
		PropagationTimeout: 10 * time.Second, PollingInterval: 50 * time.Millisecond, TTL: 60,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTheDelegateZonesProviderWritesTheRecords(t *testing.T) {
	provider := &countingProvider{Provider: labRFC2136(t)}
	cfg := labConfig(newMemoryAccounts())
	cfg.DNS01.Nameserver, cfg.DNS01.TSIGKey, cfg.DNS01.TSIGSecret = "", "", ""
	cfg.DNS01.Providers = map[string]challenge.Provider{strings.TrimSuffix(delegateZone, "."): provider}
	iss, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	cn := "zoned.lab.ottr.test"
	delegate(t, cn, "www."+cn)
	if _, err := iss.Issue(context.Background(), newCSR(t, cn, "www."+cn), issuer.IssueOptions{}); err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if got := provider.presents.Load(); got != 2 {
		t.Errorf("the zone's provider wrote %d records, want one per name (2)", got)
	}
}

func TestADelegateZoneWithoutAProviderIsRefusedAtStart(t *testing.T) {
	cfg := labConfig(newMemoryAccounts())
	cfg.DNS01.Nameserver, cfg.DNS01.TSIGKey, cfg.DNS01.TSIGSecret = "", "", ""
	cfg.DNS01.Zones = []string{delegateZone, "other-acme.example."}
	cfg.DNS01.Providers = map[string]challenge.Provider{delegateZone: labRFC2136(t)}
	_, err := New(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "no DNS provider writes the delegate zone other-acme.example: give it one in dns.providers or set dns.rfc2136") {
		t.Errorf("New = %v, want an error naming the zone without a provider", err)
	}
}

// dohResolver is an RFC 8484 endpoint answering from the lab DNS server,
// which answers a challenge name with its CNAME and the TXT at the target,
// as a recursive resolver would.
func dohResolver(t *testing.T, fail bool) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var queries atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries.Add(1)
		if fail || r.Method != http.MethodPost || r.Header.Get("Content-Type") != dohMessageType {
			http.Error(w, "resolver unavailable", http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		q := new(dns.Msg)
		if err := q.Unpack(body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		a, _, err := new(dns.Client).Exchange(q, testDNS.Addr())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		packed, _ := a.Pack()
		w.Header().Set("Content-Type", dohMessageType)
		_, _ = w.Write(packed)
	}))
	t.Cleanup(srv.Close)
	return srv, &queries
}

func TestPropagationIsCheckedThroughDNSOverHTTPS(t *testing.T) {
	srv, queries := dohResolver(t, false)
	cfg := labConfig(newMemoryAccounts())
	cfg.DNS01.DoHURL = srv.URL + "/dns-query"
	cfg.DNS01.DoHClient = srv.Client()
	iss, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	cn := "doh.lab.ottr.test"
	delegate(t, cn)
	if _, err := iss.Issue(context.Background(), newCSR(t, cn), issuer.IssueOptions{}); err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if queries.Load() == 0 {
		t.Error("the DNS-over-HTTPS resolver was never asked")
	}
}

func TestAFailingDNSOverHTTPSResolverFailsTheOrderClearly(t *testing.T) {
	srv, _ := dohResolver(t, true)
	cfg := labConfig(newMemoryAccounts())
	cfg.DNS01.DoHURL = srv.URL + "/dns-query?token=s3cret"
	cfg.DNS01.DoHClient = srv.Client()
	cfg.DNS01.PropagationTimeout = 500 * time.Millisecond
	iss, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	cn := "dohfail.lab.ottr.test"
	delegate(t, cn)
	_, err = iss.Issue(context.Background(), newCSR(t, cn), issuer.IssueOptions{})
	if err == nil || !strings.Contains(err.Error(), "DNS over HTTPS: the resolver answered 503") {
		t.Fatalf("Issue = %v, want the resolver's failure", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the error carries the endpoint's token: %v", err)
	}
}

func TestDoHCheckFollowsTheChainAcrossQueries(t *testing.T) {
	// A resolver that answers only the CNAME at the first name, as some
	// do for names in other zones, makes the checker ask again at the
	// target.
	var asked []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		q := new(dns.Msg)
		_ = q.Unpack(body)
		name := q.Question[0].Name
		asked = append(asked, name)
		a := new(dns.Msg)
		a.SetReply(q)
		switch name {
		case "_acme-challenge.a.example.":
			rr, _ := dns.NewRR("_acme-challenge.a.example. 60 IN CNAME _acme-challenge.a.acme.example.")
			a.Answer = append(a.Answer, rr)
		case "_acme-challenge.a.acme.example.":
			rr, _ := dns.NewRR(`_acme-challenge.a.acme.example. 60 IN TXT "the-value"`)
			a.Answer = append(a.Answer, rr)
		}
		packed, _ := a.Pack()
		w.Header().Set("Content-Type", dohMessageType)
		_, _ = w.Write(packed)
	}))
	defer srv.Close()
	d := newDoHChecker(srv.URL, srv.Client())
	ok, err := d.check(context.Background(), "a.example", "_acme-challenge.a.example.", "the-value", nil)
	if err != nil || !ok {
		t.Fatalf("check = %t, %v; want the value found at the chain's end", ok, err)
	}
	if len(asked) != 2 {
		t.Errorf("asked %q, want the name and then its target", asked)
	}
	ok, err = d.check(context.Background(), "a.example", "_acme-challenge.a.example.", "another-value", nil)
	if err != nil || ok {
		t.Errorf("check for a value not there = %t, %v; want false, nil", ok, err)
	}
}

func TestARefusedOrderCarriesTheProblemDocumentAndRetryAfter(t *testing.T) {
	iss := newLabIssuer(t)
	cn := "limited.lab.ottr.test"
	delegate(t, cn)
	testCA.RefuseNewOrders(1, pebble.Problem{
		Status: http.StatusTooManyRequests, Type: "urn:ietf:params:acme:error:rateLimited",
		Detail: "too many new orders (300) from this account in the last 3h0m0s", RetryAfter: time.Hour,
	})
	before := time.Now()
	_, err := iss.Issue(context.Background(), newCSR(t, cn), issuer.IssueOptions{})
	var refused *issuer.RefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("Issue = %v, want a RefusedError", err)
	}
	if refused.Problem.Type != "urn:ietf:params:acme:error:rateLimited" || refused.Problem.Status != 429 {
		t.Errorf("problem = %+v", refused.Problem)
	}
	if at, ok := issuer.RetryAfter(err); !ok || at.Before(before.Add(59*time.Minute)) || at.After(time.Now().Add(61*time.Minute)) {
		t.Errorf("RetryAfter = %v, %t; want about an hour from now", at, ok)
	}
	for _, want := range []string{"CA lab refused the order: rateLimited (HTTP 429): too many new orders", "the CA asks to retry after", `problem document {"type":"urn:ietf:params:acme:error:rateLimited"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// The refusal was one order's; the next goes through.
	if _, err := iss.Issue(context.Background(), newCSR(t, cn), issuer.IssueOptions{}); err != nil {
		t.Errorf("the next Issue: %v", err)
	}
}

func TestACADownIsUnavailableNotRefused(t *testing.T) {
	iss := newLabIssuer(t)
	cn := "down.lab.ottr.test"
	delegate(t, cn)
	testCA.RefuseNewOrders(1, pebble.Problem{Status: http.StatusServiceUnavailable, Type: "urn:ietf:params:acme:error:serverInternal", Detail: "maintenance"})
	_, err := iss.Issue(context.Background(), newCSR(t, cn), issuer.IssueOptions{})
	var unavailable *issuer.UnavailableError
	if !errors.As(err, &unavailable) {
		t.Fatalf("Issue = %v, want an UnavailableError", err)
	}
}
