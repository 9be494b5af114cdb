package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
)

// createRotation creates a pending rotation of the named asset or fails t.
func createRotation(t *testing.T, s store.Store, systemName string) store.Rotation {
	t.Helper()
	r, err := s.CreateRotation(context.Background(), store.Rotation{
		Asset: systemName, Trigger: store.TriggerSchedule, State: store.StatePending,
	})
	must(t, err)
	return r
}

func runRotationTests(t *testing.T, newStore newStoreFunc) {
	ctx := context.Background()

	t.Run("assigns an ID and timestamps on create", func(t *testing.T) {
		s := newStore(t)
		createAssets(t, s, asset.Asset{SystemName: "fw1"})
		r, err := s.CreateRotation(ctx, store.Rotation{
			Asset: "fw1", Trigger: store.TriggerManual, Force: true, State: store.StatePending,
		})
		must(t, err)
		if r.ID == 0 {
			t.Error("rotation has no ID")
		}
		if r.CreatedAt.IsZero() || !r.UpdatedAt.Equal(r.CreatedAt) {
			t.Errorf("got created_at %v, updated_at %v; want both set and equal", r.CreatedAt, r.UpdatedAt)
		}
		if r.FinishedAt != nil {
			t.Errorf("a pending rotation has finished_at %v", r.FinishedAt)
		}
		got, err := s.GetRotation(ctx, r.ID)
		must(t, err)
		assertRotation(t, got, r)
		assertUTC(t, "rotation", &got.CreatedAt, &got.UpdatedAt)
	})

	t.Run("assigns a new ID to every rotation", func(t *testing.T) {
		s := newStore(t)
		createAssets(t, s, asset.Asset{SystemName: "fw1"}, asset.Asset{SystemName: "fw2"})
		a, b := createRotation(t, s, "fw1"), createRotation(t, s, "fw2")
		if a.ID == b.ID {
			t.Errorf("two rotations share ID %d", a.ID)
		}
	})

	t.Run("refuses a rotation of a missing asset", func(t *testing.T) {
		s := newStore(t)
		_, err := s.CreateRotation(ctx, store.Rotation{Asset: "absent", Trigger: store.TriggerAPI, State: store.StatePending})
		assertIs(t, err, store.ErrNotFound)
	})

	t.Run("commits what the caller writes with the rotation", func(t *testing.T) {
		s := newStore(t)
		createAssets(t, s, asset.Asset{SystemName: "fw1"})
		var seen store.Rotation
		var gotTx any
		r, err := s.CreateRotationWith(ctx, store.Rotation{Asset: "fw1", Trigger: store.TriggerAPI}, func(_ context.Context, tx any, r store.Rotation) error {
			seen, gotTx = r, tx
			return nil
		})
		must(t, err)
		if seen.ID != r.ID || seen.ID == 0 {
			t.Errorf("the caller saw rotation %d inside the transaction; %d was created", seen.ID, r.ID)
		}
		if gotTx == nil {
			t.Error("the caller got no transaction")
		}
		got, err := s.ActiveRotation(ctx, "fw1")
		must(t, err)
		assertRotation(t, got, r)
	})

	t.Run("writes no rotation when the caller's part of the transaction fails", func(t *testing.T) {
		s := newStore(t)
		createAssets(t, s, asset.Asset{SystemName: "fw1"})
		queueDown := errors.New("the job could not be queued")
		_, err := s.CreateRotationWith(ctx, store.Rotation{Asset: "fw1", Trigger: store.TriggerAPI}, func(context.Context, any, store.Rotation) error {
			return queueDown
		})
		assertIs(t, err, queueDown)
		_, err = s.ActiveRotation(ctx, "fw1")
		assertIs(t, err, store.ErrNotFound)
		rots, err := s.ListRotations(ctx, store.RotationFilter{Asset: "fw1"})
		must(t, err)
		if len(rots) != 0 {
			t.Errorf("%d rotations left behind by a failed create", len(rots))
		}
		// The asset is free for the next attempt.
		createRotation(t, s, "fw1")
	})

	t.Run("refuses a second active rotation before calling the caller", func(t *testing.T) {
		s := newStore(t)
		createAssets(t, s, asset.Asset{SystemName: "fw1"})
		createRotation(t, s, "fw1")
		called := false
		_, err := s.CreateRotationWith(ctx, store.Rotation{Asset: "fw1", Trigger: store.TriggerAPI}, func(context.Context, any, store.Rotation) error {
			called = true
			return nil
		})
		assertIs(t, err, store.ErrConflict)
		if called {
			t.Error("the caller was asked to queue a job for a rotation that was refused")
		}
	})

	t.Run("reports a missing rotation as not found", func(t *testing.T) {
		s := newStore(t)
		_, err := s.GetRotation(ctx, 4242)
		assertIs(t, err, store.ErrNotFound)
		assertIs(t, s.UpdateRotationState(ctx, 4242, store.StateUpdate{State: store.StateFailed}), store.ErrNotFound)
	})

	for _, active := range []store.State{store.StatePending, store.StateRunning} {
		t.Run("refuses a second rotation while one is "+string(active), func(t *testing.T) {
			s := newStore(t)
			createAssets(t, s, asset.Asset{SystemName: "fw1"})
			first := createRotation(t, s, "fw1")
			must(t, s.UpdateRotationState(ctx, first.ID, store.StateUpdate{State: active}))
			_, err := s.CreateRotation(ctx, store.Rotation{Asset: "fw1", Trigger: store.TriggerManual, State: store.StatePending})
			assertIs(t, err, store.ErrConflict)
		})
	}

	for _, final := range []store.State{store.StateSucceeded, store.StateFailed, store.StateRolledBack} {
		t.Run("allows a new rotation once the previous one has "+string(final), func(t *testing.T) {
			s := newStore(t)
			createAssets(t, s, asset.Asset{SystemName: "fw1"})
			first := createRotation(t, s, "fw1")
			must(t, s.UpdateRotationState(ctx, first.ID, store.StateUpdate{State: final}))
			second := createRotation(t, s, "fw1")
			active, err := s.ActiveRotation(ctx, "fw1")
			must(t, err)
			if active.ID != second.ID {
				t.Errorf("active rotation is %d, want the new %d", active.ID, second.ID)
			}
		})
	}

	t.Run("allows active rotations of different assets at once", func(t *testing.T) {
		s := newStore(t)
		createAssets(t, s, asset.Asset{SystemName: "fw1"}, asset.Asset{SystemName: "fw2"})
		createRotation(t, s, "fw1")
		createRotation(t, s, "fw2")
	})

	t.Run("returns the active rotation with its journal and log", func(t *testing.T) {
		s := newStore(t)
		createAssets(t, s, asset.Asset{SystemName: "fw1"}, asset.Asset{SystemName: "fw2"})
		old := createRotation(t, s, "fw1")
		must(t, s.UpdateRotationState(ctx, old.ID, store.StateUpdate{State: store.StateFailed, Attempts: 3, Error: "boom"}))
		r := createRotation(t, s, "fw1")
		createRotation(t, s, "fw2")
		must(t, s.UpdateRotationState(ctx, r.ID, store.StateUpdate{State: store.StateRunning, Attempts: 1}))
		entry := store.JournalEntry{Step: "csr", Output: json.RawMessage(`{"pem":"x"}`), StartedAt: base, FinishedAt: base.Add(time.Second)}
		must(t, s.AppendJournal(ctx, r.ID, entry))
		line := store.LogLine{Time: base, Level: "INFO", Step: "csr", Message: "generated CSR"}
		must(t, s.AppendLog(ctx, r.ID, line))

		got, err := s.ActiveRotation(ctx, "fw1")
		must(t, err)
		if got.ID != r.ID || got.State != store.StateRunning || got.Attempts != 1 {
			t.Errorf("got rotation %d in state %s after %d attempts, want %d running after 1", got.ID, got.State, got.Attempts, r.ID)
		}
		assertJournal(t, got.Journal, entry)
		assertLog(t, got.Log, line)
	})

	t.Run("reports no active rotation as not found", func(t *testing.T) {
		s := newStore(t)
		createAssets(t, s, asset.Asset{SystemName: "fw1"})
		_, err := s.ActiveRotation(ctx, "fw1")
		assertIs(t, err, store.ErrNotFound)
		r := createRotation(t, s, "fw1")
		must(t, s.UpdateRotationState(ctx, r.ID, store.StateUpdate{State: store.StateSucceeded}))
		_, err = s.ActiveRotation(ctx, "fw1")
		assertIs(t, err, store.ErrNotFound)
		_, err = s.ActiveRotation(ctx, "absent")
		assertIs(t, err, store.ErrNotFound)
	})

	t.Run("records state, attempts and error, and finished_at only for a final state", func(t *testing.T) {
		s := newStore(t)
		createAssets(t, s, asset.Asset{SystemName: "fw1"})
		r := createRotation(t, s, "fw1")
		steps := []struct {
			update   store.StateUpdate
			finished bool
		}{
			{store.StateUpdate{State: store.StateRunning, Attempts: 1}, false},
			{store.StateUpdate{State: store.StatePending, Attempts: 1, Error: "device unreachable"}, false},
			{store.StateUpdate{State: store.StateRunning, Attempts: 2}, false},
			{store.StateUpdate{State: store.StateRolledBack, Attempts: 2, Error: "verify: served serial differs"}, true},
		}
		for _, step := range steps {
			must(t, s.UpdateRotationState(ctx, r.ID, step.update))
			got, err := s.GetRotation(ctx, r.ID)
			must(t, err)
			if got.State != step.update.State || got.Attempts != step.update.Attempts || got.Error != step.update.Error {
				t.Errorf("got state %q, attempts %d, error %q; want %+v", got.State, got.Attempts, got.Error, step.update)
			}
			if (got.FinishedAt != nil) != step.finished {
				t.Errorf("in state %s: finished_at = %v", got.State, got.FinishedAt)
			}
			if got.UpdatedAt.Before(got.CreatedAt) {
				t.Errorf("updated_at %v before created_at %v", got.UpdatedAt, got.CreatedAt)
			}
			assertUTC(t, "rotation", got.FinishedAt)
		}
	})

	t.Run("refuses to reactivate a rotation while another is active", func(t *testing.T) {
		s := newStore(t)
		createAssets(t, s, asset.Asset{SystemName: "fw1"})
		old := createRotation(t, s, "fw1")
		must(t, s.UpdateRotationState(ctx, old.ID, store.StateUpdate{State: store.StateFailed}))
		createRotation(t, s, "fw1")
		err := s.UpdateRotationState(ctx, old.ID, store.StateUpdate{State: store.StatePending})
		assertIs(t, err, store.ErrConflict)
	})

	t.Run("deletes an asset's rotations with the asset", func(t *testing.T) {
		s := newStore(t)
		createAssets(t, s, asset.Asset{SystemName: "fw1"}, asset.Asset{SystemName: "fw2"})
		r := createRotation(t, s, "fw1")
		must(t, s.AppendJournal(ctx, r.ID, store.JournalEntry{Step: "csr", StartedAt: base, FinishedAt: base}))
		must(t, s.AppendLog(ctx, r.ID, store.LogLine{Time: base, Level: "INFO", Message: "hello"}))
		other := createRotation(t, s, "fw2")

		must(t, s.DeleteAsset(ctx, "fw1"))
		_, err := s.GetRotation(ctx, r.ID)
		assertIs(t, err, store.ErrNotFound)
		if _, err := s.GetRotation(ctx, other.ID); err != nil {
			t.Errorf("deleting fw1 removed fw2's rotation: %v", err)
		}
		list, err := s.ListRotations(ctx, store.RotationFilter{Asset: "fw1"})
		must(t, err)
		if len(list) != 0 {
			t.Errorf("fw1 still has %d rotations", len(list))
		}

		// A new asset of the same name starts with a clean history.
		createAssets(t, s, asset.Asset{SystemName: "fw1"})
		fresh := createRotation(t, s, "fw1")
		got, err := s.GetRotation(ctx, fresh.ID)
		must(t, err)
		if len(got.Journal) != 0 || len(got.Log) != 0 {
			t.Errorf("new rotation inherited journal %v and log %v", got.Journal, got.Log)
		}
	})
}

func runJournalTests(t *testing.T, newStore newStoreFunc) {
	ctx := context.Background()

	t.Run("keeps journal entries in the order steps were first written", func(t *testing.T) {
		s := newStore(t)
		createAssets(t, s, asset.Asset{SystemName: "fw1"})
		r := createRotation(t, s, "fw1")
		entries := []store.JournalEntry{
			{Step: "preflight", StartedAt: base, FinishedAt: base.Add(time.Second)},
			{Step: "csr", Output: json.RawMessage(`{"csr":"-----BEGIN CERTIFICATE REQUEST-----"}`), StartedAt: base.Add(time.Second), FinishedAt: base.Add(2 * time.Second)},
			{Step: "issue", Output: json.RawMessage(`{"chain":["a","b"]}`), StartedAt: base.Add(2 * time.Second), FinishedAt: base.Add(9 * time.Second)},
		}
		for _, e := range entries {
			must(t, s.AppendJournal(ctx, r.ID, e))
		}
		got, err := s.GetRotation(ctx, r.ID)
		must(t, err)
		assertJournal(t, got.Journal, entries...)
		for _, e := range got.Journal {
			assertUTC(t, "journal", &e.StartedAt, &e.FinishedAt)
		}
		if e, ok := got.Step("csr"); !ok || string(e.Output) != string(entries[1].Output) {
			t.Errorf("Step(csr) = %+v, %v", e, ok)
		}
	})

	t.Run("keeps step timings to the millisecond", func(t *testing.T) {
		s := newStore(t)
		createAssets(t, s, asset.Asset{SystemName: "fw1"})
		r := createRotation(t, s, "fw1")
		e := store.JournalEntry{Step: "csr", StartedAt: base.Add(123 * time.Millisecond), FinishedAt: base.Add(1456 * time.Millisecond)}
		must(t, s.AppendJournal(ctx, r.ID, e))
		line := store.LogLine{Time: base.Add(789 * time.Millisecond), Level: "info", Message: "m"}
		must(t, s.AppendLog(ctx, r.ID, line))
		got, err := s.GetRotation(ctx, r.ID)
		must(t, err)
		if d := got.Journal[0].FinishedAt.Sub(got.Journal[0].StartedAt); d.Round(time.Millisecond) != 1333*time.Millisecond {
			t.Errorf("step took %s after the round trip, want 1.333s", d)
		}
		if !got.Log[0].Time.Round(time.Millisecond).Equal(line.Time) {
			t.Errorf("log time %v, want %v", got.Log[0].Time, line.Time)
		}
	})

	t.Run("replaces a step written twice, keeping its place", func(t *testing.T) {
		s := newStore(t)
		createAssets(t, s, asset.Asset{SystemName: "fw1"})
		r := createRotation(t, s, "fw1")
		csr := store.JournalEntry{Step: "csr", Output: json.RawMessage(`{"try":1}`), StartedAt: base, FinishedAt: base}
		issue := store.JournalEntry{Step: "issue", StartedAt: base, FinishedAt: base}
		must(t, s.AppendJournal(ctx, r.ID, csr))
		must(t, s.AppendJournal(ctx, r.ID, issue))
		csr2 := store.JournalEntry{Step: "csr", Output: json.RawMessage(`{"try":2}`), StartedAt: base.Add(time.Minute), FinishedAt: base.Add(2 * time.Minute)}
		must(t, s.AppendJournal(ctx, r.ID, csr2))
		got, err := s.GetRotation(ctx, r.ID)
		must(t, err)
		assertJournal(t, got.Journal, csr2, issue)
	})

	t.Run("keeps log lines in append order across calls", func(t *testing.T) {
		s := newStore(t)
		createAssets(t, s, asset.Asset{SystemName: "fw1"})
		r := createRotation(t, s, "fw1")
		// Equal times on purpose: order must come from the append, not the
		// clock.
		first := []store.LogLine{
			{Time: base, Level: "INFO", Step: "preflight", Message: "resolving fw1.example.com"},
			{Time: base, Level: "WARN", Step: "preflight", Message: "slow DNS answer"},
		}
		second := []store.LogLine{
			{Time: base, Level: "INFO", Step: "csr", Message: "asking the device for a CSR"},
			{Time: base.Add(time.Second), Level: "ERROR", Message: "session closed"},
		}
		must(t, s.AppendLog(ctx, r.ID, first...))
		must(t, s.AppendLog(ctx, r.ID))
		must(t, s.AppendLog(ctx, r.ID, second...))
		got, err := s.GetRotation(ctx, r.ID)
		must(t, err)
		assertLog(t, got.Log, append(first, second...)...)
		for _, l := range got.Log {
			assertUTC(t, "log", &l.Time)
		}
	})

	t.Run("keeps each rotation's journal and log apart", func(t *testing.T) {
		s := newStore(t)
		createAssets(t, s, asset.Asset{SystemName: "fw1"}, asset.Asset{SystemName: "fw2"})
		a, b := createRotation(t, s, "fw1"), createRotation(t, s, "fw2")
		ea := store.JournalEntry{Step: "csr", Output: json.RawMessage(`"a"`), StartedAt: base, FinishedAt: base}
		eb := store.JournalEntry{Step: "csr", Output: json.RawMessage(`"b"`), StartedAt: base, FinishedAt: base}
		must(t, s.AppendJournal(ctx, a.ID, ea))
		must(t, s.AppendJournal(ctx, b.ID, eb))
		la := store.LogLine{Time: base, Level: "INFO", Message: "a"}
		must(t, s.AppendLog(ctx, a.ID, la))
		got, err := s.GetRotation(ctx, a.ID)
		must(t, err)
		assertJournal(t, got.Journal, ea)
		assertLog(t, got.Log, la)
		got, err = s.GetRotation(ctx, b.ID)
		must(t, err)
		assertJournal(t, got.Journal, eb)
		assertLog(t, got.Log)
	})

	t.Run("reports writing to a missing rotation as not found", func(t *testing.T) {
		s := newStore(t)
		assertIs(t, s.AppendJournal(ctx, 4242, store.JournalEntry{Step: "csr", StartedAt: base, FinishedAt: base}), store.ErrNotFound)
		assertIs(t, s.AppendLog(ctx, 4242, store.LogLine{Time: base, Message: "x"}), store.ErrNotFound)
	})
}

func runListRotationTests(t *testing.T, newStore newStoreFunc) {
	ctx := context.Background()
	s := newStore(t)
	createAssets(t, s, asset.Asset{SystemName: "fw1"}, asset.Asset{SystemName: "fw2"})
	// In creation order: fw1 failed, fw2 succeeded, fw1 succeeded, fw2 running.
	var ids []int64
	for _, c := range []struct {
		asset string
		state store.State
	}{
		{"fw1", store.StateFailed}, {"fw2", store.StateSucceeded}, {"fw1", store.StateSucceeded}, {"fw2", store.StateRunning},
	} {
		r := createRotation(t, s, c.asset)
		must(t, s.UpdateRotationState(ctx, r.ID, store.StateUpdate{State: c.state}))
		ids = append(ids, r.ID)
	}
	journal := store.JournalEntry{Step: "csr", Output: json.RawMessage(`{}`), StartedAt: base, FinishedAt: base}
	must(t, s.AppendJournal(ctx, ids[0], journal))
	must(t, s.AppendLog(ctx, ids[0], store.LogLine{Time: base, Level: "INFO", Message: "kept out of lists"}))

	tests := []struct {
		name   string
		filter store.RotationFilter
		want   []int64
	}{
		{"lists every rotation newest first", store.RotationFilter{}, []int64{ids[3], ids[2], ids[1], ids[0]}},
		{"filters by asset", store.RotationFilter{Asset: "fw1"}, []int64{ids[2], ids[0]}},
		{"filters by state", store.RotationFilter{State: store.StateSucceeded}, []int64{ids[2], ids[1]}},
		{"combines asset and state", store.RotationFilter{Asset: "fw2", State: store.StateRunning}, []int64{ids[3]}},
		{"keeps the newest up to the limit", store.RotationFilter{Limit: 2}, []int64{ids[3], ids[2]}},
		{"finds nothing for an unknown asset", store.RotationFilter{Asset: "absent"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListRotations(ctx, tt.filter)
			must(t, err)
			gotIDs := make([]int64, len(got))
			for i, r := range got {
				gotIDs[i] = r.ID
			}
			if mustJSON(t, gotIDs) != mustJSON(t, append([]int64{}, tt.want...)) {
				t.Errorf("got rotations %v, want %v", gotIDs, tt.want)
			}
		})
	}

	t.Run("includes journals but leaves out log lines", func(t *testing.T) {
		got, err := s.ListRotations(ctx, store.RotationFilter{Asset: "fw1"})
		must(t, err)
		for _, r := range got {
			if len(r.Log) != 0 {
				t.Errorf("rotation %d listed with %d log lines", r.ID, len(r.Log))
			}
			if r.ID == ids[0] {
				assertJournal(t, r.Journal, journal)
			} else {
				assertJournal(t, r.Journal)
			}
		}
	})

	t.Run("includes the journal of rotations cut by the limit's edge", func(t *testing.T) {
		got, err := s.ListRotations(ctx, store.RotationFilter{Asset: "fw1", State: store.StateFailed, Limit: 1})
		must(t, err)
		if len(got) != 1 {
			t.Fatalf("got %d rotations, want 1", len(got))
		}
		assertJournal(t, got[0].Journal, journal)
	})
}

// assertRotation fails t unless got and want agree on every field but the
// journal and log.
func assertRotation(t *testing.T, got, want store.Rotation) {
	t.Helper()
	strip := func(r store.Rotation) store.Rotation {
		r.Journal, r.Log = nil, nil
		r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC().Round(0), r.UpdatedAt.UTC().Round(0)
		if r.FinishedAt != nil {
			f := r.FinishedAt.UTC().Round(0)
			r.FinishedAt = &f
		}
		return r
	}
	if g, w := mustJSON(t, strip(got)), mustJSON(t, strip(want)); g != w {
		t.Errorf("rotation differs\n got: %s\nwant: %s", g, w)
	}
}

// assertJournal fails t unless got holds exactly want, in order.
func assertJournal(t *testing.T, got []store.JournalEntry, want ...store.JournalEntry) {
	t.Helper()
	norm := func(es []store.JournalEntry) string {
		out := make([]store.JournalEntry, len(es))
		for i, e := range es {
			e.StartedAt, e.FinishedAt = e.StartedAt.UTC().Round(0), e.FinishedAt.UTC().Round(0)
			out[i] = e
		}
		return mustJSON(t, out)
	}
	if g, w := norm(got), norm(want); g != w {
		t.Errorf("journal differs\n got: %s\nwant: %s", g, w)
	}
}

// assertLog fails t unless got holds exactly want, in order.
func assertLog(t *testing.T, got []store.LogLine, want ...store.LogLine) {
	t.Helper()
	norm := func(ls []store.LogLine) string {
		out := make([]store.LogLine, len(ls))
		for i, l := range ls {
			l.Time = l.Time.UTC().Round(0)
			out[i] = l
		}
		return mustJSON(t, out)
	}
	if g, w := norm(got), norm(want); g != w {
		t.Errorf("log differs\n got: %s\nwant: %s", g, w)
	}
}
