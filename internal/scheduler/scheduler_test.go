package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/policy"
	"github.com/ottr-go/ottr/internal/ratelimit"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/scheduler"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/store/sqlite"
)

// creator creates rotations in the store, except for assets it has no
// route for.
type creator struct {
	st      store.Store
	noRoute map[string]bool
}

func (c creator) Create(ctx context.Context, name string, trigger store.Trigger, force bool, enqueue rotation.Enqueue) (store.Rotation, error) {
	if c.noRoute[name] {
		return store.Rotation{}, fmt.Errorf("asset %s: %w", name, rotation.ErrNoRoute)
	}
	return c.st.CreateRotationWith(ctx, store.Rotation{Asset: name, Trigger: trigger, State: store.StatePending}, enqueue)
}

type enqueuer struct {
	queued map[string]string
	// runAt is when each queued rotation may run; zero: now.
	runAt map[string]time.Time
	// fail, if set, is what queuing returns.
	fail error
}

func (e *enqueuer) EnqueueFunc(dc string, at time.Time) rotation.Enqueue {
	return func(_ context.Context, tx any, rot store.Rotation) error {
		if tx == nil {
			return errors.New("queued outside the rotation's transaction")
		}
		if e.fail != nil {
			return e.fail
		}
		e.queued[rot.Asset] = dc
		if e.runAt != nil {
			e.runAt[rot.Asset] = at
		}
		return nil
	}
}

func TestScan(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ottr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	day := 24 * time.Hour
	for _, a := range []asset.Asset{
		{SystemName: "new.example.com"}, // expiry unknown: due
		{SystemName: "expiring.example.com", CertificateNotBefore: at(-80 * day), CertificateExpiration: at(10 * day)}, // 1/9 left: due
		{SystemName: "fresh.example.com", CertificateNotBefore: at(-day), CertificateExpiration: at(89 * day)},         // not due
		{SystemName: "paused.example.com", Paused: true},
		{SystemName: "failing.example.com", FailureCount: 2, NextAttemptAt: at(time.Hour)},
		{SystemName: "noroute.example.com"},
		{SystemName: "busy.example.com"},
	} {
		a.CommonName, a.IPAddress, a.HostPlatform, a.CertificateAuthority, a.Origin, a.DataCenter = a.SystemName, "192.0.2.1", "linux", "ca", "API", "dc1"
		if err := st.CreateAsset(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.CreateRotation(ctx, store.Rotation{Asset: "busy.example.com", Trigger: store.TriggerManual, State: store.StateRunning}); err != nil {
		t.Fatal(err)
	}
	q := &enqueuer{queued: map[string]string{}}
	s := &scheduler.Scheduler{Store: st, Creator: creator{st, map[string]bool{"noroute.example.com": true}}, Enqueuer: q,
		Policy: policy.Settings{Jitter: -1}, Now: func() time.Time { return now }}

	res, err := s.ScanOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var queued []string
	for name, dc := range q.queued {
		queued = append(queued, name+"@"+dc)
	}
	sort.Strings(queued)
	if want := []string{"expiring.example.com@dc1", "new.example.com@dc1"}; fmt.Sprint(queued) != fmt.Sprint(want) {
		t.Errorf("queued %v, want %v", queued, want)
	}
	if res.Enqueued != 2 || res.Active != 1 || res.NoRoute != 1 || res.NotYet != 1 {
		t.Errorf("result %+v: want 2 enqueued, 1 active, 1 without a route, 1 not yet", res)
	}

	t.Run("a fresh certificate gets its renewal time and leaves the candidates", func(t *testing.T) {
		a, _ := st.GetAsset(ctx, "fresh.example.com")
		want := policy.RenewalTime(a, s.Policy)
		if a.RenewalTime == nil || !a.RenewalTime.Equal(*want) {
			t.Fatalf("renewal time %v, want %v", a.RenewalTime, want)
		}
		due, _ := st.DueAssets(ctx, now, 100)
		for _, d := range due {
			if d.SystemName == "fresh.example.com" {
				t.Error("the fresh asset is still a candidate")
			}
		}
	})

	t.Run("an asset without a route is held back, not dropped", func(t *testing.T) {
		a, _ := st.GetAsset(ctx, "noroute.example.com")
		if a.NextAttemptAt == nil || !a.NextAttemptAt.After(now) {
			t.Errorf("next attempt %v: want it held back", a.NextAttemptAt)
		}
	})

	t.Run("a second scan queues nothing new while rotations are active", func(t *testing.T) {
		q.queued = map[string]string{}
		res, err := s.ScanOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(q.queued) != 0 || res.Active != 3 {
			t.Errorf("second scan queued %v (%+v)", q.queued, res)
		}
	})
}

func TestScanLeavesNoRotationWhoseJobCouldNotBeQueued(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ottr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := asset.Asset{SystemName: "new.example.com", CommonName: "new.example.com", IPAddress: "192.0.2.1", HostPlatform: "linux",
		CertificateAuthority: "ca", Origin: "API", DataCenter: "dc1"}
	if err := st.CreateAsset(ctx, a); err != nil {
		t.Fatal(err)
	}
	budget := ratelimit.New(map[string]ratelimit.Limits{"ca": {NewOrdersPerAccount: ratelimit.Rate{Count: 1, Period: time.Hour}}},
		func() time.Time { return now })
	q := &enqueuer{queued: map[string]string{}, fail: errors.New("the job queue is away")}
	s := &scheduler.Scheduler{Store: st, Creator: creator{st, nil}, Enqueuer: q, Policy: policy.Settings{Jitter: -1},
		Budget: budget, Now: func() time.Time { return now }}

	res, err := s.ScanOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 1 || res.Enqueued != 0 {
		t.Errorf("result %+v: want the one error, nothing queued", res)
	}
	if rot, err := st.ActiveRotation(ctx, a.SystemName); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("rotation %d left %s with no job (err %v): it would block the asset for ever", rot.ID, rot.State, err)
	}
	// The next scan, with the queue back, creates it and runs it now: the
	// failed attempt gave its order back to the CA's budget.
	q.fail = nil
	q.runAt = map[string]time.Time{}
	if res, err = s.ScanOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if res.Enqueued != 1 || !q.runAt[a.SystemName].IsZero() {
		t.Errorf("second scan %+v, runs at %v: want it queued to run now", res, q.runAt[a.SystemName])
	}
}
