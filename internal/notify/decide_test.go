package notify

import (
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/store"
)

// now is the clock of the decisions tested here.
var now = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func days(n float64) time.Duration { return time.Duration(n * 24 * float64(time.Hour)) }

func at(d time.Duration) *time.Time {
	t := now.Add(d)
	return &t
}

var failurePolicy = config.NotifyFailure{EscalateAfter: 3, EscalateDaysLeft: 7}

// ending is rotation id of fw1 ending in state, its asset's failure count
// going from before to after, with the certificate expiring in left.
func ending(id int64, state store.State, before, after int, left time.Duration) rotation.Ending {
	lastSuccess := now.Add(-days(60))
	a := asset.Asset{SystemName: "fw1.example.com", LastRotation: &lastSuccess, CertificateExpiration: at(left), CertificateSerial: "4a1b"}
	e := rotation.Ending{Rotation: store.Rotation{ID: id, Asset: a.SystemName, State: state}, Before: a.Clone(), After: a.Clone()}
	e.Before.FailureCount, e.After.FailureCount = before, after
	if state != store.StateSucceeded {
		e.Step, e.Err = rotation.StepInstall, errors.New("reload failed")
	} else {
		success := now
		e.After.LastRotation, e.After.CertificateExpiration = &success, at(days(90))
	}
	return e
}

func TestDecideEnding(t *testing.T) {
	// The streak since the last success, 60 days before now.
	s := "fw1.example.com/" + strconv.FormatInt(now.Add(-days(60)).Unix(), 10)
	tests := []struct {
		name   string
		ending rotation.Ending
		told   told
		want   *decision
	}{
		{
			name:   "tells the first failure of a streak",
			ending: ending(1, store.StateFailed, 0, 1, days(40)),
			want:   &decision{Kind: RotationFailed, Keys: []string{failedKey(s)}},
		},
		{
			name:   "tells nothing of the second failure",
			ending: ending(2, store.StateFailed, 1, 2, days(40)),
			told:   told{failed: true},
		},
		{
			name:   "escalates once the streak reaches escalate_after failures",
			ending: ending(3, store.StateFailed, 2, 3, days(40)),
			told:   told{failed: true},
			want:   &decision{Kind: RotationFailed, Escalated: true, Keys: []string{escalatedKey(s)}},
		},
		{
			name:   "tells nothing more of an escalated streak",
			ending: ending(4, store.StateFailed, 3, 4, days(2)),
			told:   told{failed: true, escalated: true},
		},
		{
			name:   "escalates when the certificate has fewer than escalate_days_left days left",
			ending: ending(2, store.StateFailed, 1, 2, days(6.9)),
			told:   told{failed: true},
			want:   &decision{Kind: RotationFailed, Escalated: true, Keys: []string{escalatedKey(s)}},
		},
		{
			name:   "does not escalate with exactly escalate_days_left days left",
			ending: ending(2, store.StateFailed, 1, 2, days(7)+time.Minute),
			told:   told{failed: true},
		},
		{
			name:   "tells a first failure that already escalates once, escalated",
			ending: ending(1, store.StateFailed, 0, 1, days(3)),
			want:   &decision{Kind: RotationFailed, Escalated: true, Keys: []string{failedKey(s), escalatedKey(s)}},
		},
		{
			name:   "tells a streak whose first failure was before notifications, when it next fails",
			ending: ending(5, store.StateFailed, 1, 2, days(40)),
			want:   &decision{Kind: RotationFailed, Keys: []string{failedKey(s)}},
		},
		{
			name:   "tells every rollback, which starts the streak",
			ending: ending(6, store.StateRolledBack, 0, 1, days(40)),
			want:   &decision{Kind: RotationRolledBack, Keys: []string{rolledBackKey(6), failedKey(s)}},
		},
		{
			name:   "tells a rollback within a told streak, which escalates it",
			ending: ending(7, store.StateRolledBack, 2, 3, days(40)),
			told:   told{failed: true},
			want:   &decision{Kind: RotationRolledBack, Escalated: true, Keys: []string{rolledBackKey(7), escalatedKey(s)}},
		},
		{
			name:   "tells the recovery of a told streak",
			ending: ending(8, store.StateSucceeded, 3, 0, 0),
			told:   told{failed: true, escalated: true},
			want:   &decision{Kind: RotationRecovered, Keys: []string{recoveredKey(s)}},
		},
		{
			name:   "tells a recovery once",
			ending: ending(9, store.StateSucceeded, 3, 0, 0),
			told:   told{failed: true, recovered: true},
		},
		{
			name:   "tells no recovery of a streak never told",
			ending: ending(8, store.StateSucceeded, 2, 0, 0),
		},
		{
			name:   "tells nothing of a success after a success",
			ending: ending(10, store.StateSucceeded, 0, 0, 0),
		},
		{
			name: "tells no recovery of a success that recorded nothing",
			ending: func() rotation.Ending {
				e := ending(11, store.StateSucceeded, 2, 2, 0)
				e.After = e.Before
				return e
			}(),
			told: told{failed: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := decideEnding(tt.ending, tt.told, failurePolicy, now)
			switch {
			case tt.want == nil && ok:
				t.Errorf("decided %+v, want nothing told", got)
			case tt.want != nil && !ok:
				t.Errorf("decided nothing, want %+v", *tt.want)
			case tt.want != nil && (got.Kind != tt.want.Kind || got.Escalated != tt.want.Escalated || !slices.Equal(got.Keys, tt.want.Keys)):
				t.Errorf("decided %+v, want %+v", got, *tt.want)
			}
		})
	}
}

func TestAStreakIsNamedByTheLastSuccess(t *testing.T) {
	first := ending(1, store.StateFailed, 0, 1, days(40))
	recovered := ending(2, store.StateSucceeded, 1, 0, 0)
	next := ending(3, store.StateFailed, 0, 1, days(80))
	next.Before.LastRotation, next.After.LastRotation = recovered.After.LastRotation, recovered.After.LastRotation
	if streak(first.After) != streak(recovered.Before) {
		t.Errorf("the failure's streak %q and the recovery's %q differ", streak(first.After), streak(recovered.Before))
	}
	if streak(next.After) == streak(first.After) {
		t.Errorf("the streak after the recovery is named %q, like the one before", streak(next.After))
	}
	if got := streak(asset.Asset{SystemName: "new.example.com"}); got != "new.example.com/never" {
		t.Errorf("the streak of an asset never rotated is %q", got)
	}
}

func TestDecideExpiry(t *testing.T) {
	thresholds := []int{30, 14, 7, 3, 1}
	renewedAtAThird := func(lifetime, left time.Duration) asset.Asset {
		return asset.Asset{SystemName: "fw1.example.com", CertificateSerial: "04:A1:B2",
			CertificateNotBefore: at(left - lifetime), CertificateExpiration: at(left)}
	}
	renewal := func(a asset.Asset) *time.Time {
		// A third of the lifetime left, the default policy.
		t := a.CertificateExpiration.Add(-a.CertificateExpiration.Sub(*a.CertificateNotBefore) / 3)
		return &t
	}
	tests := []struct {
		name   string
		asset  asset.Asset
		reason string
		want   int // 0: nothing told
	}{
		{"tells nothing of a certificate with more days left than every threshold", renewedAtAThird(days(90), days(31)), ReasonPaused, 0},
		{"tells a paused certificate at 30 days", renewedAtAThird(days(90), days(30)), ReasonPaused, 30},
		{"tells one without a route at 14 days", renewedAtAThird(days(90), days(13.5)), ReasonNoRoute, 14},
		{"tells only the smallest threshold crossed", renewedAtAThird(days(90), days(2)), ReasonFailing, 3},
		{"tells an expired certificate at the last threshold", renewedAtAThird(days(90), -days(2)), ReasonFailing, 1},
		{"keeps a healthy certificate becoming due at 30 days out of the news", renewedAtAThird(days(90), days(29.9)), "", 0},
		{"tells a healthy certificate that is late by more than a day", renewedAtAThird(days(90), days(13.9)), "", 14},
		{"keeps a short-lived certificate's renewal out of the news", renewedAtAThird(days(6), days(5)), "", 0},
		{"tells a short-lived certificate a day before it expires, a day late", renewedAtAThird(days(6), days(1)), "", 1},
		{"tells nothing of an unknown expiry", asset.Asset{SystemName: "new.example.com"}, ReasonNoRoute, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r *time.Time
			if tt.asset.CertificateExpiration != nil {
				r = renewal(tt.asset)
			}
			got, ok := decideExpiry(tt.asset, thresholds, tt.reason, r, now)
			if !ok {
				got = 0
			}
			if got != tt.want {
				t.Errorf("told at %d days, want %d (0: not told)", got, tt.want)
			}
		})
	}
}

func TestReasonOf(t *testing.T) {
	later, earlier := now.Add(time.Hour), now.Add(-time.Hour)
	tests := []struct {
		name      string
		asset     asset.Asset
		routed    bool
		heldUntil time.Time
		want      string
	}{
		{"says nothing of an asset on its way", asset.Asset{}, true, time.Time{}, ""},
		{"names a pause first", asset.Asset{Paused: true, FailureCount: 2}, false, later, ReasonPaused},
		{"names a missing route", asset.Asset{FailureCount: 2}, false, later, ReasonNoRoute},
		{"names a CA holding orders back", asset.Asset{FailureCount: 2}, true, later, ReasonRateLimited},
		{"forgets a CA's hold once it is over", asset.Asset{}, true, earlier, ""},
		{"names failures", asset.Asset{FailureCount: 1, NextAttemptAt: &later}, true, time.Time{}, ReasonFailing},
		{"names a backoff without failures", asset.Asset{NextAttemptAt: &later}, true, time.Time{}, ReasonBackoff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := reasonOf(tt.asset, tt.routed, tt.heldUntil, now); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDriftSerials(t *testing.T) {
	tests := []struct {
		name     string
		recorded string
		seen     []string
		want     []string
	}{
		{"sees no drift in the recorded certificate written another way", "04:A1:B2", []string{"4a1b2"}, nil},
		{"sees another certificate once", "4a1b2", []string{"5c", "5C", ""}, []string{"5c"}},
		{"sees nothing without a recorded certificate", "", []string{"5c"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := driftSerials(tt.recorded, tt.seen...); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDaysLeft(t *testing.T) {
	for left, want := range map[time.Duration]int{days(7): 7, days(7) - time.Second: 6, time.Hour: 0, -time.Hour: -1} {
		if got := daysLeft(now.Add(left), now); got != want {
			t.Errorf("%v before expiry: %d days left, want %d", left, got, want)
		}
	}
}
