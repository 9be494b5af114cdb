package postgres

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/testenv/pgtest"
)

// TestSurvivesServerRestarts restarts and crashes PostgreSQL under an open
// store: every journal entry committed is still there, and the store goes
// on working on new connections, without being reopened. (Log lines are
// committed without waiting for the disk: the last of them may be lost to
// a crash of the server, by design.)
func TestSurvivesServerRestarts(t *testing.T) {
	ctx := context.Background()
	srv := pgtest.Start(t)
	s := openStore(t, srv.NewDatabase(t))

	must(t, s.CreateAsset(ctx, asset.Asset{SystemName: "fw1", DataCenter: "dc1"}))
	r, err := s.CreateRotation(ctx, store.Rotation{Asset: "fw1", Trigger: store.TriggerSchedule})
	must(t, err)
	entry := store.JournalEntry{Step: "csr", Output: json.RawMessage(`{"csr":"x"}`), StartedAt: planNow, FinishedAt: planNow}
	must(t, s.AppendJournal(ctx, r.ID, entry))

	for _, stop := range []struct {
		name string
		stop func(testing.TB)
	}{
		{"a clean restart", srv.Stop},
		{"a crash", srv.Kill},
	} {
		stop.stop(t)
		srv.Start(t)

		got, err := s.GetRotation(ctx, r.ID)
		if err != nil {
			t.Fatalf("after %s: %v", stop.name, err)
		}
		if len(got.Journal) != 1 || got.Journal[0].Step != "csr" {
			t.Errorf("after %s: journal %+v, want the csr step", stop.name, got.Journal)
		}
		must(t, s.AppendLog(ctx, r.ID, store.LogLine{Time: planNow, Message: "after " + stop.name}))
		got, err = s.GetRotation(ctx, r.ID)
		must(t, err)
		if n := len(got.Log); n == 0 || got.Log[n-1].Message != "after "+stop.name {
			t.Errorf("after %s: log %+v, want the line just written last", stop.name, got.Log)
		}
	}
}

// TestReadsGoOnWhenConnectionsDrop drops every connection of the store's
// pool from the server's side, as a restart or a failover does, and reads
// at once: the first read finds its connection gone, the pool starts
// afresh, and no read fails.
func TestReadsGoOnWhenConnectionsDrop(t *testing.T) {
	ctx := context.Background()
	db := pg.NewDatabase(t)
	s := openStore(t, db, WithMaxConns(4))
	must(t, s.CreateAsset(ctx, asset.Asset{SystemName: "fw1"}))

	// Fill the pool: four connections, each used a moment ago, so the
	// pool sees no reason to check them before use.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := s.Pool().Exec(ctx, `SELECT pg_sleep(0.05)`); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()

	admin, err := pgx.Connect(ctx, pg.Server(t).URL())
	must(t, err)
	defer admin.Close(ctx)
	u, err := url.Parse(db)
	must(t, err)
	name := strings.TrimPrefix(u.Path, "/")
	_, err = admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, name)
	must(t, err)
	for {
		var left int
		must(t, admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1`, name).Scan(&left))
		if left == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}

	for i := range 8 {
		if _, err := s.GetAsset(ctx, "fw1"); err != nil {
			t.Fatalf("read %d after the connections dropped: %v", i+1, err)
		}
	}
	must(t, s.UpdateAsset(ctx, asset.Asset{SystemName: "fw1", DataCenter: "dc2"}))
}
