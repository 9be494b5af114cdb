package queue_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/queue"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/store/postgres"
	"github.com/ottr-go/ottr/internal/store/sqlite"
)

// A child process is this test binary run again with childEnv naming what
// it does; the parent SIGKILLs it, as an operator's kill -9 or a crash
// would end ottr.
const (
	childEnv      = "OTTR_QUEUE_TEST_CHILD"
	childDBEnv    = "OTTR_QUEUE_TEST_DB"
	childMarkEnv  = "OTTR_QUEUE_TEST_MARK"
	childQueueEnv = "OTTR_QUEUE_TEST_QUEUES"
)

// runChild runs the child named in the environment and never returns; it
// is called from TestMain.
func runChild(kind string) {
	ctx := context.Background()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	dbPath, mark := os.Getenv(childDBEnv), os.Getenv(childMarkEnv)
	// hold marks each rotation it starts, then holds it until killed.
	hold := holdingRunner{mark: mark}
	switch kind {
	case "serve":
		st, err := sqlite.Open(ctx, dbPath)
		if err != nil {
			fail(err)
		}
		q, err := queue.New(ctx, queue.Config{DB: st.DB(), Store: st, Runner: hold, Concurrency: 2, PollInterval: 20 * time.Millisecond,
			Liveness: queue.LockFiles{Dir: dbPath + ".processes"}})
		if err != nil {
			fail(err)
		}
		if err := q.Start(ctx); err != nil {
			fail(err)
		}
	case "leader":
		st, err := sqlite.Open(ctx, dbPath)
		if err != nil {
			fail(err)
		}
		q, err := queue.New(ctx, queue.Config{DB: st.DB(), Store: st, Runner: hold, Scanner: markingScanner{mark}, ScanInterval: time.Hour,
			PollInterval: 20 * time.Millisecond, Liveness: queue.LockFiles{Dir: dbPath + ".processes"}})
		if err != nil {
			fail(err)
		}
		if err := q.Start(ctx); err != nil {
			fail(err)
		}
	case "worker":
		pool, err := pgxpool.New(ctx, dbPath)
		if err != nil {
			fail(err)
		}
		q, err := queue.New(ctx, queue.Config{Pool: pool, Runner: hold, Queues: strings.Split(os.Getenv(childQueueEnv), ","),
			NoLead: true, PollInterval: 20 * time.Millisecond, Liveness: fastHeartbeats(pool)})
		if err != nil {
			fail(err)
		}
		if err := q.Start(ctx); err != nil {
			fail(err)
		}
	case "create":
		// Dies inside the transaction that creates a rotation, after
		// the rotation's row and its job are written, before the commit.
		st, err := sqlite.Open(ctx, dbPath)
		if err != nil {
			fail(err)
		}
		q, err := queue.New(ctx, queue.Config{DB: st.DB()})
		if err != nil {
			fail(err)
		}
		enqueue := q.EnqueueFunc("dc1", time.Time{})
		_, err = st.CreateRotationWith(ctx, store.Rotation{Asset: "dev0.example.com", Trigger: store.TriggerAPI},
			func(ctx context.Context, tx any, rot store.Rotation) error {
				if err := enqueue(ctx, tx, rot); err != nil {
					return err
				}
				if err := os.WriteFile(mark, []byte("written"), 0o600); err != nil {
					return err
				}
				select {}
			})
		fail(err)
	case "foreground":
		st, err := sqlite.Open(ctx, dbPath)
		if err != nil {
			fail(err)
		}
		q, err := queue.NewForeground(ctx, queue.Config{DB: st.DB(), Store: st, Runner: hold, PollInterval: 20 * time.Millisecond,
			Liveness: queue.LockFiles{Dir: dbPath + ".processes"}})
		if err != nil {
			fail(err)
		}
		rot, err := st.CreateRotationWith(ctx, store.Rotation{Asset: "dev0.example.com", Trigger: store.TriggerManual}, q.EnqueueFunc("dc1", time.Time{}))
		if err != nil {
			fail(err)
		}
		fail(q.RunHere(ctx, rot.ID))
	default:
		fail(fmt.Errorf("unknown child %q", kind))
	}
	select {}
}

// holdingRunner writes the ID of each rotation it starts into a file of
// its own, then holds the rotation until the process is killed.
type holdingRunner struct{ mark string }

func (h holdingRunner) Run(ctx context.Context, id int64) (store.Rotation, error) {
	if err := os.WriteFile(fmt.Sprintf("%s.%d", h.mark, id), nil, 0o600); err != nil {
		return store.Rotation{}, err
	}
	<-ctx.Done()
	return store.Rotation{}, ctx.Err()
}

// markingScanner marks that a scan ran: the process leads.
type markingScanner struct{ mark string }

func (m markingScanner) Scan(context.Context) error {
	return os.WriteFile(m.mark+".scan", nil, 0o600)
}

// fastHeartbeats makes a dead process's jobs free after three seconds.
func fastHeartbeats(pool *pgxpool.Pool) queue.Heartbeats {
	return queue.Heartbeats{Pool: pool, Interval: 200 * time.Millisecond, After: 3 * time.Second}
}

// startChild runs a child of the given kind and returns it with the path
// its runner marks rotations under.
func startChild(t *testing.T, kind, db string, env ...string) (*exec.Cmd, string) {
	t.Helper()
	mark := filepath.Join(t.TempDir(), "started")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, childEnv+"="+kind, childDBEnv+"="+db, childMarkEnv+"="+mark)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd, mark
}

// kill ends the child with SIGKILL: nothing it holds is released but by
// the kernel.
func kill(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

// started counts the rotations a child's runner started.
func started(mark string) int {
	files, _ := filepath.Glob(mark + ".*")
	return len(files)
}

// waitLong waits for cond for up to two minutes: what it waits for never
// happens without the behaviour under test (River's own rescue would take
// the ten-minute job timeout and more), so the bound only keeps a broken
// build from hanging.
func waitLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// openSQLite opens a store in a fresh directory and returns it with the
// path of its file.
func openSQLite(t *testing.T) (*sqlite.Store, string) {
	t.Helper()
	dbPath := filepath.Join(t.TempDir(), "ottr.db")
	st, err := sqlite.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, dbPath
}

// startQueue starts a queue of this process on st, its process lock
// beside the database file as ottr's own, with what cfg sets; it is
// stopped when the test ends.
func startQueue(t *testing.T, st *sqlite.Store, dbPath string, cfg queue.Config) *queue.Queue {
	t.Helper()
	cfg.DB, cfg.Store, cfg.PollInterval, cfg.Liveness = st.DB(), st, 20*time.Millisecond, queue.LockFiles{Dir: dbPath + ".processes"}
	if cfg.Scanner != nil {
		cfg.ScanInterval = time.Hour
	}
	q, err := queue.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Stop(context.Background()) })
	return q
}

// inventory stores one asset per data center named and returns them.
func inventory(t *testing.T, st store.Store, dcs ...string) []asset.Asset {
	t.Helper()
	var out []asset.Asset
	for i, dc := range dcs {
		a := asset.Asset{SystemName: fmt.Sprintf("dev%d.example.com", i), CommonName: "x.example.com", IPAddress: "192.0.2.1",
			HostPlatform: "linux", CertificateAuthority: "ca", Origin: "API", DataCenter: dc}
		if err := st.CreateAsset(context.Background(), a); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

func jobStates(t *testing.T, db *sql.DB) map[string]int {
	t.Helper()
	rows, err := db.Query(`SELECT state, count(*) FROM river_job WHERE kind = 'rotation' GROUP BY state`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			t.Fatal(err)
		}
		out[state] = n
	}
	return out
}

func TestAfterAKillEveryRotationRunsWithNoNewRequest(t *testing.T) {
	ctx := context.Background()
	st, dbPath := openSQLite(t)
	assets := inventory(t, st, "dc1", "dc1", "DC 2", "DC 2", "dc1")
	producer, err := queue.New(ctx, queue.Config{DB: st.DB()})
	if err != nil {
		t.Fatal(err)
	}
	var rots []store.Rotation
	for i, a := range assets {
		runAt, dc := time.Time{}, a.DataCenter
		switch i {
		case 4:
			// Booked by the rate-limit budget for a little later, on the
			// queue of a data center the asset has since left.
			runAt, dc = time.Now().Add(3*time.Second), "dc-old"
		}
		rot, err := st.CreateRotationWith(ctx, store.Rotation{Asset: a.SystemName, Trigger: store.TriggerSchedule},
			producer.EnqueueFunc(dc, runAt))
		if err != nil {
			t.Fatal(err)
		}
		rots = append(rots, rot)
	}

	// The first process takes two rotations (its concurrency) and is
	// killed in the middle of them; the rest wait on their queues.
	child, mark := startChild(t, "serve", dbPath)
	waitLong(t, "the first process to start two rotations", func() bool { return started(mark) == 2 })
	kill(t, child)
	if s := jobStates(t, st.DB()); s["running"] < 2 {
		t.Fatalf("job states after the kill %v: want the jobs it held left running", s)
	}

	// The process starts again, as systemd would restart it, and nothing
	// else happens: no API call, no new enqueue.
	runner := &recordingRunner{ran: map[int64]int{}}
	startQueue(t, st, dbPath, queue.Config{Runner: runner})
	waitLong(t, "every rotation to run after the restart", func() bool { return runner.count() == len(rots) })
	runner.mu.Lock()
	defer runner.mu.Unlock()
	for _, rot := range rots {
		if n := runner.ran[rot.ID]; n != 1 {
			t.Errorf("rotation %d of %s ran %d times after the restart, want once", rot.ID, rot.Asset, n)
		}
	}
}

func TestAKillWhileARotationIsCreatedLeavesNeitherItNorItsJob(t *testing.T) {
	ctx := context.Background()
	st, dbPath := openSQLite(t)
	inventory(t, st, "dc1")
	if _, err := queue.New(ctx, queue.Config{DB: st.DB()}); err != nil { // River's tables
		t.Fatal(err)
	}
	child, mark := startChild(t, "create", dbPath)
	waitLong(t, "the child to write the rotation and its job", func() bool { _, err := os.Stat(mark); return err == nil })
	kill(t, child)

	if rot, err := st.ActiveRotation(ctx, "dev0.example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("rotation %d (%s) survived the kill (err %v)", rot.ID, rot.State, err)
	}
	if s := jobStates(t, st.DB()); len(s) != 0 {
		t.Errorf("jobs %v survived the kill without their rotation", s)
	}
	// The asset is free: the next attempt creates its rotation.
	if _, err := st.CreateRotation(ctx, store.Rotation{Asset: "dev0.example.com", Trigger: store.TriggerAPI}); err != nil {
		t.Errorf("the next rotation of the asset: %v", err)
	}
}

func TestAScanningProcessQueuesRotationsLeftWithoutAJob(t *testing.T) {
	ctx := context.Background()
	st, dbPath := openSQLite(t)
	assets := inventory(t, st, "dc1", "dc2")
	// What an older version left: rotations written without their jobs,
	// one of them killed while running.
	var rots []store.Rotation
	for i, a := range assets {
		rot, err := st.CreateRotation(ctx, store.Rotation{Asset: a.SystemName, Trigger: store.TriggerSchedule})
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if err := st.UpdateRotationState(ctx, rot.ID, store.StateUpdate{State: store.StateRunning, Attempts: 1}); err != nil {
				t.Fatal(err)
			}
		}
		rots = append(rots, rot)
	}
	runner := &recordingRunner{ran: map[int64]int{}}
	startQueue(t, st, dbPath, queue.Config{Runner: runner, Scanner: &countingScanner{}})
	waitLong(t, "the rotations left without a job to run", func() bool { return runner.count() == len(rots) })
}

func TestARotateCommandKilledMidRotationIsResumedByServe(t *testing.T) {
	ctx := context.Background()
	st, dbPath := openSQLite(t)
	inventory(t, st, "dc1")
	child, mark := startChild(t, "foreground", dbPath)
	waitLong(t, "the foreground rotation to start", func() bool { return started(mark) == 1 })

	t.Run("while it runs, serve leaves it alone", func(t *testing.T) {
		runner := &recordingRunner{ran: map[int64]int{}}
		q := startQueue(t, st, dbPath, queue.Config{Runner: runner, Scanner: &countingScanner{}})
		time.Sleep(time.Second)
		if err := q.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if n := runner.count(); n != 0 {
			t.Errorf("serve ran %d rotations that a live 'ottr rotate' holds", n)
		}
	})

	kill(t, child)
	runner := &recordingRunner{ran: map[int64]int{}}
	startQueue(t, st, dbPath, queue.Config{Runner: runner, Scanner: &countingScanner{}})
	waitLong(t, "serve to resume the killed command's rotation", func() bool { return runner.count() == 1 })
}

func TestAKilledWorkersRotationsAreTakenOverOnceItsHeartbeatStops(t *testing.T) {
	ctx := context.Background()
	url := pg.NewDatabase(t)
	st, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	assets := inventory(t, st, "dc1", "dc1", "dc1")
	producer, err := queue.New(ctx, queue.Config{Pool: st.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	var rots []store.Rotation
	for _, a := range assets {
		rot, err := st.CreateRotationWith(ctx, store.Rotation{Asset: a.SystemName, Trigger: store.TriggerSchedule}, producer.EnqueueFunc(a.DataCenter, time.Time{}))
		if err != nil {
			t.Fatal(err)
		}
		rots = append(rots, rot)
	}
	// The second worker runs first and blocks, so the first worker's
	// rotations are taken over by it only.
	runner := &recordingRunner{ran: map[int64]int{}}
	survivor, err := queue.New(ctx, queue.Config{Pool: st.Pool(), Runner: runner, Queues: []string{"dc1"}, NoLead: true,
		PollInterval: 20 * time.Millisecond, Liveness: fastHeartbeats(st.Pool())})
	if err != nil {
		t.Fatal(err)
	}
	child, mark := startChild(t, "worker", url, childQueueEnv+"=dc1")
	waitLong(t, "the worker to start every rotation", func() bool { return started(mark) == len(rots) })

	t.Run("a live worker's rotations are not taken over", func(t *testing.T) {
		if err := survivor.Start(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(4 * time.Second) // longer than the heartbeat's takeover time
		if n := runner.count(); n != 0 {
			t.Errorf("%d rotations of a live worker were taken over", n)
		}
	})
	defer survivor.Stop(ctx)
	kill(t, child)
	waitLong(t, "the killed worker's rotations to be taken over", func() bool { return runner.count() == len(rots) })
	runner.mu.Lock()
	defer runner.mu.Unlock()
	for _, rot := range rots {
		if n := runner.ran[rot.ID]; n != 1 {
			t.Errorf("rotation %d ran %d times after the takeover, want once", rot.ID, n)
		}
	}
}

func TestReviveTakesOverOnlyARotationWhoseProcessIsGone(t *testing.T) {
	ctx := context.Background()
	st, dbPath := openSQLite(t)
	inventory(t, st, "dc1")
	lock := queue.LockFiles{Dir: dbPath + ".processes"}
	// An API process that runs no rotations, as 'ottr serve' in a cluster.
	api, err := queue.New(ctx, queue.Config{DB: st.DB(), Store: st, Runner: &recordingRunner{ran: map[int64]int{}}, ScanOnly: true,
		Liveness: lock})
	if err != nil {
		t.Fatal(err)
	}
	rot, err := st.CreateRotationWith(ctx, store.Rotation{Asset: "dev0.example.com", Trigger: store.TriggerAPI}, api.EnqueueFunc("dc1", time.Time{}))
	if err != nil {
		t.Fatal(err)
	}
	if revived, err := api.Revive(ctx, rot, "dc1"); err != nil || revived {
		t.Errorf("a queued rotation: revived %v (%v), want it left alone", revived, err)
	}
	child, mark := startChild(t, "serve", dbPath)
	waitLong(t, "the worker to start the rotation", func() bool { return started(mark) == 1 })
	if revived, err := api.Revive(ctx, rot, "dc1"); err != nil || revived {
		t.Errorf("a rotation a live process runs: revived %v (%v), want it left alone", revived, err)
	}
	kill(t, child)
	if revived, err := api.Revive(ctx, rot, "dc1"); err != nil || !revived {
		t.Fatalf("a rotation whose process is gone: revived %v (%v), want it taken over", revived, err)
	}
	if s := jobStates(t, st.DB()); s["available"] != 1 || s["running"] != 0 {
		t.Errorf("job states %v: want the one job available again", s)
	}
}

func TestARestartedProcessLeadsAtOnceWhenTheLeaderIsGone(t *testing.T) {
	// The scan, scheduled rotations and retries wait for a leader: a
	// restarted single node must not wait for its dead predecessor's
	// lease to run out.
	st, dbPath := openSQLite(t)
	child, mark := startChild(t, "leader", dbPath)
	waitLong(t, "the first process to lead and scan", func() bool { _, err := os.Stat(mark + ".scan"); return err == nil })
	kill(t, child)
	var expires time.Time
	if err := st.DB().QueryRow(`SELECT expires_at FROM river_leader`).Scan(&expires); err != nil {
		t.Fatal(err)
	}

	q := startQueue(t, st, dbPath, queue.Config{Runner: &recordingRunner{ran: map[int64]int{}}, Scanner: &countingScanner{}})
	waitLong(t, "the restarted process to lead", func() bool {
		var leader string
		return st.DB().QueryRow(`SELECT leader_id FROM river_leader`).Scan(&leader) == nil && leader == q.ID()
	})
	if now := time.Now().UTC(); !now.Before(expires) {
		t.Errorf("the restarted process led at %s, only once the dead leader's lease ran out at %s",
			now.Format(time.RFC3339Nano), expires.Format(time.RFC3339Nano))
	}
}
