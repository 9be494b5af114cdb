// Package queue runs rotations as River jobs: one queue per data center, so
// a worker placed inside a network segment takes only the rotations of the
// devices it can reach, a limit on the rotations a process runs at once over
// all its queues with optional lower limits per data center, a per-job
// timeout, and
// the periodic scan that finds due assets. River keeps its jobs in ottr's
// own database: SQLite on a single node, PostgreSQL (shared by several
// processes, with a leader elected for the scan) in cluster mode.
package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/store"
)

// DefaultQueue takes the rotations of assets with no data center.
const DefaultQueue = river.QueueDefault

// ScanQueue takes the scheduler's scans. Every process with a Scanner works
// it, so the scan the leader schedules runs whichever processes are up.
const ScanQueue = "ottr_scan"

// RotationArgs is the job that runs (or resumes) one rotation.
type RotationArgs struct {
	RotationID int64  `json:"rotation_id"`
	Asset      string `json:"asset"`
}

// Kind implements river.JobArgs.
func (RotationArgs) Kind() string { return "rotation" }

// ScanArgs is the periodic job that enqueues due rotations.
type ScanArgs struct{}

// Kind implements river.JobArgs.
func (ScanArgs) Kind() string { return "scan" }

// Runner runs a rotation to its end; *rotation.Runner implements it.
type Runner interface {
	Run(ctx context.Context, id int64) (store.Rotation, error)
}

// Scanner finds due assets and enqueues their rotations;
// *scheduler.Scheduler implements it.
type Scanner interface {
	Scan(ctx context.Context) error
}

// Config sets up a Queue.
type Config struct {
	// DB is the SQLite database River keeps its jobs in (ottr's own), on a
	// single node.
	DB *sql.DB
	// Pool is the PostgreSQL database River keeps its jobs in, in cluster
	// mode: several processes share it, River elects the leader that
	// runs the scan, and idle workers are woken by LISTEN/NOTIFY. Set DB
	// or Pool.
	Pool *pgxpool.Pool
	// Runner runs rotation jobs; required to work them.
	Runner Runner
	// ScanOnly keeps this process off the rotation queues while it still
	// knows the rotation job: River's leader rescues the jobs a dead
	// worker left running only if it knows their kind, and would discard
	// them otherwise.
	ScanOnly bool
	// Scanner, if set, is the periodic scan: the elected leader schedules
	// one every ScanInterval, which the first free process that runs scans
	// takes.
	Scanner      Scanner
	ScanInterval time.Duration
	// NoLead keeps this process out of River's leader election: it works
	// its queues but never runs the queue's maintenance (scheduling the
	// scan, moving scheduled and retried jobs on, River's own rescue,
	// cleanup), which the processes that may lead do. Workers placed in
	// remote network segments set it, so the central 'ottr serve'
	// processes lead. Such a process must have no Scanner.
	NoLead bool
	// Concurrency is how many rotations run at once in this process, over
	// all queues. Default 50.
	Concurrency int
	// PerDataCenter caps the rotations of one data center (by its name,
	// as given to Enqueue) that run at once in this process, below
	// Concurrency; a data center not named here may use all of it.
	PerDataCenter map[string]int
	// SlotWait is how long a job River has handed this process may wait
	// for a free slot under Concurrency — the waiting counts against
	// JobTimeout — before it is given back to its queue, not counted as
	// an attempt, for any process to take after SlotRetry. Several
	// queues each fetch up to their own limit, so a busy process may be
	// handed more jobs than it has slots; this keeps it from holding them.
	// Default 5s, at most a tenth of JobTimeout.
	SlotWait time.Duration
	// SlotRetry is how long a job given back for want of a slot waits
	// before it may be taken again. Default 1s.
	SlotRetry time.Duration
	// JobTimeout bounds one rotation. Default 10m.
	JobTimeout time.Duration
	// Queues restricts this process to these queues (data centers); empty
	// means every queue, added as rotations are enqueued.
	Queues []string
	// PollInterval is how often idle workers look for jobs (SQLite has no
	// LISTEN/NOTIFY; on PostgreSQL it is the fallback). Default 200ms.
	PollInterval time.Duration
	// ID names this process among the cluster's River clients. Default:
	// River's own (host and a random suffix).
	ID string
	// Logger receives River's logs; nil discards them.
	Logger *slog.Logger

	// Store is the inventory: a process that works every queue takes the
	// queues of its data centers from it at start, and the scanning
	// processes use it to find rotations left without a job. Optional.
	Store store.Store
	// Liveness tells whether the process holding a running job is alive,
	// so a dead process's rotations are taken over at once rather than
	// after the job timeout. nil: only River's own rescue, after
	// JobTimeout plus a margin.
	Liveness Liveness
	// CheckInterval is how often running jobs' processes are checked, and
	// new queues looked for. Default 5s.
	CheckInterval time.Duration

	// Deliverer, if set, sends the notifications' deliveries: this
	// process works NotifyQueue. Set it in the processes that scan.
	Deliverer Deliverer
	// DeliveryBackoff is the pause before a failed delivery is tried
	// again; it doubles after each attempt, up to an hour. Default 30s.
	DeliveryBackoff time.Duration
	// Tasks are periodic work this process may run and, when elected
	// leader, schedules; this process works NotifyQueue.
	Tasks []Task
}

// scanUniqueStates keep one scan queued or running at a time: a leader
// change or a slow scan must not pile scans up.
var scanUniqueStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateRetryable, rivertype.JobStateScheduled,
}

// client is what Queue uses of a River client: riverClient wraps a
// *river.Client[*sql.Tx] or a *river.Client[pgx.Tx], taking the
// transactions of either as any.
type client interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	Queues() *river.QueueBundle
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
	Subscribe(kinds ...river.EventKind) (<-chan *river.Event, func())
	insertTx(ctx context.Context, tx any, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	cancelTx(ctx context.Context, tx any, id int64) (*rivertype.JobRow, error)
	inTx(ctx context.Context, fn func(tx any) error) error
}

// riverClient adapts a River client of either driver to client.
type riverClient[TTx any] struct {
	*river.Client[TTx]
	begin func(ctx context.Context, fn func(TTx) error) error
}

func (c riverClient[TTx]) insertTx(ctx context.Context, tx any, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	t, ok := tx.(TTx)
	if !ok {
		return nil, fmt.Errorf("queue: a %T is not a transaction of this database", tx)
	}
	return c.InsertTx(ctx, t, args, opts)
}

func (c riverClient[TTx]) cancelTx(ctx context.Context, tx any, id int64) (*rivertype.JobRow, error) {
	t, ok := tx.(TTx)
	if !ok {
		return nil, fmt.Errorf("queue: a %T is not a transaction of this database", tx)
	}
	return c.JobCancelTx(ctx, t, id)
}

func (c riverClient[TTx]) inTx(ctx context.Context, fn func(tx any) error) error {
	return c.begin(ctx, func(t TTx) error { return fn(t) })
}

// Queue enqueues and works rotation jobs.
type Queue struct {
	client client
	// exec reaches River's tables below the client, for taking over the
	// jobs of dead processes; db or pool is the database it runs on.
	exec    riverdriver.Executor
	cfg     Config
	workAll bool
	// private is the one queue of a foreground queue (NewForeground).
	private string

	mu     sync.Mutex
	queues map[string]bool
	// stopping is set by Stop, for River's log (stopAwareHandler).
	stopping atomic.Bool

	// release ends this process's liveness; stopChecks ends the periodic
	// checks, which close checksDone when they have.
	release    func()
	stopChecks chan struct{}
	checksDone chan struct{}
	// running cancels the rotations this process runs, when it fences
	// itself (Liveness could not prove it alive).
	running runningJobs
}

// Migrate brings River's tables in db up to date.
func Migrate(ctx context.Context, db *sql.DB) error {
	m, err := rivermigrate.New(riversqlite.New(db), nil)
	if err != nil {
		return fmt.Errorf("queue: migrate: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("queue: migrate: %w", err)
	}
	return nil
}

// migrateLockKey is the PostgreSQL advisory lock River's migrations run
// under ("ottr-river" in ASCII), so processes starting together migrate
// one after the other.
const migrateLockKey = 0x6f7474722d726976

// MigratePostgres brings River's tables in pool's database up to date,
// under an advisory lock. River applies each version in its own
// transaction (a version may add an enum value that the next one uses), so
// the lock is held by a connection of its own, outside the pool: waiting
// for the lock must not take a connection the migration needs.
func MigratePostgres(ctx context.Context, pool *pgxpool.Pool) error {
	m, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return fmt.Errorf("queue: migrate: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("queue: migrate: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(migrateLockKey)); err != nil {
		return fmt.Errorf("queue: migrate: lock: %w", err)
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(migrateLockKey))
	}()
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("queue: migrate: %w", err)
	}
	if _, err := conn.Exec(ctx, heartbeatTable); err != nil {
		return fmt.Errorf("queue: migrate: heartbeats: %w", err)
	}
	return nil
}

// New migrates River's schema and returns a Queue ready to Start.
func New(ctx context.Context, cfg Config) (*Queue, error) {
	if (cfg.DB == nil) == (cfg.Pool == nil) {
		return nil, errors.New("queue: give exactly one of a SQLite database (DB) and a PostgreSQL pool (Pool)")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 50
	}
	if cfg.JobTimeout <= 0 {
		cfg.JobTimeout = 10 * time.Minute
	}
	if cfg.SlotWait <= 0 {
		cfg.SlotWait = min(5*time.Second, cfg.JobTimeout/10)
	}
	if cfg.SlotRetry <= 0 {
		cfg.SlotRetry = time.Second
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 200 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = 5 * time.Second
	}
	if cfg.ID == "" {
		cfg.ID = ProcessID("ottr")
	}
	if cfg.Pool != nil {
		if err := MigratePostgres(ctx, cfg.Pool); err != nil {
			return nil, err
		}
	} else if err := Migrate(ctx, cfg.DB); err != nil {
		return nil, err
	}
	q := &Queue{cfg: cfg, workAll: len(cfg.Queues) == 0, queues: map[string]bool{}, running: runningJobs{cancels: map[int64]context.CancelFunc{}}}

	workers := river.NewWorkers()
	limit := make(chan struct{}, cfg.Concurrency)
	if cfg.Runner != nil {
		river.AddWorker(workers, &rotationWorker{runner: cfg.Runner, limit: limit, running: &q.running,
			slotWait: cfg.SlotWait, slotRetry: cfg.SlotRetry})
	}
	periodic := addNotifyWork(workers, cfg)
	if cfg.Scanner != nil {
		river.AddWorker(workers, &scanWorker{scanner: cfg.Scanner})
		interval := cfg.ScanInterval
		if interval <= 0 {
			interval = 5 * time.Minute
		}
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(interval),
			func() (river.JobArgs, *river.InsertOpts) {
				return ScanArgs{}, &river.InsertOpts{Queue: ScanQueue, UniqueOpts: river.UniqueOpts{ByQueue: true, ByState: scanUniqueStates}}
			},
			&river.PeriodicJobOpts{RunOnStart: true}))
	}

	queues := map[string]river.QueueConfig{}
	if cfg.Runner != nil && !cfg.ScanOnly {
		names := cfg.Queues
		if q.workAll {
			names = []string{DefaultQueue}
		}
		for _, name := range names {
			queues[name] = river.QueueConfig{MaxWorkers: q.maxWorkers(name)}
			q.queues[name] = true
		}
	}
	if cfg.Scanner != nil {
		queues[ScanQueue] = river.QueueConfig{MaxWorkers: 1}
	}
	if cfg.worksNotify() {
		queues[NotifyQueue] = river.QueueConfig{MaxWorkers: notifyWorkers}
	}
	rc := &river.Config{
		Queues:       queues,
		Workers:      workers,
		PeriodicJobs: periodic,
		// The timeout covers waiting for a slot under the process's limit
		// too (at most SlotWait): no job is ever running for longer, so
		// one still running after it (and the minute a driver may take to
		// put files back) was left by a dead process and can safely be
		// rescued.
		JobTimeout:        cfg.JobTimeout,
		MaxAttempts:       10,
		Logger:            slog.New(stopAwareHandler{inner: cfg.Logger.Handler(), stopping: &q.stopping}),
		ID:                cfg.ID,
		PollOnly:          cfg.Pool == nil,
		FetchCooldown:     min(50*time.Millisecond, cfg.PollInterval),
		FetchPollInterval: cfg.PollInterval,
		// A worker that died mid-rotation leaves its job running; another
		// worker takes it over once it cannot still be alive, and the
		// rotation resumes after its last journaled step.
		RescueStuckJobsAfter: cfg.JobTimeout + rescueMargin,
	}
	if cfg.Runner == nil && cfg.Scanner == nil && !cfg.worksNotify() {
		rc.Queues = nil
		rc.Workers = nil
		rc.PeriodicJobs = nil
	}
	if cfg.NoLead {
		if cfg.Scanner != nil || len(cfg.Tasks) > 0 {
			return nil, errors.New("queue: a process that never leads cannot schedule the scan or tasks: give it no Scanner and no Tasks")
		}
		rc.LeaderElectionDisabled = true
	}
	if err := q.newClient(rc); err != nil {
		return nil, err
	}
	return q, nil
}

// newClient makes the River client of rc on the configured database.
func (q *Queue) newClient(rc *river.Config) error {
	if q.cfg.Pool != nil {
		driver := riverpgxv5.New(q.cfg.Pool)
		c, err := river.NewClient(driver, rc)
		if err != nil {
			return fmt.Errorf("queue: %w", err)
		}
		q.client = riverClient[pgx.Tx]{Client: c, begin: func(ctx context.Context, fn func(pgx.Tx) error) error {
			return pgx.BeginFunc(ctx, q.cfg.Pool, fn)
		}}
		q.exec = driver.GetExecutor()
		return nil
	}
	driver := riversqlite.New(q.cfg.DB)
	c, err := river.NewClient(driver, rc)
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	q.client = riverClient[*sql.Tx]{Client: c, begin: func(ctx context.Context, fn func(*sql.Tx) error) error {
		tx, err := q.cfg.DB.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err := fn(tx); err != nil {
			tx.Rollback()
			return err
		}
		return tx.Commit()
	}}
	q.exec = driver.GetExecutor()
	return nil
}

// Start begins working jobs. Before it takes any, it announces this
// process as alive, takes over the jobs that processes now dead left
// running — on one machine that is every job a killed predecessor held,
// which resumes at once — and, in a process that works every queue, adds
// the queue of every data center in the inventory and every queue that
// holds jobs, so nothing waits for a new enqueue to be noticed. Then it
// keeps checking both every CheckInterval.
func (q *Queue) Start(ctx context.Context) error {
	if q.cfg.Liveness != nil {
		release, err := q.cfg.Liveness.Register(ctx, q.cfg.ID, q.fence)
		if err != nil {
			return err
		}
		q.release = release
	}
	q.takeOver(ctx)
	q.freeLeadership(ctx)
	if err := q.addQueues(ctx); err != nil {
		q.cfg.Logger.Warn("could not list the queues that hold work; they are looked for again shortly", "err", err)
	}
	if err := q.client.Start(ctx); err != nil {
		if q.release != nil {
			q.release()
		}
		return fmt.Errorf("queue: start: %w", err)
	}
	if q.reconciles() {
		q.reconcile(ctx)
	}
	q.stopChecks, q.checksDone = make(chan struct{}), make(chan struct{})
	go q.checkLoop()
	return nil
}

// Stop waits for running jobs to finish, up to ctx's deadline. A job still
// running then is left to be taken over: this process stops counting as
// alive once River has stopped.
func (q *Queue) Stop(ctx context.Context) error {
	q.stopping.Store(true)
	if q.stopChecks != nil {
		close(q.stopChecks)
		<-q.checksDone
		q.stopChecks = nil
	}
	err := q.client.Stop(ctx)
	if q.release != nil {
		q.release()
		q.release = nil
	}
	if err != nil {
		return fmt.Errorf("queue: stop: %w", err)
	}
	return nil
}

// ID is this process's name among the queue's clients (River's client ID).
func (q *Queue) ID() string { return q.cfg.ID }

// River's queue names are letters and digits joined by single "_" or "-".
var (
	queueNameUnsafe     = regexp.MustCompile(`[^a-z0-9-]+`)
	queueNameSeparators = regexp.MustCompile(`[_-]{2,}`)
)

// Name returns the queue a data center's rotations go to: its name in
// lower case, other characters turned into "_", and runs of separators
// into one ("US-East 1" is us-east_1, "DC 1 - East" dc_1_east).
func Name(dataCenter string) string {
	n := queueNameUnsafe.ReplaceAllString(strings.ToLower(strings.TrimSpace(dataCenter)), "_")
	n = queueNameSeparators.ReplaceAllString(n, "_")
	n = strings.Trim(n, "_-")
	if n == "" {
		return DefaultQueue
	}
	if len(n) > 64 {
		n = strings.TrimRight(n[:64], "_-")
	}
	return n
}

// Enqueue queues a rotation on its data center's queue, to run now. In a
// process that works every queue, a data center seen for the first time
// gets its queue here.
func (q *Queue) Enqueue(ctx context.Context, rot store.Rotation, dataCenter string) error {
	return q.EnqueueAt(ctx, rot, dataCenter, time.Time{})
}

// EnqueueAt is Enqueue for a rotation that may not run before runAt, such
// as one the CA's rate limits leave room for only later: the job waits,
// scheduled, until then. A zero or past runAt runs it now.
//
// The rotation must exist already; to create a rotation and its job
// together, pass EnqueueFunc to rotation.Runner.Create instead.
func (q *Queue) EnqueueAt(ctx context.Context, rot store.Rotation, dataCenter string, runAt time.Time) error {
	name := q.queueOf(dataCenter)
	if err := q.ensureQueue(name); err != nil {
		return err
	}
	if _, err := q.client.Insert(ctx, rotationJob(rot), rotationJobOpts(name, rot, runAt)); err != nil {
		return fmt.Errorf("queue: enqueue rotation %d of %s: %w", rot.ID, rot.Asset, err)
	}
	return nil
}

// EnqueueFunc returns what rotation.Runner.Create calls to queue a new
// rotation's job on dataCenter's queue, to run no earlier than runAt, in
// the transaction that creates the rotation: the rotation and its job are
// committed together or not at all, so no crash leaves a rotation pending
// with nothing to run it.
func (q *Queue) EnqueueFunc(dataCenter string, runAt time.Time) rotation.Enqueue {
	// The queue is added here, before the transaction: adding one starts
	// its producer, which reads the database, and on SQLite the
	// transaction holds the only connection that may.
	if err := q.ensureQueue(q.queueOf(dataCenter)); err != nil {
		return func(context.Context, any, store.Rotation) error { return err }
	}
	return func(ctx context.Context, tx any, rot store.Rotation) error {
		return q.EnqueueTx(ctx, tx, rot, dataCenter, runAt)
	}
}

// EnqueueTx queues rot's job inside tx, the store's transaction that
// creates rot (store.Store.CreateRotationWith). It does not add the queue
// to this process's (EnqueueFunc does, outside the transaction); the
// periodic look for queues with work finds it otherwise.
func (q *Queue) EnqueueTx(ctx context.Context, tx any, rot store.Rotation, dataCenter string, runAt time.Time) error {
	name := q.queueOf(dataCenter)
	if _, err := q.client.insertTx(ctx, tx, rotationJob(rot), rotationJobOpts(name, rot, runAt)); err != nil {
		return fmt.Errorf("queue: enqueue rotation %d of %s: %w", rot.ID, rot.Asset, err)
	}
	return nil
}

// queueOf is the queue a rotation of dataCenter goes to: its data
// center's, or a foreground queue's own.
func (q *Queue) queueOf(dataCenter string) string {
	if q.private != "" {
		return q.private
	}
	return Name(dataCenter)
}

func rotationJob(rot store.Rotation) RotationArgs {
	return RotationArgs{RotationID: rot.ID, Asset: rot.Asset}
}

// rotationTag marks a rotation's job, so it can be found by rotation.
func rotationTag(id int64) string { return fmt.Sprintf("rotation-%d", id) }

func rotationJobOpts(queue string, rot store.Rotation, runAt time.Time) *river.InsertOpts {
	return &river.InsertOpts{
		Queue: queue,
		// River runs a job whose ScheduledAt has passed at once.
		ScheduledAt: runAt,
		Tags:        []string{rotationTag(rot.ID)},
		// Scheduled jobs count too: a rotation waiting for its time must
		// not be queued twice.
		UniqueOpts: river.UniqueOpts{ByArgs: true},
	}
}

func (q *Queue) ensureQueue(name string) error {
	if !q.workAll || q.cfg.Runner == nil || q.cfg.ScanOnly {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.queues[name] {
		return nil
	}
	if err := q.client.Queues().Add(name, river.QueueConfig{MaxWorkers: q.maxWorkers(name)}); err != nil {
		return fmt.Errorf("queue: add queue %s: %w", name, err)
	}
	q.queues[name] = true
	return nil
}

// maxWorkers is how many jobs the queue named name fetches at once: its
// data center's cap, or the process's whole limit. The queues together
// may fetch more than the limit; rotationWorker holds the total.
func (q *Queue) maxWorkers(name string) int {
	n := q.cfg.Concurrency
	for dataCenter, limit := range q.cfg.PerDataCenter {
		if Name(dataCenter) == name && limit > 0 {
			n = min(n, limit)
		}
	}
	return n
}

// rescueMargin is how long after its timeout a job may still legitimately
// run: drivers put a device's previous files back with a minute of their
// own after a timeout.
const rescueMargin = time.Minute + 30*time.Second

type rotationWorker struct {
	river.WorkerDefaults[RotationArgs]
	runner Runner
	// limit holds a slot for each rotation running in this process, over
	// all its queues.
	limit   chan struct{}
	running *runningJobs
	// slotWait and slotRetry are Config's SlotWait and SlotRetry.
	slotWait, slotRetry time.Duration
}

func (w *rotationWorker) Work(ctx context.Context, job *river.Job[RotationArgs]) error {
	ctx, done, err := w.running.add(ctx, job.ID)
	if err != nil {
		return err
	}
	defer done()
	wait := time.NewTimer(w.slotWait)
	defer wait.Stop()
	select {
	case w.limit <- struct{}{}:
	case <-wait.C:
		// Every slot is busy with other queues' rotations: the job goes
		// back rather than waiting here with its timeout running, and
		// this process or another takes it when it has room.
		return river.JobSnooze(w.slotRetry)
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-w.limit }()
	_, err = w.runner.Run(ctx, job.Args.RotationID)
	var failure *rotation.Failure
	if errors.As(err, &failure) {
		// The failure is recorded on the rotation and the asset; the
		// scheduler's backoff decides when to try again, not River.
		return nil
	}
	if errors.Is(err, store.ErrNotFound) {
		// The asset was deleted while its rotation waited.
		return river.JobCancel(err)
	}
	return err
}

type scanWorker struct {
	river.WorkerDefaults[ScanArgs]
	scanner Scanner
}

func (w *scanWorker) Work(ctx context.Context, _ *river.Job[ScanArgs]) error {
	return w.scanner.Scan(ctx)
}

// Compile-time checks.
var (
	_ river.Worker[RotationArgs] = (*rotationWorker)(nil)
	_ river.Worker[ScanArgs]     = (*scanWorker)(nil)
	_ rivertype.JobArgs          = RotationArgs{}
)
