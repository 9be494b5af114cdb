// Package queue runs rotations as River jobs: one queue per data center, so
// a worker placed inside a network segment takes only the rotations of the
// devices it can reach, a global concurrency limit, a per-job timeout, and
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
	// Scanner, if set, runs every ScanInterval on the elected leader only.
	Scanner      Scanner
	ScanInterval time.Duration
	// Concurrency is how many rotations run at once in this process, over
	// all queues. Default 50.
	Concurrency int
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
}

// scanUniqueStates keep one scan queued or running at a time: a leader
// change or a slow scan must not pile scans up.
var scanUniqueStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateRetryable, rivertype.JobStateScheduled,
}

// client is what Queue uses of a River client; *river.Client[*sql.Tx] and
// *river.Client[pgx.Tx] both have it.
type client interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	Queues() *river.QueueBundle
}

// Queue enqueues and works rotation jobs.
type Queue struct {
	client  client
	cfg     Config
	workAll bool

	mu     sync.Mutex
	queues map[string]bool
	// stopping is set by Stop, for River's log (stopAwareHandler).
	stopping atomic.Bool
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
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 200 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Pool != nil {
		if err := MigratePostgres(ctx, cfg.Pool); err != nil {
			return nil, err
		}
	} else if err := Migrate(ctx, cfg.DB); err != nil {
		return nil, err
	}
	q := &Queue{cfg: cfg, workAll: len(cfg.Queues) == 0, queues: map[string]bool{}}

	workers := river.NewWorkers()
	limit := make(chan struct{}, cfg.Concurrency)
	if cfg.Runner != nil {
		river.AddWorker(workers, &rotationWorker{runner: cfg.Runner, limit: limit})
	}
	var periodic []*river.PeriodicJob
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
			queues[name] = river.QueueConfig{MaxWorkers: cfg.Concurrency}
			q.queues[name] = true
		}
	}
	if cfg.Scanner != nil {
		queues[ScanQueue] = river.QueueConfig{MaxWorkers: 1}
	}
	rc := &river.Config{
		Queues:       queues,
		Workers:      workers,
		PeriodicJobs: periodic,
		// The timeout covers waiting for a slot under the global limit
		// too: no job is ever running for longer, so one still running
		// after it (and the minute a driver may take to put files back)
		// was left by a dead process and can safely be rescued.
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
	if cfg.Runner == nil && cfg.Scanner == nil {
		rc.Queues = nil
		rc.Workers = nil
	}
	var err error
	if cfg.Pool != nil {
		q.client, err = river.NewClient(riverpgxv5.New(cfg.Pool), rc)
	} else {
		q.client, err = river.NewClient(riversqlite.New(cfg.DB), rc)
	}
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	return q, nil
}

// Start begins working jobs.
func (q *Queue) Start(ctx context.Context) error {
	if err := q.client.Start(ctx); err != nil {
		return fmt.Errorf("queue: start: %w", err)
	}
	return nil
}

// Stop waits for running jobs to finish, up to ctx's deadline.
func (q *Queue) Stop(ctx context.Context) error {
	q.stopping.Store(true)
	if err := q.client.Stop(ctx); err != nil {
		return fmt.Errorf("queue: stop: %w", err)
	}
	return nil
}

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
func (q *Queue) EnqueueAt(ctx context.Context, rot store.Rotation, dataCenter string, runAt time.Time) error {
	name := Name(dataCenter)
	if err := q.ensureQueue(name); err != nil {
		return err
	}
	_, err := q.client.Insert(ctx, RotationArgs{RotationID: rot.ID, Asset: rot.Asset}, &river.InsertOpts{
		Queue: name,
		// River runs a job whose ScheduledAt has passed at once.
		ScheduledAt: runAt,
		// Scheduled jobs count too: a rotation waiting for its time must
		// not be queued twice.
		UniqueOpts: river.UniqueOpts{ByArgs: true},
	})
	if err != nil {
		return fmt.Errorf("queue: enqueue rotation %d of %s: %w", rot.ID, rot.Asset, err)
	}
	return nil
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
	if err := q.client.Queues().Add(name, river.QueueConfig{MaxWorkers: q.cfg.Concurrency}); err != nil {
		return fmt.Errorf("queue: add queue %s: %w", name, err)
	}
	q.queues[name] = true
	return nil
}

// rescueMargin is how long after its timeout a job may still legitimately
// run: drivers put a device's previous files back with a minute of their
// own after a timeout.
const rescueMargin = time.Minute + 30*time.Second

type rotationWorker struct {
	river.WorkerDefaults[RotationArgs]
	runner Runner
	limit  chan struct{}
}

func (w *rotationWorker) Work(ctx context.Context, job *river.Job[RotationArgs]) error {
	select {
	case w.limit <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-w.limit }()
	_, err := w.runner.Run(ctx, job.Args.RotationID)
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
