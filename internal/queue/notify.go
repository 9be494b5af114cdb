package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/ottr-go/ottr/internal/notify"
)

// NotifyQueue takes the deliveries of notifications and the periodic
// notification tasks (Task). The processes that scan work it: a channel
// that is slow or down holds up no rotation.
const NotifyQueue = "ottr_notify"

// DeliveryArgs is the job that sends one event through one channel. It
// carries the whole event, so what is sent is what was decided, however
// the inventory changes before it is sent.
type DeliveryArgs struct {
	notify.Delivery
}

// Kind implements river.JobArgs.
func (DeliveryArgs) Kind() string { return "notification" }

// Deliverer sends one delivery; *notify.Dispatcher implements it. Its
// error wraps a *notify.RetryableError when a later attempt may succeed.
type Deliverer interface {
	Deliver(ctx context.Context, d notify.Delivery, attempt int, last bool) error
}

// Task is periodic work beside the scan, such as the served-certificate
// check and the daily digest: the elected leader schedules it, and the
// first free process that works NotifyQueue runs it.
type Task struct {
	// Name tells the task's jobs apart: lower-case letters, digits, "_".
	Name string
	// Every runs it at this interval. When zero, it runs once a day, At
	// (hours and minutes) after midnight UTC.
	Every time.Duration
	At    time.Duration
	// Timeout bounds one run. Default: the job timeout.
	Timeout time.Duration
	Run     func(ctx context.Context) error
}

// TaskArgs is the job of one run of a Task.
type TaskArgs struct {
	Name string `json:"name"`
}

// Kind implements river.JobArgs.
func (TaskArgs) Kind() string { return "task" }

// Deliveries are retried with a backoff that doubles from the configured
// one (Config.DeliveryBackoff) up to maxDeliveryBackoff, for
// deliveryAttempts attempts in all: some five hours at the default.
const (
	defaultDeliveryBackoff = 30 * time.Second
	maxDeliveryBackoff     = time.Hour
	deliveryAttempts       = 12
	// maxSnoozes bounds how often a channel may ask to be tried again
	// later (429, Retry-After) without that counting as an attempt, so a
	// channel that always asks is given up in the end.
	maxSnoozes = 25
	// deliveryTimeout bounds one attempt, beyond the channel's own
	// timeout (at most five minutes).
	deliveryTimeout = 6 * time.Minute
	// notifyWorkers is how many deliveries and tasks run at once.
	notifyWorkers = 10
)

// EnqueueDeliveriesTx queues one delivery job per delivery inside tx, the
// store's transaction that claims their event (store.Notifications). It
// implements notify.Enqueuer: it inserts through tx only, which on SQLite
// holds the only write connection.
func (q *Queue) EnqueueDeliveriesTx(ctx context.Context, tx any, deliveries []notify.Delivery) error {
	for _, d := range deliveries {
		opts := &river.InsertOpts{Queue: NotifyQueue, MaxAttempts: deliveryAttempts}
		if _, err := q.client.insertTx(ctx, tx, DeliveryArgs{d}, opts); err != nil {
			return fmt.Errorf("queue: enqueue %s to %s: %w", d.Event.Kind, d.Channel, err)
		}
	}
	return nil
}

// worksNotify reports whether a process so configured works NotifyQueue.
func (c Config) worksNotify() bool { return c.Deliverer != nil || len(c.Tasks) > 0 }

// addNotifyWork registers the delivery and task workers — always, so a
// leader that delivers nothing still rescues rather than discards a dead
// process's deliveries — and schedules the tasks.
func addNotifyWork(workers *river.Workers, cfg Config) []*river.PeriodicJob {
	backoff := cfg.DeliveryBackoff
	if backoff <= 0 {
		backoff = defaultDeliveryBackoff
	}
	river.AddWorker(workers, &deliveryWorker{deliverer: cfg.Deliverer, backoff: backoff, logger: cfg.Logger})
	tasks := map[string]Task{}
	var periodic []*river.PeriodicJob
	for _, t := range cfg.Tasks {
		tasks[t.Name] = t
		var schedule river.PeriodicSchedule = dailyAt{t.At}
		if t.Every > 0 {
			schedule = river.PeriodicInterval(t.Every)
		}
		args := TaskArgs{Name: t.Name}
		periodic = append(periodic, river.NewPeriodicJob(schedule, func() (river.JobArgs, *river.InsertOpts) {
			return args, &river.InsertOpts{Queue: NotifyQueue, MaxAttempts: 1,
				UniqueOpts: river.UniqueOpts{ByArgs: true, ByQueue: true, ByState: scanUniqueStates}}
		}, nil))
	}
	river.AddWorker(workers, &taskWorker{tasks: tasks, timeout: cfg.JobTimeout})
	return periodic
}

// dailyAt is a river.PeriodicSchedule: every day, the offset after
// midnight UTC.
type dailyAt struct{ offset time.Duration }

func (d dailyAt) Next(t time.Time) time.Time {
	t = t.UTC()
	midnight := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if next := midnight.Add(d.offset); next.After(t) {
		return next
	}
	return midnight.AddDate(0, 0, 1).Add(d.offset)
}

type deliveryWorker struct {
	river.WorkerDefaults[DeliveryArgs]
	deliverer Deliverer
	backoff   time.Duration
	logger    *slog.Logger
}

func (w *deliveryWorker) Work(ctx context.Context, job *river.Job[DeliveryArgs]) error {
	if w.deliverer == nil {
		// Only the processes with a Deliverer work NotifyQueue.
		return errors.New("queue: this process has no channels to deliver notifications with")
	}
	err := w.deliverer.Deliver(ctx, job.Args.Delivery, job.Attempt, job.Attempt >= job.MaxAttempts)
	if err == nil {
		return nil
	}
	after, retry := notify.Retryable(err)
	switch {
	case !retry:
		return river.JobCancel(err)
	case after > 0 && snoozes(job.JobRow) < maxSnoozes:
		// What the channel asked (a 429's Retry-After) is honoured
		// without spending an attempt.
		return river.JobSnooze(min(after, maxDeliveryBackoff))
	case job.Attempt >= job.MaxAttempts:
		w.logger.Error("notification given up after its last attempt", "channel", job.Args.Channel,
			"kind", job.Args.Event.Kind, "key", job.Args.Event.Key, "attempts", job.Attempt, "err", err)
	}
	return err
}

// snoozes is how often job was snoozed: River counts it in its metadata.
func snoozes(job *rivertype.JobRow) int {
	var m struct {
		Snoozes int `json:"snoozes"`
	}
	_ = json.Unmarshal(job.Metadata, &m)
	return m.Snoozes
}

// NextRetry doubles the pause after each failed attempt, up to an hour.
func (w *deliveryWorker) NextRetry(job *river.Job[DeliveryArgs]) time.Time {
	wait := w.backoff
	for range min(job.Attempt, 30) - 1 {
		if wait *= 2; wait >= maxDeliveryBackoff {
			wait = maxDeliveryBackoff
			break
		}
	}
	return time.Now().Add(wait)
}

func (w *deliveryWorker) Timeout(*river.Job[DeliveryArgs]) time.Duration { return deliveryTimeout }

type taskWorker struct {
	river.WorkerDefaults[TaskArgs]
	tasks   map[string]Task
	timeout time.Duration
}

func (w *taskWorker) Work(ctx context.Context, job *river.Job[TaskArgs]) error {
	t, ok := w.tasks[job.Args.Name]
	if !ok {
		// Scheduled by a leader whose configuration has the task, taken
		// by a process whose configuration has not.
		return river.JobCancel(fmt.Errorf("queue: this process has no task %q", job.Args.Name))
	}
	return t.Run(ctx)
}

func (w *taskWorker) Timeout(job *river.Job[TaskArgs]) time.Duration {
	if t, ok := w.tasks[job.Args.Name]; ok && t.Timeout > 0 {
		return t.Timeout
	}
	return w.timeout
}

// Compile-time checks.
var (
	_ river.Worker[DeliveryArgs] = (*deliveryWorker)(nil)
	_ river.Worker[TaskArgs]     = (*taskWorker)(nil)
	_ notify.Enqueuer            = (*Queue)(nil)
	_ rivertype.JobArgs          = DeliveryArgs{}
)
