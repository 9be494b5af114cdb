package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkReserveWave books a wave of 10,000 due certificates under Let's
// Encrypt's limits, as one scheduler scan does; one op is the whole wave.
func BenchmarkReserveWave(b *testing.B) {
	orders := wave(10000, 500)
	now := func() time.Time { return start }
	for b.Loop() {
		budget := New(map[string]Limits{"le": Defaults(KindLetsEncrypt)}, now)
		for _, o := range orders {
			budget.Reserve("le", o.Names)
		}
	}
}

// BenchmarkReserveBehindBacklog books 10,000 orders when a crowded
// registered domain has already booked a week ahead, so most orders land
// in gaps before later bookings rather than at the end.
func BenchmarkReserveBehindBacklog(b *testing.B) {
	orders := wave(10000, 500)
	now := func() time.Time { return start }
	for b.Loop() {
		budget := New(map[string]Limits{"le": Defaults(KindLetsEncrypt)}, now)
		for i := range 100 {
			budget.Reserve("le", []string{fmt.Sprintf("host%03d.crowded.com", i)})
		}
		for _, o := range orders {
			budget.Reserve("le", o.Names)
		}
	}
}

// BenchmarkPlan plans 10,000 orders without spending.
func BenchmarkPlan(b *testing.B) {
	orders := wave(10000, 500)
	budget := New(map[string]Limits{"le": Defaults(KindLetsEncrypt)}, func() time.Time { return start })
	for b.Loop() {
		budget.Plan("le", orders)
	}
}
