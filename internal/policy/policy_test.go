package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
)

// now is the fixed clock every test decides at.
var now = time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func at(d time.Duration) *time.Time {
	t := now.Add(d)
	return &t
}

// issued returns an asset whose certificate was issued age ago with the
// given lifetime.
func issued(age, lifetime time.Duration) asset.Asset {
	return asset.Asset{
		SystemName:            "fw1.example.com",
		CertificateNotBefore:  at(-age),
		CertificateExpiration: at(lifetime - age),
	}
}

// noJitter keeps expected times exact where jitter is not the subject.
var noJitter = Settings{Jitter: -1}

func TestDecide(t *testing.T) {
	tests := []struct {
		name          string
		asset         asset.Asset
		force         bool
		settings      Settings
		wantDue       bool
		wantReason    string
		wantMessage   string    // a part of the message
		wantNotBefore time.Time // checked when not zero
	}{
		{
			name:        "renews when less than a third of the lifetime is left",
			asset:       issued(61*day, 90*day),
			settings:    noJitter,
			wantDue:     true,
			wantReason:  ReasonLifetimeFraction,
			wantMessage: "less than 1/3 of the 90-day lifetime left (expires 2026-10-30T12:00:00Z)",
		},
		{
			name:          "waits while more than a third of the lifetime is left",
			asset:         issued(59*day, 90*day),
			settings:      noJitter,
			wantReason:    ReasonNotDue,
			wantMessage:   "renews from 2026-10-02T12:00:00Z, when less than 1/3 of the 90-day lifetime left (expires 2026-11-01T12:00:00Z)",
			wantNotBefore: now.Add(day),
		},
		{
			name:        "renews a short-lived certificate by its own lifetime",
			asset:       issued(5*day, 6*day),
			settings:    noJitter,
			wantDue:     true,
			wantReason:  ReasonLifetimeFraction,
			wantMessage: "1/3 of the 6-day lifetime",
		},
		{
			name:          "does not renew a fresh short-lived certificate",
			asset:         issued(day, 6*day),
			settings:      noJitter,
			wantReason:    ReasonNotDue,
			wantNotBefore: now.Add(3 * day),
		},
		{
			name:        "renews an expired certificate and says so",
			asset:       issued(100*day, 90*day),
			wantDue:     true,
			wantReason:  ReasonLifetimeFraction,
			wantMessage: "the certificate expired at 2026-09-21T12:00:00Z",
		},
		{
			name: "assumes a 90-day lifetime when the issue date is unknown and says so",
			asset: asset.Asset{SystemName: "fw1.example.com",
				CertificateExpiration: at(29 * day)},
			settings:    noJitter,
			wantDue:     true,
			wantReason:  ReasonLifetimeFraction,
			wantMessage: "the lifetime is taken as 90 days since the issue date is unknown",
		},
		{
			name:        "honours a custom fraction",
			asset:       issued(60*day, 90*day),
			settings:    Settings{RenewFraction: 0.25, Jitter: -1},
			wantDue:     false,
			wantReason:  ReasonNotDue,
			wantMessage: "1/4 of the 90-day lifetime",
		},
		{
			name:        "words a fraction that is not one over a whole number as a percentage",
			asset:       issued(60*day, 90*day),
			settings:    Settings{RenewFraction: 0.4, Jitter: -1},
			wantDue:     true,
			wantReason:  ReasonLifetimeFraction,
			wantMessage: "less than 40% of the 90-day lifetime left",
		},
		{
			name:        "renews with fewer than fixed_days left when configured",
			asset:       issued(61*day, 90*day),
			settings:    Settings{FixedDays: 30, Jitter: -1},
			wantDue:     true,
			wantReason:  ReasonFixedDays,
			wantMessage: "fewer than 30 days left (expires 2026-10-30T12:00:00Z)",
		},
		{
			name:          "waits with more than fixed_days left",
			asset:         issued(50*day, 90*day),
			settings:      Settings{FixedDays: 30, Jitter: -1},
			wantReason:    ReasonNotDue,
			wantMessage:   "when fewer than 30 days left (expires",
			wantNotBefore: now.Add(10 * day),
		},
		{
			name: "uses fixed_days with an unknown issue date, as Ottr did",
			asset: asset.Asset{SystemName: "fw1.example.com",
				CertificateExpiration: at(29 * day)},
			settings:   Settings{FixedDays: 30, Jitter: -1},
			wantDue:    true,
			wantReason: ReasonFixedDays,
		},
		{
			name:          "ignores fixed_days longer than a short lifetime instead of renewing forever",
			asset:         issued(time.Hour, 6*day),
			settings:      Settings{FixedDays: 30, Jitter: -1},
			wantReason:    ReasonNotDue,
			wantMessage:   "fixed_days 30 does not apply",
			wantNotBefore: now.Add(4*day - time.Hour),
		},
		{
			name:        "renews when the expiry is unknown",
			asset:       asset.Asset{SystemName: "new.example.com"},
			wantDue:     true,
			wantReason:  ReasonExpiryUnknown,
			wantMessage: "expiry is unknown",
		},
		{
			name:        "renews once the CA's renewal window has closed",
			asset:       withWindow(issued(10*day, 90*day), now.Add(-2*day), now.Add(-day)),
			wantDue:     true,
			wantReason:  ReasonARIWindow,
			wantMessage: "the CA's renewal window closed at 2026-09-30T12:00:00Z",
		},
		{
			name:        "renews inside the CA's renewal window once the asset's point has passed",
			asset:       withWindow(issued(10*day, 90*day), now.Add(-2*day), now.Add(time.Nanosecond)),
			wantDue:     true,
			wantReason:  ReasonARIWindow,
			wantMessage: "the CA's renewal window is open",
		},
		{
			name:          "waits for a renewal window that has not opened",
			asset:         withWindow(issued(10*day, 90*day), now.Add(2*day), now.Add(3*day)),
			wantReason:    ReasonNotDue,
			wantMessage:   "inside the CA's renewal window",
			wantNotBefore: ariPoint(withWindow(issued(10*day, 90*day), now.Add(2*day), now.Add(3*day))),
		},
		{
			name:       "renews by lifetime before a late renewal window",
			asset:      withWindow(issued(61*day, 90*day), now.Add(20*day), now.Add(21*day)),
			settings:   noJitter,
			wantDue:    true,
			wantReason: ReasonLifetimeFraction,
		},
		{
			name:        "leaves a paused asset alone even when expired",
			asset:       paused(issued(100*day, 90*day)),
			wantReason:  ReasonPaused,
			wantMessage: "resume it, or rotate it by hand",
		},
		{
			name:       "leaves a paused asset with unknown expiry alone",
			asset:      paused(asset.Asset{SystemName: "new.example.com"}),
			wantReason: ReasonPaused,
		},
		{
			name:          "holds a failing device back for the backoff",
			asset:         failing(issued(61*day, 90*day), 3, now.Add(20*time.Minute)),
			wantReason:    ReasonBackingOff,
			wantMessage:   "the last 3 rotations failed; held back until 2026-10-01T12:20:00Z",
			wantNotBefore: now.Add(20 * time.Minute),
		},
		{
			name:          "holds a device after its first failure",
			asset:         failing(asset.Asset{SystemName: "new.example.com"}, 1, now.Add(5*time.Minute)),
			wantReason:    ReasonBackingOff,
			wantMessage:   "the last rotation failed",
			wantNotBefore: now.Add(5 * time.Minute),
		},
		{
			name:       "retries once the backoff has passed",
			asset:      failing(issued(61*day, 90*day), 3, now.Add(-time.Second)),
			settings:   noJitter,
			wantDue:    true,
			wantReason: ReasonLifetimeFraction,
		},
		{
			name:       "retries exactly when the backoff ends",
			asset:      failing(asset.Asset{SystemName: "new.example.com"}, 2, now),
			wantDue:    true,
			wantReason: ReasonExpiryUnknown,
		},
		{
			name:        "forced rotation overrides pause",
			asset:       paused(issued(time.Hour, 90*day)),
			force:       true,
			wantDue:     true,
			wantReason:  ReasonForced,
			wantMessage: "overrides the pause",
		},
		{
			name:        "forced rotation overrides backoff",
			asset:       failing(issued(time.Hour, 90*day), 4, now.Add(time.Hour)),
			force:       true,
			wantDue:     true,
			wantReason:  ReasonForced,
			wantMessage: "overrides the backoff until 2026-10-01T13:00:00Z",
		},
		{
			name:        "forced rotation renews a fresh certificate",
			asset:       issued(time.Hour, 90*day),
			force:       true,
			wantDue:     true,
			wantReason:  ReasonForced,
			wantMessage: "an operator asked for this rotation",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(Input{Asset: tt.asset, Now: now, Force: tt.force, Settings: tt.settings})
			if d.Due != tt.wantDue || d.Reason != tt.wantReason {
				t.Errorf("Decide = due %v, %s (%s); want due %v, %s", d.Due, d.Reason, d.Message, tt.wantDue, tt.wantReason)
			}
			if !strings.Contains(d.Message, tt.wantMessage) {
				t.Errorf("message = %q, want it to contain %q", d.Message, tt.wantMessage)
			}
			if !tt.wantNotBefore.IsZero() && !d.NotBefore.Equal(tt.wantNotBefore) {
				t.Errorf("NotBefore = %s, want %s", d.NotBefore, tt.wantNotBefore)
			}
			if d.Due && !d.NotBefore.IsZero() {
				t.Errorf("NotBefore = %s on a due decision, want zero", d.NotBefore)
			}
		})
	}
}

func withWindow(a asset.Asset, start, end time.Time) asset.Asset {
	a.RenewalWindow = &asset.Window{Start: start, End: end}
	return a
}

func paused(a asset.Asset) asset.Asset {
	a.Paused = true
	return a
}

func failing(a asset.Asset, failures int, next time.Time) asset.Asset {
	a.FailureCount = failures
	a.NextAttemptAt = &next
	return a
}

func TestJitter(t *testing.T) {
	// 90-day certificate: due at day 60 before jitter, 30 days left then.
	base := issued(0, 90*day)
	renewal := now.Add(60 * day)

	t.Run("holds a due asset until its own point in the jitter span", func(t *testing.T) {
		d := Decide(Input{Asset: base, Now: renewal})
		if d.Due {
			t.Fatalf("premise: %q must hash to a non-zero jitter; pick another name", base.SystemName)
		}
		if d.Reason != ReasonNotDue || !d.NotBefore.After(renewal) || !d.NotBefore.Before(renewal.Add(time.Hour)) {
			t.Errorf("Decide at the renewal time = %+v, want not due until within the hour after %s", d, renewal)
		}
		if !strings.Contains(d.Message, "of jitter") {
			t.Errorf("message = %q, want it to mention the jitter", d.Message)
		}
		if later := Decide(Input{Asset: base, Now: d.NotBefore}); !later.Due {
			t.Errorf("Decide at NotBefore = %+v, want due", later)
		}
	})

	t.Run("gives the same asset the same point on every scan", func(t *testing.T) {
		first := Decide(Input{Asset: base, Now: renewal})
		for range 3 {
			if again := Decide(Input{Asset: base, Now: renewal}); again.NotBefore != first.NotBefore {
				t.Fatalf("NotBefore moved: %s then %s", first.NotBefore, again.NotBefore)
			}
		}
	})

	t.Run("spreads many assets over the jitter span", func(t *testing.T) {
		seen := map[time.Time]bool{}
		var earliest, latest time.Duration = time.Hour, 0
		for i := range 200 {
			a := base
			a.SystemName = "fw" + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + ".example.com"
			d := Decide(Input{Asset: a, Now: renewal})
			nb := d.NotBefore
			if d.Due {
				nb = renewal
			}
			offset := nb.Sub(renewal)
			if offset < 0 || offset >= time.Hour {
				t.Fatalf("offset %s outside [0, 1h)", offset)
			}
			seen[nb] = true
			earliest, latest = min(earliest, offset), max(latest, offset)
		}
		if len(seen) < 190 || earliest > 5*time.Minute || latest < 55*time.Minute {
			t.Errorf("200 assets spread over %d instants from +%s to +%s; want them spread over the hour", len(seen), earliest, latest)
		}
	})

	t.Run("never uses more than a tenth of what is left", func(t *testing.T) {
		// A 3-hour certificate is due with an hour left: jitter at most 6m.
		a := issued(0, 3*time.Hour)
		renewal := now.Add(2 * time.Hour)
		d := Decide(Input{Asset: a, Now: renewal, Settings: Settings{Jitter: 24 * time.Hour}})
		nb := d.NotBefore
		if d.Due {
			nb = renewal
		}
		if offset := nb.Sub(renewal); offset < 0 || offset >= 6*time.Minute {
			t.Errorf("jitter = %s, want within [0, 6m)", offset)
		}
	})

	t.Run("is off when negative", func(t *testing.T) {
		if d := Decide(Input{Asset: base, Now: renewal, Settings: noJitter}); !d.Due {
			t.Errorf("Decide with jitter off = %+v, want due at the renewal time", d)
		}
	})
}

func TestARIPointIsInsideTheWindow(t *testing.T) {
	for _, name := range []string{"a.example.com", "b.example.com", "fw1.example.com", ""} {
		a := withWindow(asset.Asset{SystemName: name}, now, now.Add(2*day))
		p := ariPoint(a)
		if p.Before(now) || !p.Before(now.Add(2*day)) {
			t.Errorf("point for %q = %s, want within [%s, %s)", name, p, now, now.Add(2*day))
		}
	}
}

func TestRenewalTime(t *testing.T) {
	tests := []struct {
		name     string
		asset    asset.Asset
		settings Settings
		want     *time.Time
	}{
		{"is nil when the expiry is unknown", asset.Asset{}, Settings{}, nil},
		{"is two thirds into the lifetime by default", issued(0, 90*day), Settings{}, at(60 * day)},
		{"is fixed_days before expiry", issued(0, 90*day), Settings{FixedDays: 30}, at(60 * day)},
		{"uses fixed_days of 10", issued(0, 90*day), Settings{FixedDays: 10}, at(80 * day)},
		{"assumes 90 days when the issue date is unknown",
			asset.Asset{CertificateExpiration: at(90 * day)}, Settings{}, at(60 * day)},
		{"is the start of an earlier ARI window",
			withWindow(issued(0, 90*day), now.Add(40*day), now.Add(42*day)), Settings{}, at(40 * day)},
		{"ignores a later ARI window",
			withWindow(issued(0, 90*day), now.Add(70*day), now.Add(72*day)), Settings{}, at(60 * day)},
		{"ignores pause and backoff",
			failing(paused(issued(0, 90*day)), 3, now.Add(100*day)), Settings{}, at(60 * day)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RenewalTime(tt.asset, tt.settings)
			switch {
			case got == nil && tt.want == nil:
			case got == nil || tt.want == nil || !got.Equal(*tt.want):
				t.Errorf("RenewalTime = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRenewalTimeIsNeverAfterTheDecisionSaysDue(t *testing.T) {
	// The store selects by RenewalTime <= now; every asset Decide finds
	// due by expiry must be selected.
	for age := time.Duration(0); age <= 90*day; age += 12 * time.Hour {
		a := issued(age, 90*day)
		if d := Decide(Input{Asset: a, Now: now}); d.Due {
			if rt := RenewalTime(a, Settings{}); rt.After(now) {
				t.Fatalf("age %s: due, but RenewalTime %s is after now", age, rt)
			}
		}
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		name     string
		failures int
		settings Settings
		want     time.Duration
	}{
		{"does not wait without failures", 0, Settings{}, 0},
		{"waits the base after the first failure", 1, Settings{}, 5 * time.Minute},
		{"doubles with each failure", 2, Settings{}, 10 * time.Minute},
		{"doubles again", 4, Settings{}, 40 * time.Minute},
		{"caps backoff at 24 hours", 10, Settings{}, 24 * time.Hour},
		{"stays capped for very long streaks", 1 << 30, Settings{}, 24 * time.Hour},
		{"uses a configured base and cap", 3, Settings{BackoffBase: time.Minute, BackoffMax: 3 * time.Minute}, 3 * time.Minute},
		{"never exceeds a cap below the base", 1, Settings{BackoffBase: time.Hour, BackoffMax: time.Minute}, time.Minute},
		{"treats negative counts as none", -1, Settings{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Backoff(tt.failures, tt.settings); got != tt.want {
				t.Errorf("Backoff(%d) = %s, want %s", tt.failures, got, tt.want)
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	got := Settings{}.WithDefaults()
	want := Settings{RenewFraction: 1.0 / 3, BackoffBase: 5 * time.Minute, BackoffMax: 24 * time.Hour, Jitter: time.Hour}
	if got != want {
		t.Errorf("WithDefaults = %+v, want %+v", got, want)
	}
	kept := Settings{RenewFraction: 0.5, FixedDays: 30, BackoffBase: time.Minute, BackoffMax: time.Hour, Jitter: -1}
	if got := kept.WithDefaults(); got != kept {
		t.Errorf("WithDefaults changed set values: %+v", got)
	}
}

func TestValidateSettings(t *testing.T) {
	tests := []struct {
		name     string
		settings Settings
		wantErr  string
	}{
		{"accepts the defaults", Settings{}, ""},
		{"rejects a fraction of one or more", Settings{RenewFraction: 1}, "renew_fraction 1 must be between 0 and 1"},
		{"rejects a negative fraction", Settings{RenewFraction: -0.1}, "renew_fraction"},
		{"rejects negative fixed days", Settings{FixedDays: -30}, "fixed_days -30"},
		{"rejects a cap below the base", Settings{BackoffBase: time.Hour, BackoffMax: time.Minute}, "backoff_max 1m0s must be at least backoff_base 1h0m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.settings.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Validate = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestChainStopsAtTheFirstDecision(t *testing.T) {
	calls := 0
	count := func(Input) (Decision, bool) { calls++; return Decision{}, false }
	decide := func(Input) (Decision, bool) { return Decision{Due: true, Reason: "custom"}, true }
	d := Chain{count, decide, count}.Decide(Input{Now: now})
	if !d.Due || d.Reason != "custom" || calls != 1 {
		t.Errorf("Decide = %+v after %d calls; want the custom decision after 1", d, calls)
	}
	if d := (Chain{}).Decide(Input{Now: now}); d.Due || d.Reason != ReasonNotDue {
		t.Errorf("empty chain = %+v, want not due", d)
	}
}
