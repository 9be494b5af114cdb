package queue_test

import (
	"context"
	"database/sql"
	"sync"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/queue"
	"github.com/ottr-go/ottr/internal/store"
)

// gatedRunner holds every rotation until its gate opens, counting how many
// run at once, in all and per data center.
type gatedRunner struct {
	gate     chan struct{}
	openGate sync.Once

	mu           sync.Mutex
	dataCenterOf map[int64]string
	running      map[string]int
	total        int
	maxTotal     int
	maxRunning   map[string]int
	finished     int
}

func newGatedRunner() *gatedRunner {
	return &gatedRunner{gate: make(chan struct{}), dataCenterOf: map[int64]string{},
		running: map[string]int{}, maxRunning: map[string]int{}}
}

func (r *gatedRunner) Run(ctx context.Context, id int64) (store.Rotation, error) {
	r.mu.Lock()
	dc := r.dataCenterOf[id]
	r.running[dc]++
	r.total++
	r.maxRunning[dc] = max(r.maxRunning[dc], r.running[dc])
	r.maxTotal = max(r.maxTotal, r.total)
	r.mu.Unlock()
	select {
	case <-r.gate:
	case <-ctx.Done():
	}
	r.mu.Lock()
	r.running[dc]--
	r.total--
	r.finished++
	r.mu.Unlock()
	return store.Rotation{ID: id, State: store.StateSucceeded}, nil
}

// release lets every rotation, held or still to come, finish.
func (r *gatedRunner) release() { r.openGate.Do(func() { close(r.gate) }) }

// enqueue queues rot on dataCenter's queue and remembers where it went.
func (r *gatedRunner) enqueue(t *testing.T, q *queue.Queue, rot store.Rotation, dataCenter string) {
	t.Helper()
	r.mu.Lock()
	r.dataCenterOf[rot.ID] = dataCenter
	r.mu.Unlock()
	if err := q.Enqueue(context.Background(), rot, dataCenter); err != nil {
		t.Fatal(err)
	}
}

// now returns how many rotations run, in all and in dataCenter.
func (r *gatedRunner) now(dataCenter string) (total, inDataCenter int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total, r.running[dataCenter]
}

func (r *gatedRunner) finishedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.finished
}

// heldJobs counts the rotation jobs River holds as running, per queue.
func heldJobs(t *testing.T, db *sql.DB) map[string]int {
	t.Helper()
	rows, err := db.Query(`SELECT queue, count(*) FROM river_job WHERE kind = 'rotation' AND state = 'running' GROUP BY queue`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var name string
		var n int
		if err := rows.Scan(&name, &n); err != nil {
			t.Fatal(err)
		}
		out[name] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// startGated starts a queue of cfg that runs rotations on runner, with
// rots queued on dataCenters in turn, and stops it when the test ends.
func startGated(t *testing.T, cfg queue.Config, runner *gatedRunner, rots []store.Rotation, dataCenters ...string) *queue.Queue {
	t.Helper()
	ctx := context.Background()
	cfg.Runner, cfg.PollInterval = runner, 20*time.Millisecond
	q, err := queue.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, rot := range rots {
		runner.enqueue(t, q, rot, dataCenters[i%len(dataCenters)])
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		runner.release()
		q.Stop(ctx)
	})
	return q
}

func TestConcurrencyIsTheTotalOverEveryDataCenter(t *testing.T) {
	st, rots := setup(t, 12)
	runner := newGatedRunner()
	// A job waiting for a slot gives it back at once and stays back for
	// the rest of the test, so what River holds settles.
	startGated(t, queue.Config{DB: st.DB(), Concurrency: 4, SlotWait: 50 * time.Millisecond, SlotRetry: time.Hour},
		runner, rots, "dc-a", "dc-b", "dc-c")

	waitFor(t, "four rotations running and River holding no other job", func() bool {
		total, _ := runner.now("")
		states := jobStates(t, st.DB())
		return total == 4 && states["running"] == 4 && states["scheduled"] == 8
	})
	if runner.maxTotal > 4 {
		t.Errorf("%d rotations ran at once over three data centers, concurrency 4", runner.maxTotal)
	}
	runner.release()
	waitFor(t, "the running rotations to finish", func() bool { return jobStates(t, st.DB())["completed"] == 4 })
	if runner.maxTotal > 4 {
		t.Errorf("%d rotations ran at once over three data centers, concurrency 4", runner.maxTotal)
	}
}

func TestADataCentersLimitHoldsWhileOthersUseTheRest(t *testing.T) {
	st, rots := setup(t, 9)
	runner := newGatedRunner()
	// Jobs wait for a slot as long as the test runs: none is given back.
	q := startGated(t, queue.Config{DB: st.DB(), Concurrency: 4, PerDataCenter: map[string]int{"DC A": 1},
		JobTimeout: 2 * time.Hour, SlotWait: time.Hour}, runner, rots[:3], "DC A")
	waitFor(t, "a rotation of DC A to run", func() bool {
		_, inA := runner.now("DC A")
		return inA > 0
	})
	for i, rot := range rots[3:] {
		runner.enqueue(t, q, rot, []string{"dc-b", "dc-c"}[i%2])
	}
	waitFor(t, "four rotations to run", func() bool {
		total, _ := runner.now("")
		return total == 4
	})
	total, inA := runner.now("DC A")
	if inA != 1 || total != 4 {
		t.Errorf("%d rotations run, %d of them DC A's; want 4 with 1 of DC A's (limit 1) and 3 of the others", total, inA)
	}
	if held := heldJobs(t, st.DB())[queue.Name("DC A")]; held != 1 {
		t.Errorf("River holds %d of DC A's jobs as running, want only the one that runs", held)
	}
	runner.release()
	waitFor(t, "every rotation to run", func() bool { return runner.finishedCount() == len(rots) })
	if runner.maxRunning["DC A"] > 1 {
		t.Errorf("%d rotations of DC A ran at once, its limit is 1", runner.maxRunning["DC A"])
	}
	if runner.maxTotal > 4 {
		t.Errorf("%d rotations ran at once, concurrency 4", runner.maxTotal)
	}
}

func TestAJobGivenBackForWantOfASlotRunsOnceThereIsOne(t *testing.T) {
	st, rots := setup(t, 9)
	runner := newGatedRunner()
	startGated(t, queue.Config{DB: st.DB(), Concurrency: 2, SlotWait: 20 * time.Millisecond, SlotRetry: 20 * time.Millisecond},
		runner, rots, "dc-a", "dc-b", "dc-c")
	waitFor(t, "a job to be given back while two rotations run", func() bool {
		var given int
		if err := st.DB().QueryRow(`SELECT count(*) FROM river_job WHERE kind = 'rotation' AND json_extract(metadata, '$.snoozes') > 0`).Scan(&given); err != nil {
			t.Fatal(err)
		}
		total, _ := runner.now("")
		return given > 0 && total == 2
	})
	runner.release()
	waitFor(t, "every rotation to run", func() bool { return jobStates(t, st.DB())["completed"] == len(rots) })
	if runner.finishedCount() != len(rots) {
		t.Errorf("%d rotations ran for %d jobs, want each once", runner.finishedCount(), len(rots))
	}
	if runner.maxTotal > 2 {
		t.Errorf("%d rotations ran at once, concurrency 2", runner.maxTotal)
	}
}
