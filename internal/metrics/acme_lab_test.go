package metrics_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/lab"
	"github.com/ottr-go/ottr/internal/metrics"
	"github.com/ottr-go/ottr/internal/store"
)

// A rotation against the lab CA: every request the ACME client sent is
// counted under the endpoint it went to, and the counts agree with what
// the CA saw.
func TestACMERequestsAreCountedByEndpointAsTheCASawThem(t *testing.T) {
	l := startLab(t)
	ctx := context.Background()
	cfg, err := config.Load(l.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = filepath.Join(t.TempDir(), "ottr.db")
	ap, err := app.New(ctx, cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ap.Close()
	if err := ap.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	name := l.Assets[hostACME].SystemName
	if err := ap.Store.CreateAsset(ctx, l.Assets[hostACME]); err != nil {
		t.Fatal(err)
	}
	before := l.CA.Counts()
	rot, err := ap.Runner.Create(ctx, name, store.TriggerManual, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rot, err = ap.Runner.Run(ctx, rot.ID); err != nil || rot.State != store.StateSucceeded {
		t.Fatalf("rotation: state %s, err %v", rot.State, err)
	}
	after := l.CA.Counts()

	g := ap.Metrics.Gatherer()
	requests := func(endpoint, status string) float64 {
		return sum(t, g, "ottr_acme_requests_total", map[string]string{"ca": lab.CAName, "endpoint": endpoint, "status": status})
	}
	if got, want := requests(metrics.EndpointNewOrder, "201"), float64(after.NewOrders-before.NewOrders); got != want || got == 0 {
		t.Errorf("new-order answered 201 %v times, the CA created %v orders", got, want)
	}
	if got, want := requests(metrics.EndpointFinalize, "200"), float64(after.FinalizedOrders-before.FinalizedOrders); got != want || got == 0 {
		t.Errorf("finalize answered 200 %v times, the CA finalized %v orders", got, want)
	}
	for _, endpoint := range []string{metrics.EndpointDirectory, metrics.EndpointNewNonce, metrics.EndpointNewAccount,
		metrics.EndpointAuthz, metrics.EndpointChallenge, metrics.EndpointOrder, metrics.EndpointCert} {
		if requests(endpoint, "") == 0 {
			t.Errorf("no request to %s was counted", endpoint)
		}
	}
	if other := requests(metrics.EndpointOther, ""); other != 0 {
		t.Errorf("%v requests to the lab CA were not told apart", other)
	}
	if v, ok := value(t, g, "ottr_acme_request_duration_seconds", map[string]string{"ca": lab.CAName, "endpoint": metrics.EndpointFinalize}); !ok || v == 0 {
		t.Error("finalize requests were not timed")
	}
	// One name: its challenge record written once and removed once.
	for _, op := range []string{"present", "cleanup"} {
		if got := sum(t, g, "ottr_dns_updates_total", map[string]string{"zone": lab.DelegateZone, "operation": op, "result": "succeeded"}); got != 1 {
			t.Errorf("%v %s updates in %s, want 1", got, op, lab.DelegateZone)
		}
	}
	if got := sum(t, g, "ottr_rotations_total", map[string]string{"driver": "linux", "result": string(store.StateSucceeded)}); got != 1 {
		t.Errorf("%v succeeded rotations with driver linux, want 1", got)
	}
	if got := sum(t, g, "ottr_rotation_step_duration_seconds", map[string]string{"driver": "linux", "step": "issue", "result": "succeeded"}); got != 1 {
		t.Errorf("%v issue steps timed, want 1", got)
	}
}
