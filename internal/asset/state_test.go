package asset

import (
	"slices"
	"testing"
	"time"
)

func TestAnAssetIsInTheFirstFleetStateThatApplies(t *testing.T) {
	now := time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	// issued has a certificate expiring in 60 days, renewed in 30.
	issued := func(change func(*Asset)) Asset {
		a := Asset{SystemName: "fw1.example.com", CertificateExpiration: at(60 * 24 * time.Hour), RenewalTime: at(30 * 24 * time.Hour)}
		if change != nil {
			change(&a)
		}
		return a
	}
	tests := []struct {
		name             string
		asset            Asset
		routed, rotating bool
		want             string
	}{
		{"a certificate before its renewal time is ok", issued(nil), true, false, StateOK},
		{"a second before its renewal time it is still ok", issued(func(a *Asset) { a.RenewalTime = at(time.Second) }), true, false, StateOK},
		{"at its renewal time it is due", issued(func(a *Asset) { a.RenewalTime = at(0) }), true, false, StateDue},
		{"past its renewal time it is due", issued(func(a *Asset) { a.RenewalTime = at(-time.Hour) }), true, false, StateDue},
		{"an unknown expiry is due", issued(func(a *Asset) { a.CertificateExpiration, a.RenewalTime = nil, nil }), true, false, StateDue},
		{"a known expiry whose renewal time is not computed yet is due", issued(func(a *Asset) { a.RenewalTime = nil }), true, false, StateDue},
		{"a failed last rotation is failing, due or not", issued(func(a *Asset) { a.FailureCount = 1 }), true, false, StateFailing},
		{"a rotation under way is rotating, even after failures", issued(func(a *Asset) { a.FailureCount = 2 }), true, true, StateRotating},
		{"no route taking it is unrouted, whatever else holds", issued(func(a *Asset) { a.FailureCount, a.RenewalTime = 1, nil }), false, true, StateUnrouted},
		{"paused wins over everything", issued(func(a *Asset) { a.Paused, a.FailureCount, a.RenewalTime = true, 3, nil }), false, true, StatePaused},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.asset.State(tt.routed, tt.rotating, now); got != tt.want {
				t.Errorf("State(routed %v, rotating %v) = %s, want %s", tt.routed, tt.rotating, got, tt.want)
			}
		})
		seen[tt.want] = true
	}
	for _, s := range States() {
		if !seen[s] {
			t.Errorf("no case decides %s", s)
		}
		delete(seen, s)
	}
	if len(seen) != 0 {
		t.Errorf("States() = %v lacks %v", States(), seen)
	}
	if s := States(); len(s) != len(slices.Compact(slices.Sorted(slices.Values(s)))) {
		t.Errorf("States() = %v names a state twice", s)
	}
}
