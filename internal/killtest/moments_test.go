package killtest

import (
	"slices"
	"testing"
)

// A seed printed by a failing run replays its kill moments.
func TestTheSeedFixesTheKillMoments(t *testing.T) {
	const kills, devices = 10, 300
	first, again, other := drawKills(42, kills, devices), drawKills(42, kills, devices), drawKills(43, kills, devices)
	if !slices.Equal(first, again) {
		t.Errorf("seed 42 drew %v, then %v", first, again)
	}
	if slices.Equal(first, other) {
		t.Errorf("seeds 42 and 43 drew the same moments %v", first)
	}
	for i, m := range first {
		if m.afterIssued < 0 || m.afterIssued >= devices || m.delay < 0 || m.delay >= maxKillDelay {
			t.Errorf("moment %d = %+v, want after 0..%d issued and a delay under %s", i, m, devices-1, maxKillDelay)
		}
		if i > 0 && m.afterIssued < first[i-1].afterIssued {
			t.Errorf("moment %d (%d issued) comes before moment %d (%d issued)", i, m.afterIssued, i-1, first[i-1].afterIssued)
		}
	}
	if len(first) != kills {
		t.Errorf("%d moments for %d kills", len(first), kills)
	}
}
