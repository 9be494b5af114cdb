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
}

// queryPlan returns the detail lines of EXPLAIN QUERY PLAN for query.
func queryPlan(t *testing.T, s *Store, query string, args ...any) []string {
	t.Helper()
	rows, err := s.DB().QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	must(t, err)
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		must(t, rows.Scan(&id, &parent, &unused, &detail))
		plan = append(plan, detail)
	}
	must(t, rows.Err())
	return plan
}

func TestQueryPlans(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	// Some rows and fresh statistics, so the planner decides as it would on
	// a real inventory rather than on an empty table.
	var assets []asset.Asset
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	for i := range 500 {
		rt := now.Add(time.Duration(i-50) * time.Hour)
		a := asset.Asset{SystemName: fmt.Sprintf("dev%04d", i), DataCenter: fmt.Sprintf("dc%d", i%5), RenewalTime: &rt, Paused: i%50 == 0}
		if i%100 == 0 {
			a.RenewalTime = nil
		}
		assets = append(assets, a)
	}
	must(t, s.ImportAssets(ctx, assets))
	_, err := s.DB().ExecContext(ctx, "ANALYZE")
	must(t, err)

	tests := []struct {
		name  string
		query string
		args  []any
		index string
	}{
		{"finds due assets through the due index without sorting", dueAssetsSQL,
			[]any{now.Unix(), 10000}, "assets_due"},
		{"lists a data center's assets page by page through its index", `SELECT ` + assetColumns +
			` FROM assets WHERE data_center = ? AND system_name > ? ORDER BY system_name LIMIT ?`,
			[]any{"dc1", "dev0100", 50}, "assets_data_center"},
		{"finds an asset's active rotation through the one-active index", `SELECT ` + rotationColumns +
			` FROM rotations WHERE asset = ? AND state IN ('pending', 'running')`,
			[]any{"dev0001"}, "rotations_"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := queryPlan(t, s, tt.query, tt.args...)
			joined := strings.Join(plan, "\n")
			for _, line := range plan {
				if strings.HasPrefix(line, "SCAN ") && !strings.Contains(line, "USING ") {
					t.Errorf("plan scans a table:\n%s", joined)
				}
				if strings.Contains(line, "TEMP B-TREE") {
					t.Errorf("plan sorts in a temporary b-tree:\n%s", joined)
				}
			}
			if !strings.Contains(joined, "SEARCH") || !strings.Contains(joined, "INDEX "+tt.index) {
				t.Errorf("plan does not search index %s:\n%s", tt.index, joined)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
