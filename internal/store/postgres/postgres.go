// Package postgres implements store.Store on PostgreSQL, for ottr's cluster
// deployment: every node shares one database, and River's riverpgxv5 driver
// runs the job queue in the same database through the store's pool (Pool).
//
// It uses pgx v5 and its pool. Times are timestamptz; they are written
// truncated as the SQLite store keeps them — journal, log and audit times to
// the millisecond, every other time to the second — and returned in UTC, so
// both stores return the same values. Names sort in byte order, as in
// SQLite, whatever the database's collation.
//
// The store expects a database (or a schema, chosen with search_path in the
// URL) of its own: its tables have plain names such as assets and users.
// A read that finds its connection lost to a restart or failover of
// PostgreSQL runs once more on a new connection (reconnect.go).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ottr-go/ottr/internal/store"
)

var _ store.Store = (*Store)(nil)

// Store is a store.Store in one PostgreSQL database. It is safe for
// concurrent use, from any number of processes.
type Store struct {
	pool *pgxpool.Pool
	// target names the database in errors: host:port/database, never the
	// user or password.
	target string
	now    func() time.Time
	log    *slog.Logger
}

// DefaultConnectTimeout bounds each attempt to connect when neither
// WithConnectTimeout nor the URL's connect_timeout sets it.
const DefaultConnectTimeout = 10 * time.Second

// options holds what Option changes; zero values mean the documented
// defaults, filled by withDefaults.
type options struct {
	now            func() time.Time
	logger         *slog.Logger
	connectTimeout time.Duration
	maxConns       int32
	skipMigrations bool
}

func (o options) withDefaults() options {
	if o.now == nil {
		o.now = time.Now
	}
	if o.logger == nil {
		o.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
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

// WithLogger sets the logger that reports applied migrations. The default
// discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// WithConnectTimeout bounds each attempt to connect to the server, login
// included. It overrides the URL's connect_timeout; without either it is
// DefaultConnectTimeout.
func WithConnectTimeout(d time.Duration) Option {
	return func(o *options) { o.connectTimeout = d }
}

// WithMaxConns sets the size of the connection pool, which River shares
// when it runs on Pool. It overrides the URL's pool_max_conns; without
// either it is pgxpool's default, the number of CPUs and at least 4.
func WithMaxConns(n int) Option {
	return func(o *options) { o.maxConns = int32(n) }
}

// WithoutMigrations makes Open leave the schema alone, for deployments that
// migrate as a separate step (Migrate) under a more privileged role. Open
// then fails unless the schema is current.
func WithoutMigrations() Option {
	return func(o *options) { o.skipMigrations = true }
}

// Open connects to the database at databaseURL (postgres://… or a
// key=value connection string, as libpq and pgx read them), applies the
// migrations it lacks under an advisory lock, and returns the store. It
// fails within the connect timeout if the server cannot be reached or
// refuses the login, with an error that names the host and database but
// never the password. It refuses a database whose schema is newer than this
// binary knows (ErrSchemaTooNew).
func Open(ctx context.Context, databaseURL string, opts ...Option) (*Store, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	o = o.withDefaults()

	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, parseError(databaseURL, err)
	}
	if o.connectTimeout > 0 {
		cfg.ConnConfig.ConnectTimeout = o.connectTimeout
	} else if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	if o.maxConns > 0 {
		cfg.MaxConns = o.maxConns
	}
	s := &Store{target: describe(cfg.ConnConfig.Config), now: o.now, log: o.logger}
	password := cfg.ConnConfig.Password
	tracer := &resetOnConnectionLoss{}
	cfg.ConnConfig.Tracer = tracer

	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open %s: %w", s.target, redact(err, password))
	}
	tracer.pool.Store(s.pool)
	// The pool connects lazily; connect now, so a wrong URL fails here
	// rather than at the first query.
	if err := s.pool.Ping(ctx); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("postgres: connect to %s: %w", s.target, redact(err, password))
	}
	if o.skipMigrations {
		err = s.checkSchema(ctx)
	} else {
		err = s.Migrate(ctx)
	}
	if err != nil {
		s.pool.Close()
		return nil, err
	}
	return s, nil
}

// describe names the database cfg points at for errors and logs: host and
// port (or socket directory) and database, without user or password.
func describe(cfg pgconn.Config) string {
	host := cfg.Host
	if !strings.HasPrefix(host, "/") {
		host = net.JoinHostPort(host, strconv.Itoa(int(cfg.Port)))
	}
	return host + "/" + cfg.Database
}

// Pool returns the store's connection pool, so River's riverpgxv5 driver
// can run on the same database. The store owns the pool: stop River before
// Close.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes every connection of the pool, waiting for those in use to be
// given back.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// parseError reports a database URL that does not parse. pgx masks the
// password of what it quotes, but a malformed URL can defeat that, and the
// causes it wraps may quote the URL whole: the message is rebuilt without
// anything that looks like a password, and the cause is not kept.
func parseError(databaseURL string, err error) error {
	msg := err.Error()
	for _, pw := range passwordsIn(databaseURL) {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
		if escaped := url.QueryEscape(pw); escaped != pw {
			msg = strings.ReplaceAll(msg, escaped, "xxxxx")
		}
	}
	return fmt.Errorf("postgres: database URL is not valid: %s", msg)
}

var (
	// urlPassword matches the password of scheme://user:password@host,
	// however malformed the rest.
	urlPassword = regexp.MustCompile(`://[^:/@]*:([^@]*)@`)
	// keywordPassword matches password=… in a query string or a key=value
	// connection string.
	keywordPassword = regexp.MustCompile(`(?:^|[?&\s])(?:ssl)?password\s*=\s*('[^']*'|[^&\s]*)`)
)

// passwordsIn returns every string in a connection string that may be a
// password, raw and decoded.
func passwordsIn(conn string) []string {
	var out []string
	add := func(pw string) {
		pw = strings.Trim(pw, "'")
		if pw == "" {
			return
		}
		out = append(out, pw)
		if dec, err := url.PathUnescape(pw); err == nil && dec != pw {
			out = append(out, dec)
		}
	}
	for _, m := range urlPassword.FindAllStringSubmatch(conn, -1) {
		add(m[1])
	}
	for _, m := range keywordPassword.FindAllStringSubmatch(conn, -1) {
		add(m[1])
	}
	return out
}

// redactedError is an error whose message had the password masked. It keeps
// the original for errors.Is and errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact masks password in err's message. pgx leaves passwords out of its
// connection errors; this keeps them out should a server or a future pgx
// quote one.
func redact(err error, password string) error {
	if password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), password, "xxxxx"), err: err}
}

// PostgreSQL error codes the store branches on.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
)

// pgErrorCode returns PostgreSQL's SQLSTATE of err and the constraint it
// names, or empty strings when err does not come from the server.
func pgErrorCode(err error) (code, constraint string) {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code, e.ConstraintName
	}
	return "", ""
}

// isUniqueViolation reports whether err is a violation of the named unique
// constraint or index.
func isUniqueViolation(err error, constraint string) bool {
	code, name := pgErrorCode(err)
	return code == codeUniqueViolation && name == constraint
}

func isForeignKeyViolation(err error) bool {
	code, _ := pgErrorCode(err)
	return code == codeForeignKeyViolation
}

// inTx runs fn in a read-write transaction and commits it if fn succeeds.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// inReadTx runs fn in a read-only transaction whose statements all see one
// snapshot, and runs it again in a new one if it lost its connection
// (retryRead): fn must set its results afresh on each run.
func (s *Store) inReadTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return s.retryRead(ctx, func() error {
		return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
	})
}

// toSecond returns t as the store keeps most times: whole seconds, UTC.
func toSecond(t time.Time) time.Time { return t.Truncate(time.Second).UTC() }

// toMilli returns t as the store keeps journal, log and audit times: whole
// milliseconds, UTC.
func toMilli(t time.Time) time.Time { return t.Truncate(time.Millisecond).UTC() }

// secondsArg returns the column value of an optional time: nil (NULL) or
// the time in whole seconds.
func secondsArg(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := toSecond(*t)
	return &v
}

// utcPtr returns an optional time read from a column in UTC; pgx returns
// timestamptz in the local zone.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC()
	return &v
}

// nowSecond returns the clock's time as stored: whole seconds, UTC.
func (s *Store) nowSecond() time.Time { return toSecond(s.now()) }
