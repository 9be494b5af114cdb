package queue

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// LastDelivery is the latest delivery job of one notification channel.
type LastDelivery struct {
	Channel string
	// Kind and Summary are the event's.
	Kind, Summary string
	// State is the job's: completed (delivered), cancelled (refused for
	// good) or discarded (out of attempts), retryable (failed, tried
	// again later), or available, scheduled or running (not sent yet).
	State   string
	Attempt int
	// At is when the job ended, else when it was last tried, else when
	// it is to run.
	At time.Time
	// Error is the last attempt's error, if it failed.
	Error string
}

// The latest delivery job of each channel, its time in Unix seconds.
// The job table keeps finished jobs for a while only (River's retention:
// a day for completed ones, a week for discarded).
const (
	lastDeliveriesSQLite = `SELECT json_extract(args, '$.channel'), coalesce(json_extract(args, '$.event.kind'), ''),
		coalesce(json_extract(args, '$.event.summary'), ''), state, attempt,
		(julianday(coalesce(finalized_at, attempted_at, scheduled_at)) - 2440587.5) * 86400.0,
		coalesce(json_extract(errors, '$[#-1].error'), '')
		FROM river_job WHERE id IN (SELECT max(id) FROM river_job WHERE kind = 'notification' GROUP BY json_extract(args, '$.channel'))`
	lastDeliveriesPostgres = `SELECT args->>'channel', coalesce(args->'event'->>'kind', ''),
		coalesce(args->'event'->>'summary', ''), state::text, attempt,
		extract(epoch FROM coalesce(finalized_at, attempted_at, scheduled_at))::float8,
		coalesce(errors[array_length(errors, 1)]->>'error', '')
		FROM river_job WHERE id IN (SELECT max(id) FROM river_job WHERE kind = 'notification' GROUP BY args->>'channel')`
)

// LastDeliveries returns the latest delivery job of every channel that
// has one still in the job table, by channel: from db on SQLite, or pool
// on PostgreSQL.
func LastDeliveries(ctx context.Context, db *sql.DB, pool *pgxpool.Pool) (map[string]LastDelivery, error) {
	out := map[string]LastDelivery{}
	read := func(rows interface {
		Next() bool
		Scan(dest ...any) error
		Err() error
	}) error {
		for rows.Next() {
			var (
				d       LastDelivery
				seconds float64
			)
			if err := rows.Scan(&d.Channel, &d.Kind, &d.Summary, &d.State, &d.Attempt, &seconds, &d.Error); err != nil {
				return err
			}
			whole, frac := math.Modf(seconds)
			// River marks the error of a job cancelled for good.
			d.Error = strings.TrimPrefix(d.Error, "JobCancelError: ")
			d.At = time.Unix(int64(whole), int64(frac*1e9)).UTC().Round(time.Millisecond)
			out[d.Channel] = d
		}
		return rows.Err()
	}
	var err error
	if pool != nil {
		rows, qerr := pool.Query(ctx, lastDeliveriesPostgres)
		if err = qerr; err == nil {
			defer rows.Close()
			err = read(rows)
		}
	} else {
		rows, qerr := db.QueryContext(ctx, lastDeliveriesSQLite)
		if err = qerr; err == nil {
			defer rows.Close()
			err = read(rows)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("queue: read the last deliveries: %w", err)
	}
	return out, nil
}
