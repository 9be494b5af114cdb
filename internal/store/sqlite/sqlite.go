// Package sqlite implements store.Store on one SQLite file, for ottr's
// embedded deployment. It uses modernc.org/sqlite (no cgo) and is built to
// share its *sql.DB with River's riversqlite driver, so the job queue and the
// inventory live in the same file.
//
// Writes go through one read-write pool, which River shares (DB); reads go
// through a second pool of read-only connections, which WAL lets run beside
// each other and beside the writer.
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
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/ottr-go/ottr/internal/store"
)

var _ store.Store = (*Store)(nil)

// Store is a store.Store kept in one SQLite file. It is safe for concurrent
// use.
type Store struct {
	// db is the read-write pool: every write, and River.
	db *sql.DB
	// read is the read-only pool for reads outside a write transaction; it
	// is db itself when the file is not in WAL mode. Its connections map
	// the file (readDSN): listings and searches read many pages.
	read *sql.DB
	// lookup is a second read-only pool, whose connections do not map the
	// file, for the reads by key a rotation makes again and again
	// (GetAsset, GetRotation); db itself when the file is not in WAL mode.
	//
	// A connection that maps the file unmaps it at the start of every
	// read after another connection committed, and maps it again on the
	// first page it reads. In a wave, where a commit falls between almost
	// any two reads, a mapped GetAsset and GetRotation took about 1.5
	// times the CPU of unmapped ones (BenchmarkReadsBesideWrites), and
	// munmap alone about 4 % of ottr's CPU.
	lookup *sql.DB
	// path is the database file.
	path string
	// stmts, lookups and writes hold the prepared statements of read,
	// lookup and db.
	stmts, lookups, writes *statements
	// threshold remembers where assets_expiring divides few matches from
	// many (listing.go); assetGeneration counts this store's asset writes,
	// which make it stale.
	threshold       atomic.Pointer[expiringThreshold]
	assetGeneration atomic.Uint64
	now             func() time.Time
	log             *slog.Logger
}

// options holds what Option changes; zero values mean the documented
// defaults, filled by withDefaults.
type options struct {
	now          func() time.Time
	logger       *slog.Logger
	maxOpenConns int
	readConns    int
	busyTimeout  time.Duration
	// lookupMmapSize is the mmap_size of the lookup pool's connections,
	// for BenchmarkReadsBesideWrites; none by default.
	lookupMmapSize int64
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
	if o.readConns <= 0 {
		o.readConns = max(4, runtime.GOMAXPROCS(0))
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

// WithMaxOpenConns sets the size of the read-write connection pool, the one
// DB returns and every write uses. The default is 1, which is what River's
// SQLite driver is tested with: one connection makes database/sql queue
// every writer, so SQLite never sees two at once. With a larger pool,
// writers wait for each other through busy_timeout and BEGIN IMMEDIATE
// instead. Reads use their own pool (WithReadConns) in WAL mode.
//
// With a single connection, never write through the store while holding a
// transaction from the same pool (a River transaction, say): the write
// waits for a connection that only the caller can give back. Reads do not
// wait for it, unless the file is not in WAL mode.
func WithMaxOpenConns(n int) Option {
	return func(o *options) { o.maxOpenConns = n }
}

// WithReadConns sets the number of read-only connections that serve reads
// (GetAsset, ListAssets, GetUser, …) beside the read-write pool. The default
// is GOMAXPROCS, and at least 4. A read is CPU work in this driver, so more
// connections than cores only share the cores: on two, 8 or 16 connections
// served about a tenth fewer searches than 2 or 4. Four keep a slow read or
// two (a count over every asset, say) from holding up the rest. Each
// connection keeps its own page cache, SQLite's default of 2 MB at most.
func WithReadConns(n int) Option {
	return func(o *options) { o.readConns = n }
}

// WithBusyTimeout sets how long a connection waits for another connection's
// or process's write lock before failing with SQLITE_BUSY. The default is
// 10 s.
func WithBusyTimeout(d time.Duration) Option {
	return func(o *options) { o.busyTimeout = d }
}

// Open opens (creating if needed) the database file at path, applies the
// migrations it lacks and returns the store. It refuses a database whose
// schema is newer than this binary knows, and, changing nothing, a file
// that is not a SQLite database or that ottr may not read and write, or a
// directory it may not create files in (files.go). The file and its -wal
// and -shm files are private to their owner (0600), and a directory Open
// creates is too (0700).
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	o = o.withDefaults()
	if err := prepareFiles(path, o.logger); err != nil {
		return nil, err
	}

	db, err := sql.Open("sqlite", dsn(path, o.busyTimeout))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(o.maxOpenConns)
	db.SetMaxIdleConns(o.maxOpenConns)
	// Connections are cheap to keep and each new one re-runs the pragmas.
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)

	s := &Store{db: db, read: db, lookup: db, path: path, now: o.now, log: o.logger}
	wal, err := s.firstConnection(ctx, o.busyTimeout)
	if err != nil {
		db.Close()
		return nil, explainOpenError(path, err)
	}
	if err := migrate(ctx, db, o.now, o.logger); err != nil {
		db.Close()
		return nil, explainOpenError(path, err)
	}
	if wal {
		// Opened after the migrations, so no reader ever sees an older
		// schema than the binary's.
		if s.read, err = openReadPool(path, o, readMmapSize); err != nil {
			db.Close()
			return nil, err
		}
		if s.lookup, err = openReadPool(path, o, o.lookupMmapSize); err != nil {
			s.read.Close()
			db.Close()
			return nil, err
		}
	}
	s.stmts, s.lookups, s.writes = newStatements(s.read), newStatements(s.lookup), newStatements(db)
	// The statements that run inside transactions, prepared while nothing
	// holds a connection (statements.prepare says why).
	err = s.lookups.prepare(ctx, readTxQueries...)
	if err == nil {
		err = s.writes.prepare(ctx, writeTxQueries...)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: prepare statements: %w", err)
	}
	return s, nil
}

// openReadPool opens the read-only connections. Without WAL they would
// block the writer, which is why Open only calls this in WAL mode.
func openReadPool(path string, o options, mmapSize int64) (*sql.DB, error) {
	read, err := sql.Open("sqlite", readDSN(path, o.busyTimeout, mmapSize))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}
	read.SetMaxOpenConns(o.readConns)
	read.SetMaxIdleConns(o.readConns)
	read.SetConnMaxLifetime(0)
	read.SetConnMaxIdleTime(0)
	return read, nil
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
	return fileURI(path, q)
}

// readDSN builds the data source name of a read-only connection:
// query_only(1) makes SQLite refuse any write on it. journal_mode is left
// alone: WAL is recorded in the file, and setting it is a write. The file
// is not opened with mode=ro, since a read-only file handle cannot do what
// a WAL reader sometimes must, such as recover the WAL after a crash.
//
// mmap_size lets the connection read the database file through a shared
// memory map instead of copying each page into its own cache. Paging
// through 100,000 assets at random cursors took 0.9 ms a page with
// SQLite's default 2 MB cache, 0.6 ms with 64 MB, and 0.5 ms mapped,
// whatever the cache. The map costs address space, not memory: its pages
// are the operating system's file cache, shared by every connection and
// process. The read pool's connections map up to readMmapSize (about two
// million assets), the rest of a larger file is read as before; the lookup
// pool's map nothing (mmapSize 0), see Store.lookup.
func readDSN(path string, busyTimeout time.Duration, mmapSize int64) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "query_only(1)")
	q.Add("_pragma", "mmap_size("+strconv.FormatInt(mmapSize, 10)+")")
	return fileURI(path, q)
}

// readMmapSize is the largest part of the database file, in bytes, that a
// connection of the read pool maps.
const readMmapSize = 1 << 30

// fileURI returns the file: URI of path with the query q. The path must
// have '?', '#' and '%' escaped, and '/' left as it is.
func fileURI(path string, q url.Values) string {
	u := url.URL{Path: path}
	return "file:" + u.EscapedPath() + "?" + q.Encode()
}

// firstConnection opens the first connection, which turns a new file to
// WAL mode, and reports whether the file is in WAL mode. Two processes
// turning the same new file to WAL at once both hold a read lock and want
// the write lock: SQLite fails one of them at once with SQLITE_BUSY instead
// of waiting busy_timeout, since waiting could not help. By the time it
// tries again, the other has finished.
func (s *Store) firstConnection(ctx context.Context, busyTimeout time.Duration) (bool, error) {
	const pause = 10 * time.Millisecond
	for waited := time.Duration(0); ; waited += pause {
		wal, err := s.checkJournalMode(ctx)
		if errorCode(err) != sqlite3.SQLITE_BUSY || waited >= busyTimeout {
			return wal, err
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("sqlite: open: %w", ctx.Err())
		case <-time.After(pause):
		}
	}
}

// checkJournalMode reports whether the file is in WAL mode, and warns when
// the file system refused it: the store still works, but on its read-write
// pool alone, where readers and the writer block each other.
func (s *Store) checkJournalMode(ctx context.Context) (bool, error) {
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return false, fmt.Errorf("sqlite: read journal mode: %w", err)
	}
	if mode != "wal" {
		s.log.Warn("sqlite: WAL journal mode unavailable; readers will block writers", "journal_mode", mode)
		return false, nil
	}
	return true, nil
}

// DB returns the store's read-write connection pool, so River's riversqlite
// driver can run on the same file. The store owns the pool: stop River
// before Close.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the prepared statements and both connection pools.
func (s *Store) Close() error {
	errs := []error{s.stmts.close(), s.lookups.close(), s.writes.close()}
	if s.read != s.db {
		errs = append(errs, s.read.Close(), s.lookup.Close())
	}
	errs = append(errs, s.db.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// explainOpenError says what to do about a database SQLite finds damaged;
// other errors pass as they are.
func explainOpenError(path string, err error) error {
	switch errorCode(err) & 0xff { // the primary result code
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		return fmt.Errorf("%w (%w)", notADatabase(path), err)
	}
	return err
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
	return runTx(ctx, s.db, nil, fn)
}

// inReadTx runs fn in a deferred, read-only transaction on the lookup
// pool, so the statements of fn see one snapshot without taking the write
// lock.
func (s *Store) inReadTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return runTx(readContext(ctx), s.lookup, &sql.TxOptions{ReadOnly: true}, fn)
}

func runTx(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, opts)
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
