package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// When PostgreSQL restarts, crashes or fails over, every connection in the
// pool is dead, but the pool only finds out when it next uses one (or pings
// one that sat idle for over a second). Without help, each pooled
// connection would fail one call after the server is back. So the first
// call that finds its connection lost resets the whole pool
// (resetOnConnectionLoss), and reads, which are safe to repeat, run once
// more on a new connection (retryRead). Writes are not repeated: a write
// whose connection was lost may have committed, and only the caller knows
// whether doing it twice is harmless.

// connectionLost reports whether err means the connection to the server
// was lost: the server shut down, crashed or terminated the session
// (SQLSTATE class 57P, operator intervention), or the socket closed.
func connectionLost(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "57P")
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNREFUSED)
}

// retryRead runs read, and runs it once more if it lost its connection and
// ctx is still live. read must only read: it may run twice.
func (s *Store) retryRead(ctx context.Context, read func() error) error {
	err := read()
	if connectionLost(err) && ctx.Err() == nil {
		err = read()
	}
	return err
}

// resetOnConnectionLoss is a pgx tracer that resets the pool when a query
// or batch loses its connection, so the pool's other connections, which
// the same restart has most likely broken, are replaced before their next
// use. It sees every query on the pool, River's included.
type resetOnConnectionLoss struct {
	pool atomic.Pointer[pgxpool.Pool] // set once the pool exists
}

var (
	_ pgx.QueryTracer = (*resetOnConnectionLoss)(nil)
	_ pgx.BatchTracer = (*resetOnConnectionLoss)(nil)
)

func (r *resetOnConnectionLoss) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (r *resetOnConnectionLoss) TraceQueryEnd(_ context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	r.check(data.Err)
}

func (r *resetOnConnectionLoss) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (r *resetOnConnectionLoss) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {
}

func (r *resetOnConnectionLoss) TraceBatchEnd(_ context.Context, _ *pgx.Conn, data pgx.TraceBatchEndData) {
	r.check(data.Err)
}

func (r *resetOnConnectionLoss) check(err error) {
	if connectionLost(err) {
		if pool := r.pool.Load(); pool != nil {
			pool.Reset()
		}
	}
}
