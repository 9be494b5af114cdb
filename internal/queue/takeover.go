package queue

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/ottr-go/ottr/internal/store"
)

// ProcessID names a process among the queue's clients: the role, the host,
// the process ID and a random suffix, so a restarted process that got the
// same PID (PID 1 in a container, say) is not taken for its predecessor.
func ProcessID(role string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "ottr"
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%s-%d-%s", role, host, os.Getpid(), hex.EncodeToString(b[:]))
}

// runningJobs lets a fenced process cancel the rotations it runs.
type runningJobs struct {
	mu      sync.Mutex
	fenced  bool
	cancels map[int64]context.CancelFunc
}

// errFenced is a job this process will not run while it cannot prove it
// is alive: another process may take the job over at any moment.
var errFenced = errors.New("queue: this process could not write its heartbeat; leaving the rotation to a process that can")

func (r *runningJobs) add(ctx context.Context, id int64) (context.Context, func(), error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fenced {
		return ctx, func() {}, errFenced
	}
	ctx, cancel := context.WithCancel(ctx)
	r.cancels[id] = cancel
	return ctx, func() {
		r.mu.Lock()
		delete(r.cancels, id)
		r.mu.Unlock()
		cancel()
	}, nil
}

// fence stops every rotation this process runs when it could not prove
// it is alive (fenced true): another process may soon take them over. A
// rotation stopped in a step resumes, where it is taken over, after its
// last journaled step. Jobs it takes meanwhile are refused, until it
// proves it is alive again (fenced false).
func (q *Queue) fence(fenced bool) {
	q.running.mu.Lock()
	defer q.running.mu.Unlock()
	q.running.fenced = fenced
	if !fenced {
		return
	}
	for _, cancel := range q.running.cancels {
		cancel()
	}
}

// checkLoop takes over dead processes' jobs every CheckInterval, adds
// queues with work less often, and looks for rotations without a job now
// and then.
func (q *Queue) checkLoop() {
	defer close(q.checksDone)
	tick := time.NewTicker(q.cfg.CheckInterval)
	defer tick.Stop()
	lastReconcile, lastQueues := time.Now(), time.Now()
	for {
		select {
		case <-q.stopChecks:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), max(q.cfg.CheckInterval, 30*time.Second))
		q.takeOver(ctx)
		q.freeLeadership(ctx)
		if time.Since(lastQueues) >= queuesInterval {
			if err := q.addQueues(ctx); err != nil {
				q.cfg.Logger.Warn("could not list the queues that hold work", "err", err)
			}
			lastQueues = time.Now()
		}
		if q.reconciles() && time.Since(lastReconcile) >= reconcileInterval {
			q.reconcile(ctx)
			lastReconcile = time.Now()
		}
		cancel()
	}
}

// queuesInterval is how often a process that works every queue looks for
// queues with work it does not work yet. Its own enqueues add their queue
// at once; this finds those of other processes and of data centers added
// behind its back, and is a distinct read over every job still to run.
const queuesInterval = 30 * time.Second

// reconcileInterval is how often the scanning processes look for
// rotations left without a job (a job River discarded after its last
// attempt, say); once at start catches what older versions left.
const reconcileInterval = 10 * time.Minute

// reconciles reports whether this process looks for rotations left
// without a job: the processes that scan do, the workers do not.
func (q *Queue) reconciles() bool {
	return q.cfg.Store != nil && q.cfg.Scanner != nil
}

// stuckPage is how many running jobs one takeover pass reads at a time.
const stuckPage = 1000

// takeOver makes the jobs that dead processes left running available
// again, so they run (and their rotations resume) at once. Each job is
// changed only if it is still running under the same attempt, so a job
// another process has since taken (or finished) is never touched.
func (q *Queue) takeOver(ctx context.Context) int {
	if q.cfg.Liveness == nil {
		return 0
	}
	var (
		holders = map[string]bool{}
		held    []*rivertype.JobRow
		after   int64
	)
	for {
		jobs, err := q.exec.JobGetStuck(ctx, &riverdriver.JobGetStuckParams{
			AfterID: after,
			Max:     stuckPage,
			// Every running job: the horizon is ahead, not behind, so a
			// job that started a moment ago is seen too.
			StuckHorizon: time.Now().Add(time.Hour),
		})
		if err != nil {
			q.cfg.Logger.Warn("could not list running jobs to take over", "err", err)
			return 0
		}
		for _, job := range jobs {
			after = job.ID
			holder := holderOf(job)
			if holder == "" || holder == q.cfg.ID || job.AttemptedAt == nil {
				continue
			}
			holders[holder] = true
			held = append(held, job)
		}
		if len(jobs) < stuckPage {
			break
		}
	}
	if len(held) == 0 {
		return 0
	}
	ids := make([]string, 0, len(holders))
	for h := range holders {
		ids = append(ids, h)
	}
	dead, err := q.cfg.Liveness.Dead(ctx, ids)
	if err != nil {
		q.cfg.Logger.Warn("could not tell whether the processes holding running jobs are alive", "err", err)
		return 0
	}
	taken := 0
	for _, job := range held {
		holder := holderOf(job)
		if !dead[holder] {
			continue
		}
		if err := q.release1(ctx, job, fmt.Sprintf("process %s, which ran this job, is gone; taken over by %s", holder, q.cfg.ID)); err != nil {
			q.cfg.Logger.Warn("could not take over a dead process's job", "job", job.ID, "process", holder, "err", err)
			continue
		}
		taken++
		q.cfg.Logger.Info("took over a job whose process is gone", "job", job.ID, "kind", job.Kind, "queue", job.Queue, "process", holder)
	}
	return taken
}

// freeLeadership ends the leadership of a leader that is gone, so a
// process that may lead is elected at once: River's lease would otherwise
// keep every scan, scheduled rotation and retry waiting until it expired
// (up to half a minute after each crash of a single node).
func (q *Queue) freeLeadership(ctx context.Context) {
	if q.cfg.Liveness == nil || q.cfg.NoLead {
		return
	}
	leader, err := q.exec.LeaderGetElectedLeader(ctx, &riverdriver.LeaderGetElectedLeaderParams{})
	if err != nil || leader.LeaderID == q.cfg.ID {
		return // none (rivertype.ErrNotFound), or this process
	}
	dead, err := q.cfg.Liveness.Dead(ctx, []string{leader.LeaderID})
	if err != nil || !dead[leader.LeaderID] {
		return
	}
	resigned, err := q.exec.LeaderResign(ctx, &riverdriver.LeaderResignParams{
		ElectedAt: leader.ElectedAt, LeaderID: leader.LeaderID, LeadershipTopic: "river_leadership",
	})
	if err != nil {
		q.cfg.Logger.Warn("could not end the leadership of a process that is gone", "process", leader.LeaderID, "err", err)
		return
	}
	if resigned {
		q.cfg.Logger.Info("ended the leadership of a process that is gone", "process", leader.LeaderID)
	}
}

// release1 makes the running job available at once, if it is still
// running under the attempt that was read.
func (q *Queue) release1(ctx context.Context, job *rivertype.JobRow, why string) error {
	now := time.Now().UTC()
	attemptErr, err := json.Marshal(rivertype.AttemptError{At: now, Attempt: job.Attempt, Error: why})
	if err != nil {
		return err
	}
	_, err = q.exec.JobRescueMany(ctx, &riverdriver.JobRescueManyParams{
		ID:          []int64{job.ID},
		Error:       [][]byte{attemptErr},
		FinalizedAt: []*time.Time{nil},
		ScheduledAt: []time.Time{now},
		State:       []string{string(rivertype.JobStateAvailable)},
		// Only the attempt that was read: a later one started after it.
		StuckHorizon: job.AttemptedAt.Add(q.timeResolution()),
	})
	return err
}

// timeResolution is the precision River keeps job times with: SQLite's
// are strings of milliseconds, PostgreSQL's microseconds.
func (q *Queue) timeResolution() time.Duration {
	if q.cfg.Pool != nil {
		return time.Microsecond
	}
	return time.Millisecond
}

// holderOf is the client that runs job: the last that attempted it.
func holderOf(job *rivertype.JobRow) string {
	if n := len(job.AttemptedBy); n > 0 {
		return job.AttemptedBy[n-1]
	}
	return ""
}

// liveStates are the states of a job that will still run or runs now.
var liveStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
	rivertype.JobStateRunning, rivertype.JobStateScheduled,
}

// addQueues, in a process that works every queue, adds the queue of every
// data center in the inventory and every queue that holds live jobs but a
// foreground queue (whose jobs are moved, see reconcile).
func (q *Queue) addQueues(ctx context.Context) error {
	if !q.workAll || q.cfg.Runner == nil || q.cfg.ScanOnly || q.private != "" {
		return nil
	}
	var names []string
	if q.cfg.Store != nil {
		dcs, err := q.cfg.Store.DataCenters(ctx)
		if err != nil {
			return err
		}
		for _, dc := range dcs {
			names = append(names, Name(dc))
		}
	}
	held, err := q.queuesWithJobs(ctx)
	if err != nil {
		return err
	}
	for _, name := range held {
		if !isForeground(name) {
			names = append(names, name)
		}
	}
	for _, name := range names {
		if err := q.ensureQueue(name); err != nil {
			return err
		}
	}
	return nil
}

// queuesWithJobs lists the queues that hold rotation jobs still to run.
func (q *Queue) queuesWithJobs(ctx context.Context) ([]string, error) {
	const query = `SELECT DISTINCT queue FROM river_job WHERE kind = 'rotation'
		AND state IN ('available', 'pending', 'retryable', 'running', 'scheduled')`
	var (
		out []string
		err error
	)
	if q.cfg.Pool != nil {
		rows, qerr := q.cfg.Pool.Query(ctx, query)
		if qerr == nil {
			defer rows.Close()
			out, err = collectStrings(rows)
		}
		err = cmp.Or(qerr, err)
	} else {
		rows, qerr := q.cfg.DB.QueryContext(ctx, query)
		if qerr == nil {
			defer rows.Close()
			out, err = collectStrings(rows)
		}
		err = cmp.Or(qerr, err)
	}
	if err != nil {
		return nil, fmt.Errorf("queue: list queues with jobs: %w", err)
	}
	return out, nil
}

// collectStrings reads rows of one text column; *sql.Rows and pgx.Rows
// both have what it needs.
func collectStrings(rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}) ([]string, error) {
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// liveJobs returns the live jobs of rotations, by rotation ID. With ids it
// looks only for those rotations' jobs.
func (q *Queue) liveJobs(ctx context.Context, ids ...int64) (map[int64]*rivertype.JobRow, error) {
	params := river.NewJobListParams().Kinds(RotationArgs{}.Kind()).States(liveStates...).First(10_000)
	if len(ids) > 0 {
		tags := make([]string, len(ids))
		for i, id := range ids {
			tags[i] = rotationTag(id)
		}
		params = params.TagsAny(tags...)
	}
	out := map[int64]*rivertype.JobRow{}
	for {
		res, err := q.client.JobList(ctx, params)
		if err != nil {
			return nil, fmt.Errorf("queue: list rotation jobs: %w", err)
		}
		for _, job := range res.Jobs {
			var args RotationArgs
			if json.Unmarshal(job.EncodedArgs, &args) == nil && args.RotationID != 0 {
				out[args.RotationID] = job
			}
		}
		if len(res.Jobs) < 10_000 || res.LastCursor == nil {
			return out, nil
		}
		params = params.After(res.LastCursor)
	}
}

// reconcile finds the pending and running rotations that nothing will
// run — left without a job by a version that created the two apart, or
// whose job River gave up on — and queues them on their data center's
// queue, or fails them when their asset is gone. A foreground rotation
// ('ottr rotate') whose process died is moved to its data center's queue.
// Rotations are listed before jobs: one created in between has its job
// already, and queuing it again is refused as a duplicate.
func (q *Queue) reconcile(ctx context.Context) {
	var active []store.Rotation
	for _, state := range []store.State{store.StatePending, store.StateRunning} {
		rots, err := q.cfg.Store.ListRotations(ctx, store.RotationFilter{State: state})
		if err != nil {
			q.cfg.Logger.Warn("could not list rotations to find those without a job", "err", err)
			return
		}
		active = append(active, rots...)
	}
	if len(active) == 0 {
		return
	}
	jobs, err := q.liveJobs(ctx)
	if err != nil {
		q.cfg.Logger.Warn("could not list jobs to find rotations without one", "err", err)
		return
	}
	orphans := 0
	for _, rot := range active {
		job, ok := jobs[rot.ID]
		if ok && !isForeground(job.Queue) {
			continue
		}
		if ok && !q.foregroundDead(ctx, job) {
			continue
		}
		if err := q.requeue(ctx, rot, job); err != nil {
			q.cfg.Logger.Warn("could not queue a rotation left without a job", "rotation", rot.ID, "asset", rot.Asset, "err", err)
			continue
		}
		orphans++
	}
	if orphans > 0 {
		q.cfg.Logger.Info("queued rotations that had nothing to run them", "rotations", orphans)
	}
}

// foregroundDead reports whether the process of a foreground queue's job
// is gone, and has left the job waiting (not running: taking a running
// job over is takeOver's).
func (q *Queue) foregroundDead(ctx context.Context, job *rivertype.JobRow) bool {
	if job.State == rivertype.JobStateRunning || q.cfg.Liveness == nil {
		return false
	}
	owner := job.Queue
	dead, err := q.cfg.Liveness.Dead(ctx, []string{owner})
	return err == nil && dead[owner]
}

// requeue queues rot, which old (if not nil) no longer runs, on its data
// center's queue; a rotation whose asset is gone fails.
func (q *Queue) requeue(ctx context.Context, rot store.Rotation, old *rivertype.JobRow) error {
	a, err := q.cfg.Store.GetAsset(ctx, rot.Asset)
	if errors.Is(err, store.ErrNotFound) {
		q.cfg.Logger.Warn("failing a rotation without a job whose asset is gone", "rotation", rot.ID, "asset", rot.Asset)
		return q.cfg.Store.UpdateRotationState(ctx, rot.ID, store.StateUpdate{
			State: store.StateFailed, Attempts: rot.Attempts, Error: "its asset was deleted before it ran",
		})
	}
	if err != nil {
		return err
	}
	name := Name(a.DataCenter)
	if err := q.ensureQueue(name); err != nil {
		return err
	}
	err = q.client.inTx(ctx, func(tx any) error {
		if old != nil {
			cancelled, err := q.client.cancelTx(ctx, tx, old.ID)
			if err != nil {
				return err
			}
			if cancelled.State == rivertype.JobStateRunning {
				return fmt.Errorf("job %d runs again (in %s)", old.ID, holderOf(cancelled))
			}
		}
		_, err := q.client.insertTx(ctx, tx, rotationJob(rot), rotationJobOpts(name, rot, time.Time{}))
		return err
	})
	if err != nil {
		return err
	}
	if old != nil {
		q.cfg.Logger.Info("moved the rotation of a foreground run that is gone to its data center's queue",
			"rotation", rot.ID, "asset", rot.Asset, "process", old.Queue, "queue", name)
	} else {
		q.cfg.Logger.Info("queued a rotation left without a job", "rotation", rot.ID, "asset", rot.Asset, "state", rot.State, "queue", name)
	}
	return nil
}

// Revive makes sure the active rotation rot will run: a job held by a
// process that is gone is taken over, a missing job is queued, and either
// way it reports true. A job that is queued or runs in a live process is
// left alone (false): the rotation is on its way.
func (q *Queue) Revive(ctx context.Context, rot store.Rotation, dataCenter string) (bool, error) {
	jobs, err := q.liveJobs(ctx, rot.ID)
	if err != nil {
		return false, err
	}
	job, ok := jobs[rot.ID]
	if !ok {
		// A job of an older version has no tag; queuing again is then
		// refused as a duplicate, which means it has one after all.
		res, err := q.client.Insert(ctx, rotationJob(rot), rotationJobOpts(q.queueOf(dataCenter), rot, time.Time{}))
		if err != nil {
			return false, fmt.Errorf("queue: queue rotation %d: %w", rot.ID, err)
		}
		if res.UniqueSkippedAsDuplicate {
			return false, nil
		}
		_ = q.ensureQueue(q.queueOf(dataCenter))
		q.cfg.Logger.Info("queued a rotation left without a job", "rotation", rot.ID, "asset", rot.Asset)
		return true, nil
	}
	if job.State != rivertype.JobStateRunning || q.cfg.Liveness == nil {
		if isForeground(job.Queue) && q.foregroundDead(ctx, job) {
			return true, q.requeue(ctx, rot, job)
		}
		return false, nil
	}
	holder := holderOf(job)
	dead, err := q.cfg.Liveness.Dead(ctx, []string{holder})
	if err != nil || !dead[holder] {
		return false, err
	}
	if err := q.release1(ctx, job, fmt.Sprintf("process %s, which ran this job, is gone; taken over on request", holder)); err != nil {
		return false, fmt.Errorf("queue: take over rotation %d: %w", rot.ID, err)
	}
	if isForeground(job.Queue) {
		return true, q.requeue(ctx, rot, job)
	}
	return true, nil
}

// foregroundPrefix starts the name of a foreground queue. River's queue
// names allow "|" between words, which Name never produces, so no data
// center's queue can look like one.
const foregroundPrefix = "rotate|"

func isForeground(queue string) bool { return strings.HasPrefix(queue, foregroundPrefix) }
