package policy

import (
	"testing"
	"time"
)

func TestWhenPutsTheRotation(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	later := now.Add(72 * time.Hour)
	tests := []struct {
		name string
		d    Decision
		want time.Time
	}{
		{"a due decision runs now", Decision{Due: true}, now},
		{"a due decision whose time has passed runs now", Decision{Due: true, NotBefore: now.Add(-time.Hour)}, now},
		{"a decision not due runs at its NotBefore", Decision{NotBefore: later}, later},
		{"a paused asset has no time", Decision{Reason: ReasonPaused}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.d.When(now); !got.Equal(tt.want) {
				t.Errorf("When = %v, want %v", got, tt.want)
			}
		})
	}
}
