package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
)

func runAssetTests(t *testing.T, newStore newStoreFunc) {
	ctx := context.Background()

	t.Run("round-trips every field of a fully set asset", func(t *testing.T) {
		s := newStore(t)
		want := fullAsset("fw1")
		must(t, s.CreateAsset(ctx, want))
		got, err := s.GetAsset(ctx, "fw1")
		must(t, err)
		assertAsset(t, got, want)
	})

	t.Run("round-trips an asset whose optional fields are unset", func(t *testing.T) {
		s := newStore(t)
		want := asset.Asset{SystemName: "bare"}
		must(t, s.CreateAsset(ctx, want))
		got, err := s.GetAsset(ctx, "bare")
		must(t, err)
		assertAsset(t, got, want)
		if got.CertificateExpiration != nil || got.CertificateNotBefore != nil || got.LastRotation != nil ||
			got.NextAttemptAt != nil || got.RenewalTime != nil || got.RenewalWindow != nil || got.RenewalCheckAt != nil {
			t.Errorf("unset times came back set: %+v", got)
		}
	})

	t.Run("returns every time in UTC", func(t *testing.T) {
		s := newStore(t)
		must(t, s.CreateAsset(ctx, fullAsset("fw1")))
		got, err := s.GetAsset(ctx, "fw1")
		must(t, err)
		if got.RenewalWindow == nil {
			t.Fatal("renewal window came back unset")
		}
		assertUTC(t, "asset", got.CertificateExpiration, got.CertificateNotBefore, got.LastRotation,
			got.NextAttemptAt, got.RenewalTime, got.RenewalCheckAt, &got.RenewalWindow.Start, &got.RenewalWindow.End)
	})

	t.Run("keeps at least second precision", func(t *testing.T) {
		s := newStore(t)
		exp := base.Add(1500 * time.Millisecond)
		must(t, s.CreateAsset(ctx, asset.Asset{SystemName: "fw1", CertificateExpiration: &exp}))
		got, err := s.GetAsset(ctx, "fw1")
		must(t, err)
		if got.CertificateExpiration == nil || !got.CertificateExpiration.Truncate(time.Second).Equal(exp.Truncate(time.Second)) {
			t.Errorf("got expiration %v, want %v to the second", got.CertificateExpiration, exp)
		}
	})

	t.Run("keeps the order of subject alternative names", func(t *testing.T) {
		s := newStore(t)
		sans := []string{"c.example.com", "a.example.com", "b.example.com"}
		must(t, s.CreateAsset(ctx, asset.Asset{SystemName: "lb1", SubjectAlternativeName: sans}))
		got, err := s.GetAsset(ctx, "lb1")
		must(t, err)
		if mustJSON(t, got.SubjectAlternativeName) != mustJSON(t, sans) {
			t.Errorf("got SANs %q, want %q", got.SubjectAlternativeName, sans)
		}
	})

	t.Run("refuses to create an asset whose system_name is taken", func(t *testing.T) {
		s := newStore(t)
		first := fullAsset("fw1")
		must(t, s.CreateAsset(ctx, first))
		err := s.CreateAsset(ctx, asset.Asset{SystemName: "fw1", CommonName: "other.example.com"})
		assertIs(t, err, store.ErrExists)
		got, err := s.GetAsset(ctx, "fw1")
		must(t, err)
		assertAsset(t, got, first)
	})

	t.Run("refuses an asset without a system_name", func(t *testing.T) {
		s := newStore(t)
		if err := s.CreateAsset(ctx, asset.Asset{CommonName: "nameless.example.com"}); err == nil {
			t.Fatal("created an asset with an empty system_name")
		}
		n, err := s.CountAssets(ctx, store.AssetFilter{})
		must(t, err)
		if n != 0 {
			t.Errorf("got %d assets, want 0", n)
		}
	})

	t.Run("replaces every field on update, clearing the unset ones", func(t *testing.T) {
		s := newStore(t)
		must(t, s.CreateAsset(ctx, fullAsset("fw1")))
		want := asset.Asset{SystemName: "fw1", CommonName: "fw1.example.net", DataCenter: "dc2"}
		must(t, s.UpdateAsset(ctx, want))
		got, err := s.GetAsset(ctx, "fw1")
		must(t, err)
		assertAsset(t, got, want)
	})

	t.Run("sets every field on update", func(t *testing.T) {
		s := newStore(t)
		must(t, s.CreateAsset(ctx, asset.Asset{SystemName: "fw1"}))
		want := fullAsset("fw1")
		must(t, s.UpdateAsset(ctx, want))
		got, err := s.GetAsset(ctx, "fw1")
		must(t, err)
		assertAsset(t, got, want)
	})

	t.Run("reports a missing asset as not found", func(t *testing.T) {
		s := newStore(t)
		must(t, s.CreateAsset(ctx, asset.Asset{SystemName: "present"}))
		_, err := s.GetAsset(ctx, "absent")
		assertIs(t, err, store.ErrNotFound)
		assertIs(t, s.UpdateAsset(ctx, asset.Asset{SystemName: "absent"}), store.ErrNotFound)
		assertIs(t, s.DeleteAsset(ctx, "absent"), store.ErrNotFound)
		if _, err := s.GetAsset(ctx, "absent"); err == nil {
			t.Error("updating a missing asset created it")
		}
	})

	t.Run("lists the inventory's data centers once each", func(t *testing.T) {
		s := newStore(t)
		dcs, err := s.DataCenters(ctx)
		must(t, err)
		if len(dcs) != 0 {
			t.Errorf("an empty inventory has data centers %q", dcs)
		}
		createAssets(t, s, asset.Asset{SystemName: "a", DataCenter: "dc2"}, asset.Asset{SystemName: "b", DataCenter: "dc1"},
			asset.Asset{SystemName: "c", DataCenter: "dc2"}, asset.Asset{SystemName: "d"})
		dcs, err = s.DataCenters(ctx)
		must(t, err)
		if want := []string{"", "dc1", "dc2"}; !slices.Equal(dcs, want) {
			t.Errorf("data centers %q, want %q", dcs, want)
		}
	})

	t.Run("deletes an asset", func(t *testing.T) {
		s := newStore(t)
		createAssets(t, s, asset.Asset{SystemName: "a"}, asset.Asset{SystemName: "b"})
		must(t, s.DeleteAsset(ctx, "a"))
		_, err := s.GetAsset(ctx, "a")
		assertIs(t, err, store.ErrNotFound)
		if _, err := s.GetAsset(ctx, "b"); err != nil {
			t.Errorf("deleting a removed b too: %v", err)
		}
		assertIs(t, s.DeleteAsset(ctx, "a"), store.ErrNotFound)
	})
}

// inventory is the fixture the listing tests filter; names are out of order
// on purpose.
func inventory() []asset.Asset {
	return []asset.Asset{
		{SystemName: "fw2", DataCenter: "dc1", HostPlatform: "panos", Origin: "netbox", IPAddress: "192.0.2.2", CertificateExpiration: at(10 * 24 * time.Hour)},
		{SystemName: "fw1", DataCenter: "dc1", HostPlatform: "panos", Origin: "netbox", IPAddress: "192.0.2.1", CertificateExpiration: at(40 * 24 * time.Hour)},
		{SystemName: "lb1", DataCenter: "dc2", HostPlatform: "bigip", Origin: "netbox", IPAddress: "192.0.2.3", CertificateExpiration: at(5 * 24 * time.Hour)},
		{SystemName: "con1", DataCenter: "dc2", HostPlatform: "lighthouse", Origin: "manual", IPAddress: "192.0.2.4"},
		{SystemName: "web1", DataCenter: "dc1", HostPlatform: "linux", Origin: "manual", IPAddress: "192.0.2.5", CertificateExpiration: at(-24 * time.Hour)},
	}
}

func runListTests(t *testing.T, newStore newStoreFunc) {
	ctx := context.Background()
	s := newStore(t)
	createAssets(t, s, inventory()...)
	tests := []struct {
		name   string
		filter store.AssetFilter
		want   []string
		count  int // CountAssets ignores After and Limit
	}{
		{"lists every asset by system_name without a filter", store.AssetFilter{},
			[]string{"con1", "fw1", "fw2", "lb1", "web1"}, 5},
		{"filters by system_name", store.AssetFilter{SystemName: "lb1"}, []string{"lb1"}, 1},
		{"filters by data center", store.AssetFilter{DataCenter: "dc1"}, []string{"fw1", "fw2", "web1"}, 3},
		{"filters by host platform", store.AssetFilter{HostPlatform: "panos"}, []string{"fw1", "fw2"}, 2},
		{"filters by origin", store.AssetFilter{Origin: "manual"}, []string{"con1", "web1"}, 2},
		{"filters by IP address", store.AssetFilter{IPAddress: "192.0.2.3"}, []string{"lb1"}, 1},
		{"keeps expiries before the cutoff and unknown expiries", store.AssetFilter{ExpiresBefore: at(10 * 24 * time.Hour)},
			[]string{"con1", "lb1", "web1"}, 3},
		{"combines filters", store.AssetFilter{DataCenter: "dc1", Origin: "netbox"}, []string{"fw1", "fw2"}, 2},
		{"finds nothing when no asset matches", store.AssetFilter{DataCenter: "dc9"}, nil, 0},
		{"caps the result at Limit", store.AssetFilter{Limit: 2}, []string{"con1", "fw1"}, 5},
		{"starts after the After cursor", store.AssetFilter{After: "fw2"}, []string{"lb1", "web1"}, 5},
		{"applies After and Limit with a filter", store.AssetFilter{DataCenter: "dc1", After: "fw1", Limit: 1},
			[]string{"fw2"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListAssets(ctx, tt.filter)
			must(t, err)
			assertNames(t, got, tt.want...)
			n, err := s.CountAssets(ctx, tt.filter)
			must(t, err)
			if n != tt.count {
				t.Errorf("CountAssets = %d, want %d", n, tt.count)
			}
		})
	}

	t.Run("returns whole assets", func(t *testing.T) {
		s := newStore(t)
		want := fullAsset("fw1")
		must(t, s.CreateAsset(ctx, want))
		got, err := s.ListAssets(ctx, store.AssetFilter{})
		must(t, err)
		if len(got) != 1 {
			t.Fatalf("got %d assets, want 1", len(got))
		}
		assertAsset(t, got[0], want)
	})

	t.Run("pages through every asset with After and Limit", func(t *testing.T) {
		var seen []asset.Asset
		f := store.AssetFilter{Limit: 2}
		for range 10 {
			page, err := s.ListAssets(ctx, f)
			must(t, err)
			if len(page) == 0 {
				break
			}
			seen = append(seen, page...)
			f.After = page[len(page)-1].SystemName
		}
		assertNames(t, seen, "con1", "fw1", "fw2", "lb1", "web1")
	})
}

func runDueTests(t *testing.T, newStore newStoreFunc) {
	ctx := context.Background()
	now := base
	s := newStore(t)
	createAssets(t, s,
		asset.Asset{SystemName: "later", RenewalTime: at(time.Hour)},
		asset.Asset{SystemName: "due-now", RenewalTime: at(0)},
		asset.Asset{SystemName: "due-yesterday", RenewalTime: at(-24 * time.Hour)},
		asset.Asset{SystemName: "due-an-hour-ago", RenewalTime: at(-time.Hour)},
		asset.Asset{SystemName: "never-computed"},
		asset.Asset{SystemName: "paused", Paused: true, RenewalTime: at(-48 * time.Hour)},
		asset.Asset{SystemName: "paused-never-computed", Paused: true},
		asset.Asset{SystemName: "backing-off", RenewalTime: at(-48 * time.Hour), NextAttemptAt: at(time.Minute)},
		asset.Asset{SystemName: "backing-off-never-computed", NextAttemptAt: at(time.Minute)},
		asset.Asset{SystemName: "backoff-over", RenewalTime: at(-2 * time.Hour), NextAttemptAt: at(-time.Minute)},
		asset.Asset{SystemName: "backoff-ends-now", RenewalTime: at(-30 * time.Minute), NextAttemptAt: at(0)},
	)
	allDue := []string{"never-computed", "due-yesterday", "backoff-over", "due-an-hour-ago", "backoff-ends-now", "due-now"}

	tests := []struct {
		name  string
		limit int
		want  []string
	}{
		{"returns unknown renewal times first, then the earliest, skipping paused, backing-off and later assets", 100, allDue},
		{"stops at the limit, keeping the most urgent", 3, allDue[:3]},
		{"returns nothing for a zero limit", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.DueAssets(ctx, now, tt.limit)
			must(t, err)
			assertNames(t, got, tt.want...)
		})
	}

	t.Run("returns whole assets", func(t *testing.T) {
		s := newStore(t)
		want := fullAsset("fw1")
		want.Paused = false
		want.NextAttemptAt = nil
		must(t, s.CreateAsset(ctx, want))
		got, err := s.DueAssets(ctx, want.RenewalTime.Add(time.Second), 10)
		must(t, err)
		if len(got) != 1 {
			t.Fatalf("got %d assets, want 1", len(got))
		}
		assertAsset(t, got[0], want)
	})

	t.Run("sees changes made by UpdateAsset", func(t *testing.T) {
		s := newStore(t)
		createAssets(t, s, asset.Asset{SystemName: "fw1"})
		must(t, s.UpdateAsset(ctx, asset.Asset{SystemName: "fw1", RenewalTime: at(24 * time.Hour)}))
		got, err := s.DueAssets(ctx, now, 10)
		must(t, err)
		assertNames(t, got)
		got, err = s.DueAssets(ctx, now.Add(25*time.Hour), 10)
		must(t, err)
		assertNames(t, got, "fw1")
	})
}

func runImportTests(t *testing.T, newStore newStoreFunc) {
	ctx := context.Background()

	t.Run("inserts new assets and replaces existing ones", func(t *testing.T) {
		s := newStore(t)
		createAssets(t, s, asset.Asset{SystemName: "fw1", DataCenter: "old"}, asset.Asset{SystemName: "keep"})
		imported := []asset.Asset{fullAsset("fw1"), fullAsset("fw2")}
		must(t, s.ImportAssets(ctx, imported))
		for _, want := range imported {
			got, err := s.GetAsset(ctx, want.SystemName)
			must(t, err)
			assertAsset(t, got, want)
		}
		if _, err := s.GetAsset(ctx, "keep"); err != nil {
			t.Errorf("import removed an asset it did not name: %v", err)
		}
	})

	t.Run("accepts an empty list", func(t *testing.T) {
		s := newStore(t)
		must(t, s.ImportAssets(ctx, nil))
	})

	t.Run("writes nothing when one asset is invalid", func(t *testing.T) {
		s := newStore(t)
		original := asset.Asset{SystemName: "fw1", DataCenter: "old"}
		createAssets(t, s, original)
		// The invalid asset comes last, so the valid ones are written
		// before the failure and must be rolled back.
		err := s.ImportAssets(ctx, []asset.Asset{
			{SystemName: "fw1", DataCenter: "new"},
			{SystemName: "fw2"},
			{SystemName: ""},
		})
		if err == nil {
			t.Fatal("imported an asset with an empty system_name")
		}
		assertUnchanged(t, s, original)
	})

	t.Run("writes nothing when the context is canceled", func(t *testing.T) {
		s := newStore(t)
		original := asset.Asset{SystemName: "fw1", DataCenter: "old"}
		createAssets(t, s, original)
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.ImportAssets(canceled, []asset.Asset{{SystemName: "fw1", DataCenter: "new"}, {SystemName: "fw2"}}); err == nil {
			t.Fatal("import with a canceled context succeeded")
		}
		assertUnchanged(t, s, original)
	})
}

// assertUnchanged fails t unless s holds exactly the one asset original.
func assertUnchanged(t *testing.T, s store.Store, original asset.Asset) {
	t.Helper()
	all, err := s.ListAssets(context.Background(), store.AssetFilter{})
	must(t, err)
	if len(all) != 1 {
		t.Fatalf("got %d assets after the failed import, want only %q", len(all), original.SystemName)
	}
	assertAsset(t, all[0], original)
}
