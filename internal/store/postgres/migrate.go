package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// migrationFiles holds the schema, one numbered file per change:
// NNNN_what.sql. A file, once released, is never edited: a change is a new
// file. River's tables are not here: River migrates them itself.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// ErrSchemaTooNew is returned by Open and Migrate for a database written by
// a newer ottr: running older code on it could lose data.
var ErrSchemaTooNew = errors.New("database schema is newer than this ottr knows; upgrade ottr")

// ErrSchemaTooOld is returned by Open with WithoutMigrations for a database
// that lacks migrations this ottr needs.
var ErrSchemaTooOld = errors.New("database schema is older than this ottr needs; run the migrations")

// migrateLockKey is the advisory lock Migrate holds: the bytes of "ottrmigr".
// Advisory locks are per database, so it only has to differ from the keys
// other programs use in the same database (River uses none of this form).
const migrateLockKey int64 = 0x6f7474726d696772

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads the embedded migrations in version order and checks
// that the versions run 1, 2, 3, … without gaps or repeats.
func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		prefix, _, ok := strings.Cut(name, "_")
		version, err := strconv.Atoi(prefix)
		if !ok || err != nil || version <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number and '_'", name)
		}
		body, err := fs.ReadFile(migrationFiles, path.Join("migrations", name))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: version, name: name, sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: expected version %d", m.name, i+1)
		}
	}
	return ms, nil
}

// Migrate brings the schema up to the newest embedded migration. Open calls
// it unless told not to.
//
// Every pending migration runs in one transaction that first takes an
// advisory lock, so several nodes starting at once apply each migration
// exactly once: the others wait for the lock, then find nothing left to do.
// PostgreSQL's DDL is transactional, so a failure or a crash leaves the
// schema as it was.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return fmt.Errorf("postgres: load migrations: %w", err)
	}
	latest := ms[len(ms)-1].version
	var applied []migration
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		applied = nil // a retried transaction starts over
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLockKey); err != nil {
			return fmt.Errorf("take the migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL
		)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		current, err := schemaVersion(ctx, tx)
		if err != nil {
			return err
		}
		if current > latest {
			return fmt.Errorf("schema version %d, this ottr knows up to %d: %w", current, latest, ErrSchemaTooNew)
		}
		for _, m := range ms[current:] {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, s.nowSecond()); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			applied = append(applied, m)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: migrate %s: %w", s.target, err)
	}
	for _, m := range applied {
		s.log.Info("postgres: applied migration", "version", m.version, "name", m.name)
	}
	return nil
}

// checkSchema fails unless the schema is exactly the newest this binary
// knows.
func (s *Store) checkSchema(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return fmt.Errorf("postgres: load migrations: %w", err)
	}
	latest := ms[len(ms)-1].version
	current, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	switch {
	case current > latest:
		return fmt.Errorf("postgres: open %s: schema version %d, this ottr knows up to %d: %w", s.target, current, latest, ErrSchemaTooNew)
	case current < latest:
		return fmt.Errorf("postgres: open %s: schema version %d, this ottr needs %d: %w", s.target, current, latest, ErrSchemaTooOld)
	}
	return nil
}

// SchemaVersion returns the newest migration applied to the database, 0
// for a database never migrated.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, fmt.Errorf("postgres: read schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	v, err := schemaVersion(ctx, s.pool)
	if err != nil {
		return 0, fmt.Errorf("postgres: %w", err)
	}
	return v, nil
}

func schemaVersion(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (int, error) {
	var v int
	if err := q.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}
