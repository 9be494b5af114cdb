package queue_test

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/queue"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/store/postgres"
	"github.com/ottr-go/ottr/internal/testenv/pgtest"
)

var pg pgtest.Shared

func TestMain(m *testing.M) {
	if kind := os.Getenv(childEnv); kind != "" {
		runChild(kind)
	}
	os.Exit(pg.Run(m))
}

// setupPostgres opens a fresh PostgreSQL database with n pending rotations.
func setupPostgres(t *testing.T, n int) (*postgres.Store, []store.Rotation) {
	t.Helper()
	ctx := context.Background()
	st, err := postgres.Open(ctx, pg.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var rots []store.Rotation
	for i := range n {
		a := asset.Asset{SystemName: "pg" + string(rune('a'+i)) + ".example.com", CommonName: "x.example.com", IPAddress: "192.0.2.1",
			HostPlatform: "linux", CertificateAuthority: "ca", Origin: "API"}
		if err := st.CreateAsset(ctx, a); err != nil {
			t.Fatal(err)
		}
		rot, err := st.CreateRotation(ctx, store.Rotation{Asset: a.SystemName, Trigger: store.TriggerSchedule, State: store.StatePending})
		if err != nil {
			t.Fatal(err)
		}
		rots = append(rots, rot)
	}
	return st, rots
}

func TestPostgresWorkersTakeOnlyTheirQueues(t *testing.T) {
	ctx := context.Background()
	st, rots := setupPostgres(t, 6)
	dc1 := &recordingRunner{ran: map[int64]int{}}
	dc2 := &recordingRunner{ran: map[int64]int{}}
	var queues []*queue.Queue
	for _, w := range []struct {
		runner *recordingRunner
		queue  string
	}{{dc1, "dc1"}, {dc2, "dc2"}} {
		q, err := queue.New(ctx, queue.Config{Pool: st.Pool(), Runner: w.runner, Queues: []string{w.queue}, PollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		queues = append(queues, q)
	}
	defer func() {
		for _, q := range queues {
			_ = q.Stop(ctx)
		}
	}()
	dcOf := map[int64]string{}
	for i, rot := range rots {
		dcOf[rot.ID] = []string{"dc1", "dc2"}[i%2]
		if err := queues[0].Enqueue(ctx, rot, dcOf[rot.ID]); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every rotation to run", func() bool { return dc1.count()+dc2.count() == len(rots) })
	for name, r := range map[string]*recordingRunner{"dc1": dc1, "dc2": dc2} {
		r.mu.Lock()
		for id, n := range r.ran {
			if dcOf[id] != name || n != 1 {
				t.Errorf("worker of %s ran rotation %d (of %s) %d times", name, id, dcOf[id], n)
			}
		}
		r.mu.Unlock()
	}
}

// countingScanner counts scans.
type countingScanner struct{ scans atomic.Int32 }

func (c *countingScanner) Scan(context.Context) error {
	c.scans.Add(1)
	return nil
}

func TestPostgresScansRunOnceForTheWholeCluster(t *testing.T) {
	ctx := context.Background()
	st, _ := setupPostgres(t, 0)
	scanner := &countingScanner{}
	var wg sync.WaitGroup
	var queues []*queue.Queue
	for range 3 {
		q, err := queue.New(ctx, queue.Config{Pool: st.Pool(), Scanner: scanner, ScanInterval: time.Hour, PollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		queues = append(queues, q)
	}
	for _, q := range queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := q.Start(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	defer func() {
		for _, q := range queues {
			_ = q.Stop(ctx)
		}
	}()
	// The leader schedules a scan when it is elected; the others do not.
	waitFor(t, "the first scan", func() bool { return scanner.scans.Load() >= 1 })
	time.Sleep(2 * time.Second)
	if n := scanner.scans.Load(); n != 1 {
		t.Errorf("three processes ran %d scans at start, want 1 (the leader's)", n)
	}
}

func TestPostgresMigrationsRunOnceWhenProcessesStartTogether(t *testing.T) {
	ctx := context.Background()
	st, _ := setupPostgres(t, 0)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = queue.MigratePostgres(ctx, st.Pool())
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migration %d: %v", i, err)
		}
	}
}
