package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/ottr-go/ottr/internal/store"
)

// NewForeground returns a queue for a rotation run in the foreground
// ('ottr rotate'): it works one queue of its own, named after this process,
// so the rotation it creates (EnqueueFunc) or adopts (Adopt) has a job like
// any other — created with it in one transaction — that no other process
// takes while this one lives. If this process dies, the processes that
// scan move the job to its data center's queue, where the rotation resumes.
// cfg.Queues, Scanner and Concurrency are ignored.
func NewForeground(ctx context.Context, cfg Config) (*Queue, error) {
	if cfg.Runner == nil {
		return nil, errors.New("queue: a foreground queue needs a runner")
	}
	name := foregroundPrefix + strings.ToLower(strings.NewReplacer("-", "|").Replace(ProcessID("cli")))
	name = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '|' {
			return r
		}
		return -1
	}, name)
	cfg.ID, cfg.Queues, cfg.Scanner, cfg.Concurrency = name, []string{name}, nil, 1
	// It never leads: it lives for one rotation, and a leader that comes
	// and goes would move River's maintenance back and forth.
	cfg.NoLead = true
	q, err := New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	q.private = name
	return q, nil
}

// BusyError is a rotation that runs in another process, which is alive.
type BusyError struct {
	RotationID int64
	Process    string
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("rotation %d runs in process %s", e.RotationID, e.Process)
}

// Adopt moves rot's job, which waits on another queue, to this foreground
// queue, or gives rot one when it has none. A job that runs in a process
// that is gone is taken over first; one that runs in a live process is left
// alone and Adopt fails with a *BusyError.
func (q *Queue) Adopt(ctx context.Context, rot store.Rotation) error {
	if q.private == "" {
		return errors.New("queue: only a foreground queue adopts rotations")
	}
	jobs, err := q.liveJobs(ctx, rot.ID)
	if err != nil {
		return err
	}
	job := jobs[rot.ID]
	if job != nil && job.Queue == q.private {
		return nil
	}
	if job != nil && job.State == rivertype.JobStateRunning {
		holder := holderOf(job)
		var dead map[string]bool
		if q.cfg.Liveness != nil {
			if dead, err = q.cfg.Liveness.Dead(ctx, []string{holder}); err != nil {
				return err
			}
		}
		if !dead[holder] {
			return &BusyError{RotationID: rot.ID, Process: holder}
		}
		if err := q.release1(ctx, job, fmt.Sprintf("process %s, which ran this job, is gone; taken over by %s", holder, q.cfg.ID)); err != nil {
			return fmt.Errorf("queue: take over rotation %d: %w", rot.ID, err)
		}
	}
	return q.client.inTx(ctx, func(tx any) error {
		if job != nil {
			cancelled, err := q.client.cancelTx(ctx, tx, job.ID)
			if err != nil {
				return fmt.Errorf("queue: move rotation %d here: %w", rot.ID, err)
			}
			// A job a worker took in the meantime is only asked to stop
			// (and this transaction undoes even that): the rotation is
			// that worker's now.
			if cancelled.State == rivertype.JobStateRunning {
				return &BusyError{RotationID: rot.ID, Process: holderOf(cancelled)}
			}
		}
		_, err := q.client.insertTx(ctx, tx, rotationJob(rot), rotationJobOpts(q.private, rot, time.Time{}))
		return err
	})
}

// RunHere starts the queue, waits until the job of rotation id has run
// and stops the queue. It returns the error the job ended with, if it did
// not complete.
func (q *Queue) RunHere(ctx context.Context, id int64) error {
	events, cancel := q.client.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled)
	defer cancel()
	if err := q.Start(ctx); err != nil {
		return err
	}
	var runErr error
wait:
	for {
		select {
		case <-ctx.Done():
			runErr = ctx.Err()
			break wait
		case e, ok := <-events:
			if !ok {
				runErr = errors.New("queue: stopped before the rotation ended")
				break wait
			}
			var args RotationArgs
			if e.Job == nil || json.Unmarshal(e.Job.EncodedArgs, &args) != nil || args.RotationID != id {
				continue
			}
			switch e.Kind {
			case river.EventKindJobCompleted:
			case river.EventKindJobCancelled:
				runErr = fmt.Errorf("rotation %d was cancelled", id)
			default:
				runErr = fmt.Errorf("rotation %d did not finish: %s", id, lastError(e.Job))
			}
			break wait
		}
	}
	stopCtx, stop := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer stop()
	if err := q.Stop(stopCtx); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

func lastError(job *rivertype.JobRow) string {
	if n := len(job.Errors); n > 0 {
		return job.Errors[n-1].Error
	}
	return "no error recorded"
}
