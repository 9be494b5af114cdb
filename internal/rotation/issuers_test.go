package rotation_test

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/issuer"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/route"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/verify"
)

// failingIssuer answers every order with err.
type failingIssuer struct {
	err    error
	orders int
}

func (f *failingIssuer) Issue(context.Context, *x509.CertificateRequest, issuer.IssueOptions) ([]*x509.Certificate, error) {
	f.orders++
	return nil, f.err
}

func (f *failingIssuer) RenewalWindow(context.Context, *x509.Certificate, *x509.Certificate) (issuer.RenewalInfo, error) {
	return issuer.RenewalInfo{}, issuer.ErrNoRenewalInfo
}

func (f *failingIssuer) RenewalInfo(context.Context, string) (issuer.RenewalInfo, error) {
	return issuer.RenewalInfo{}, issuer.ErrNoRenewalInfo
}

// routesWithFallback sends every asset to the fake driver with fallbacks.
type routesWithFallback []string

func (f routesWithFallback) Match(asset.Asset) (route.Route, int, bool) {
	return route.Route{Name: "test", Driver: "fake", FallbackIssuers: f}, 0, true
}

// issuersHarness has CA "primary" answer with primaryErr and CA "backup"
// be the working fake CA.
func issuersHarness(t *testing.T, primaryErr error, fallbacks ...string) (*harness, *failingIssuer, *rotation.Runner) {
	t.Helper()
	h := newHarness(t, nil)
	primary := &failingIssuer{err: primaryErr}
	working := h.deps.CAs
	h.deps.CAs = func(ctx context.Context, name string) (*rotation.CAProfile, error) {
		p, err := working(ctx, name)
		if err != nil {
			return nil, err
		}
		if name == "test" {
			p.Issuer = primary
		}
		return p, nil
	}
	h.deps.Routes = routesWithFallback(fallbacks)
	runner, err := rotation.NewRunner(h.deps)
	if err != nil {
		t.Fatal(err)
	}
	return h, primary, runner
}

func runOnce(t *testing.T, runner *rotation.Runner) (store.Rotation, error) {
	t.Helper()
	rot, err := runner.Create(context.Background(), "fw1.example.com", store.TriggerManual, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return runner.Run(context.Background(), rot.ID)
}

func TestAnUnavailableCAFallsBackToTheRoutesNextIssuer(t *testing.T) {
	down := &issuer.UnavailableError{CA: "test", Err: errors.New("dial tcp 192.0.2.1:443: connection refused")}
	h, primary, runner := issuersHarness(t, down, "backup")
	rot, err := runOnce(t, runner)
	if err != nil || rot.State != store.StateSucceeded {
		t.Fatalf("state %s, err %v; want the backup CA to issue", rot.State, err)
	}
	if primary.orders != 1 || h.ca.orders.Load() != 1 {
		t.Errorf("orders: primary %d, backup %d; want one each", primary.orders, h.ca.orders.Load())
	}
	var logged bool
	for _, l := range rot.Log {
		logged = logged || strings.Contains(l.Message, "trying fallback CA backup")
	}
	if !logged {
		t.Error("the log does not say the fallback CA was tried")
	}
}

func TestWithoutFallbackIssuersAnUnavailableCAFailsTheRotation(t *testing.T) {
	down := &issuer.UnavailableError{CA: "test", Err: errors.New("connection refused")}
	h, _, runner := issuersHarness(t, down)
	rot, _ := runOnce(t, runner)
	if rot.State != store.StateFailed || h.ca.orders.Load() != 0 {
		t.Fatalf("state %s with %d backup orders; want failed with none", rot.State, h.ca.orders.Load())
	}
}

func TestARefusingCAIsNotWorkedAroundAndItsRetryAfterHoldsTheAssetBack(t *testing.T) {
	retry := time.Now().Add(3 * time.Hour).UTC().Truncate(time.Second)
	refused := &issuer.RefusedError{CA: "test", RetryAfter: retry,
		Problem: issuer.Problem{Type: "urn:ietf:params:acme:error:rateLimited", Status: 429, Detail: "too many new orders"}}
	h, _, runner := issuersHarness(t, refused, "backup")
	rot, _ := runOnce(t, runner)
	if rot.State != store.StateFailed {
		t.Fatalf("state %s, want failed", rot.State)
	}
	if h.ca.orders.Load() != 0 {
		t.Errorf("the fallback CA got %d orders after a refusal, want 0", h.ca.orders.Load())
	}
	if !strings.Contains(rot.Error, "rateLimited (HTTP 429): too many new orders") {
		t.Errorf("rotation error %q lacks the CA's problem", rot.Error)
	}
	a, err := h.store.GetAsset(context.Background(), "fw1.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if a.NextAttemptAt == nil || a.NextAttemptAt.Before(retry) {
		t.Errorf("next attempt %v, want no earlier than the CA's Retry-After %v", a.NextAttemptAt, retry)
	}
}

func TestTheKeyTypePolicyRefusesAKeyTypeTheCADoesNotAllow(t *testing.T) {
	h := newHarness(t, nil)
	working := h.deps.CAs
	h.deps.CAs = func(ctx context.Context, name string) (*rotation.CAProfile, error) {
		p, err := working(ctx, name)
		if p != nil {
			p.KeyTypes = []string{asset.KeyRSA3072}
		}
		return p, err
	}
	runner, err := rotation.NewRunner(h.deps)
	if err != nil {
		t.Fatal(err)
	}
	rot, _ := runOnce(t, runner)
	if rot.State != store.StateFailed || !strings.Contains(rot.Error, "CA test does not allow ecdsa256 keys (its key_types: rsa3072)") {
		t.Errorf("state %s, error %q; want a failure naming the policy", rot.State, rot.Error)
	}
	if h.dev.csrs != 0 {
		t.Errorf("the device generated %d CSRs, want none", h.dev.csrs)
	}
}

func TestAChainFromAFallbackCAIsReusedOnlyWithThatCAsMinimumLifetimeLeft(t *testing.T) {
	ctx := context.Background()
	down := &issuer.UnavailableError{CA: "test", Err: errors.New("connection refused")}
	h, _, _ := issuersHarness(t, down, "backup")
	// The asset's CA wants a day left on a chain; the backup, which
	// issues it, three.
	profiles := h.deps.CAs
	h.deps.CAs = func(ctx context.Context, name string) (*rotation.CAProfile, error) {
		p, err := profiles(ctx, name)
		if p != nil && name == "backup" {
			p.MinLifetime = 72 * time.Hour
		}
		return p, err
	}
	rot, err := h.runner.Create(ctx, "fw1.example.com", store.TriggerManual, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	dying, die := context.WithCancel(ctx)
	defer die()
	first := h.deps
	first.Observer = func(e rotation.Event) {
		if e.Step == rotation.StepIssue && e.Phase == rotation.PhaseDone {
			die()
		}
	}
	if runner, err := rotation.NewRunner(first); err != nil {
		t.Fatal(err)
	} else if _, err := runner.Run(dying, rot.ID); err == nil {
		t.Fatal("the interrupted rotation reported success")
	}
	if rot, err = h.store.GetRotation(ctx, rot.ID); err != nil {
		t.Fatal(err)
	}
	journaled, notAfter := journaledChain(t, rot)

	// Resumed with two days left on the chain: enough for the asset's
	// CA, not for the backup that issued it.
	skew := time.Until(notAfter.Add(-48 * time.Hour))
	second := h.deps
	second.Now = func() time.Time { return time.Now().Add(skew) }
	runner, err := rotation.NewRunner(second)
	if err != nil {
		t.Fatal(err)
	}
	if done, err := runner.Run(ctx, rot.ID); err != nil || done.State != store.StateSucceeded {
		t.Fatalf("resumed rotation: state %s, err %v", done.State, err)
	}
	if n := h.ca.orders.Load(); n != 2 {
		t.Errorf("the backup CA saw %d orders, want 2: its chain had less than its minimum lifetime left", n)
	}
	if served := verify.SerialHex(h.served()[0]); served == journaled {
		t.Errorf("the device serves the journaled chain's serial %s, want the new certificate", served)
	}
}
