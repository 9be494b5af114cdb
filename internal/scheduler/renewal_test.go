package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/issuer"
	"github.com/ottr-go/ottr/internal/policy"
	"github.com/ottr-go/ottr/internal/ratelimit"
	"github.com/ottr-go/ottr/internal/scheduler"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/store/sqlite"
)

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ottr.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// addAssets stores assets with the fields validation wants filled in.
func addAssets(t *testing.T, st store.Store, assets ...asset.Asset) {
	t.Helper()
	for _, a := range assets {
		a.CommonName, a.IPAddress, a.HostPlatform, a.Origin, a.DataCenter = a.SystemName, "192.0.2.1", "linux", "API", "dc1"
		if a.CertificateAuthority == "" {
			a.CertificateAuthority = "ca"
		}
		if err := st.CreateAsset(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
}

// fakeARI answers renewal-information questions from a table keyed by
// certificate ID, and remembers who asked about what.
type fakeARI struct {
	mu      sync.Mutex
	answers map[string]issuer.RenewalInfo
	errs    map[string]error
	asked   []string // "ca/certID"
}

func (f *fakeARI) RenewalInfo(_ context.Context, ca, certID string) (issuer.RenewalInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, ca+"/"+certID)
	if err := f.errs[certID]; err != nil {
		return issuer.RenewalInfo{}, err
	}
	return f.answers[certID], nil
}

func TestScanRefreshesTheCAsRenewalWindows(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	day := 24 * time.Hour
	st := openStore(t)
	// Certificates ottr installed a month ago, with 90 days to live and a
	// window the CA put two months out.
	rotated := func(name string, check *time.Time) asset.Asset {
		a := asset.Asset{SystemName: name, CertificateNotBefore: at(-30 * day), CertificateExpiration: at(60 * day),
			LastRotation: at(-30 * day), RenewalWindow: &asset.Window{Start: now.Add(40 * day), End: now.Add(42 * day)},
			RenewalCertID: "id-" + name, RenewalCertCA: "ca", RenewalCheckAt: check}
		rt := policy.RenewalTime(a, policy.Settings{Jitter: -1})
		a.RenewalTime = rt
		return a
	}
	addAssets(t, st,
		rotated("revoked.example.com", at(-time.Minute)),
		rotated("unchanged.example.com", nil),
		rotated("not-yet.example.com", at(time.Hour)),
		rotated("ca-down.example.com", at(-time.Hour)),
		rotated("no-ari-now.example.com", at(-time.Hour)),
	)
	ari := &fakeARI{
		answers: map[string]issuer.RenewalInfo{
			// The CA moved this window to now, ahead of a revocation.
			"id-revoked.example.com": {Start: now.Add(-2 * time.Hour), End: now.Add(-time.Hour), RetryAfter: now.Add(time.Hour)},
			// This one stays; the CA gives no Retry-After.
			"id-unchanged.example.com": {Start: now.Add(40 * day), End: now.Add(42 * day)},
		},
		errs: map[string]error{
			"id-ca-down.example.com":    &issuer.UnavailableError{CA: "ca", Err: errors.New("connection refused")},
			"id-no-ari-now.example.com": issuer.ErrNoRenewalInfo,
		},
	}
	q := &enqueuer{queued: map[string]string{}}
	s := &scheduler.Scheduler{Store: st, Creator: creator{st, nil}, Enqueuer: q, Policy: policy.Settings{Jitter: -1},
		RenewalInfo: ari.RenewalInfo, RecheckRetry: 30 * time.Minute, Now: func() time.Time { return now }}

	res, err := s.ScanOnce(ctx)
	if err != nil {
		t.Fatalf("a CA that did not answer failed the scan: %v", err)
	}
	get := func(name string) asset.Asset {
		a, err := st.GetAsset(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}

	t.Run("a window the CA moved to now queues the rotation in the same scan", func(t *testing.T) {
		if _, ok := q.queued["revoked.example.com"]; !ok || len(q.queued) != 1 {
			t.Errorf("queued %v, want only the asset whose window moved", q.queued)
		}
		a := get("revoked.example.com")
		if a.RenewalWindow == nil || !a.RenewalWindow.End.Equal(now.Add(-time.Hour)) {
			t.Errorf("window %+v, want the moved one", a.RenewalWindow)
		}
		if a.RenewalCheckAt == nil || !a.RenewalCheckAt.Equal(now.Add(time.Hour)) {
			t.Errorf("next check %v, want the CA's Retry-After", a.RenewalCheckAt)
		}
	})
	t.Run("a certificate never checked is asked about, and again in six hours when the CA does not say", func(t *testing.T) {
		a := get("unchanged.example.com")
		if a.RenewalCheckAt == nil || !a.RenewalCheckAt.Equal(now.Add(6*time.Hour)) {
			t.Errorf("next check %v, want six hours on", a.RenewalCheckAt)
		}
	})
	t.Run("a certificate whose check is not due is not asked about", func(t *testing.T) {
		for _, asked := range ari.asked {
			if asked == "ca/id-not-yet.example.com" {
				t.Error("the CA was asked about a certificate before its Retry-After")
			}
		}
		if len(ari.asked) != 4 {
			t.Errorf("asked %v, want the four certificates due a check", ari.asked)
		}
	})
	t.Run("a CA that does not answer is asked again later", func(t *testing.T) {
		a := get("ca-down.example.com")
		if a.RenewalCheckAt == nil || !a.RenewalCheckAt.Equal(now.Add(30*time.Minute)) || a.RenewalCertID == "" {
			t.Errorf("next check %v, ID %q; want half an hour on, the ID kept", a.RenewalCheckAt, a.RenewalCertID)
		}
	})
	t.Run("a CA that stopped offering ARI is not asked again", func(t *testing.T) {
		a := get("no-ari-now.example.com")
		if a.RenewalCertID != "" || a.RenewalCheckAt != nil {
			t.Errorf("ID %q, next check %v; want neither", a.RenewalCertID, a.RenewalCheckAt)
		}
	})
	t.Run("the result counts the checks", func(t *testing.T) {
		if res.Rechecked != 3 || res.RecheckFailed != 1 || res.Enqueued != 1 {
			t.Errorf("result %+v: want 3 rechecked, 1 failed, 1 enqueued", res)
		}
	})
	t.Run("a second scan asks only about what is due again", func(t *testing.T) {
		ari.asked = nil
		if _, err := s.ScanOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if len(ari.asked) != 0 {
			t.Errorf("asked %v again at once", ari.asked)
		}
	})
}

func TestScanSpreadsAWaveOverTheCAsRateLimits(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	newWave := func(t *testing.T, n int) (*scheduler.Scheduler, *enqueuer, *ratelimit.Budget) {
		st := openStore(t)
		for i := range n {
			addAssets(t, st, asset.Asset{SystemName: fmt.Sprintf("dev%02d.example.com", i)})
		}
		// Five new orders an hour: one back every twelve minutes.
		budget := ratelimit.New(map[string]ratelimit.Limits{
			"ca": {NewOrdersPerAccount: ratelimit.Rate{Count: 5, Period: time.Hour}},
		}, clock)
		q := &enqueuer{queued: map[string]string{}, runAt: map[string]time.Time{}}
		return &scheduler.Scheduler{Store: st, Creator: creator{st, nil}, Enqueuer: q, Policy: policy.Settings{Jitter: -1},
			Budget: budget, Now: clock}, q, budget
	}

	t.Run("the first five run now and the rest as tokens come back", func(t *testing.T) {
		s, q, _ := newWave(t, 12)
		res, err := s.ScanOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Enqueued != 12 || res.Deferred != 7 {
			t.Errorf("result %+v: want 12 enqueued, 7 of them for later", res)
		}
		counts := map[time.Duration]int{}
		for _, at := range q.runAt {
			if at.IsZero() {
				counts[0]++
				continue
			}
			counts[at.Sub(now)]++
		}
		want := map[time.Duration]int{0: 5}
		for k := 1; k <= 7; k++ {
			want[time.Duration(k)*12*time.Minute] = 1
		}
		if fmt.Sprint(counts) != fmt.Sprint(want) {
			t.Errorf("rotations by time from now %v, want %v", counts, want)
		}
	})

	t.Run("orders the budget has room for run at once though its clock reads later than the scan's", func(t *testing.T) {
		st := openStore(t)
		for i := range 3 {
			addAssets(t, st, asset.Asset{SystemName: fmt.Sprintf("dev%02d.example.com", i)})
		}
		// The budget reads the time after the scan did, as on a real clock.
		budget := ratelimit.New(map[string]ratelimit.Limits{
			"ca": {NewOrdersPerAccount: ratelimit.Rate{Count: 5, Period: time.Hour}},
		}, func() time.Time { return now.Add(3 * time.Millisecond) })
		q := &enqueuer{queued: map[string]string{}, runAt: map[string]time.Time{}}
		s := &scheduler.Scheduler{Store: st, Creator: creator{st, nil}, Enqueuer: q, Policy: policy.Settings{Jitter: -1},
			Budget: budget, Now: clock}
		res, err := s.ScanOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Enqueued != 3 || res.Deferred != 0 {
			t.Errorf("result %+v: want 3 enqueued, none for later", res)
		}
		for name, at := range q.runAt {
			if !at.IsZero() {
				t.Errorf("%s queued to run at %s, want now", name, at.Format(time.RFC3339Nano))
			}
		}
	})

	t.Run("a CA that answered rate limited gets no order before its Retry-After", func(t *testing.T) {
		s, q, budget := newWave(t, 3)
		budget.Penalize("ca", now.Add(2*time.Hour))
		if _, err := s.ScanOnce(ctx); err != nil {
			t.Fatal(err)
		}
		for name, at := range q.runAt {
			if at.Before(now.Add(2 * time.Hour)) {
				t.Errorf("%s runs at %s, before the CA's Retry-After", name, at)
			}
		}
	})
}

func TestOrderKinds(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	rotated := asset.Asset{SystemName: "fw1", CommonName: "fw1.example.com", CertificateAuthority: "le",
		LastRotation: at(-60 * 24 * time.Hour), CertificateExpiration: at(30 * 24 * time.Hour)}
	with := func(f func(*asset.Asset)) asset.Asset {
		a := rotated.Clone()
		f(&a)
		return a
	}
	open := &asset.Window{Start: now.Add(-time.Hour), End: now.Add(time.Hour)}
	tests := []struct {
		name string
		a    asset.Asset
		want ratelimit.Renewal
	}{
		{"a certificate ottr never installed is new", asset.Asset{SystemName: "new", CommonName: "new.example.com", CertificateAuthority: "le"}, ratelimit.NewCertificate},
		{"renewing ottr's own certificate is a renewal of the same names", rotated, ratelimit.SameNames},
		{"renewing inside the CA's open window is an ARI renewal", with(func(a *asset.Asset) {
			a.RenewalCertID, a.RenewalCertCA, a.RenewalWindow = "id", "le", open
		}), ratelimit.ARI},
		{"before the window opens it is a renewal of the same names", with(func(a *asset.Asset) {
			a.RenewalCertID, a.RenewalCertCA = "id", "le"
			a.RenewalWindow = &asset.Window{Start: now.Add(time.Hour), End: now.Add(2 * time.Hour)}
		}), ratelimit.SameNames},
		{"a certificate from the asset's former CA is new to its CA now", with(func(a *asset.Asset) {
			a.RenewalCertID, a.RenewalCertCA, a.RenewalWindow = "id", "zerossl", open
		}), ratelimit.NewCertificate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scheduler.Order(tt.a, now).Renewal; got != tt.want {
				t.Errorf("Order().Renewal = %v, want %v", got, tt.want)
			}
		})
	}
}
