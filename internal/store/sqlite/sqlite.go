// Package sqlite implements store.Store on one SQLite file, for ottr's
// embedded deployment. It uses modernc.org/sqlite (no cgo) and is built to
// share its *sql.DB with River's riversqlite driver, so the job queue and the
// inventory live in the same file.
//
// Times are kept as INTEGER unix seconds — journal, log and audit times as
// unix milliseconds — and every time is returned in UTC.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/ottr-go/ottr/internal/store"
)

var _ store.Store = (*Store)(nil)

// Store is a store.Store kept in one SQLite file. It is safe for concurrent
// use.
type Store struct {
	db  *sql.DB
	now func() time.Time
	log *slog.Logger
}

// options holds what Option changes; zero values mean the documented
// defaults, filled by withDefaults.
type options struct {
	now          func() time.Time
	logger       *slog.Logger
	maxOpenConns int
	busyTimeout  time.Duration
}

func (o options) withDefaults() options {
	if o.now == nil {
		o.now = time.Now
	}
	if o.logger == nil {
		o.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.maxOpenConns <= 0 {
		o.maxOpenConns = 1
	}
	if o.busyTimeout <= 0 {
		o.busyTimeout = 10 * time.Second
	}
	return o
}

// Option changes how Open sets up the store.
type Option func(*options)

// WithClock sets the clock used for created_at, updated_at and finished_at
// stamps. The default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithLogger sets the logger that reports applied migrations and setup
// warnings. The default discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// WithMaxOpenConns sets the size of the connection pool. The default is 1,
// which is what River's SQLite driver is tested with: one connection makes
// database/sql queue every caller, so SQLite never sees two writers at once.
// A larger pool lets readers run beside a writer (WAL); writers then wait for
// each other through busy_timeout and BEGIN IMMEDIATE.
//
// With a single connection, never call the store while holding a
// transaction from the same pool (a River transaction, say): the call waits
// for a connection that only the caller can give back.
func WithMaxOpenConns(n int) Option {
	return func(o *options) { o.maxOpenConns = n }
}

// WithBusyTimeout sets how long a connection waits for another connection's
// or process's write lock before failing with SQLITE_BUSY. The default is
// 10 s.
func WithBusyTimeout(d time.Duration) Option {
	return func(o *options) { o.busyTimeout = d }
}

// Open opens (creating if needed) the database file at path, applies the
// migrations it lacks and returns the store. It refuses a database whose
// schema is newer than this binary knows.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	o = o.withDefaults()

	db, err := sql.Open("sqlite", dsn(path, o.busyTimeout))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(o.maxOpenConns)
	db.SetMaxIdleConns(o.maxOpenConns)
	// Connections are cheap to keep and each new one re-runs the pragmas.
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)

	s := &Store{db: db, now: o.now, log: o.logger}
	if err := s.checkJournalMode(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := migrate(ctx, db, o.now, o.logger); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// dsn builds modernc's data source name. Each _pragma runs on every new
// connection, busy_timeout first:
//   - journal_mode(WAL): readers do not block the writer, and River's
//     SQLite tests found it necessary to avoid spurious SQLITE_BUSY;
//   - synchronous(NORMAL): durable across application crashes, and in WAL
//     mode only the last transactions can be lost on power failure;
//   - foreign_keys(1): SQLite leaves them off per connection by default, and
//     DeleteAsset relies on ON DELETE CASCADE.
//
// _txlock=immediate makes every read-write transaction take the write lock
// at BEGIN, where busy_timeout applies. A deferred transaction that reads
// and then writes fails at once with SQLITE_BUSY when another connection
// wrote in between, whatever the timeout.
func dsn(path string, busyTimeout time.Duration) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	// The path goes into a file: URI, so '?', '#' and '%' in it must be
	// escaped; '/' must not be.
	u := url.URL{Path: path}
	return "file:" + u.EscapedPath() + "?" + q.Encode()
}

// checkJournalMode warns when the file system refused WAL mode: the store
// still works, but readers and the writer then block each other.
func (s *Store) checkJournalMode(ctx context.Context) error {
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("sqlite: read journal mode: %w", err)
	}
	if mode != "wal" {
		s.log.Warn("sqlite: WAL journal mode unavailable; readers will block writers", "journal_mode", mode)
	}
	return nil
}

// DB returns the store's connection pool, so River's riversqlite driver can
// run on the same file. The store owns the pool: stop River before Close.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the connection pool.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// errorCode returns SQLite's extended result code of err, or 0 when err
// does not come from SQLite.
func errorCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

func isPrimaryKeyViolation(err error) bool {
	return errorCode(err) == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

func isUniqueViolation(err error) bool {
	return errorCode(err) == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

func isForeignKeyViolation(err error) bool {
	return errorCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// inTx runs fn in a read-write transaction (BEGIN IMMEDIATE, see dsn) and
// commits it if fn succeeds.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.tx(ctx, nil, fn)
}

// inReadTx runs fn in a deferred, read-only transaction, so the statements
// of fn see one snapshot without taking the write lock.
func (s *Store) inReadTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.tx(ctx, &sql.TxOptions{ReadOnly: true}, fn)
}

func (s *Store) tx(ctx context.Context, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// unixSeconds returns the column value of an optional time: NULL or unix
// seconds.
func unixSeconds(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.Unix()
}

// fromUnix turns a nullable unix-seconds column into an optional UTC time.
func fromUnix(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := time.Unix(v.Int64, 0).UTC()
	return &t
}

// timeOf turns a NOT NULL unix-seconds column into a UTC time.
func timeOf(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

// nowSeconds returns the clock's time as stored: whole seconds, UTC.
func (s *Store) nowSeconds() time.Time {
	return timeOf(s.now().Unix())
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
