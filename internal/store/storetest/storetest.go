// Package storetest is the conformance suite for store.Store: every
// implementation (SQLite, PostgreSQL) runs the same Run, so they keep one
// contract, the one written in package store.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
)

// newStoreFunc is Run's argument, passed on to each group of tests.
type newStoreFunc = func(t *testing.T) store.Store

// Run checks that the stores newStore makes keep the store.Store contract.
// newStore must return a fresh, empty store for the test it is given and
// arrange, with t.Cleanup, for it to be closed and removed; each subtest
// gets its own store.
//
// Beyond what package store spells out, the suite expects what every caller
// relies on: a store refuses an asset with an empty system_name; empty SAN
// lists and label maps may come back nil; a rotation's journal lists steps in
// the order they were first written, and a rewritten step keeps its place;
// a store refuses a user whose role is not one of the three, and an audit
// event whose Before or After is not JSON; a deleted user's audit events
// stay.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("assets", func(t *testing.T) { runAssetTests(t, newStore) })
	t.Run("listing assets", func(t *testing.T) { runListTests(t, newStore) })
	t.Run("due assets", func(t *testing.T) { runDueTests(t, newStore) })
	t.Run("assets to recheck", func(t *testing.T) { runRecheckTests(t, newStore) })
	t.Run("importing assets", func(t *testing.T) { runImportTests(t, newStore) })
	t.Run("rotations", func(t *testing.T) { runRotationTests(t, newStore) })
	t.Run("journal and log", func(t *testing.T) { runJournalTests(t, newStore) })
	t.Run("listing rotations", func(t *testing.T) { runListRotationTests(t, newStore) })
	t.Run("secrets", func(t *testing.T) { runSecretTests(t, newStore) })
	t.Run("users", func(t *testing.T) { runUserTests(t, newStore) })
	t.Run("audit trail", func(t *testing.T) { runAuditTests(t, newStore) })
	t.Run("concurrency", func(t *testing.T) { runConcurrencyTests(t, newStore) })
	t.Run("notifications", func(t *testing.T) { runNotificationTests(t, newStore) })
}

// base is the instant the suite's times are built around: whole seconds,
// so every implementation keeps them exactly.
var base = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// at returns base moved by d, as a pointer for Asset's optional times.
func at(d time.Duration) *time.Time {
	t := base.Add(d)
	return &t
}

// elsewhere is a zone other than UTC: the store must return UTC whatever
// zone it was given.
var elsewhere = time.FixedZone("UTC+2", 2*60*60)

// fullAsset returns an asset with every field set, its times in a zone
// other than UTC.
func fullAsset(name string) asset.Asset {
	in := func(d time.Duration) *time.Time {
		t := base.Add(d).In(elsewhere)
		return &t
	}
	return asset.Asset{
		SystemName:             name,
		CommonName:             name + ".example.com",
		SubjectAlternativeName: []string{"z." + name + ".example.com", name + ".example.com", "a." + name + ".example.com"},
		CertificateAuthority:   "lets_encrypt",
		CertificateExpiration:  in(60 * 24 * time.Hour),
		CertificateValidation:  true,
		DataCenter:             "dc1",
		DeviceModel:            "PA-3220",
		HostPlatform:           "panos",
		IPAddress:              "192.0.2.10",
		Origin:                 "netbox",
		OSVersion:              "10.2.3",
		Port:                   8443,
		Labels:                 map[string]string{"team": "netops", "tier": "1"},
		Credentials:            "panos-admin",
		KeyType:                asset.KeyECDSA256,
		Paused:                 true,
		CertificateSerial:      "04:a1:b2",
		CertificateIssuer:      "CN=R11,O=Let's Encrypt,C=US",
		CertificateNotBefore:   in(-30 * 24 * time.Hour),
		LastRotation:           in(-30 * 24 * time.Hour),
		FailureCount:           3,
		NextAttemptAt:          in(2 * time.Hour),
		RenewalWindow:          &asset.Window{Start: base.Add(29 * 24 * time.Hour).In(elsewhere), End: base.Add(31 * 24 * time.Hour).In(elsewhere)},
		RenewalTime:            in(30 * 24 * time.Hour),
		RenewalCertID:          "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
		RenewalCertCA:          "lets_encrypt",
		RenewalCheckAt:         in(6 * time.Hour),
	}
}

// normalized returns a copy of a with times in UTC without monotonic
// readings, and empty SAN lists and label maps as nil, so two assets that
// mean the same compare equal.
func normalized(a asset.Asset) asset.Asset {
	a = a.Clone()
	if len(a.SubjectAlternativeName) == 0 {
		a.SubjectAlternativeName = nil
	}
	if len(a.Labels) == 0 {
		a.Labels = nil
	}
	for _, p := range []**time.Time{&a.CertificateExpiration, &a.CertificateNotBefore, &a.LastRotation, &a.NextAttemptAt, &a.RenewalTime, &a.RenewalCheckAt} {
		if *p != nil {
			u := (*p).UTC().Round(0)
			*p = &u
		}
	}
	if a.RenewalWindow != nil {
		a.RenewalWindow.Start = a.RenewalWindow.Start.UTC().Round(0)
		a.RenewalWindow.End = a.RenewalWindow.End.UTC().Round(0)
	}
	return a
}

// assertAsset fails t unless got and want mean the same asset.
func assertAsset(t *testing.T, got, want asset.Asset) {
	t.Helper()
	g, w := mustJSON(t, normalized(got)), mustJSON(t, normalized(want))
	if g != w {
		t.Errorf("asset differs\n got: %s\nwant: %s", g, w)
	}
}

// assertNames fails t unless assets holds exactly the named assets, in order.
func assertNames(t *testing.T, assets []asset.Asset, want ...string) {
	t.Helper()
	got := make([]string, len(assets))
	for i, a := range assets {
		got[i] = a.SystemName
	}
	if mustJSON(t, got) != mustJSON(t, append([]string{}, want...)) {
		t.Errorf("got assets %q, want %q", got, want)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode %T: %v", v, err)
	}
	return string(b)
}

// assertIs fails t unless errors.Is(err, target).
func assertIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("got error %v, want one wrapping %q", err, target)
	}
}

// must fails t at once on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// createAssets creates every asset or fails t.
func createAssets(t *testing.T, s store.Store, assets ...asset.Asset) {
	t.Helper()
	for _, a := range assets {
		must(t, s.CreateAsset(context.Background(), a))
	}
}

// assertUTC fails t unless every time is in UTC.
func assertUTC(t *testing.T, what string, times ...*time.Time) {
	t.Helper()
	for _, tm := range times {
		if tm != nil && tm.Location() != time.UTC {
			t.Errorf("%s: time %v is in %v, want UTC", what, tm, tm.Location())
		}
	}
}
