package queue_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/queue"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/store/sqlite"
)

// recordingRunner remembers which rotations it ran and how many ran at once.
type recordingRunner struct {
	mu         sync.Mutex
	ran        map[int64]int
	running    int
	maxRunning int
	hold       time.Duration
}

func (r *recordingRunner) Run(ctx context.Context, id int64) (store.Rotation, error) {
	r.mu.Lock()
	r.ran[id]++
	r.running++
	r.maxRunning = max(r.maxRunning, r.running)
	r.mu.Unlock()
	select {
	case <-time.After(r.hold):
	case <-ctx.Done():
	}
	r.mu.Lock()
	r.running--
	r.mu.Unlock()
	return store.Rotation{ID: id, State: store.StateSucceeded}, nil
}

func (r *recordingRunner) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ran)
}

func setup(t *testing.T, n int) (*sqlite.Store, []store.Rotation) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ottr.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var rots []store.Rotation
	for i := range n {
		a := asset.Asset{SystemName: "d" + string(rune('a'+i)) + ".example.com", CommonName: "x.example.com", IPAddress: "192.0.2.1",
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

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestQueue(t *testing.T) {
	ctx := context.Background()

	t.Run("never runs more rotations at once than the concurrency limit", func(t *testing.T) {
		st, rots := setup(t, 8)
		runner := &recordingRunner{ran: map[int64]int{}, hold: 30 * time.Millisecond}
		q, err := queue.New(ctx, queue.Config{DB: st.DB(), Runner: runner, Concurrency: 2, PollInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		// Two data centers: the limit is global, not per queue.
		for i, rot := range rots {
			if err := q.Enqueue(ctx, rot, []string{"dc1", "dc2"}[i%2]); err != nil {
				t.Fatal(err)
			}
		}
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer q.Stop(ctx)
		waitFor(t, "every rotation to run", func() bool { return runner.count() == len(rots) })
		if runner.maxRunning > 2 {
			t.Errorf("%d rotations ran at once, limit 2", runner.maxRunning)
		}
	})

	t.Run("a rotation enqueued twice runs once", func(t *testing.T) {
		st, rots := setup(t, 1)
		runner := &recordingRunner{ran: map[int64]int{}}
		q, err := queue.New(ctx, queue.Config{DB: st.DB(), Runner: runner, PollInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if err := q.Enqueue(ctx, rots[0], "dc1"); err != nil {
				t.Fatal(err)
			}
		}
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the rotation to run", func() bool { return runner.count() == 1 })
		time.Sleep(200 * time.Millisecond)
		q.Stop(ctx)
		if n := runner.ran[rots[0].ID]; n != 1 {
			t.Errorf("the rotation ran %d times, want 1", n)
		}
	})

	t.Run("a worker restricted to a data center takes only its queue", func(t *testing.T) {
		st, rots := setup(t, 4)
		runner := &recordingRunner{ran: map[int64]int{}}
		producer, err := queue.New(ctx, queue.Config{DB: st.DB()})
		if err != nil {
			t.Fatal(err)
		}
		dcOf := map[int64]string{}
		for i, rot := range rots {
			dc := []string{"DC 1", "dc2"}[i%2]
			dcOf[rot.ID] = queue.Name(dc)
			if err := producer.Enqueue(ctx, rot, dc); err != nil {
				t.Fatal(err)
			}
		}
		worker, err := queue.New(ctx, queue.Config{DB: st.DB(), Runner: runner, Queues: []string{queue.Name("DC 1")}, PollInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := worker.Start(ctx); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "dc 1's rotations", func() bool { return runner.count() == 2 })
		time.Sleep(300 * time.Millisecond)
		worker.Stop(ctx)
		for id := range runner.ran {
			if dcOf[id] != "dc_1" {
				t.Errorf("the dc_1 worker ran rotation %d of queue %s", id, dcOf[id])
			}
		}
		if runner.count() != 2 {
			t.Errorf("ran %d rotations, want dc_1's 2", runner.count())
		}
	})
}

func TestQueueNames(t *testing.T) {
	for in, want := range map[string]string{"": queue.DefaultQueue, "DC1": "dc1", " us-east 1 ": "us-east_1", "!!!": queue.DefaultQueue} {
		if got := queue.Name(in); got != want {
			t.Errorf("Name(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestQueueNamesAreOnesRiverAccepts(t *testing.T) {
	for in, want := range map[string]string{
		"dc1": "dc1", "DC 1": "dc_1", "dc 1 - east": "dc_1_east", "  --Frankfurt/Main--  ": "frankfurt_main", "": queue.DefaultQueue, "!!!": queue.DefaultQueue,
	} {
		if got := queue.Name(in); got != want {
			t.Errorf("Name(%q) = %q, want %q", in, got, want)
		}
	}
	ctx := context.Background()
	st, rots := setup(t, 1)
	q, err := queue.New(ctx, queue.Config{DB: st.DB(), Runner: &recordingRunner{ran: map[int64]int{}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Enqueue(ctx, rots[0], "dc 1 - east"); err != nil {
		t.Errorf("River refused the queue of data center %q: %v", "dc 1 - east", err)
	}
}

func TestEnqueueAtWaitsForTheRotationsTime(t *testing.T) {
	ctx := context.Background()
	st, rots := setup(t, 3)
	runner := &recordingRunner{ran: map[int64]int{}}
	q, err := queue.New(ctx, queue.Config{DB: st.DB(), Runner: runner, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	later := now.Add(3 * time.Hour).Truncate(time.Second)
	for _, e := range []struct {
		rot store.Rotation
		at  time.Time
	}{
		{rots[0], time.Time{}},           // now
		{rots[1], now.Add(-time.Minute)}, // a time already past: now
		{rots[2], later},                 // when the CA's budget has room
	} {
		if err := q.EnqueueAt(ctx, e.rot, "dc1", e.at); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the rotations due now", func() bool { return runner.count() == 2 })
	q.Stop(ctx)
	if runner.ran[rots[2].ID] != 0 {
		t.Error("the rotation enqueued for later ran now")
	}
	var state string
	var scheduledAt time.Time
	err = st.DB().QueryRowContext(ctx, `SELECT state, scheduled_at FROM river_job WHERE json_extract(args, '$.rotation_id') = ?`, rots[2].ID).
		Scan(&state, &scheduledAt)
	if err != nil {
		t.Fatal(err)
	}
	if state != "scheduled" || !scheduledAt.Equal(later) {
		t.Errorf("the later rotation's job is %s for %s, want scheduled for %s", state, scheduledAt, later)
	}
}

func TestAScanOnlyQueueNeverTakesRotations(t *testing.T) {
	ctx := context.Background()
	st, rots := setup(t, 2)
	runner := &recordingRunner{ran: map[int64]int{}}
	q, err := queue.New(ctx, queue.Config{DB: st.DB(), Runner: runner, ScanOnly: true, Scanner: &countingScanner{}, ScanInterval: time.Hour, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer q.Stop(ctx)
	for _, rot := range rots {
		if err := q.Enqueue(ctx, rot, "dc1"); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	if n := runner.count(); n != 0 {
		t.Errorf("a scan-only process ran %d rotations", n)
	}
}

func TestARotationOfANewDataCenterIsCreatedAndRunWhileTheQueueRuns(t *testing.T) {
	// On SQLite the transaction that creates the rotation holds the only
	// write connection: adding the new data center's queue inside it
	// would wait for that connection until it timed out.
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "ottr.db")
	st, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runner := &recordingRunner{ran: map[int64]int{}}
	q, err := queue.New(ctx, queue.Config{DB: st.DB(), Store: st, Runner: runner, PollInterval: 20 * time.Millisecond,
		Liveness: queue.LockFiles{Dir: dbPath + ".processes"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer q.Stop(ctx)
	a := asset.Asset{SystemName: "new-dc.example.com", CommonName: "new-dc.example.com", IPAddress: "192.0.2.1", HostPlatform: "linux",
		CertificateAuthority: "ca", Origin: "API", DataCenter: "dc-new"}
	if err := st.CreateAsset(ctx, a); err != nil {
		t.Fatal(err)
	}
	createCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := st.CreateRotationWith(createCtx, store.Rotation{Asset: a.SystemName, Trigger: store.TriggerAPI}, q.EnqueueFunc(a.DataCenter, time.Time{})); err != nil {
		t.Fatalf("create the rotation and its job: %v", err)
	}
	waitFor(t, "the rotation to run", func() bool { return runner.count() == 1 })
}
