package acme

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/issuer"
)

// newIssuerWith is a lab Issuer whose account is kept in accounts: one
// process's.
func newIssuerWith(t *testing.T, accounts AccountStore) *Issuer {
	t.Helper()
	iss, err := New(context.Background(), labConfig(accounts))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return iss
}

// afterAnswer has the lab CA call f with the path of every request it
// handles until the test ends.
func afterAnswer(t *testing.T, f func(path string)) {
	testCA.AfterAnswer(f)
	t.Cleanup(func() { testCA.AfterAnswer(nil) })
}

// caCounts is what the CA has done so far.
type caCounts struct{ orders, issued int }

func countAtCA() caCounts { return caCounts{orders: testCA.Orders(), issued: testCA.Issued()} }

func (c caCounts) since(before caCounts) caCounts {
	return caCounts{orders: c.orders - before.orders, issued: c.issued - before.issued}
}

func TestAnInterruptedIssueIsContinuedWithoutASecondOrder(t *testing.T) {
	tests := []struct {
		name string
		// validation is how long the CA takes to validate a challenge.
		validation time.Duration
		// stopAt is the path of the first request the first Issue is
		// stopped after, once the CA has handled it; empty: stopped as
		// soon as the order exists.
		stopAt string
	}{
		{name: "right after the order was created"},
		{name: "after a challenge was answered and validated", stopAt: "/chalZ/"},
		{name: "after a challenge was answered while the CA still validates it", validation: 2 * time.Second, stopAt: "/chalZ/"},
		{name: "after the order was finalized and the CA issued", stopAt: "/finalize-order/"},
	}
	for n, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testCA.SetValidationTime(tt.validation)
			t.Cleanup(func() { testCA.SetValidationTime(0) })
			cn := fmt.Sprintf("resume%d.lab.ottr.test", n)
			names := []string{cn, "www." + cn}
			delegate(t, names...)
			csr := newCSR(t, cn, names[1:]...)
			accounts := newMemoryAccounts()
			first := newIssuerWith(t, accounts)
			before := countAtCA()

			// The first process: stopped at the point under test.
			ctx, stop := context.WithCancel(context.Background())
			defer stop()
			if tt.stopAt != "" {
				afterAnswer(t, func(path string) {
					if strings.HasPrefix(path, tt.stopAt) {
						stop()
					}
				})
			}
			var kept *issuer.OrderRef
			_, err := first.Issue(ctx, csr, issuer.IssueOptions{OnOrder: func(_ context.Context, o issuer.OrderRef) error {
				kept = &o
				if tt.stopAt == "" {
					stop()
				}
				return nil
			}})
			if err == nil {
				t.Fatal("the interrupted Issue succeeded")
			}
			if kept == nil || kept.URL == "" || len(kept.Authorizations) != 2 || kept.Finalize == "" {
				t.Fatalf("the order kept is %+v, want its URL, two authorizations and its finalize URL", kept)
			}

			// The next process continues the order it kept.
			testCA.AfterAnswer(nil)
			second := newIssuerWith(t, accounts)
			chain, err := second.Issue(context.Background(), csr, issuer.IssueOptions{Resume: kept,
				OnOrder: func(context.Context, issuer.OrderRef) error {
					t.Error("the resumed Issue created an order")
					return nil
				}})
			if err != nil {
				t.Fatalf("resumed Issue: %v", err)
			}
			if got := countAtCA().since(before); got != (caCounts{orders: 1, issued: 1}) {
				t.Errorf("the CA created %d orders and issued %d certificates, want 1 and 1", got.orders, got.issued)
			}
			if !chain[0].PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(csr.PublicKey) {
				t.Error("the certificate is not for the CSR's key")
			}
			verifyChain(t, chain, names...)
			for _, name := range names {
				if txt := txtRecords(t, delegateName(name)); len(txt) != 0 {
					t.Errorf("challenge records left at %s: %q", delegateName(name), txt)
				}
			}
		})
	}
}

// interruptedOrder starts an Issue for cn and stops it as soon as the CA
// has created the order, which it returns.
func interruptedOrder(t *testing.T, iss *Issuer, csr *x509.CertificateRequest) issuer.OrderRef {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var kept issuer.OrderRef
	_, err := iss.Issue(ctx, csr, issuer.IssueOptions{OnOrder: func(_ context.Context, o issuer.OrderRef) error {
		kept = o
		stop()
		return nil
	}})
	if err == nil || kept.URL == "" {
		t.Fatalf("Issue: err %v, order %+v; want it interrupted after the order was created", err, kept)
	}
	return kept
}

func TestAnOrderThatCannotBeContinuedIsReplacedByOneNewOrder(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(t *testing.T, o issuer.OrderRef) issuer.OrderRef
	}{
		{"an order the CA reports expired", func(t *testing.T, o issuer.OrderRef) issuer.OrderRef {
			if err := testCA.ExpireOrder(o.URL); err != nil {
				t.Fatal(err)
			}
			return o
		}},
		{"an order the CA does not know", func(_ *testing.T, o issuer.OrderRef) issuer.OrderRef {
			o.URL += "-unknown"
			return o
		}},
	}
	for n, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cn := fmt.Sprintf("spoiled%d.lab.ottr.test", n)
			delegate(t, cn)
			csr := newCSR(t, cn)
			iss := newLabIssuer(t)
			before := countAtCA()
			spoiled := tt.spoil(t, interruptedOrder(t, iss, csr))

			var replacement *issuer.OrderRef
			chain, err := iss.Issue(context.Background(), csr, issuer.IssueOptions{Resume: &spoiled,
				OnOrder: func(_ context.Context, o issuer.OrderRef) error {
					replacement = &o
					return nil
				}})
			if err != nil {
				t.Fatalf("resumed Issue: %v", err)
			}
			if got := countAtCA().since(before); got != (caCounts{orders: 2, issued: 1}) {
				t.Errorf("the CA created %d orders and issued %d certificates, want 2 and 1", got.orders, got.issued)
			}
			if replacement == nil || replacement.URL == spoiled.URL {
				t.Errorf("the new order was reported as %+v, want a new order", replacement)
			}
			verifyChain(t, chain, cn)
		})
	}
}

func TestAnOrderThatCannotBeKeptIsNotPursued(t *testing.T) {
	iss := newLabIssuer(t)
	var challenges atomic.Int32
	afterAnswer(t, func(path string) {
		if strings.HasPrefix(path, "/chalZ/") {
			challenges.Add(1)
		}
	})
	delegate(t, "unkept.lab.ottr.test")
	storeDown := errors.New("the database system is shutting down")
	_, err := iss.Issue(context.Background(), newCSR(t, "unkept.lab.ottr.test"), issuer.IssueOptions{
		OnOrder: func(context.Context, issuer.OrderRef) error { return storeDown },
	})
	if !errors.Is(err, storeDown) {
		t.Fatalf("Issue: err %v, want the error keeping the order failed with", err)
	}
	var down *issuer.UnavailableError
	if errors.As(err, &down) {
		t.Errorf("a failure to keep the order is reported as the CA being unavailable: %v", err)
	}
	if n := challenges.Load(); n != 0 {
		t.Errorf("%d challenges were answered for an order that could not be kept", n)
	}
}

func TestACAThatCannotFindTheReplacedCertificateRefusesTheReplacesField(t *testing.T) {
	iss := newLabIssuer(t)
	delegate(t, "lost.lab.ottr.test")
	chain, err := iss.Issue(context.Background(), newCSR(t, "lost.lab.ottr.test"), issuer.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A certificate of this CA's intermediate that the CA never issued.
	unknown := &x509.Certificate{AuthorityKeyId: chain[0].AuthorityKeyId, SerialNumber: big.NewInt(0x1234567)}
	id, err := CertID(unknown)
	if err != nil {
		t.Fatal(err)
	}
	before := countAtCA()
	_, err = iss.Issue(context.Background(), newCSR(t, "lost.lab.ottr.test"), issuer.IssueOptions{Replaces: id})
	var down *issuer.UnavailableError
	if !errors.As(err, &down) || down.Problem == nil || down.Problem.Status != http.StatusInternalServerError {
		t.Fatalf("Issue: err %v, want the CA's 500 with its problem", err)
	}
	if !issuer.RefusedReplaces(err) {
		t.Errorf("the CA's answer %v does not count as refusing the replaces field", err)
	}
	if got := countAtCA().since(before); got.orders != 0 {
		t.Errorf("the CA created %d orders, want none", got.orders)
	}
}

// creatingAccounts is memoryAccounts that also creates an account only
// when none is stored, as the vault does for processes sharing a database.
type creatingAccounts struct{ *memoryAccounts }

func (c creatingAccounts) CreateAccount(_ context.Context, name string, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.data[name]; ok {
		return fmt.Errorf("memory: account %q: %w", name, ErrAccountExists)
	}
	c.data[name] = data
	c.saves++
	return nil
}

func TestProcessesThatRegisterTogetherShareOneAccount(t *testing.T) {
	// Processes of a cluster start at once and find no account: each
	// registers one, and the first stored is the one they all use, so an
	// order one of them creates can be continued by another.
	shared := creatingAccounts{newMemoryAccounts()}
	const processes = 4
	issuers := make([]*Issuer, processes)
	var wg sync.WaitGroup
	for i := range issuers {
		wg.Go(func() { issuers[i] = newIssuerWith(t, shared) })
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	cn := "shared-account.lab.ottr.test"
	delegate(t, cn)
	csr := newCSR(t, cn)
	before := countAtCA()
	for i := 1; i < processes; i++ {
		kept := interruptedOrder(t, issuers[0], csr)
		if _, err := issuers[i].Issue(context.Background(), csr, issuer.IssueOptions{Resume: &kept}); err != nil {
			t.Fatalf("process %d could not continue process 0's order: %v", i, err)
		}
	}
	if got := countAtCA().since(before); got != (caCounts{orders: processes - 1, issued: processes - 1}) {
		t.Errorf("the CA created %d orders and issued %d certificates, want %d of each", got.orders, got.issued, processes-1)
	}
}

func TestAnOrderOfAnotherAccountIsReplacedByOneNewOrder(t *testing.T) {
	cn := "other-account.lab.ottr.test"
	delegate(t, cn)
	csr := newCSR(t, cn)
	kept := interruptedOrder(t, newIssuerWith(t, newMemoryAccounts()), csr)
	before := countAtCA()
	// The account store was lost: this process has an account of its own.
	chain, err := newIssuerWith(t, newMemoryAccounts()).Issue(context.Background(), csr, issuer.IssueOptions{Resume: &kept})
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	verifyChain(t, chain, cn)
	if got := countAtCA().since(before); got != (caCounts{orders: 1, issued: 1}) {
		t.Errorf("the CA created %d orders and issued %d certificates, want 1 and 1", got.orders, got.issued)
	}
}
