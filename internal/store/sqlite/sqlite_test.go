package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/store/storetest"
)

// openTemp opens a store on a new file in t's temporary directory and closes
// it when t ends.
func openTemp(t *testing.T, opts ...Option) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "ottr.db"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

// TestConformanceWithSeveralConnections runs the suite on a pool where
// readers and writers run at once, so concurrent writers contend inside
// SQLite (BEGIN IMMEDIATE, busy_timeout) instead of queueing in
// database/sql.
func TestConformanceWithSeveralConnections(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t, WithMaxOpenConns(4)) })
}

func TestOpen(t *testing.T) {
	ctx := context.Background()

	t.Run("keeps data across a reopen", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "ottr.db")
		s, err := Open(ctx, path)
		must(t, err)
		must(t, s.CreateAsset(ctx, asset.Asset{SystemName: "fw1", DataCenter: "dc1"}))
		must(t, s.PutSecret(ctx, "k", []byte("v")))
		must(t, s.Close())

		s, err = Open(ctx, path)
		must(t, err)
		defer s.Close()
		a, err := s.GetAsset(ctx, "fw1")
		must(t, err)
		if a.DataCenter != "dc1" {
			t.Errorf("got data center %q after reopen, want dc1", a.DataCenter)
		}
		if v, err := s.GetSecret(ctx, "k"); err != nil || string(v) != "v" {
			t.Errorf("got secret %q, %v after reopen", v, err)
		}
	})

	t.Run("applies each migration once across reopens", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "ottr.db")
		ms, err := loadMigrations()
		must(t, err)
		for range 3 {
			s, err := Open(ctx, path)
			must(t, err)
			v, err := s.SchemaVersion(ctx)
			must(t, err)
			var rows int
			must(t, s.DB().QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&rows))
			must(t, s.Close())
			if v != len(ms) || rows != len(ms) {
				t.Fatalf("schema version %d with %d rows, want %d and %d", v, rows, len(ms), len(ms))
			}
		}
	})

	t.Run("refuses a database whose schema is newer than it knows", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "ottr.db")
		s, err := Open(ctx, path)
		must(t, err)
		v, err := s.SchemaVersion(ctx)
		must(t, err)
		_, err = s.DB().ExecContext(ctx,
			`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'from_the_future.sql', 0)`, v+1)
		must(t, err)
		must(t, s.Close())

		_, err = Open(ctx, path)
		if !errors.Is(err, ErrSchemaTooNew) {
			t.Fatalf("got error %v, want one wrapping ErrSchemaTooNew", err)
		}
		if !strings.Contains(err.Error(), fmt.Sprint(v+1)) {
			t.Errorf("error %q does not name the database's version %d", err, v+1)
		}
	})

	t.Run("lets several stores open one new file at once", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "ottr.db")
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() {
				s, err := Open(ctx, path)
				if err == nil {
					err = s.Close()
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	})

	t.Run("opens a path with spaces, question marks and percent signs", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "odd dir?#%20")
		must(t, os.Mkdir(dir, 0o700))
		s, err := Open(ctx, filepath.Join(dir, "odd name?#%20.db"))
		must(t, err)
		defer s.Close()
		must(t, s.CreateAsset(ctx, asset.Asset{SystemName: "fw1"}))
		var file string
		must(t, s.DB().QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&file))
		if file != filepath.Join(dir, "odd name?#%20.db") {
			t.Errorf("database file is %q", file)
		}
	})

	t.Run("sets up each connection as River and the store need", func(t *testing.T) {
		s := openTemp(t, WithBusyTimeout(3*time.Second))
		pragmas := []struct {
			name string
			want string
		}{
			{"journal_mode", "wal"},
			{"foreign_keys", "1"},
			{"synchronous", "1"}, // NORMAL
			{"busy_timeout", "3000"},
		}
		for _, p := range pragmas {
			var got string
			must(t, s.DB().QueryRowContext(ctx, "PRAGMA "+p.name).Scan(&got))
			if got != p.want {
				t.Errorf("PRAGMA %s = %s, want %s", p.name, got, p.want)
			}
		}
		if n := s.DB().Stats().MaxOpenConnections; n != 1 {
			t.Errorf("pool allows %d connections, want 1 by default", n)
		}
	})

	t.Run("stamps rotations with the injected clock", func(t *testing.T) {
		clock := time.Date(2030, 1, 2, 3, 4, 5, 600, time.FixedZone("x", 3600))
		s := openTemp(t, WithClock(func() time.Time { return clock }))
		must(t, s.CreateAsset(ctx, asset.Asset{SystemName: "fw1"}))
		r, err := s.CreateRotation(ctx, store.Rotation{Asset: "fw1", Trigger: store.TriggerAPI})
		must(t, err)
		want := clock.Truncate(time.Second).UTC()
		if r.CreatedAt != want || r.State != store.StatePending {
			t.Errorf("got created_at %v in state %q, want %v pending", r.CreatedAt, r.State, want)
		}
	})

	t.Run("stamps users and audit events with the injected clock", func(t *testing.T) {
		clock := time.Date(2030, 1, 2, 3, 4, 5, 678_900_000, time.FixedZone("x", 3600))
		s := openTemp(t, WithClock(func() time.Time { return clock }))
		must(t, s.CreateUser(ctx, store.User{Username: "alice", PasswordHash: []byte("h"), Role: store.RoleAdmin}))
		u, err := s.GetUser(ctx, "alice")
		must(t, err)
		if want := clock.Truncate(time.Second).UTC(); u.CreatedAt != want || u.UpdatedAt != want {
			t.Errorf("got created_at %v, updated_at %v, want both %v", u.CreatedAt, u.UpdatedAt, want)
		}
		e, err := s.AppendAudit(ctx, store.AuditEvent{Actor: "alice", Action: "login", Target: "user/alice"})
		must(t, err)
		if want := clock.Truncate(time.Millisecond).UTC(); e.Time != want {
			t.Errorf("got event time %v, want %v", e.Time, want)
		}
	})
}

func TestAuditTrailIsAppendOnly(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	e, err := s.AppendAudit(ctx, store.AuditEvent{Actor: "alice", Action: "asset.delete", Target: "asset/fw1"})
	must(t, err)
	// The store has no method to change the trail; the table refuses it
	// from anything else sharing the file too.
	for _, stmt := range []string{
		`UPDATE audit_events SET actor = 'mallory' WHERE id = ?`,
		`DELETE FROM audit_events WHERE id = ?`,
	} {
		if _, err := s.DB().ExecContext(ctx, stmt, e.ID); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: got error %v, want the trail's append-only refusal", stmt, err)
		}
	}
	got, err := s.ListAudit(ctx, store.AuditFilter{})
	must(t, err)
	if len(got) != 1 || got[0].Actor != "alice" {
		t.Errorf("got trail %+v, want alice's one event unchanged", got)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
