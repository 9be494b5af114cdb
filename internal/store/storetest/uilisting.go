package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
)

// runAssetTableTests checks the web UI's table queries: every fleet state,
// each filter, the sorts, paging and the expiry histogram.
func runAssetTableTests(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()
	st := newStore(t)
	day := 24 * time.Hour
	mk := func(name, dc, platform string, expiresIn time.Duration, mut func(*asset.Asset)) asset.Asset {
		a := asset.Asset{SystemName: name, CommonName: name + ".example.com", DataCenter: dc, HostPlatform: platform,
			CertificateAuthority: "lab", Labels: map[string]string{"team": "net"}}
		if expiresIn != 0 {
			a.CertificateExpiration = at(expiresIn)
			a.RenewalTime = at(expiresIn - 30*day)
		}
		if mut != nil {
			mut(&a)
		}
		return a
	}
	assets := []asset.Asset{
		mk("ok-1", "dc1", "linux", 80*day, nil),  // ok
		mk("due-1", "dc1", "linux", 10*day, nil), // due: renewal time passed
		mk("new-1", "dc2", "linux", 0, func(a *asset.Asset) { a.Labels = map[string]string{"team": "web"} }), // due: expiry unknown
		mk("fail-1", "dc2", "panos", 50*day, func(a *asset.Asset) { a.FailureCount = 2 }),                    // failing
		mk("paused-1", "dc1", "linux", -2*day, func(a *asset.Asset) { a.Paused = true }),                     // paused, expired
		mk("orphan-1", "dc3", "junos", 40*day, nil),                                                          // unrouted
		mk("busy-1", "dc1", "linux", 20*day, nil),                                                            // rotating
	}
	for _, a := range assets {
		if err := st.CreateAsset(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.CreateRotation(ctx, store.Rotation{Asset: "busy-1", Trigger: store.TriggerManual, State: store.StatePending}); err != nil {
		t.Fatal(err)
	}
	keys, err := st.RouteKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var unrouted []string
	for key, a := range keys {
		if a.HostPlatform == "junos" {
			unrouted = append(unrouted, key)
		}
	}
	if len(keys) != 4 || len(unrouted) != 1 {
		t.Fatalf("RouteKeys returned %d keys (%d junos), want 4 (1): %v", len(keys), len(unrouted), keys)
	}
	base := store.AssetQuery{Now: base, Unrouted: unrouted}
	names := func(rows []store.AssetRow) []string {
		var out []string
		for _, r := range rows {
			out = append(out, r.Asset.SystemName)
		}
		return out
	}

	t.Run("each asset is in the first state that applies", func(t *testing.T) {
		rows, total, err := st.QueryAssets(ctx, base)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"ok-1": "ok", "due-1": "due", "new-1": "due", "fail-1": "failing",
			"paused-1": "paused", "orphan-1": "unrouted", "busy-1": "rotating"}
		if total != len(want) || len(rows) != len(want) {
			t.Fatalf("total %d, %d rows, want %d", total, len(rows), len(want))
		}
		for _, r := range rows {
			if want[r.Asset.SystemName] != r.State {
				t.Errorf("%s is %s, want %s", r.Asset.SystemName, r.State, want[r.Asset.SystemName])
			}
			if r.Asset.CommonName != r.Asset.SystemName+".example.com" {
				t.Errorf("%s came back without its fields: %+v", r.Asset.SystemName, r.Asset)
			}
		}
		counts, err := st.CountFleetStates(ctx, base)
		if err != nil {
			t.Fatal(err)
		}
		wantCounts := map[string]int{"ok": 1, "due": 2, "failing": 1, "paused": 1, "unrouted": 1, "rotating": 1}
		for state, n := range wantCounts {
			if counts[state] != n {
				t.Errorf("CountFleetStates: %s = %d, want %d (all: %v)", state, counts[state], n, counts)
			}
		}
	})

	filters := []struct {
		name string
		q    func(q *store.AssetQuery)
		want []string
	}{
		{"a name filter matches part of the name, ignoring case", func(q *store.AssetQuery) { q.NameContains = "FAIL" }, []string{"fail-1"}},
		{"a data center filter keeps that data center", func(q *store.AssetQuery) { q.DataCenter = "dc2" }, []string{"fail-1", "new-1"}},
		{"a platform filter keeps that platform", func(q *store.AssetQuery) { q.HostPlatform = "panos" }, []string{"fail-1"}},
		{"a label filter keeps the assets with that label value", func(q *store.AssetQuery) { q.Labels = map[string]string{"team": "web"} }, []string{"new-1"}},
		{"a state filter keeps that state", func(q *store.AssetQuery) { q.State = store.FleetDue }, []string{"due-1", "new-1"}},
		{"an expiry cutoff keeps earlier and unknown expiries", func(q *store.AssetQuery) { c := base.Now.Add(15 * day); q.ExpiresBefore = &c },
			[]string{"due-1", "new-1", "paused-1"}},
		{"filters combine", func(q *store.AssetQuery) { q.DataCenter = "dc1"; q.State = store.FleetOK }, []string{"ok-1"}},
	}
	for _, f := range filters {
		t.Run(f.name, func(t *testing.T) {
			q := base
			f.q(&q)
			rows, total, err := st.QueryAssets(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(rows); !slices.Equal(got, f.want) || total != len(f.want) {
				t.Errorf("got %v (total %d), want %v", got, total, f.want)
			}
		})
	}

	t.Run("sorts by expiry, unknown first, and pages", func(t *testing.T) {
		q := base
		q.Sort, q.Limit, q.Offset = "expiry", 3, 1
		rows, total, err := st.QueryAssets(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := names(rows), []string{"paused-1", "due-1", "busy-1"}; !slices.Equal(got, want) || total != 7 {
			t.Errorf("got %v (total %d), want %v (total 7)", got, total, want)
		}
		q.Descending, q.Offset = true, 0
		rows, _, err = st.QueryAssets(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := names(rows), []string{"ok-1", "fail-1", "orphan-1"}; !slices.Equal(got, want) {
			t.Errorf("descending: got %v, want %v", got, want)
		}
	})

	t.Run("an unknown sort is an error", func(t *testing.T) {
		q := base
		q.Sort = "password"
		if _, _, err := st.QueryAssets(ctx, q); err == nil {
			t.Error("no error")
		}
	})

	t.Run("the expiry histogram counts each known expiry once", func(t *testing.T) {
		bounds := []time.Time{base.Now, base.Now.Add(14 * day), base.Now.Add(60 * day)}
		buckets, unknown, err := st.CountExpiries(ctx, bounds)
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for _, b := range buckets {
			got = append(got, b.Count)
		}
		// expired: paused-1; <14d: due-1; <60d: busy-1, orphan-1, fail-1; later: ok-1.
		if want := []int{1, 1, 3, 1}; !slices.Equal(got, want) || unknown != 1 {
			t.Errorf("buckets %v, unknown %d; want %v, unknown 1", got, unknown, want)
		}
	})
}
