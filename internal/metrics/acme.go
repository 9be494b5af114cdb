package metrics

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ottr-go/ottr/internal/issuer/acme"
)

// ACME endpoints, as the endpoint label names them.
const (
	EndpointDirectory   = "directory"
	EndpointNewNonce    = "new-nonce"
	EndpointNewAccount  = "new-account"
	EndpointNewOrder    = "new-order"
	EndpointRevoke      = "revoke-cert"
	EndpointKeyChange   = "key-change"
	EndpointRenewalInfo = "renewal-info"
	EndpointAccount     = "account"
	EndpointOrder       = "order"
	EndpointAuthz       = "authz"
	EndpointChallenge   = "challenge"
	EndpointFinalize    = "finalize"
	EndpointCert        = "cert"
	EndpointOther       = "other"
)

// maxDirectoryBytes bounds the directory document read for its URLs.
const maxDirectoryBytes = 1 << 20

// ACMETransport returns next wrapped so that every request to the ACME CA
// of profile ca is counted by endpoint and status and timed. The endpoint
// is never the URL (which holds account and order IDs): the directory's
// own URLs (new-nonce, new-account, new-order, renewal-info, …) are learnt
// from the directory document as it passes, and the URLs of accounts,
// orders, authorizations, challenges, finalizations and certificates,
// which every CA spells its own way, are told apart by their path. next
// nil means http.DefaultTransport.
func (m *Metrics) ACMETransport(ca, directoryURL string, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &acmeTransport{m: m, ca: ca, directory: directoryURL, next: next}
}

type acmeTransport struct {
	m         *Metrics
	ca        string
	directory string
	next      http.RoundTripper

	mu sync.RWMutex
	// endpoints maps the directory's URLs to their endpoint.
	endpoints map[string]string
	// renewalInfo is the prefix of the CA's ARI URLs.
	renewalInfo string
}

func (t *acmeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	endpoint := t.endpoint(r.URL)
	started := time.Now()
	resp, err := t.next.RoundTrip(r)
	t.m.acmeDurations.WithLabelValues(t.ca, endpoint).Observe(time.Since(started).Seconds())
	if err != nil {
		t.m.acmeRequests.WithLabelValues(t.ca, endpoint, "error").Inc()
		return resp, err
	}
	t.m.acmeRequests.WithLabelValues(t.ca, endpoint, strconv.Itoa(resp.StatusCode)).Inc()
	if endpoint == EndpointDirectory && resp.StatusCode == http.StatusOK {
		t.learn(resp)
	}
	return resp, nil
}

// endpoint names the ACME endpoint u is.
func (t *acmeTransport) endpoint(u *url.URL) string {
	s := u.String()
	if s == t.directory {
		return EndpointDirectory
	}
	t.mu.RLock()
	e, ok := t.endpoints[s]
	ari := t.renewalInfo
	t.mu.RUnlock()
	switch {
	case ok:
		return e
	case ari != "" && strings.HasPrefix(s, ari):
		return EndpointRenewalInfo
	}
	return endpointByPath(u.Path)
}

// pathEndpoints tell object URLs apart by a word in their path, in the
// order they are tried: Let's Encrypt's /acme/finalize/…, /acme/chall/…,
// /acme/authz/…, /acme/cert/…, /acme/order/…, /acme/acct/…; Pebble's
// /finalize-order/…, /chalZ/…, /authZ/…, /certZ/…, /my-order/…,
// /my-account/…; smallstep's /order/…/finalize, /challenge/…,
// /certificate/…. Finalize comes first: its URL often names the order.
var pathEndpoints = []struct{ word, endpoint string }{
	{"finalize", EndpointFinalize},
	{"chal", EndpointChallenge},
	{"authz", EndpointAuthz},
	{"authoriz", EndpointAuthz},
	{"cert", EndpointCert},
	{"order", EndpointOrder},
	{"acct", EndpointAccount},
	{"account", EndpointAccount},
	{"renewal", EndpointRenewalInfo},
	{"nonce", EndpointNewNonce},
}

func endpointByPath(path string) string {
	segments := strings.Split(strings.ToLower(path), "/")
	for _, p := range pathEndpoints {
		for _, s := range segments {
			if strings.Contains(s, p.word) {
				return p.endpoint
			}
		}
	}
	return EndpointOther
}

// learn reads the directory document's URLs, leaving the body for the
// ACME client as it was.
func (t *acmeTransport) learn(resp *http.Response) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDirectoryBytes))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return
	}
	var dir struct {
		NewNonce    string `json:"newNonce"`
		NewAccount  string `json:"newAccount"`
		NewOrder    string `json:"newOrder"`
		RevokeCert  string `json:"revokeCert"`
		KeyChange   string `json:"keyChange"`
		RenewalInfo string `json:"renewalInfo"`
	}
	if json.Unmarshal(body, &dir) != nil {
		return
	}
	endpoints := map[string]string{}
	for u, e := range map[string]string{
		dir.NewNonce: EndpointNewNonce, dir.NewAccount: EndpointNewAccount, dir.NewOrder: EndpointNewOrder,
		dir.RevokeCert: EndpointRevoke, dir.KeyChange: EndpointKeyChange,
	} {
		if u != "" {
			endpoints[u] = e
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.endpoints = endpoints
	if dir.RenewalInfo != "" {
		t.renewalInfo = strings.TrimSuffix(dir.RenewalInfo, "/") + "/"
	}
}

// ObserveDNSUpdate counts one DNS-01 challenge record written or removed;
// it is acme.DNS01Config.Observe.
func (m *Metrics) ObserveDNSUpdate(u acme.DNSUpdate) {
	result := "succeeded"
	if u.Err != nil {
		result = "failed"
	}
	m.dnsUpdates.WithLabelValues(u.Zone, u.Operation, result).Inc()
	m.dnsDurations.WithLabelValues(u.Operation).Observe(u.Duration.Seconds())
}
