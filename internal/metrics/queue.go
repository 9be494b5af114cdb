package metrics

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// JobStates are the states of a job still to finish, as River names them
// and ottr_queue_jobs's state label shows them.
var JobStates = []string{"available", "pending", "retryable", "running", "scheduled"}

// Queue counts the job queue's jobs at scrape time, from River's tables
// in the database the store shares: DB on SQLite, Pool on PostgreSQL.
type Queue struct {
	DB   *sql.DB
	Pool *pgxpool.Pool
	// Timeout bounds the reads of one scrape. Default 10s.
	Timeout time.Duration
}

var (
	queueJobsDesc = prometheus.NewDesc(namespace+"_queue_jobs",
		"Jobs still to finish in each queue (data center, scan, notifications), by River state.", []string{"queue", "state"}, nil)
	queueOldestDesc = prometheus.NewDesc(namespace+"_queue_oldest_waiting_job_timestamp_seconds",
		"Since when the queue's longest-waiting job could have run (available, or scheduled or retryable for a time that has passed), in Unix seconds; absent while none waits.", []string{"queue"}, nil)
	queueErrorDesc = prometheus.NewDesc(namespace+"_queue_read_errors",
		"The job queue could not be read for this scrape.", nil, nil)
)

// The queries group the unfinished jobs by queue and state, through the
// index River fetches jobs with (state, queue, …), so finished jobs kept
// for a while cost nothing, with the earliest time a job of the group
// could have run that has passed. A scheduled or retryable job whose time
// has come waits, like an available one, until River's leader makes it
// available: with no leader it waits for ever. Times come back as Unix
// seconds: SQLite keeps River's times as UTC text, which compares in time
// order.
const (
	queueQuerySQLite = `SELECT queue, state, count(*),
		(julianday(min(CASE WHEN scheduled_at <= datetime('now', 'subsec') THEN scheduled_at END)) - 2440587.5) * 86400.0
		FROM river_job WHERE state IN ('available', 'pending', 'retryable', 'running', 'scheduled')
		GROUP BY queue, state`
	queueQueryPostgres = `SELECT queue, state::text, count(*),
		extract(epoch FROM min(scheduled_at) FILTER (WHERE scheduled_at <= now()))::float8
		FROM river_job WHERE state IN ('available', 'pending', 'retryable', 'running', 'scheduled')
		GROUP BY queue, state`
	queueNamesQuery = `SELECT name FROM river_queue`
)

// AddQueue registers the queue depth of q with the metrics `ottr serve`
// serves. One of q.DB and q.Pool is required.
func (m *Metrics) AddQueue(q Queue) error {
	if (q.DB == nil) == (q.Pool == nil) {
		return errors.New("metrics: the queue needs its database: a SQLite handle or a PostgreSQL pool")
	}
	if q.Timeout <= 0 {
		q.Timeout = 10 * time.Second
	}
	return m.fleet.Register(&queueCollector{q: q})
}

type queueCollector struct{ q Queue }

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueJobsDesc
	ch <- queueOldestDesc
}

// jobCount is one row of the queue query.
type jobCount struct {
	queue, state string
	count        int64
	// due is the earliest time a job of the row could have run, when
	// that has passed.
	due sql.NullFloat64
}

// waitingStates are the states of a job that waits when its time has
// come.
var waitingStates = []string{"available", "retryable", "scheduled"}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.q.Timeout)
	defer cancel()
	names, counts, err := c.read(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(queueErrorDesc, fmt.Errorf("metrics: read the job queue: %w", err))
		return
	}
	// Every queue shows every state, 0 included, so a queue that empties
	// reads 0 rather than vanishing.
	byQueue := map[string]map[string]int64{}
	for _, n := range names {
		byQueue[n] = map[string]int64{}
	}
	waiting := map[string]float64{}
	for _, r := range counts {
		if byQueue[r.queue] == nil {
			byQueue[r.queue] = map[string]int64{}
		}
		byQueue[r.queue][r.state] = r.count
		if slices.Contains(waitingStates, r.state) && r.due.Valid {
			if at, ok := waiting[r.queue]; !ok || r.due.Float64 < at {
				waiting[r.queue] = r.due.Float64
			}
		}
	}
	for queue, at := range waiting {
		ch <- prometheus.MustNewConstMetric(queueOldestDesc, prometheus.GaugeValue, at, queue)
	}
	for queue, states := range byQueue {
		for _, s := range JobStates {
			ch <- prometheus.MustNewConstMetric(queueJobsDesc, prometheus.GaugeValue, float64(states[s]), queue, s)
		}
	}
}

// rows is what *sql.Rows and pgx.Rows both have.
type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

func (c *queueCollector) read(ctx context.Context) (names []string, counts []jobCount, err error) {
	query := queueQuerySQLite
	run := func(q string) (rows, func(), error) {
		r, err := c.q.DB.QueryContext(ctx, q)
		if err != nil {
			return nil, nil, err
		}
		return r, func() { r.Close() }, nil
	}
	if c.q.Pool != nil {
		query = queueQueryPostgres
		run = func(q string) (rows, func(), error) {
			r, err := c.q.Pool.Query(ctx, q)
			if err != nil {
				return nil, nil, err
			}
			return r, r.Close, nil
		}
	}
	r, done, err := run(queueNamesQuery)
	if err != nil {
		return nil, nil, err
	}
	for r.Next() {
		var n string
		if err = r.Scan(&n); err != nil {
			break
		}
		names = append(names, n)
	}
	err = errors.Join(err, r.Err())
	done()
	if err != nil {
		return nil, nil, err
	}
	if r, done, err = run(query); err != nil {
		return nil, nil, err
	}
	defer done()
	for r.Next() {
		var j jobCount
		if err := r.Scan(&j.queue, &j.state, &j.count, &j.due); err != nil {
			return nil, nil, err
		}
		if slices.Contains(JobStates, j.state) {
			counts = append(counts, j)
		}
	}
	return names, counts, r.Err()
}
