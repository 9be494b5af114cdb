package app

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ottr-go/ottr/internal/secret"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/store/postgres"
	"github.com/ottr-go/ottr/internal/store/sqlite"
)

// openStore opens the SQLite file, or the PostgreSQL database of a
// postgres:// URL (given as is, or as a secret reference resolve reads),
// applying migrations under a lock. It returns the handle River shares.
func openStore(ctx context.Context, database string, concurrency int, o Options, resolve func(string) (string, error)) (store.Store, *sql.DB, *pgxpool.Pool, error) {
	if ref, _ := secret.ParseRef(database); !ref.IsLiteral() {
		url, err := resolve(database)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("database: %w", err)
		}
		database = strings.TrimSpace(url)
	}
	if IsPostgresURL(database) {
		opts := []postgres.Option{postgres.WithLogger(o.Logger), postgres.WithClock(o.Now)}
		if !strings.Contains(database, "pool_max_conns") {
			opts = append(opts, postgres.WithMaxConns(poolSize(concurrency)))
		}
		pg, err := postgres.Open(ctx, database, opts...)
		if err != nil {
			return nil, nil, nil, err
		}
		return pg, nil, pg.Pool(), nil
	}
	// Open creates the file's directory (0700) and refuses one ottr
	// cannot use.
	st, err := sqlite.Open(ctx, database, sqlite.WithLogger(o.Logger))
	if err != nil {
		return nil, nil, nil, err
	}
	return st, st.DB(), nil, nil
}

// poolSize is how many PostgreSQL connections a process keeps for
// concurrency rotations at once, unless the URL's pool_max_conns says:
// every rotation writes its journal and log as it goes, and River fetches,
// completes and heartbeats beside them. With pgx's default of four, 50
// rotations queued for a connection after each step — and the order a CA
// had just created waited there to be journaled, where a crash lost it.
func poolSize(concurrency int) int {
	return max(4, min(concurrency/4+4, 32))
}

// IsPostgresURL reports whether database names a PostgreSQL database.
func IsPostgresURL(database string) bool {
	return strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://")
}
