package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ottr-go/ottr/internal/store"
)

// PutSecret stores an opaque (already sealed) value under name, replacing
// any earlier value. Errors name the secret, never its value.
func (s *Store) PutSecret(ctx context.Context, name string, value []byte) error {
	if value == nil {
		value = []byte{} // the column is NOT NULL; nil would bind as NULL
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO secrets (name, value, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		name, value, s.nowSecond()); err != nil {
		return fmt.Errorf("postgres: put secret %q: %w", name, err)
	}
	return nil
}

// CreateSecret stores value under name unless a value is stored there
// already, which is store.ErrExists.
func (s *Store) CreateSecret(ctx context.Context, name string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO secrets (name, value, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO NOTHING`, name, value, s.nowSecond())
	if err != nil {
		return fmt.Errorf("postgres: create secret %q: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: create secret %q: %w", name, store.ErrExists)
	}
	return nil
}

// GetSecret returns the value stored under name, or store.ErrNotFound.
func (s *Store) GetSecret(ctx context.Context, name string) ([]byte, error) {
	var value []byte
	err := s.retryRead(ctx, func() error {
		return s.pool.QueryRow(ctx, `SELECT value FROM secrets WHERE name = $1`, name).Scan(&value)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: get secret %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get secret %q: %w", name, err)
	}
	if value == nil {
		value = []byte{}
	}
	return value, nil
}

// SecretNames returns the name of every stored secret, in byte order.
func (s *Store) SecretNames(ctx context.Context) ([]string, error) {
	var names []string
	err := s.retryRead(ctx, func() error {
		rows, err := s.pool.Query(ctx, `SELECT name FROM secrets ORDER BY name COLLATE "C"`)
		if err != nil {
			return err
		}
		names, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list secrets: %w", err)
	}
	return names, nil
}

// ResealSecrets replaces every secret's value by reseal's, in one
// transaction. It locks the table against writes first, so no process adds
// or changes a secret the transaction would miss or overwrite; reads go on.
func (s *Store) ResealSecrets(ctx context.Context, reseal func(name string, value []byte) ([]byte, error)) (int, error) {
	type secret struct {
		name  string
		value []byte
	}
	var n int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE secrets IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT name, value FROM secrets ORDER BY name COLLATE "C"`)
		if err != nil {
			return err
		}
		all, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (secret, error) {
			var sec secret
			err := row.Scan(&sec.name, &sec.value)
			return sec, err
		})
		if err != nil {
			return err
		}
		now := s.nowSecond()
		for _, sec := range all {
			value, err := reseal(sec.name, sec.value)
			if err != nil {
				return err
			}
			if value == nil {
				value = []byte{}
			}
			if _, err := tx.Exec(ctx, `UPDATE secrets SET value = $2, updated_at = $3 WHERE name = $1`, sec.name, value, now); err != nil {
				return fmt.Errorf("secret %q: %w", sec.name, err)
			}
		}
		n = len(all)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: reseal secrets: %w", err)
	}
	return n, nil
}
