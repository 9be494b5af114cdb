package acme

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/issuer"
)

// verifyChain checks chain verifies to Pebble's issuance roots for every
// name.
func verifyChain(t *testing.T, chain []*x509.Certificate, names ...string) {
	t.Helper()
	roots, err := testCA.IssuanceRoots(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	opts := x509.VerifyOptions{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool()}
	for _, root := range roots {
		opts.Roots.AddCert(root)
	}
	for _, c := range chain[1:] {
		opts.Intermediates.AddCert(c)
	}
	for _, name := range names {
		opts.DNSName = name
		if _, err := chain[0].Verify(opts); err != nil {
			t.Errorf("chain does not verify for %s: %v", name, err)
		}
	}
}

func TestIssue(t *testing.T) {
	iss := newLabIssuer(t)
	tests := []struct {
		name         string
		device       string
		profile      string
		wantLifetime time.Duration
		wantCN       bool
	}{
		{"the default profile gives a 90-day certificate for the CN and both SANs", "dev1", "", 90 * 24 * time.Hour, true},
		{"the shortlived profile gives a 6-day certificate without a CN", "dev2", "shortlived", 160 * time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cn := tt.device + ".lab.ottr.test"
			names := []string{cn, "www." + cn, "api." + cn}
			delegate(t, names...)
			csr := newCSR(t, cn, names[1:]...)
			ordersBefore := testCA.Orders()

			chain, err := iss.Issue(context.Background(), csr, issuer.IssueOptions{Profile: tt.profile})
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			if len(chain) < 2 {
				t.Fatalf("chain has %d certificates, want the leaf and its issuer", len(chain))
			}
			leaf := chain[0]
			if got := slices.Sorted(slices.Values(leaf.DNSNames)); !slices.Equal(got, slices.Sorted(slices.Values(names))) {
				t.Errorf("leaf names = %v, want %v", got, names)
			}
			if gotCN := leaf.Subject.CommonName; (gotCN == cn) != tt.wantCN {
				t.Errorf("leaf common name = %q, want it to be %q: %t", gotCN, cn, tt.wantCN)
			}
			if !leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(csr.PublicKey) {
				t.Error("leaf is not for the CSR's key")
			}
			verifyChain(t, chain, names...)
			lifetime := leaf.NotAfter.Sub(leaf.NotBefore)
			if lifetime < tt.wantLifetime-time.Minute || lifetime > tt.wantLifetime+time.Minute {
				t.Errorf("lifetime = %s, want about %s", lifetime, tt.wantLifetime)
			}
			if got := testCA.Orders() - ordersBefore; got != 1 {
				t.Errorf("the CA got %d orders, want 1", got)
			}
			for _, name := range names {
				if txt := txtRecords(t, delegateName(name)); len(txt) != 0 {
					t.Errorf("challenge records left at %s: %q", delegateName(name), txt)
				}
			}
		})
	}
}

func TestPreferredChain(t *testing.T) {
	roots, err := testCA.IssuanceRoots(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(roots) < 2 {
		t.Fatal("the lab CA offers no alternate chain")
	}
	for i, root := range roots[:2] {
		name := []string{"the default chain is returned when preferred", "the alternate chain is returned when preferred"}[i]
		t.Run(name, func(t *testing.T) {
			cfg := labConfig(nil)
			cfg.PreferredChain = root.Subject.CommonName
			iss, err := New(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			delegate(t, "chain.lab.ottr.test")
			chain, err := iss.Issue(context.Background(), newCSR(t, "chain.lab.ottr.test"), issuer.IssueOptions{})
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			if err := chain[len(chain)-1].CheckSignatureFrom(root); err != nil {
				t.Errorf("the chain's top certificate is not signed by %s: %v", root.Subject.CommonName, err)
			}
		})
	}
}

func TestIssueWithoutDelegation(t *testing.T) {
	iss := newLabIssuer(t)
	delegate(t, "half.lab.ottr.test")
	csr := newCSR(t, "half.lab.ottr.test", "nocname.lab.ottr.test")

	_, err := iss.Issue(context.Background(), csr, issuer.IssueOptions{})
	if err == nil {
		t.Fatal("Issue succeeded for a name without an _acme-challenge CNAME")
	}
	msg := err.Error()
	for _, want := range []string{"acme: lab:", "_acme-challenge.nocname.lab.ottr.test.", "delegate zone"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	for _, secret := range []string{tsigSecret, eabHMAC} {
		if strings.Contains(msg, secret) {
			t.Errorf("error %q reveals a secret", msg)
		}
	}
	if txt := txtRecords(t, "_acme-challenge.nocname.lab.ottr.test."); len(txt) != 0 {
		t.Errorf("a record was written into the device zone: %q", txt)
	}
	if txt := txtRecords(t, delegateName("half.lab.ottr.test")); len(txt) != 0 {
		t.Errorf("challenge records left for the delegated name: %q", txt)
	}
}

func TestIssueRejectsBadCSRs(t *testing.T) {
	iss := newLabIssuer(t)
	tampered := newCSR(t, "dev3.lab.ottr.test")
	tampered.Signature = slices.Clone(tampered.Signature)
	tampered.Signature[len(tampered.Signature)-1] ^= 0xff
	tests := []struct {
		name string
		csr  *x509.CertificateRequest
	}{
		{"a missing CSR", nil},
		{"a CSR whose signature does not verify", tampered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := testCA.Orders()
			if _, err := iss.Issue(context.Background(), tt.csr, issuer.IssueOptions{}); err == nil {
				t.Error("Issue succeeded")
			}
			if testCA.Orders() != before {
				t.Error("an order reached the CA")
			}
		})
	}
}

func TestConcurrentIssue(t *testing.T) {
	iss := newLabIssuer(t)
	const rotations = 20
	ordersBefore := testCA.Orders()
	var wg sync.WaitGroup
	for n := range rotations {
		name := fmt.Sprintf("par%d.lab.ottr.test", n)
		delegate(t, name)
		wg.Go(func() {
			chain, err := iss.Issue(context.Background(), newCSR(t, name), issuer.IssueOptions{})
			if err != nil {
				t.Errorf("Issue %s: %v", name, err)
				return
			}
			if !slices.Contains(chain[0].DNSNames, name) {
				t.Errorf("leaf for %s names %v", name, chain[0].DNSNames)
			}
		})
	}
	wg.Wait()
	if got := testCA.Orders() - ordersBefore; got != rotations {
		t.Errorf("the CA got %d orders, want %d", got, rotations)
	}
	for n := range rotations {
		name := delegateName(fmt.Sprintf("par%d.lab.ottr.test", n))
		if txt := txtRecords(t, name); len(txt) != 0 {
			t.Errorf("challenge records left at %s: %q", name, txt)
		}
	}
}

func TestReplaces(t *testing.T) {
	iss := newLabIssuer(t)
	delegate(t, "renew.lab.ottr.test")
	first, err := iss.Issue(context.Background(), newCSR(t, "renew.lab.ottr.test"), issuer.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id, err := CertID(first[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []string{"a renewal naming the certificate it replaces is issued", "a second renewal of the same certificate is issued too"} {
		t.Run(step, func(t *testing.T) {
			chain, err := iss.Issue(context.Background(), newCSR(t, "renew.lab.ottr.test"), issuer.IssueOptions{Replaces: id})
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			if chain[0].SerialNumber.Cmp(first[0].SerialNumber) == 0 {
				t.Error("got the replaced certificate back")
			}
		})
	}
}

func TestRenewalWindow(t *testing.T) {
	iss := newLabIssuer(t)
	delegate(t, "ari.lab.ottr.test")
	chain, err := iss.Issue(context.Background(), newCSR(t, "ari.lab.ottr.test"), issuer.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	leaf := chain[0]

	t.Run("the CA's window lies inside the certificate's lifetime", func(t *testing.T) {
		info, err := iss.RenewalWindow(context.Background(), leaf, chain[1])
		if err != nil {
			t.Fatalf("RenewalWindow: %v", err)
		}
		if !info.Start.Before(info.End) || info.Start.Before(leaf.NotBefore) || info.End.After(leaf.NotAfter) {
			t.Errorf("window [%s, %s] is not inside [%s, %s]", info.Start, info.End, leaf.NotBefore, leaf.NotAfter)
		}
		if !info.RetryAfter.After(time.Now()) {
			t.Errorf("RetryAfter %s is not in the future", info.RetryAfter)
		}
	})
	t.Run("a window the CA moves is reported as moved", func(t *testing.T) {
		start := time.Now().Add(-time.Hour).Truncate(time.Second)
		end := start.Add(2 * time.Hour)
		if err := testCA.SetRenewalWindow(leaf, start, end); err != nil {
			t.Fatal(err)
		}
		info, err := iss.RenewalWindow(context.Background(), leaf, chain[1])
		if err != nil {
			t.Fatalf("RenewalWindow: %v", err)
		}
		if !info.Start.Equal(start) || !info.End.Equal(end) {
			t.Errorf("window = [%s, %s], want [%s, %s]", info.Start, info.End, start, end)
		}
	})
}

func TestAccounts(t *testing.T) {
	t.Run("a new account is registered once and reused", func(t *testing.T) {
		accounts := newMemoryAccounts()
		if _, err := New(context.Background(), labConfig(accounts)); err != nil {
			t.Fatalf("first New: %v", err)
		}
		saved := string(accounts.data["lab"])
		if accounts.saves != 1 || !strings.Contains(saved, testCA.DirectoryURL()) {
			t.Fatalf("saves = %d, stored = %q; want one save of the account", accounts.saves, saved)
		}
		if _, err := New(context.Background(), labConfig(accounts)); err != nil {
			t.Fatalf("second New: %v", err)
		}
		if accounts.saves != 1 || string(accounts.data["lab"]) != saved {
			t.Errorf("the second New changed the stored account (saves = %d)", accounts.saves)
		}
	})
	t.Run("an account the CA forgot is registered again with the same key", func(t *testing.T) {
		accounts := newMemoryAccounts()
		if _, err := New(context.Background(), labConfig(accounts)); err != nil {
			t.Fatal(err)
		}
		stored, _, err := decodeAccount(accounts.data["lab"])
		if err != nil {
			t.Fatal(err)
		}
		stored.URI = strings.TrimSuffix(stored.URI, "/") + "-forgotten"
		accounts.data["lab"], _ = stored.encode()

		if _, err := New(context.Background(), labConfig(accounts)); err != nil {
			t.Fatalf("New: %v", err)
		}
		again, _, err := decodeAccount(accounts.data["lab"])
		if err != nil {
			t.Fatal(err)
		}
		if again.KeyPEM != stored.KeyPEM || again.URI == stored.URI {
			t.Errorf("stored account = %+v, want the same key with the CA's URI", again)
		}
	})
	t.Run("registering without the binding the CA requires fails clearly", func(t *testing.T) {
		cfg := labConfig(nil)
		cfg.EAB = nil
		_, err := New(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), "externalAccountRequired") {
			t.Errorf("New without EAB: err = %v, want externalAccountRequired", err)
		}
	})
	t.Run("a store that fails stops New", func(t *testing.T) {
		_, err := New(context.Background(), labConfig(failingAccounts{}))
		if err == nil || !strings.Contains(err.Error(), "disk on fire") {
			t.Errorf("err = %v, want the store's error", err)
		}
	})
}

type failingAccounts struct{}

func (failingAccounts) LoadAccount(context.Context, string) ([]byte, error) {
	return nil, errors.New("disk on fire")
}
func (failingAccounts) SaveAccount(context.Context, string, []byte) error { return nil }

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
	}{
		{"no name", func(c *Config) { c.Name = "" }},
		{"no directory", func(c *Config) { c.DirectoryURL = "" }},
		{"no nameserver", func(c *Config) { c.DNS01.Nameserver = "" }},
		{"a TSIG key without its secret", func(c *Config) { c.DNS01.TSIGSecret = "" }},
		{"an unknown TSIG algorithm", func(c *Config) { c.DNS01.TSIGAlgorithm = "hmac-crc32" }},
		{"both a root pool and an HTTP client", func(c *Config) { c.HTTPClient = http.DefaultClient }},
		{"a binding without its key", func(c *Config) { c.EAB = &EAB{KID: eabKID} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := labConfig(nil)
			tt.change(&cfg)
			_, err := New(context.Background(), cfg)
			if err == nil {
				t.Fatal("New succeeded")
			}
			if strings.Contains(err.Error(), tsigSecret) || strings.Contains(err.Error(), eabHMAC) {
				t.Errorf("error %q reveals a secret", err)
			}
		})
	}
}
