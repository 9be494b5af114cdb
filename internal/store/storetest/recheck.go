package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
)

func runRecheckTests(t *testing.T, newStore newStoreFunc) {
	ctx := context.Background()
	now := base
	s := newStore(t)
	withID := func(a asset.Asset) asset.Asset {
		a.RenewalCertID = "aki." + a.SystemName
		a.RenewalCertCA = "lets_encrypt"
		return a
	}
	createAssets(t, s,
		withID(asset.Asset{SystemName: "check-later", RenewalCheckAt: at(time.Hour)}),
		withID(asset.Asset{SystemName: "check-now", RenewalCheckAt: at(0)}),
		withID(asset.Asset{SystemName: "check-overdue", RenewalCheckAt: at(-24 * time.Hour)}),
		withID(asset.Asset{SystemName: "check-an-hour-ago", RenewalCheckAt: at(-time.Hour)}),
		withID(asset.Asset{SystemName: "never-checked"}),
		withID(asset.Asset{SystemName: "paused", Paused: true, RenewalCheckAt: at(-48 * time.Hour)}),
		// Backoff after a failed rotation does not stop the CA being
		// asked: a window moved to now is what should end it.
		withID(asset.Asset{SystemName: "backing-off", RenewalCheckAt: at(-2 * time.Hour), NextAttemptAt: at(time.Hour)}),
		asset.Asset{SystemName: "no-certificate-id", RenewalCheckAt: at(-48 * time.Hour)},
		asset.Asset{SystemName: "no-certificate-id-never-checked"},
	)
	all := []string{"never-checked", "check-overdue", "backing-off", "check-an-hour-ago", "check-now"}

	tests := []struct {
		name  string
		limit int
		want  []string
	}{
		{"returns unchecked certificates first, then the earliest, skipping paused assets, those without a certificate ID and later checks", 100, all},
		{"stops at the limit, keeping the most overdue", 2, all[:2]},
		{"returns nothing for a zero limit", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.AssetsToRecheck(ctx, now, tt.limit)
			must(t, err)
			assertNames(t, got, tt.want...)
		})
	}

	t.Run("orders equal check times by system_name", func(t *testing.T) {
		s := newStore(t)
		createAssets(t, s,
			withID(asset.Asset{SystemName: "b", RenewalCheckAt: at(-time.Hour)}),
			withID(asset.Asset{SystemName: "c", RenewalCheckAt: at(-time.Hour)}),
			withID(asset.Asset{SystemName: "a", RenewalCheckAt: at(-time.Hour)}),
		)
		got, err := s.AssetsToRecheck(ctx, now, 10)
		must(t, err)
		assertNames(t, got, "a", "b", "c")
	})

	t.Run("returns whole assets", func(t *testing.T) {
		s := newStore(t)
		want := fullAsset("fw1")
		want.Paused = false
		must(t, s.CreateAsset(ctx, want))
		got, err := s.AssetsToRecheck(ctx, want.RenewalCheckAt.Add(time.Second), 10)
		must(t, err)
		if len(got) != 1 {
			t.Fatalf("got %d assets, want 1", len(got))
		}
		assertAsset(t, got[0], want)
	})

	t.Run("sees changes made by UpdateAsset", func(t *testing.T) {
		s := newStore(t)
		a := withID(asset.Asset{SystemName: "fw1"})
		createAssets(t, s, a)
		a.RenewalCheckAt = at(6 * time.Hour)
		must(t, s.UpdateAsset(ctx, a))
		got, err := s.AssetsToRecheck(ctx, now, 10)
		must(t, err)
		assertNames(t, got)
		got, err = s.AssetsToRecheck(ctx, now.Add(6*time.Hour), 10)
		must(t, err)
		assertNames(t, got, "fw1")

		// A certificate without an ID (its CA has no ARI) is never asked
		// about.
		a.RenewalCertID = ""
		must(t, s.UpdateAsset(ctx, a))
		got, err = s.AssetsToRecheck(ctx, now.Add(6*time.Hour), 10)
		must(t, err)
		assertNames(t, got)
	})
}
