package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
)

// writers is how many goroutines the concurrency tests run at once: the
// workers of a busy node, each journaling its rotation.
const writers = 50

func runConcurrencyTests(t *testing.T, newStore newStoreFunc) {
	ctx := context.Background()

	t.Run("accepts concurrent writers on different rotations", func(t *testing.T) {
		s := newStore(t)
		rotations := make([]store.Rotation, writers)
		for i := range rotations {
			name := fmt.Sprintf("dev%02d", i)
			createAssets(t, s, asset.Asset{SystemName: name})
			rotations[i] = createRotation(t, s, name)
		}
		errs := make(chan error, writers)
		var wg sync.WaitGroup
		for i, r := range rotations {
			wg.Go(func() { errs <- writeRotation(ctx, s, r, i) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		for i, r := range rotations {
			got, err := s.GetRotation(ctx, r.ID)
			must(t, err)
			if got.State != store.StateSucceeded || len(got.Journal) != 3 || len(got.Log) != 3 {
				t.Errorf("rotation %d: state %s, %d journal entries, %d log lines; want succeeded, 3, 3",
					i, got.State, len(got.Journal), len(got.Log))
			}
			a, err := s.GetAsset(ctx, r.Asset)
			must(t, err)
			if a.CertificateSerial != fmt.Sprint(i) {
				t.Errorf("asset %s: serial %q, want %d", a.SystemName, a.CertificateSerial, i)
			}
		}
	})

	t.Run("accepts concurrent writers on one rotation, losing no line", func(t *testing.T) {
		s := newStore(t)
		createAssets(t, s, asset.Asset{SystemName: "fw1"})
		r := createRotation(t, s, "fw1")
		errs := make(chan error, writers)
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				step := fmt.Sprintf("step%02d", i)
				if err := s.AppendJournal(ctx, r.ID, store.JournalEntry{Step: step, StartedAt: base, FinishedAt: base}); err != nil {
					errs <- err
					return
				}
				errs <- s.AppendLog(ctx, r.ID,
					store.LogLine{Time: base, Level: "INFO", Step: step, Message: "first"},
					store.LogLine{Time: base, Level: "INFO", Step: step, Message: "second"})
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		got, err := s.GetRotation(ctx, r.ID)
		must(t, err)
		if len(got.Journal) != writers || len(got.Log) != 2*writers {
			t.Fatalf("got %d journal entries and %d log lines, want %d and %d", len(got.Journal), len(got.Log), writers, 2*writers)
		}
		// Each call's lines stay together and in order.
		for i := 0; i < len(got.Log); i += 2 {
			a, b := got.Log[i], got.Log[i+1]
			if a.Step != b.Step || a.Message != "first" || b.Message != "second" {
				t.Errorf("log lines %d and %d are %+v and %+v: one call's lines split or reordered", i, i+1, a, b)
			}
		}
	})

	t.Run("lets exactly one of many concurrent creators start a rotation", func(t *testing.T) {
		s := newStore(t)
		createAssets(t, s, asset.Asset{SystemName: "fw1"})
		errs := make(chan error, writers)
		var wg sync.WaitGroup
		for range writers {
			wg.Go(func() {
				_, err := s.CreateRotation(ctx, store.Rotation{Asset: "fw1", Trigger: store.TriggerSchedule, State: store.StatePending})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		var won, lost int
		for err := range errs {
			switch {
			case err == nil:
				won++
			case errors.Is(err, store.ErrConflict):
				lost++
			default:
				t.Errorf("got error %v, want nil or one wrapping %q", err, store.ErrConflict)
			}
		}
		if won != 1 || lost != writers-1 {
			t.Errorf("%d creators won and %d got a conflict; want 1 and %d", won, lost, writers-1)
		}
	})
}

// writeRotation does what one worker does to the store during a rotation:
// journal its steps, log, finish the rotation and record on the asset.
func writeRotation(ctx context.Context, s store.Store, r store.Rotation, i int) error {
	if err := s.UpdateRotationState(ctx, r.ID, store.StateUpdate{State: store.StateRunning, Attempts: 1}); err != nil {
		return err
	}
	for _, step := range []string{"csr", "issue", "install"} {
		if err := s.AppendJournal(ctx, r.ID, store.JournalEntry{Step: step, StartedAt: base, FinishedAt: base}); err != nil {
			return err
		}
		if err := s.AppendLog(ctx, r.ID, store.LogLine{Time: base, Level: "INFO", Step: step, Message: "done"}); err != nil {
			return err
		}
	}
	a, err := s.GetAsset(ctx, r.Asset)
	if err != nil {
		return err
	}
	a.CertificateSerial = fmt.Sprint(i)
	if err := s.UpdateAsset(ctx, a); err != nil {
		return err
	}
	return s.UpdateRotationState(ctx, r.ID, store.StateUpdate{State: store.StateSucceeded, Attempts: 1})
}
