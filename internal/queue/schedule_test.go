package queue

import (
	"testing"
	"time"
)

func TestDailyAt(t *testing.T) {
	at := dailyAt{offset: 8*time.Hour + 30*time.Minute}
	tests := []struct {
		name string
		now  time.Time
		want time.Time
	}{
		{"runs later the same day", time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC), time.Date(2026, 12, 7, 8, 30, 0, 0, time.UTC)},
		{"runs the next day once the time has passed", time.Date(2026, 12, 7, 8, 30, 0, 0, time.UTC), time.Date(2026, 12, 8, 8, 30, 0, 0, time.UTC)},
		{"runs across a month's end", time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 8, 30, 0, 0, time.UTC)},
		{"keeps to UTC whatever the clock's zone", time.Date(2026, 12, 7, 11, 0, 0, 0, time.FixedZone("UTC+2", 2*3600)), time.Date(2026, 12, 8, 8, 30, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := at.Next(tt.now); !got.Equal(tt.want) {
				t.Errorf("Next(%v) = %v, want %v", tt.now, got, tt.want)
			}
		})
	}
}
