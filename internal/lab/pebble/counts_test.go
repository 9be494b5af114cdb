package pebble

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/acme"
)

// newOrders returns the orders of after that before did not have.
func newOrders(before, after Counts) []CountedOrder {
	seen := map[string]bool{}
	for _, o := range before.Orders {
		seen[o.ID] = true
	}
	var added []CountedOrder
	for _, o := range after.Orders {
		if !seen[o.ID] {
			added = append(added, o)
		}
	}
	return added
}

func TestCountsSeeWhatTheCADid(t *testing.T) {
	t.Run("an issued certificate is one order, finalized, with the leaf's serial", func(t *testing.T) {
		before := testCA.Counts()
		chain := issue(t, "default", "counted.lab.ottr.test")
		after := testCA.Counts()
		if got := after.NewOrders - before.NewOrders; got != 1 {
			t.Errorf("new orders grew by %d, want 1", got)
		}
		if got := after.FinalizedOrders - before.FinalizedOrders; got != 1 {
			t.Errorf("finalized orders grew by %d, want 1", got)
		}
		if got := after.CertificatesIssued - before.CertificatesIssued; got != 1 {
			t.Errorf("certificates issued grew by %d, want 1", got)
		}
		added := newOrders(before, after)
		want := CountedOrder{Names: []string{"counted.lab.ottr.test"}, Finalized: true, CertificateSerial: chain[0].SerialNumber.Text(16)}
		if len(added) != 1 || added[0].CertificateSerial != want.CertificateSerial || !added[0].Finalized || !slices.Equal(added[0].Names, want.Names) {
			t.Errorf("new orders %+v, want one like %+v", added, want)
		}
		if !slices.Contains(after.Issued(), want.CertificateSerial) {
			t.Errorf("Issued() = %v lacks the leaf's serial %s", after.Issued(), want.CertificateSerial)
		}
	})

	t.Run("an order a client abandons is created but neither finalized nor issued", func(t *testing.T) {
		before := testCA.Counts()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		client := &acme.Client{Key: key, DirectoryURL: testCA.DirectoryURL(), HTTPClient: trustingClient(testCA.TLSRoots())}
		if _, err := client.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil {
			t.Fatalf("register: %v", err)
		}
		if _, err := client.AuthorizeOrder(ctx, acme.DomainIDs("abandoned.lab.ottr.test"), acme.WithOrderIssuanceProfile("default")); err != nil {
			t.Fatalf("order: %v", err)
		}
		after := testCA.Counts()
		added := newOrders(before, after)
		if len(added) != 1 || added[0].Finalized || added[0].CertificateSerial != "" {
			t.Fatalf("new orders %+v, want one neither finalized nor issued", added)
		}
		if after.FinalizedOrders != before.FinalizedOrders || after.CertificatesIssued != before.CertificatesIssued {
			t.Errorf("finalized %d -> %d, issued %d -> %d: want both unchanged",
				before.FinalizedOrders, after.FinalizedOrders, before.CertificatesIssued, after.CertificatesIssued)
		}
	})

	t.Run("a new order the CA refuses is not counted", func(t *testing.T) {
		before := testCA.Counts()
		// A policy refusal: ACME clients retry a rate limit by themselves.
		testCA.RefuseNewOrders(1, Problem{Status: http.StatusForbidden, Type: "urn:ietf:params:acme:error:rejectedIdentifier", Detail: "not here"})
		t.Cleanup(func() { testCA.RefuseNewOrders(0, Problem{}) })
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		client := &acme.Client{Key: key, DirectoryURL: testCA.DirectoryURL(), HTTPClient: trustingClient(testCA.TLSRoots())}
		if _, err := client.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil {
			t.Fatalf("register: %v", err)
		}
		if _, err := client.AuthorizeOrder(ctx, acme.DomainIDs("refused.lab.ottr.test")); err == nil {
			t.Fatal("the refused order was created")
		}
		if after := testCA.Counts(); after.NewOrders != before.NewOrders {
			t.Errorf("new orders %d -> %d after a refusal, want unchanged", before.NewOrders, after.NewOrders)
		}
	})
}

func TestCountsHandler(t *testing.T) {
	srv := httptest.NewServer(testCA.CountsHandler())
	defer srv.Close()
	issue(t, "default", "handler.lab.ottr.test")

	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got Counts
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatalf("decode counts: %v", err)
	}
	want := testCA.Counts()
	if got.NewOrders != want.NewOrders || got.CertificatesIssued != want.CertificatesIssued || len(got.Orders) != len(want.Orders) {
		t.Errorf("GET counts = %d orders, %d issued (%d listed); the CA has %d, %d (%d)",
			got.NewOrders, got.CertificatesIssued, len(got.Orders), want.NewOrders, want.CertificatesIssued, len(want.Orders))
	}
	if got.CertificatesIssued == 0 {
		t.Error("GET counts shows no certificate after one was issued")
	}

	post, err := http.Post(srv.URL, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if post.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST counts: %s, want 405", post.Status)
	}
}

func TestCountsTellUnusedCertificatesAndReorders(t *testing.T) {
	counts := Counts{Orders: []CountedOrder{
		{ID: "1", Names: []string{"a.lab.ottr.test"}, Finalized: true, CertificateSerial: "a1"},
		{ID: "2", Names: []string{"a.lab.ottr.test"}, Finalized: true, CertificateSerial: "a2"},
		{ID: "3", Names: []string{"a.lab.ottr.test"}},
		{ID: "4", Names: []string{"b.lab.ottr.test"}, Finalized: true, CertificateSerial: "b1"},
	}}
	served := map[string]bool{"a2": true, "b1": true}
	unused := counts.IssuedExcept(served)
	if len(unused) != 1 || unused[0].ID != "1" {
		t.Errorf("IssuedExcept(a2, b1) = %v, want order 1 only: order 3 issued nothing", unused)
	}
	if got := unused[0].String(); got != "a1 for a.lab.ottr.test" {
		t.Errorf("String() = %q", got)
	}
	per := counts.OrdersPerName()
	if per["a.lab.ottr.test"] != 3 || per["b.lab.ottr.test"] != 1 || len(per) != 2 {
		t.Errorf("OrdersPerName() = %v, want a: 3, b: 1", per)
	}
}
