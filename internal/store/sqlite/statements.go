package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// statements keeps one prepared *sql.Stmt per query text on one pool.
// database/sql prepares such a statement on each connection the first time
// it runs there and keeps it, so a query is compiled once per connection
// instead of on every call, which at 100,000 assets cost about a tenth of a
// millisecond of a page of search results, and in a wave of rotations
// about a tenth of the store's CPU (SQLite's parser).
//
// Only queries whose text comes from a fixed set of shapes belong here —
// the listing queries (one per combination of filters, index and paging),
// the lookups by key, the writes of a rotation — so the set stays small
// and needs no eviction.
type statements struct {
	db *sql.DB

	mu     sync.RWMutex
	byText map[string]*sql.Stmt
	closed bool
}

func newStatements(db *sql.DB) *statements {
	return &statements{db: db, byText: make(map[string]*sql.Stmt)}
}

// errStatementsClosed is returned for a query made after Close.
var errStatementsClosed = errors.New("store is closed")

// get returns the prepared statement of query, preparing it on first use.
func (c *statements) get(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.RLock()
	stmt, ok := c.byText[query]
	closed := c.closed
	c.mu.RUnlock()
	if ok {
		return stmt, nil
	}
	if closed {
		return nil, errStatementsClosed
	}
	// Prepared outside the lock, so a slow first prepare holds up no other
	// query; when two callers race, the first one stored wins.
	stmt, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		stmt.Close()
		return nil, errStatementsClosed
	}
	if prev, ok := c.byText[query]; ok {
		stmt.Close()
		return prev, nil
	}
	c.byText[query] = stmt
	return stmt, nil
}

// prepare prepares queries ahead of their first use. A statement used only
// inside transactions must be: preparing it there would take a second
// connection from the pool while the transaction holds one, and the
// read-write pool has a single connection (see inTx).
func (c *statements) prepare(ctx context.Context, queries ...string) error {
	for _, q := range queries {
		if _, err := c.get(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// ExecContext runs query with args on its prepared statement, with ctx as
// it is: a write is cancelled with its caller.
func (c *statements) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	stmt, err := c.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return stmt.ExecContext(ctx, args...)
}

// inTx returns query's statement bound to tx, which must come from the
// same pool. database/sql reuses what the statement prepared on tx's
// connection, and prepares it there if it has not yet. A query prepare
// did not cache is prepared on tx's connection for this transaction
// alone, never through the pool.
func (c *statements) inTx(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	c.mu.RLock()
	stmt, ok := c.byText[query]
	c.mu.RUnlock()
	if !ok {
		return tx.PrepareContext(ctx, query)
	}
	return tx.StmtContext(ctx, stmt), nil
}

// QueryContext runs query with args on its prepared statement.
func (c *statements) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	stmt, err := c.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return stmt.QueryContext(readContext(ctx), args...)
}

// readContext is the context reads on the read pool run with: ctx without
// its cancellation. The driver arms an interrupt on the connection for a
// cancellable call, and one has been seen to fail a later, unrelated read
// on the same connection with "context canceled" (an API request failing
// right after another ended). Reads here are bounded by their LIMIT and
// take milliseconds, so cancelling them gains little.
func readContext(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// QueryRowContext runs query with args on its prepared statement and
// returns its first row; a failure to prepare shows up in the row's Scan.
func (c *statements) QueryRowContext(ctx context.Context, query string, args ...any) scanner {
	stmt, err := c.get(ctx, query)
	if err != nil {
		return errRow{err}
	}
	ctx = readContext(ctx)
	return &retriedRow{ctx: ctx, stmt: stmt, args: args, row: stmt.QueryRowContext(ctx, args...)}
}

// retriedRow runs its query once more when it fails as interrupted or
// cancelled although its own context is live: an interrupt meant for an
// earlier call on the same pooled connection.
type retriedRow struct {
	ctx  context.Context
	stmt *sql.Stmt
	args []any
	row  *sql.Row
}

func (r *retriedRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	if interrupted(err) && r.ctx.Err() == nil {
		err = r.stmt.QueryRowContext(r.ctx, r.args...).Scan(dest...)
	}
	return err
}

// interrupted reports whether err is a cancellation or an SQLite
// interrupt.
func interrupted(err error) bool {
	var e *sqlite.Error
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_INTERRUPT)
}

// close closes every statement; later queries fail.
func (c *statements) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var errs []error
	for _, stmt := range c.byText {
		errs = append(errs, stmt.Close())
	}
	clear(c.byText)
	return errors.Join(errs...)
}

// errRow is a row whose query failed before it ran.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
