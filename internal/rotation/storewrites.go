package rotation

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// A rotation's writes to the store are retried while the database is
// briefly away: a PostgreSQL restart (1.4 s in the cluster test) failed
// the journal write of an issue step, and the resumed rotation ordered its
// certificate a second time.

const (
	// firstStoreRetry and lastStoreRetry bound the pause between tries.
	firstStoreRetry = 50 * time.Millisecond
	lastStoreRetry  = 2 * time.Second
	// finalWriteTimeout bounds the retries of the writes that record how a
	// rotation ended, which run after the job's context may have ended.
	finalWriteTimeout = 30 * time.Second
)

// writeStore runs write until it succeeds, fails with an error that is not
// transient, or ctx ends, pausing a little longer after each failure.
func (r *Runner) writeStore(ctx context.Context, id int64, what string, write func(context.Context) error) error {
	wait := firstStoreRetry
	for tries := 1; ; tries++ {
		err := write(ctx)
		if err == nil || !transient(err) {
			return err
		}
		if tries == 1 {
			r.d.Logger.Warn("the database is unavailable; retrying", "rotation", id, "write", what, "err", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (tried %d times until %w)", err, tries, context.Cause(ctx))
		case <-t.C:
		}
		wait = min(2*wait, lastStoreRetry)
	}
}

// PostgreSQL error codes of a server that is going away or not yet
// back: admin_shutdown, crash_shutdown, cannot_connect_now. Class 08 is
// every connection exception.
var (
	pgUnavailable    = []string{"57P01", "57P02", "57P03"}
	pgConnectionLost = "08"
)

// SQLite's primary result codes for a database another connection or
// process holds: SQLITE_BUSY, SQLITE_LOCKED.
const (
	sqliteBusy   = 5
	sqliteLocked = 6
)

// transient reports whether err is the database being briefly away — a
// connection refused, reset or closed, a PostgreSQL server shutting down
// or starting, SQLite busy or locked — rather than a write the database
// refused. Only such errors are worth trying again.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		for _, code := range pgUnavailable {
			if pgErr.Code == code {
				return true
			}
		}
		return strings.HasPrefix(pgErr.Code, pgConnectionLost)
	}
	var sqliteErr *sqlite.Error
	if errors.As(err, &sqliteErr) {
		code := sqliteErr.Code() & 0xff
		return code == sqliteBusy || code == sqliteLocked
	}
	for _, lost := range []error{
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE,
		net.ErrClosed, io.ErrUnexpectedEOF, pgconn.ErrConnClosed, driver.ErrBadConn, sql.ErrConnDone,
	} {
		if errors.Is(err, lost) {
			return true
		}
	}
	// pgx marks a request that never reached the server.
	return pgconn.SafeToRetry(err)
}
