package metrics_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/ottr-go/ottr/internal/metrics"
	"github.com/ottr-go/ottr/internal/queue"
	"github.com/ottr-go/ottr/internal/testenv/pgtest"
)

var pg pgtest.Shared

func TestMain(m *testing.M) {
	code := pg.Run(m)
	closeLab()
	os.Exit(code)
}

// waitingJob is a job the test queues and no worker takes.
type waitingJob struct{}

func (waitingJob) Kind() string { return "metrics_test_waiting" }

// queueJobs queues, through River as ottr does, three jobs that have been
// able to run since an hour and ten minutes ago on dc1 and one due
// tomorrow on dc2, and returns when the oldest could first run.
func queueJobs[T any](t *testing.T, client *river.Client[T]) time.Time {
	t.Helper()
	ctx := context.Background()
	oldest := time.Now().Add(-time.Hour).Truncate(time.Millisecond).UTC()
	for _, o := range []*river.InsertOpts{
		{Queue: "dc1", ScheduledAt: oldest},
		{Queue: "dc1", ScheduledAt: oldest.Add(50 * time.Minute)},
		{Queue: "dc1"},
		{Queue: "dc2", ScheduledAt: time.Now().Add(24 * time.Hour)},
	} {
		if _, err := client.Insert(ctx, waitingJob{}, o); err != nil {
			t.Fatal(err)
		}
	}
	return oldest
}

// checkQueueMetrics checks what m shows of the jobs queueJobs queued.
// River queues a job given a time as scheduled and its leader makes it
// available once the time has come; either way, it waits.
func checkQueueMetrics(t *testing.T, m *metrics.Metrics, oldest time.Time) {
	t.Helper()
	jobs := func(queue, state string) float64 {
		v, ok := value(t, m.Gatherer(), "ottr_queue_jobs", map[string]string{"queue": queue, "state": state})
		if !ok {
			t.Errorf("no ottr_queue_jobs for queue %s, state %s", queue, state)
		}
		return v
	}
	for _, q := range []string{"dc1", "dc2"} {
		for _, s := range metrics.JobStates {
			jobs(q, s)
		}
	}
	if got := jobs("dc1", "available") + jobs("dc1", "scheduled"); got != 3 || jobs("dc1", "running") != 0 {
		t.Errorf("dc1 shows %v jobs available or scheduled, want 3", got)
	}
	if got := jobs("dc2", "scheduled"); got != 1 || jobs("dc2", "available") != 0 {
		t.Errorf("dc2 shows %v jobs scheduled, want 1 (due tomorrow)", got)
	}
	got, ok := value(t, m.Gatherer(), "ottr_queue_oldest_waiting_job_timestamp_seconds", map[string]string{"queue": "dc1"})
	if want := float64(oldest.UnixMilli()) / 1000; !ok || got < want-0.002 || got > want+0.002 {
		t.Errorf("oldest waiting job on dc1 since %v (%v), want %v (%s)", got, ok, want, oldest)
	}
	if _, ok := value(t, m.Gatherer(), "ottr_queue_oldest_waiting_job_timestamp_seconds", map[string]string{"queue": "dc2"}); ok {
		t.Error("dc2, whose only job is due tomorrow, shows a waiting job")
	}
}

func TestQueueDepthOnSQLite(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	if err := queue.Migrate(ctx, st.DB()); err != nil {
		t.Fatal(err)
	}
	client, err := river.NewClient(riversqlite.New(st.DB()), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	oldest := queueJobs(t, client)
	m := metrics.New(metrics.Options{})
	if err := m.AddQueue(metrics.Queue{DB: st.DB()}); err != nil {
		t.Fatal(err)
	}
	checkQueueMetrics(t, m, oldest)
}

func TestQueueDepthOnPostgreSQL(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pg.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := queue.MigratePostgres(ctx, pool); err != nil {
		t.Fatal(err)
	}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	oldest := queueJobs(t, client)
	m := metrics.New(metrics.Options{})
	if err := m.AddQueue(metrics.Queue{Pool: pool}); err != nil {
		t.Fatal(err)
	}
	checkQueueMetrics(t, m, oldest)
}

func TestAQueueTheDatabaseLacksIsAnErrorNotAPanic(t *testing.T) {
	st := newStore(t) // River's tables were never made
	m := metrics.New(metrics.Options{})
	if err := m.AddQueue(metrics.Queue{DB: st.DB()}); err != nil {
		t.Fatal(err)
	}
	_, err := m.Gatherer().Gather()
	if err == nil || !strings.Contains(err.Error(), "read the job queue") {
		t.Errorf("gather: %v; want an error saying the job queue could not be read", err)
	}
	if body := scrape(t, m.Handler(), false); !strings.Contains(body, "ottr_build_info") {
		t.Errorf("the scrape lost every other metric:\n%s", body)
	}
	if err := m.AddQueue(metrics.Queue{}); err == nil {
		t.Error("a queue without a database was accepted")
	}
}
