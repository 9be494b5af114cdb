package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ottr-go/ottr/internal/store"
)

// runNotificationTests checks what telling each cause once relies on: a
// key is claimed once, with what the claimer writes beside it, or not at
// all.
func runNotificationTests(t *testing.T, newStore newStoreFunc) {
	ctx := context.Background()
	// claim claims keys and counts the calls of then, which writes nothing.
	claim := func(t *testing.T, s store.Store, calls *int, keys ...string) bool {
		t.Helper()
		ok, err := s.ClaimNotification(ctx, keys, func(_ context.Context, tx any) error {
			if tx == nil {
				t.Error("then was called without the transaction")
			}
			*calls++
			return nil
		})
		must(t, err)
		return ok
	}
	claimed := func(t *testing.T, s store.Store, keys ...string) []string {
		t.Helper()
		got, err := s.ClaimedNotifications(ctx, keys)
		must(t, err)
		return slices.Sorted(maps.Keys(got))
	}

	t.Run("claims a key once and writes its deliveries with the first claim only", func(t *testing.T) {
		s := newStore(t)
		calls := 0
		if !claim(t, s, &calls, "rotation.failed/fw1/never") {
			t.Fatal("the first claim was refused")
		}
		if claim(t, s, &calls, "rotation.failed/fw1/never") {
			t.Error("the second claim of the key succeeded")
		}
		if calls != 1 {
			t.Errorf("then was called %d times, want once, with the first claim", calls)
		}
	})

	t.Run("records nothing when the deliveries cannot be written", func(t *testing.T) {
		s := newStore(t)
		failure := errors.New("queue: insert failed")
		ok, err := s.ClaimNotification(ctx, []string{"certificate.expiring/fw1/1f/14"}, func(context.Context, any) error { return failure })
		if ok || !errors.Is(err, failure) {
			t.Fatalf("got %v, %v; want false and then's error", ok, err)
		}
		if got := claimed(t, s, "certificate.expiring/fw1/1f/14"); len(got) != 0 {
			t.Errorf("claimed %v after then failed, want nothing", got)
		}
		calls := 0
		if !claim(t, s, &calls, "certificate.expiring/fw1/1f/14") {
			t.Error("a claim after the failed one was refused")
		}
	})

	t.Run("claims several keys all together or none of them", func(t *testing.T) {
		s := newStore(t)
		calls := 0
		if !claim(t, s, &calls, "streak") {
			t.Fatal("the first claim was refused")
		}
		if claim(t, s, &calls, "escalated", "streak") {
			t.Error("a claim of a claimed key and a new one succeeded")
		}
		if got := claimed(t, s, "streak", "escalated"); !slices.Equal(got, []string{"streak"}) {
			t.Errorf("claimed %v, want only the first claim's key", got)
		}
		if !claim(t, s, &calls, "escalated", "recovered", "escalated") {
			t.Error("a claim of new keys, one written twice, was refused")
		}
		if calls != 2 {
			t.Errorf("then was called %d times, want twice", calls)
		}
	})

	t.Run("tells which of many keys are claimed", func(t *testing.T) {
		s := newStore(t)
		var keys, want []string
		for i := range 1200 {
			key := fmt.Sprintf("certificate.expiring/host-%04d/serial/30", i)
			keys = append(keys, key)
			if i%100 == 7 {
				calls := 0
				claim(t, s, &calls, key)
				want = append(want, key)
			}
		}
		if got := claimed(t, s, keys...); !slices.Equal(got, want) {
			t.Errorf("claimed %v, want %v", got, want)
		}
		if got := claimed(t, s); len(got) != 0 {
			t.Errorf("claimed %v of no keys", got)
		}
	})

	t.Run("lets exactly one of many concurrent claims of a key win", func(t *testing.T) {
		s := newStore(t)
		var won, calls atomic.Int32
		var wg sync.WaitGroup
		for range writers {
			wg.Go(func() {
				ok, err := s.ClaimNotification(ctx, []string{"digest/2025-06-01", "digest"}, func(context.Context, any) error {
					calls.Add(1)
					return nil
				})
				if err != nil {
					t.Error(err)
				}
				if ok {
					won.Add(1)
				}
			})
		}
		wg.Wait()
		if won.Load() != 1 || calls.Load() != 1 {
			t.Errorf("%d claims won and then ran %d times, want exactly one of each", won.Load(), calls.Load())
		}
	})

	t.Run("refuses an empty key", func(t *testing.T) {
		s := newStore(t)
		for _, keys := range [][]string{nil, {""}, {"a", ""}} {
			if ok, err := s.ClaimNotification(ctx, keys, nil); ok || err == nil {
				t.Errorf("claim of %q: got %v, %v; want an error", keys, ok, err)
			}
		}
	})
}
