package pebble

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/crypto/acme"

	"github.com/ottr-go/ottr/internal/lab/dnsserver"
)

// One CA and one DNS server for the whole test binary: Pebble's validator
// goroutines never stop.
var (
	testCA  *CA
	testDNS *dnsserver.Server
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	ctx := context.Background()
	var err error
	testDNS, err = dnsserver.Start(ctx, dnsserver.Config{Zones: []string{"lab.ottr.test."}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testDNS.Close()
	testCA, err = Start(ctx, Config{DNSResolver: testDNS.Addr(), AlternateRoots: 1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testCA.Close()
	return m.Run()
}

func trustingClient(pool *x509.CertPool) *http.Client {
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
}

func TestDirectory(t *testing.T) {
	t.Run("is served over TLS that TLSRoots vouches for", func(t *testing.T) {
		resp, err := trustingClient(testCA.TLSRoots()).Get(testCA.DirectoryURL())
		if err != nil {
			t.Fatalf("GET directory: %v", err)
		}
		defer resp.Body.Close()
		var dir struct {
			NewOrder    string `json:"newOrder"`
			RenewalInfo string `json:"renewalInfo"`
			Meta        struct {
				Profiles map[string]string `json:"profiles"`
			} `json:"meta"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&dir); err != nil {
			t.Fatalf("decode directory: %v", err)
		}
		if dir.NewOrder == "" || dir.RenewalInfo == "" {
			t.Errorf("directory lacks newOrder or renewalInfo: %+v", dir)
		}
		for _, profile := range []string{"default", "shortlived"} {
			if _, ok := dir.Meta.Profiles[profile]; !ok {
				t.Errorf("profile %q not offered: %v", profile, dir.Meta.Profiles)
			}
		}
	})
	t.Run("is refused by a client that does not trust TLSRoots", func(t *testing.T) {
		_, err := trustingClient(x509.NewCertPool()).Get(testCA.DirectoryURL())
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("GET without the root: err = %v, want a certificate error", err)
		}
	})
	t.Run("TLSRootPEM holds the TLS root", func(t *testing.T) {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(testCA.TLSRootPEM()) {
			t.Fatal("TLSRootPEM does not parse")
		}
		resp, err := trustingClient(pool).Get(testCA.DirectoryURL())
		if err != nil {
			t.Fatalf("GET with the PEM root: %v", err)
		}
		resp.Body.Close()
	})
}

func TestIssuanceRoots(t *testing.T) {
	roots, err := testCA.IssuanceRoots(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(roots) != 2 {
		t.Fatalf("got %d roots, want the default and one alternate", len(roots))
	}
	for _, root := range roots {
		if !root.IsCA || root.CheckSignatureFrom(root) != nil {
			t.Errorf("%s is not a self-signed CA", root.Subject)
		}
	}
	bundle, err := testCA.IssuanceRootsPEM(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(bundle), "BEGIN CERTIFICATE"); n != len(roots) {
		t.Errorf("PEM bundle holds %d certificates, want %d", n, len(roots))
	}
}

// issue runs one DNS-01 order with x/crypto/acme, writing the TXT records
// straight into the lab DNS server, and returns the chain.
func issue(t *testing.T, profile string, names ...string) []*x509.Certificate {
	t.Helper()
	return issueWith(t, trustingClient(testCA.TLSRoots()), profile, names...)
}

// issueWith is issue through httpClient.
func issueWith(t *testing.T, httpClient *http.Client, profile string, names ...string) []*x509.Certificate {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	accountKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	client := &acme.Client{Key: accountKey, DirectoryURL: testCA.DirectoryURL(), HTTPClient: httpClient}
	if _, err := client.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil {
		t.Fatalf("register: %v", err)
	}
	order, err := client.AuthorizeOrder(ctx, acme.DomainIDs(names...), acme.WithOrderIssuanceProfile(acme.ProfileName(profile)))
	if err != nil {
		t.Fatalf("order: %v", err)
	}
	for _, authzURL := range order.AuthzURLs {
		authz, err := client.GetAuthorization(ctx, authzURL)
		if err != nil {
			t.Fatal(err)
		}
		var chal *acme.Challenge
		for _, c := range authz.Challenges {
			if c.Type == "dns-01" {
				chal = c
			}
		}
		if chal == nil {
			t.Fatalf("no dns-01 challenge for %s", authz.Identifier.Value)
		}
		value, err := client.DNS01ChallengeRecord(chal.Token)
		if err != nil {
			t.Fatal(err)
		}
		fqdn := "_acme-challenge." + authz.Identifier.Value + "."
		if err := testDNS.AddRecord(fmt.Sprintf("%s 60 IN TXT %q", fqdn, value)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { testDNS.RemoveRecords(fqdn, dns.TypeTXT) })
		if _, err := client.Accept(ctx, chal); err != nil {
			t.Fatalf("accept: %v", err)
		}
		if _, err := client.WaitAuthorization(ctx, authz.URI); err != nil {
			t.Fatalf("authorization of %s: %v", authz.Identifier.Value, err)
		}
	}
	ready, err := client.WaitOrder(ctx, order.URI)
	if err != nil {
		t.Fatalf("order: %v", err)
	}
	// Pebble sends no Location with order objects; keep the one from the
	// order's creation.
	ready.URI = order.URI
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
	}, leafKey)
	if err != nil {
		t.Fatal(err)
	}
	ders, _, err := client.CreateCertFromOrder(ctx, ready, csr, true)
	if err != nil {
		t.Fatalf("finalize: %v", err)
	}
	var chain []*x509.Certificate
	for _, der := range ders {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, cert)
	}
	return chain
}

func verifiesTo(t *testing.T, chain []*x509.Certificate, dnsName string) {
	t.Helper()
	roots, err := testCA.IssuanceRoots(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	opts := x509.VerifyOptions{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool(), DNSName: dnsName}
	opts.Roots.AddCert(roots[0])
	for _, c := range chain[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := chain[0].Verify(opts); err != nil {
		t.Errorf("chain does not verify to the issuance root: %v", err)
	}
}

func TestIssuance(t *testing.T) {
	tests := []struct {
		name         string
		profile      string
		wantLifetime time.Duration
		wantCN       bool
	}{
		{"the default profile issues 90-day certificates with a common name", "default", 90 * 24 * time.Hour, true},
		{"the shortlived profile issues 160-hour certificates", "shortlived", 160 * time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, issuedBefore := testCA.Orders(), testCA.Issued()
			chain := issue(t, tt.profile, "dev1.lab.ottr.test", "www.dev1.lab.ottr.test")
			if got := testCA.Orders() - before; got != 1 {
				t.Errorf("Orders grew by %d, want 1", got)
			}
			if got := testCA.Issued() - issuedBefore; got != 1 {
				t.Errorf("Issued grew by %d, want 1", got)
			}
			leaf := chain[0]
			verifiesTo(t, chain, "www.dev1.lab.ottr.test")
			lifetime := leaf.NotAfter.Sub(leaf.NotBefore)
			if lifetime < tt.wantLifetime-time.Minute || lifetime > tt.wantLifetime+time.Minute {
				t.Errorf("lifetime = %s, want about %s", lifetime, tt.wantLifetime)
			}
			if hasCN := leaf.Subject.CommonName != ""; hasCN != tt.wantCN {
				t.Errorf("common name %q present = %t, want %t", leaf.Subject.CommonName, hasCN, tt.wantCN)
			}
		})
	}
}

// ariCertID is the RFC 9773 certificate identifier.
func ariCertID(t *testing.T, leaf *x509.Certificate) string {
	t.Helper()
	der, err := asn1.Marshal(leaf.SerialNumber)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(leaf.AuthorityKeyId) + "." + base64.RawURLEncoding.EncodeToString(der[2:])
}

type renewalInfo struct {
	SuggestedWindow struct {
		Start time.Time `json:"start"`
		End   time.Time `json:"end"`
	} `json:"suggestedWindow"`
}

// renewalInfoURL is the CA directory's renewalInfo endpoint.
func renewalInfoURL(t *testing.T) string {
	t.Helper()
	resp, err := trustingClient(testCA.TLSRoots()).Get(testCA.DirectoryURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var dir struct {
		RenewalInfo string `json:"renewalInfo"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&dir); err != nil {
		t.Fatal(err)
	}
	return dir.RenewalInfo
}

func getRenewalInfo(t *testing.T, leaf *x509.Certificate) renewalInfo {
	t.Helper()
	resp, err := trustingClient(testCA.TLSRoots()).Get(renewalInfoURL(t) + "/" + ariCertID(t, leaf))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("renewalInfo: %s", resp.Status)
	}
	var info renewalInfo
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	return info
}

func TestRenewalInfo(t *testing.T) {
	leaf := issue(t, "default", "ari.lab.ottr.test")[0]

	t.Run("suggests a window inside the certificate's lifetime", func(t *testing.T) {
		w := getRenewalInfo(t, leaf).SuggestedWindow
		if !w.Start.Before(w.End) || w.Start.Before(leaf.NotBefore) || w.End.After(leaf.NotAfter) {
			t.Errorf("window [%s, %s] is not inside [%s, %s]", w.Start, w.End, leaf.NotBefore, leaf.NotAfter)
		}
	})
	t.Run("SetRenewalWindow overrides the suggestion", func(t *testing.T) {
		start := time.Now().Add(-time.Hour).Truncate(time.Second)
		end := start.Add(2 * time.Hour)
		if err := testCA.SetRenewalWindow(leaf, start, end); err != nil {
			t.Fatal(err)
		}
		w := getRenewalInfo(t, leaf).SuggestedWindow
		if !w.Start.Equal(start) || !w.End.Equal(end) {
			t.Errorf("window = [%s, %s], want [%s, %s]", w.Start, w.End, start, end)
		}
	})
}

func TestStartRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no DNS resolver", Config{}},
		{"an unknown key algorithm", Config{DNSResolver: "127.0.0.1:53", KeyAlgorithm: "dsa"}},
		{"a profile without a lifetime", Config{DNSResolver: "127.0.0.1:53", Profiles: map[string]Profile{"x": {}}}},
		{"an EAB key that is not base64url", Config{DNSResolver: "127.0.0.1:53", EABKeys: map[string]string{"kid-1": "not base64!"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca, err := Start(context.Background(), tt.cfg)
			if err == nil {
				_ = ca.Close()
				t.Fatal("Start succeeded")
			}
			if strings.Contains(err.Error(), "not base64!") {
				t.Errorf("error %q reveals the EAB key", err)
			}
		})
	}
}

// observingTransport calls seen with every response, before the client
// reads it.
type observingTransport struct {
	next http.RoundTripper
	seen func(*http.Request, *http.Response)
}

func (o observingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := o.next.RoundTrip(r)
	if err == nil {
		o.seen(r, resp)
	}
	return resp, err
}

// TestAnswersOnlyOncePebblesOwnWorkIsDone checks that the work Pebble
// leaves to goroutines of its own (validating a challenge, issuing a
// finalized order's certificate) is done by the time the request that
// started it is answered, so no request ever runs beside those goroutines'
// writes, which can deadlock the CA.
func TestAnswersOnlyOncePebblesOwnWorkIsDone(t *testing.T) {
	client := trustingClient(testCA.TLSRoots())
	var mu sync.Mutex
	var challenges, finalizations int
	var unsettled []string
	client.Transport = observingTransport{next: client.Transport, seen: func(r *http.Request, resp *http.Response) {
		if resp.StatusCode != http.StatusOK {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case strings.HasPrefix(r.URL.Path, challengePath):
			challenges++
			chal := testCA.db.GetChallengeByID(strings.TrimPrefix(r.URL.Path, challengePath))
			chal.RLock()
			if chal.Status != "valid" {
				unsettled = append(unsettled, r.URL.Path+" answered while "+chal.Status)
			}
			chal.RUnlock()
		case strings.HasPrefix(r.URL.Path, finalizePath):
			finalizations++
			order := testCA.db.GetOrderByID(strings.TrimPrefix(r.URL.Path, finalizePath))
			order.RLock()
			if order.CertificateObject == nil {
				unsettled = append(unsettled, r.URL.Path+" answered before the certificate was issued")
			}
			order.RUnlock()
		}
	}}
	issueWith(t, client, "default", "settle.lab.ottr.test", "www.settle.lab.ottr.test")
	if challenges != 2 || finalizations != 1 {
		t.Errorf("saw %d challenge and %d finalize answers, want 2 and 1", challenges, finalizations)
	}
	for _, u := range unsettled {
		t.Error(u)
	}
}

// TestValidationTimeMakesClientsPoll checks that with a validation time a
// validated challenge stays processing, its authorization pending with a
// Retry-After, as at a public CA, and that the certificate is still issued.
func TestValidationTimeMakesClientsPoll(t *testing.T) {
	// Long enough that lego's first authorization poll, sent as soon as
	// the challenge is answered, comes while the hold lasts even on a
	// loaded machine.
	testCA.SetValidationTime(2 * time.Second)
	t.Cleanup(func() { testCA.SetValidationTime(0) })
	client := trustingClient(testCA.TLSRoots())
	var mu sync.Mutex
	var pendingPolls, validPolls int
	var challengeAnswers []string
	client.Transport = observingTransport{next: client.Transport, seen: func(r *http.Request, resp *http.Response) {
		isChallenge := strings.HasPrefix(r.URL.Path, challengePath)
		if !isChallenge && !strings.HasPrefix(r.URL.Path, "/authZ/") || resp.StatusCode != http.StatusOK {
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		var authz struct{ Status string }
		if err != nil || json.Unmarshal(body, &authz) != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case isChallenge:
			challengeAnswers = append(challengeAnswers, authz.Status)
		case authz.Status == "pending" && resp.Header.Get("Retry-After") != "":
			pendingPolls++
		case authz.Status == "valid":
			validPolls++
		}
	}}
	chain := issueWith(t, client, "default", "slow.lab.ottr.test")
	verifiesTo(t, chain, "slow.lab.ottr.test")
	if pendingPolls == 0 || validPolls == 0 {
		t.Errorf("authorization polls: %d pending with Retry-After, %d valid; want both", pendingPolls, validPolls)
	}
	// A client told "valid" at once finalizes an order the CA still
	// holds pending, and is refused with orderNotReady.
	if len(challengeAnswers) != 1 || challengeAnswers[0] != "processing" {
		t.Errorf("the challenge was answered %q, want one answer saying processing", challengeAnswers)
	}
}
