package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/policy"
	"github.com/ottr-go/ottr/internal/route"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/store/sqlite"
	"github.com/ottr-go/ottr/internal/verify"
)

// queued records the deliveries queued in claims that committed.
type queued struct {
	mu         sync.Mutex
	deliveries []Delivery
}

func (q *queued) EnqueueDeliveriesTx(_ context.Context, tx any, ds []Delivery) error {
	if tx == nil {
		return errors.New("no transaction")
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.deliveries = append(q.deliveries, ds...)
	return nil
}

func (q *queued) events(kind Kind) []Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []Event
	for _, d := range q.deliveries {
		if d.Event.Kind == kind && d.Channel == "audit" {
			out = append(out, d.Event)
		}
	}
	return out
}

// byPlatform routes the linux assets only.
type byPlatform struct{}

func (byPlatform) Match(a asset.Asset) (route.Route, int, bool) {
	return route.Route{Name: "linux", Driver: "linux"}, 0, a.HostPlatform == "linux"
}

// harness is a Notifier on a fresh SQLite store, with two channels and a
// clock the test moves.
type harness struct {
	store *sqlite.Store
	queue *queued
	clock time.Time
	held  map[string]time.Time
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ottr.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &harness{store: st, queue: &queued{}, clock: now, held: map[string]time.Time{}}
}

func (h *harness) notifier(t *testing.T, adjust ...func(*Config)) *Notifier {
	t.Helper()
	c := Config{
		Settings: config.Notifications{
			ExternalURL: "https://ottr.example.com",
			Channels:    map[string]config.NotifyChannel{"audit": {Kind: "webhook"}, "pager": {Kind: "pagerduty"}},
			Failure:     failurePolicy,
			Expiry:      config.NotifyExpiry{Days: []int{30, 14, 7, 3, 1}},
			DriftCheck:  config.NotifyDriftCheck{Concurrency: 4},
		},
		Store:     h.store,
		Routes:    byPlatform{},
		HeldUntil: func(ca string) time.Time { return h.held[ca] },
		Secrets:   func(asset.Asset) []string { return []string{"hunter2-device-password"} },
		Now:       func() time.Time { return h.clock },
	}
	for _, f := range adjust {
		f(&c)
	}
	n, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	n.SetEnqueuer(h.queue)
	return n
}

func TestRotationEndings(t *testing.T) {
	ctx := context.Background()

	t.Run("a device that fails three times then recovers is told of three times", func(t *testing.T) {
		h := newHarness(t)
		n := h.notifier(t)
		for i, e := range []struct {
			state         store.State
			before, after int
		}{
			{store.StateFailed, 0, 1}, {store.StateFailed, 1, 2}, {store.StateFailed, 2, 3}, {store.StateSucceeded, 3, 0},
		} {
			end := ending(int64(i+1), e.state, e.before, e.after, days(40))
			if end.Err != nil {
				end.Err = errors.New("install: ssh: password hunter2-device-password refused by fw1")
			}
			n.RotationEnded(ctx, end)
			// A job that runs again after a crash ends the same rotation
			// again: that is no new cause.
			n.RotationEnded(ctx, end)
		}
		failed, recovered := h.queue.events(RotationFailed), h.queue.events(RotationRecovered)
		if len(failed) != 2 || len(recovered) != 1 {
			t.Fatalf("told %d failures and %d recoveries to one channel, want 2 (the first and the escalation) and 1", len(failed), len(recovered))
		}
		first, escalation := failed[0], failed[1]
		if first.Escalated || first.FailureCount != 1 || !escalation.Escalated || escalation.FailureCount != 3 {
			t.Errorf("failures told: escalated %v with %d failures, then %v with %d; want false with 1, true with 3",
				first.Escalated, first.FailureCount, escalation.Escalated, escalation.FailureCount)
		}
		if recovered[0].FailureCount != 3 || recovered[0].Incident != first.Incident || first.Incident != escalation.Incident {
			t.Errorf("recovery after %d failures in incident %q; the failures' incidents %q and %q: want one incident, 3 failures",
				recovered[0].FailureCount, recovered[0].Incident, first.Incident, escalation.Incident)
		}
		if got := first.Rotation.Error; strings.Contains(got, "hunter2") || !strings.Contains(got, "[redacted]") {
			t.Errorf("the error told is %q, want the password redacted", got)
		}
		if first.Link != "https://ottr.example.com/ui/rotations/1" || first.Rotation.Step != "install" {
			t.Errorf("link %q, step %q; want the rotation's page in the web UI and the failed step", first.Link, first.Rotation.Step)
		}
		if first.Summary != "Rotation of fw1.example.com failed at install (1st failure); its certificate expires in 40 days" {
			t.Errorf("summary %q", first.Summary)
		}
		if a := first.Asset; a.SystemName != "fw1.example.com" || a.DaysLeft == nil || *a.DaysLeft != 40 || a.Serial != "4a1b" {
			t.Errorf("asset told: %+v", a)
		}
		h.queue.mu.Lock()
		defer h.queue.mu.Unlock()
		if len(h.queue.deliveries) != 6 {
			t.Errorf("%d deliveries, want each of the three events to each of the two channels", len(h.queue.deliveries))
		}
	})

	t.Run("two processes ending the same rotation tell it once", func(t *testing.T) {
		h := newHarness(t)
		processes := []*Notifier{h.notifier(t), h.notifier(t)}
		var wg sync.WaitGroup
		for range 10 {
			for _, n := range processes {
				wg.Go(func() { n.RotationEnded(ctx, ending(1, store.StateRolledBack, 0, 1, days(3))) })
			}
		}
		wg.Wait()
		rolledBack := h.queue.events(RotationRolledBack)
		if len(rolledBack) != 1 || !rolledBack[0].Escalated {
			t.Errorf("told %d rollbacks, want 1, escalated (3 days left)", len(rolledBack))
		}
		if n := len(h.queue.events(RotationFailed)); n != 0 {
			t.Errorf("told %d failures besides the rollback, want none", n)
		}
	})

	t.Run("a device serving another certificate before the rotation is told as drift", func(t *testing.T) {
		h := newHarness(t)
		n := h.notifier(t)
		end := ending(4, store.StateSucceeded, 0, 0, 0)
		end.ServedBefore = "77"
		n.RotationEnded(ctx, end)
		n.RotationEnded(ctx, end)
		drift := h.queue.events(CertificateDrift)
		if len(drift) != 1 || *drift[0].Drift != (Drift{RecordedSerial: "4a1b", ServedSerial: "77", SeenBy: "preflight"}) {
			t.Errorf("told %+v, want one drift from 4a1b to 77 seen by preflight", drift)
		}
	})

	t.Run("nothing is claimed while there is no queue to deliver with", func(t *testing.T) {
		h := newHarness(t)
		n, err := New(Config{Settings: config.Notifications{Failure: failurePolicy}, Store: h.store, Routes: byPlatform{}, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		n.RotationEnded(ctx, ending(1, store.StateFailed, 0, 1, days(40)))
		claimed, err := h.store.ClaimedNotifications(ctx, streakKeys(streak(ending(1, store.StateFailed, 0, 1, 0).After)))
		if err != nil || len(claimed) != 0 {
			t.Errorf("claimed %v (%v), want nothing: another process may tell it", claimed, err)
		}
	})
}

func TestCheckExpiry(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	n := h.notifier(t)
	cert := func(name, platform string, left time.Duration) asset.Asset {
		return asset.Asset{SystemName: name, HostPlatform: platform, CertificateAuthority: "le", CertificateSerial: "5" + strconv.Itoa(len(name)),
			CertificateNotBefore: at(left - days(90)), CertificateExpiration: at(left)}
	}
	paused := cert("paused.example.com", "linux", days(10))
	paused.Paused = true
	limited := cert("limited.example.com", "linux", days(5))
	h.held["le"] = now.Add(time.Hour)
	limited.CertificateAuthority = "le"
	other := cert("other.example.com", "linux", days(5))
	other.CertificateAuthority = "other"
	for _, a := range []asset.Asset{
		paused,
		cert("unrouted.example.com", "panos", days(20)),
		limited,
		other,
		func() asset.Asset {
			a := cert("healthy.example.com", "linux", days(29.5))
			a.CertificateAuthority = "other"
			return a
		}(),
		cert("later.example.com", "linux", days(45)),
		{SystemName: "unknown.example.com", HostPlatform: "linux"},
	} {
		if err := h.store.CreateAsset(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	told, err := n.CheckExpiry(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range h.queue.events(CertificateExpiring) {
		got[e.Asset.SystemName] = fmt.Sprintf("%d days, %q", e.ThresholdDays, e.Reason)
	}
	want := map[string]string{
		"paused.example.com":   `14 days, "paused"`,
		"unrouted.example.com": `30 days, "no route"`,
		"limited.example.com":  `7 days, "CA rate limited"`,
		"other.example.com":    `7 days, ""`,
	}
	if told != 4 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("told %d: %v\nwant 4: %v", told, got, want)
	}
	if told, err := n.CheckExpiry(ctx); err != nil || told != 0 {
		t.Errorf("a second check told %d (%v), want none", told, err)
	}
	// Four days later the paused certificate crosses 7 days, the two with
	// 5 days left 1 day (the CA's hold is over); the one without a route
	// is still above 14.
	h.clock = now.Add(days(4))
	before := len(h.queue.events(CertificateExpiring))
	if _, err := n.CheckExpiry(ctx); err != nil {
		t.Fatal(err)
	}
	got = map[string]string{}
	for _, e := range h.queue.events(CertificateExpiring)[before:] {
		got[e.Asset.SystemName] = fmt.Sprintf("%d days, %q", e.ThresholdDays, e.Reason)
	}
	want = map[string]string{
		"paused.example.com":  `7 days, "paused"`,
		"limited.example.com": `1 days, ""`,
		"other.example.com":   `1 days, ""`,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("four days later, told %v\nwant %v", got, want)
	}
}

// tlsDevice serves a self-signed certificate, whose serial it returns.
func tlsDevice(t *testing.T) (ip string, port int, serial string) {
	t.Helper()
	srv := httptest.NewTLSServer(nil)
	t.Cleanup(srv.Close)
	host, p, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	port, _ = strconv.Atoi(p)
	return host, port, verify.SerialHex(srv.Certificate())
}

func TestCheckDrift(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	n := h.notifier(t)
	ip, port, serial := tlsDevice(t)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	assets := []asset.Asset{
		{SystemName: "same.example.com", IPAddress: ip, Port: port, CertificateSerial: serial},
		{SystemName: "drifted.example.com", IPAddress: ip, Port: port, CertificateSerial: "abc"},
		{SystemName: "rotating.example.com", IPAddress: ip, Port: port, CertificateSerial: "abd"},
		{SystemName: "gone.example.com", IPAddress: "127.0.0.1", Port: closedPort, CertificateSerial: "abe"},
		{SystemName: "new.example.com", IPAddress: ip, Port: port},
	}
	for _, a := range assets {
		if err := h.store.CreateAsset(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.store.CreateRotation(ctx, store.Rotation{Asset: "rotating.example.com", Trigger: store.TriggerSchedule}); err != nil {
		t.Fatal(err)
	}
	res, err := n.CheckDrift(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res != (DriftResult{Checked: 4, Unreachable: 1, Drifted: 1}) {
		t.Errorf("result %+v, want 4 checked, 1 unreachable, 1 drifted", res)
	}
	drift := h.queue.events(CertificateDrift)
	if len(drift) != 1 || drift[0].Asset.SystemName != "drifted.example.com" ||
		*drift[0].Drift != (Drift{RecordedSerial: "abc", ServedSerial: serial, SeenBy: "check"}) ||
		drift[0].Link != "https://ottr.example.com/ui/assets/drifted.example.com" {
		t.Errorf("told %+v, want the drifted device's served serial", drift)
	}
	if _, err := n.CheckDrift(ctx); err != nil || len(h.queue.events(CertificateDrift)) != 1 {
		t.Errorf("a second check told the same drift again (%v)", err)
	}
}

func TestSendDigest(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	n := h.notifier(t)
	failing := asset.Asset{SystemName: "failing.example.com", HostPlatform: "linux", FailureCount: 2, CertificateExpiration: at(days(3)), CertificateNotBefore: at(-days(87))}
	for _, a := range []asset.Asset{
		failing,
		{SystemName: "paused.example.com", HostPlatform: "linux", Paused: true, CertificateExpiration: at(days(60)), CertificateNotBefore: at(-days(30))},
		{SystemName: "unrouted.example.com", HostPlatform: "panos"},
		{SystemName: "due.example.com", HostPlatform: "linux", CertificateExpiration: at(days(10)), CertificateNotBefore: at(-days(80))},
		{SystemName: "ok.example.com", HostPlatform: "linux", CertificateExpiration: at(days(80)), CertificateNotBefore: at(-days(10))},
		{SystemName: "rotating.example.com", HostPlatform: "linux"},
	} {
		// Stored with its renewal time, as every write of an asset is.
		a.RenewalTime = policy.RenewalTime(a, policy.Settings{})
		if err := h.store.CreateAsset(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.store.CreateRotation(ctx, store.Rotation{Asset: "rotating.example.com", Trigger: store.TriggerSchedule}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := n.SendDigest(ctx); err != nil {
			t.Fatal(err)
		}
	}
	digests := h.queue.events(DigestKind)
	if len(digests) != 1 {
		t.Fatalf("%d digests today, want 1", len(digests))
	}
	d := digests[0].Digest
	want := map[string]int{asset.StateFailing: 1, asset.StatePaused: 1, asset.StateUnrouted: 1, asset.StateDue: 1, asset.StateOK: 1, asset.StateRotating: 1}
	if fmt.Sprint(d.States) != fmt.Sprint(want) {
		t.Errorf("states %v, want %v", d.States, want)
	}
	var expiring []string
	for _, a := range d.Expiring {
		expiring = append(expiring, a.SystemName)
	}
	if !slices.Equal(expiring, []string{"failing.example.com", "due.example.com"}) || d.ExpiringTotal != 2 {
		t.Errorf("expiring %v (total %d), want the two within 14 days, soonest first", expiring, d.ExpiringTotal)
	}
	if len(d.Failed) != 1 || d.Failed[0].SystemName != "failing.example.com" || d.FailedTotal != 1 {
		t.Errorf("failed %+v, want the failing asset", d.Failed)
	}
	if digests[0].Summary != "Daily digest: 6 assets, 1 failing, 2 expiring within 14 days" {
		t.Errorf("summary %q", digests[0].Summary)
	}
	h.clock = now.Add(24 * time.Hour)
	if told, err := n.SendDigest(ctx); err != nil || !told {
		t.Errorf("the next day's digest: told %v (%v), want it told", told, err)
	}
}
