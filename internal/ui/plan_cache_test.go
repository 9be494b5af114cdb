package ui

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/testenv"
)

func TestTheInventoryCacheServesTheLastResultAndRefreshesItInTheBackground(t *testing.T) {
	clock := testenv.NewClock(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	computed := 0
	c := newInventoryCache(clock.Now, func(err error) { t.Error(err) }, func(_ context.Context, now time.Time) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		computed++
		return computed, nil
	})
	ctx := context.Background()
	v, at, err := c.get(ctx)
	if err != nil || v != 1 || !at.Equal(clock.Now()) {
		t.Fatalf("the first page got %d computed at %v (%v), want the first result, computed now", v, at, err)
	}
	clock.Add(inventoryCacheAge - time.Second)
	if v, _, _ := c.get(ctx); v != 1 {
		t.Errorf("a page before the result is %v old got result %d, want the first", inventoryCacheAge, v)
	}
	clock.Add(time.Second)
	if v, _, _ := c.get(ctx); v != 1 {
		t.Errorf("the page that starts the refresh got result %d, want the first, at once", v)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		v, at, _ := c.get(ctx)
		if v == 2 {
			if !at.Equal(clock.Now()) {
				t.Errorf("the refreshed result is dated %v, want %v", at, clock.Now())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the result was never refreshed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if computed != 2 {
		t.Errorf("computed %d times, want 2: one refresh however many pages asked", computed)
	}
}
