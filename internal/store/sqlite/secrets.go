package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/ottr-go/ottr/internal/store"
)

// PutSecret stores an opaque (already sealed) value under name, replacing
// any earlier value. Errors name the secret, never its value.
func (s *Store) PutSecret(ctx context.Context, name string, value []byte) error {
	if value == nil {
		value = []byte{} // the column is NOT NULL; nil would bind as NULL
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO secrets (name, value, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		name, value, s.now().Unix()); err != nil {
		return fmt.Errorf("sqlite: put secret %q: %w", name, err)
	}
	return nil
}

// CreateSecret stores value under name unless a value is stored there
// already, which is store.ErrExists.
func (s *Store) CreateSecret(ctx context.Context, name string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO secrets (name, value, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO NOTHING`, name, value, s.now().Unix())
	if err != nil {
		return fmt.Errorf("sqlite: create secret %q: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("sqlite: create secret %q: %w", name, cmp.Or(err, store.ErrExists))
	}
	return nil
}

// GetSecret returns the value stored under name, or store.ErrNotFound.
func (s *Store) GetSecret(ctx context.Context, name string) ([]byte, error) {
	var value []byte
	err := s.stmts.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = ?`, name).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: get secret %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get secret %q: %w", name, err)
	}
	if value == nil {
		value = []byte{}
	}
	return value, nil
}

// SecretNames returns the name of every stored secret, in byte order.
func (s *Store) SecretNames(ctx context.Context) ([]string, error) {
	rows, err := s.stmts.QueryContext(ctx, `SELECT name FROM secrets ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list secrets: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("sqlite: list secrets: %w", err)
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list secrets: %w", err)
	}
	return names, nil
}

// ResealSecrets replaces every secret's value by reseal's, in one
// transaction. The transaction takes the write lock at BEGIN (see dsn), so
// no other connection or process writes a secret while it runs.
func (s *Store) ResealSecrets(ctx context.Context, reseal func(name string, value []byte) ([]byte, error)) (int, error) {
	type secret struct {
		name  string
		value []byte
	}
	var n int
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT name, value FROM secrets ORDER BY name`)
		if err != nil {
			return err
		}
		// Read them all first: the connection cannot update while the
		// query's rows are open.
		var all []secret
		for rows.Next() {
			var sec secret
			if err := rows.Scan(&sec.name, &sec.value); err != nil {
				rows.Close()
				return err
			}
			all = append(all, sec)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		now := s.now().Unix()
		for _, sec := range all {
			value, err := reseal(sec.name, sec.value)
			if err != nil {
				return err
			}
			if value == nil {
				value = []byte{}
			}
			if _, err := tx.ExecContext(ctx, `UPDATE secrets SET value = ?, updated_at = ? WHERE name = ?`, value, now, sec.name); err != nil {
				return fmt.Errorf("secret %q: %w", sec.name, err)
			}
		}
		n = len(all)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: reseal secrets: %w", err)
	}
	return n, nil
}
