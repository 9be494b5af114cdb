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
