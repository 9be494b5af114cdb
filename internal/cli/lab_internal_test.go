package cli

import (
	"math"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/rotation"
)

// The wave's step medians come from buckets 1 % apart, not from every
// duration: they must still be the median, within 1 %.
func TestStepTimesMedianIsWithinOnePercent(t *testing.T) {
	for _, tc := range []struct {
		name      string
		durations []time.Duration
		want      time.Duration
	}{
		{"one rotation", []time.Duration{1200 * time.Millisecond}, 1200 * time.Millisecond},
		{"an odd number, spread out", []time.Duration{2 * time.Millisecond, 9 * time.Millisecond, 40 * time.Millisecond, 3 * time.Second, 5 * time.Second}, 40 * time.Millisecond},
		{"a slow tail does not move it", []time.Duration{10 * time.Millisecond, 11 * time.Millisecond, 12 * time.Millisecond, time.Minute, time.Minute}, 12 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := stepTimes{counts: map[rotation.Step]map[int]int64{}}
			for _, d := range tc.durations {
				s.add(rotation.StepIssue, d)
			}
			got := s.median(rotation.StepIssue)
			if off := math.Abs(float64(got-tc.want)) / float64(tc.want); off > 0.01 {
				t.Errorf("median = %s; want %s within 1 %%", got, tc.want)
			}
			if none := s.median(rotation.StepInstall); none != 0 {
				t.Errorf("median of a step no rotation ran = %s; want 0", none)
			}
		})
	}
}
