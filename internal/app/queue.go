package app

import (
	"context"

	"github.com/ottr-go/ottr/internal/issuer"
	"github.com/ottr-go/ottr/internal/queue"
	"github.com/ottr-go/ottr/internal/scheduler"
)

// QueueRole says what a process does with the job queue.
type QueueRole struct {
	// Work runs rotations: those of Queues, or of every queue when Queues
	// is empty.
	Work   bool
	Queues []string
	// Scan runs the periodic scan and leads the queue's maintenance
	// (River's leader election); a process that does not scan never
	// leads. 'ottr serve' scans, workers do not.
	Scan bool
}

// Queue builds the job queue on the app's database for a process of the
// given role, with the scheduler its scans run.
func (a *App) Queue(ctx context.Context, role QueueRole) (*queue.Queue, *scheduler.Scheduler, error) {
	sched := a.scheduler()
	qc := a.queueConfig(queue.ProcessID("ottr"))
	qc.Queues = role.Queues
	// The runner is always known, even to a process that runs no
	// rotations, so a leader rescues (not discards) a dead worker's jobs.
	qc.Runner, qc.ScanOnly = a.Runner, !role.Work
	if role.Scan {
		qc.Scanner = measuredScans{sched: sched, metrics: a.Metrics, now: a.opts.Now}
	} else {
		qc.NoLead = true
	}
	if err := a.notifyQueue(&qc, sched, role); err != nil {
		return nil, nil, err
	}
	q, err := queue.New(ctx, qc)
	if err != nil {
		return nil, nil, err
	}
	sched.Enqueuer = q
	a.setEnqueuer(q)
	return q, sched, nil
}

// ForegroundQueue builds the queue of a rotation run in this process
// ('ottr rotate'): its job lives on a queue of this process's own.
func (a *App) ForegroundQueue(ctx context.Context) (*queue.Queue, error) {
	qc := a.queueConfig("")
	qc.Runner = a.Runner
	q, err := queue.NewForeground(ctx, qc)
	if err == nil {
		a.setEnqueuer(q)
	}
	return q, err
}

func (a *App) queueConfig(id string) queue.Config {
	qc := queue.Config{
		DB:            a.db,
		Pool:          a.pool,
		Concurrency:   a.Config.Workers.Concurrency,
		PerDataCenter: a.Config.Workers.PerDataCenter,
		JobTimeout:    a.Config.Workers.JobTimeout,
		ScanInterval:  a.Config.Scheduler.Interval,
		Logger:        a.log,
		ID:            id,
		Store:         a.Store,
	}
	if a.pool != nil {
		qc.Liveness = queue.Heartbeats{Pool: a.pool, After: a.Config.Workers.TakeoverAfter, Logger: a.log}
	} else {
		// Every process that shares the SQLite file runs on this machine.
		qc.Liveness = queue.LockFiles{Dir: a.Config.Database + ".processes"}
	}
	return qc
}

func (a *App) scheduler() *scheduler.Scheduler {
	return &scheduler.Scheduler{
		Store:       a.Store,
		Creator:     a.Runner,
		Policy:      a.Config.Policy,
		Batch:       a.Config.Scheduler.Batch,
		RenewalInfo: a.renewalInfo,
		Budget:      a.Budget,
		Now:         a.opts.Now,
		Logger:      a.log,
	}
}

// renewalInfo asks the CA profile caName (ACME ARI) when the certificate
// with ARI certificate ID certID should be renewed.
func (a *App) renewalInfo(ctx context.Context, caName, certID string) (issuer.RenewalInfo, error) {
	ca, err := a.CA(ctx, caName)
	if err != nil {
		return issuer.RenewalInfo{}, err
	}
	return ca.Issuer.RenewalInfo(ctx, certID)
}

// Migrate brings River's tables up to date; ottr's own are migrated when
// the store opens.
func (a *App) Migrate(ctx context.Context) error {
	if a.pool != nil {
		return queue.MigratePostgres(ctx, a.pool)
	}
	return queue.Migrate(ctx, a.db)
}
