package rotation_test

import (
	"context"
	"crypto/x509"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/issuer"
	"github.com/ottr-go/ottr/internal/lab/pebble"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/store"
)

// rotateOnce runs one manual, forced rotation of the harness's asset to
// its end and fails t unless it succeeds.
func rotateOnce(t *testing.T, h *harness) store.Rotation {
	t.Helper()
	ctx := context.Background()
	rot, err := h.runner.Create(ctx, "fw1.example.com", store.TriggerManual, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	rot, err = h.runner.Run(ctx, rot.ID)
	if err != nil || rot.State != store.StateSucceeded {
		t.Fatalf("state %s, err %v", rot.State, err)
	}
	return rot
}

func getAsset(t *testing.T, h *harness) asset.Asset {
	t.Helper()
	a, err := h.store.GetAsset(context.Background(), "fw1.example.com")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestTheRecordStepKeepsTheCAsRenewalInformation(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	window := issuer.RenewalInfo{Start: now.Add(50 * 24 * time.Hour), End: now.Add(52 * 24 * time.Hour)}

	t.Run("keeps the window, the certificate's ARI ID and the CA's Retry-After", func(t *testing.T) {
		h := newHarness(t, nil)
		info := window
		info.RetryAfter = now.Add(3 * time.Hour)
		h.ca.ari = &info
		rotateOnce(t, h)
		a := getAsset(t, h)
		wantID, err := issuer.CertID(h.served()[0])
		if err != nil {
			t.Fatal(err)
		}
		if a.RenewalCertID != wantID || a.RenewalCertCA != "test" {
			t.Errorf("certificate ID %q from CA %q, want %q from test", a.RenewalCertID, a.RenewalCertCA, wantID)
		}
		if a.RenewalWindow == nil || !a.RenewalWindow.Start.Equal(window.Start) || !a.RenewalWindow.End.Equal(window.End) {
			t.Errorf("window %+v, want [%s, %s]", a.RenewalWindow, window.Start, window.End)
		}
		if a.RenewalCheckAt == nil || !a.RenewalCheckAt.Equal(info.RetryAfter) {
			t.Errorf("next check %v, want the CA's Retry-After %s", a.RenewalCheckAt, info.RetryAfter)
		}
		if a.RenewalTime == nil || !a.RenewalTime.Equal(window.Start) {
			t.Errorf("renewal time %v, want the window's start %s", a.RenewalTime, window.Start)
		}
	})

	t.Run("asks again in six hours when the CA gave no Retry-After", func(t *testing.T) {
		h := newHarness(t, nil)
		info := window
		h.ca.ari = &info
		before := time.Now()
		rotateOnce(t, h)
		a := getAsset(t, h)
		if a.RenewalCheckAt == nil || a.RenewalCheckAt.Before(before.Add(6*time.Hour).Truncate(time.Second)) ||
			a.RenewalCheckAt.After(time.Now().Add(6*time.Hour)) {
			t.Errorf("next check %v, want six hours after the rotation", a.RenewalCheckAt)
		}
	})

	t.Run("keeps nothing to ask about when the CA has no ARI", func(t *testing.T) {
		h := newHarness(t, nil)
		rotateOnce(t, h)
		a := getAsset(t, h)
		if a.RenewalCertID != "" || a.RenewalCertCA != "" || a.RenewalCheckAt != nil || a.RenewalWindow != nil {
			t.Errorf("renewal information kept for a CA without ARI: id %q, CA %q, check %v, window %v",
				a.RenewalCertID, a.RenewalCertCA, a.RenewalCheckAt, a.RenewalWindow)
		}
	})
}

func TestReplacementOrdersNameTheCertificateTheyReplace(t *testing.T) {
	ari := func(h *harness) {
		now := time.Now()
		h.ca.ari = &issuer.RenewalInfo{Start: now.Add(time.Hour), End: now.Add(2 * time.Hour), RetryAfter: now.Add(time.Hour)}
	}

	t.Run("the first order replaces nothing and the next one replaces the first certificate", func(t *testing.T) {
		h := newHarness(t, nil)
		ari(h)
		rotateOnce(t, h)
		first := getAsset(t, h).RenewalCertID
		rotateOnce(t, h)
		orders := h.ca.orderOptions()
		if len(orders) != 2 || orders[0].Replaces != "" || orders[1].Replaces != first || first == "" {
			t.Errorf("orders %+v, want the second to replace %q", orders, first)
		}
		if again := getAsset(t, h).RenewalCertID; again == first || again == "" {
			t.Errorf("certificate ID after the renewal %q, want the new certificate's", again)
		}
	})

	t.Run("a certificate another CA issued is not named", func(t *testing.T) {
		h := newHarness(t, nil)
		a := getAsset(t, h)
		a.RenewalCertID, a.RenewalCertCA = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", "other_ca"
		if err := h.store.UpdateAsset(context.Background(), a); err != nil {
			t.Fatal(err)
		}
		rotateOnce(t, h)
		if orders := h.ca.orderOptions(); len(orders) != 1 || orders[0].Replaces != "" {
			t.Errorf("orders %+v, want one replacing nothing", orders)
		}
	})

	t.Run("an order the CA refuses for its replaces field is placed once more without it", func(t *testing.T) {
		h := newHarness(t, nil)
		ari(h)
		rotateOnce(t, h)
		replaced := getAsset(t, h).RenewalCertID
		h.ca.refuseReplaces = true
		rot := rotateOnce(t, h)
		orders := h.ca.orderOptions()[1:]
		if len(orders) != 2 || orders[0].Replaces != replaced || orders[1].Replaces != "" {
			t.Errorf("orders %+v, want one replacing %q and one replacing nothing", orders, replaced)
		}
		full, err := h.store.GetRotation(context.Background(), rot.ID)
		if err != nil {
			t.Fatal(err)
		}
		var logged bool
		for _, l := range full.Log {
			logged = logged || (rotation.Step(l.Step) == rotation.StepIssue && strings.Contains(l.Message, "alreadyReplaced") &&
				strings.Contains(l.Message, "ordering again without replacing certificate "+replaced))
		}
		if !logged {
			t.Errorf("the log does not say why the order was placed again: %+v", full.Log)
		}
	})
}

func TestARateLimitedOrderHoldsTheCABack(t *testing.T) {
	retry := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	tests := []struct {
		name    string
		problem string
		want    bool
	}{
		{"a rate limit holds the CA back until its Retry-After", issuer.ProblemRateLimited, true},
		{"another refusal does not", "urn:ietf:params:acme:error:rejectedIdentifier", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			refused := &issuer.RefusedError{CA: "test", RetryAfter: retry, Problem: issuer.Problem{Type: tt.problem, Status: 429}}
			h, _, _ := issuersHarness(t, refused)
			held := map[string]time.Time{}
			h.deps.RateLimited = func(ca string, until time.Time) { held[ca] = until }
			runner, err := rotation.NewRunner(h.deps)
			if err != nil {
				t.Fatal(err)
			}
			if rot, _ := runOnce(t, runner); rot.State != store.StateFailed {
				t.Fatalf("state %s, want failed", rot.State)
			}
			until, ok := held["test"]
			if ok != tt.want || (tt.want && !until.Equal(retry)) {
				t.Errorf("held back %v (until %s), want %v until %s", ok, until, tt.want, retry)
			}
		})
	}
}

func TestNoOrderGoesToACAThatIsHeldBack(t *testing.T) {
	until := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	h := newHarness(t, func(d *rotation.Deps) {
		d.HeldUntil = func(ca string) time.Time {
			if ca == "test" {
				return until
			}
			return time.Time{}
		}
	})
	rot, err := h.runner.Create(context.Background(), "fw1.example.com", store.TriggerManual, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	rot, err = h.runner.Run(context.Background(), rot.ID)
	var held *rotation.HeldBackError
	if rot.State != store.StateFailed || !errors.As(err, &held) || !held.Until.Equal(until) {
		t.Fatalf("state %s, err %v; want a failure held back until %s", rot.State, err, until)
	}
	if n := h.ca.orders.Load(); n != 0 {
		t.Errorf("the held-back CA got %d orders", n)
	}
	if !strings.Contains(rot.Error, "CA test is rate limiting: no order goes to it before "+until.Format(time.RFC3339)) {
		t.Errorf("rotation error %q does not say why no order was placed", rot.Error)
	}
	if a := getAsset(t, h); a.NextAttemptAt == nil || a.NextAttemptAt.Before(until) {
		t.Errorf("next attempt %v, want no earlier than the hold's end %s", a.NextAttemptAt, until)
	}
}

// rotateLab runs one forced rotation of h's asset to its end.
func rotateLab(t *testing.T, h *labHarness) (store.Rotation, error) {
	t.Helper()
	ctx := context.Background()
	runner := h.process(t, h.store).runner
	rot, err := runner.Create(ctx, h.name, store.TriggerManual, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	rot, err = runner.Run(ctx, rot.ID)
	if full, getErr := h.store.GetRotation(ctx, rot.ID); getErr == nil {
		rot = full
	}
	return rot, err
}

// logSays reports whether a line of rot's log contains text.
func logSays(rot store.Rotation, text string) bool {
	for _, l := range rot.Log {
		if strings.Contains(l.Message, text) {
			return true
		}
	}
	return false
}

func TestAReplacementOrderTheCAFailsForTheReplacedCertificateIsPlacedAgainWithoutIt(t *testing.T) {
	h := newLabHarness(t)
	if rot, err := rotateLab(t, h); err != nil {
		t.Fatalf("first rotation: %s, %v", rot.State, err)
	}
	// A certificate of the CA's intermediate that the CA never issued, as
	// when the CA has lost its records: it answers an order replacing it
	// with a 500, "could not find an order for the given certificate".
	a := getLabAsset(t, h)
	aki, _, err := issuer.ParseCertID(a.RenewalCertID)
	if err != nil {
		t.Fatalf("the first rotation kept no certificate ID to replace: %v", err)
	}
	lost, err := issuer.CertID(&x509.Certificate{AuthorityKeyId: aki, SerialNumber: big.NewInt(0x7e57)})
	if err != nil {
		t.Fatal(err)
	}
	a.RenewalCertID = lost
	if err := h.store.UpdateAsset(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	before, replacedBefore := countAtCA(), len(labCA.Replaced())

	rot, err := rotateLab(t, h)
	if err != nil || rot.State != store.StateSucceeded {
		t.Fatalf("state %s, err %v; want the order placed again without replaces", rot.State, err)
	}
	if got := countAtCA().since(before); got != (caCounts{orders: 1, issued: 1}) {
		t.Errorf("the CA created %d orders and issued %d certificates, want 1 and 1", got.orders, got.issued)
	}
	if n := len(labCA.Replaced()) - replacedBefore; n != 0 {
		t.Errorf("%d accepted orders named a replaced certificate, want none", n)
	}
	if !logSays(rot, "could not find an order for the given certificate") || !logSays(rot, "ordering again without replacing certificate "+lost) {
		t.Errorf("the log does not say why the order was placed again: %+v", rot.Log)
	}
	h.checkServesTheCAsCertificate(t)
}

func TestARateLimitedReplacementOrderIsNotPlacedAgain(t *testing.T) {
	h := newLabHarness(t)
	if rot, err := rotateLab(t, h); err != nil {
		t.Fatalf("first rotation: %s, %v", rot.State, err)
	}
	labCA.RefuseNewOrders(1, pebble.Problem{Status: 429, Type: issuer.ProblemRateLimited,
		Detail: "too many certificates replaced for this account"})
	before := countAtCA()

	rot, err := rotateLab(t, h)
	if err == nil || rot.State != store.StateFailed || !strings.Contains(rot.Error, "rateLimited") {
		t.Fatalf("state %s, err %v; want the rate limit to fail the rotation", rot.State, err)
	}
	if got := countAtCA().since(before); got.orders != 0 {
		t.Errorf("the CA created %d orders after a rate limit, want none", got.orders)
	}
	if logSays(rot, "ordering again") {
		t.Error("a rate-limited order was placed again")
	}
}

func getLabAsset(t *testing.T, h *labHarness) asset.Asset {
	t.Helper()
	a, err := h.store.GetAsset(context.Background(), h.name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
