package ratelimit

import (
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/testenv"
)

func TestHeadroom(t *testing.T) {
	tests := []struct {
		name string
		// book runs against a fresh Let's Encrypt budget at start.
		book func(b *Budget, c *testenv.Clock)
		want Headroom
	}{
		{
			name: "a fresh budget has the whole account limit",
			book: func(*Budget, *testenv.Clock) {},
			want: Headroom{NewOrders: 300, Limit: 300},
		},
		{
			name: "orders placed now take their tokens",
			book: func(b *Budget, _ *testenv.Clock) { reserveWave(b, "le", 120) },
			want: Headroom{NewOrders: 180, Limit: 300},
		},
		{
			name: "a wave booked ahead leaves nothing now",
			book: func(b *Budget, _ *testenv.Clock) { reserveWave(b, "le", 500) },
			want: Headroom{NewOrders: 0, Limit: 300},
		},
		{
			name: "tokens come back one every 36 seconds",
			book: func(b *Budget, c *testenv.Clock) {
				reserveWave(b, "le", 300)
				c.Add(36 * time.Minute)
			},
			want: Headroom{NewOrders: 60, Limit: 300},
		},
		{
			name: "a cancelled order gives its token back",
			book: func(b *Budget, _ *testenv.Clock) {
				reserveWave(b, "le", 10)
				_, r := b.Reserve("le", []string{"extra.example.org"})
				b.Cancel(r)
			},
			want: Headroom{NewOrders: 290, Limit: 300},
		},
		{
			name: "a CA's Retry-After holds every order back",
			book: func(b *Budget, _ *testenv.Clock) { b.Penalize("le", start.Add(time.Hour)) },
			want: Headroom{NewOrders: 0, Limit: 300, HeldUntil: start.Add(time.Hour)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, c := newLE(t)
			tt.book(b, c)
			got, ok := b.Headroom("le")
			if !ok || got != tt.want {
				t.Errorf("Headroom = %+v, %v; want %+v, true", got, ok, tt.want)
			}
		})
	}
}

func TestHeadroomSpendsNothing(t *testing.T) {
	b, _ := newLE(t)
	reserveWave(b, "le", 100)
	before := b.Plan("le", wave(400, 400))
	for range 3 {
		b.Headroom("le")
	}
	after := b.Plan("le", wave(400, 400))
	for i := range before {
		if !before[i].Equal(after[i]) {
			t.Fatalf("order %d planned at %s after Headroom, %s before", i, after[i], before[i])
		}
	}
}

func TestHeadroomOfACAWithoutLimits(t *testing.T) {
	b, _ := newLE(t)
	if h, ok := b.Headroom("pebble"); ok {
		t.Errorf("Headroom of a CA without limits = %+v, true; want false", h)
	}
}
