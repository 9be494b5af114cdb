package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ottr-go/ottr/internal/store"
)

var (
	_ store.Users = (*Store)(nil)
	_ store.Audit = (*Store)(nil)
)

const userColumns = `username, password_hash, role, created_at, updated_at`

func scanUser(row pgx.Row) (store.User, error) {
	var u store.User
	if err := row.Scan(&u.Username, &u.PasswordHash, &u.Role, &u.CreatedAt, &u.UpdatedAt); err != nil {
		return store.User{}, err
	}
	if u.PasswordHash == nil {
		u.PasswordHash = []byte{}
	}
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return u, nil
}

// checkUser refuses what the table's CHECK constraints would, with an error
// that says what is wrong instead of PostgreSQL's constraint text.
func checkUser(u store.User) error {
	if u.Username == "" {
		return errors.New("empty username")
	}
	switch u.Role {
	case store.RoleAdmin, store.RolePrivileged, store.RoleDeveloper:
		return nil
	}
	return fmt.Errorf("role %q is not one of %s, %s, %s", u.Role, store.RoleAdmin, store.RolePrivileged, store.RoleDeveloper)
}

// passwordHash returns u's hash as a column value: the column is NOT NULL,
// and a nil slice would bind as NULL.
func passwordHash(u store.User) []byte {
	if u.PasswordHash == nil {
		return []byte{}
	}
	return u.PasswordHash
}

// CreateUser inserts u with CreatedAt and UpdatedAt set to the store's
// clock; store.ErrExists if the username is taken. Errors never include the
// password hash.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	if err := checkUser(u); err != nil {
		return fmt.Errorf("postgres: create user %q: %w", u.Username, err)
	}
	now := s.nowSecond()
	_, err := s.pool.Exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $4)`,
		u.Username, passwordHash(u), u.Role, now)
	if isUniqueViolation(err, "users_pkey") {
		return fmt.Errorf("postgres: create user %q: %w", u.Username, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("postgres: create user %q: %w", u.Username, err)
	}
	return nil
}

// GetUser returns one user; store.ErrNotFound if absent.
func (s *Store) GetUser(ctx context.Context, username string) (store.User, error) {
	var u store.User
	err := s.retryRead(ctx, func() error {
		var err error
		u, err = scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE username = $1`, username))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return store.User{}, fmt.Errorf("postgres: get user %q: %w", username, store.ErrNotFound)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("postgres: get user %q: %w", username, err)
	}
	return u, nil
}

// ListUsers returns every user, ordered by username (byte order).
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	var out []store.User
	err := s.retryRead(ctx, func() error {
		out = nil
		rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY username`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			u, err := scanUser(rows)
			if err != nil {
				return err
			}
			out = append(out, u)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list users: %w", err)
	}
	return out, nil
}

// UpdateUser replaces the password hash and role and sets UpdatedAt to the
// store's clock, keeping CreatedAt; store.ErrNotFound if absent.
func (s *Store) UpdateUser(ctx context.Context, u store.User) error {
	if err := checkUser(u); err != nil {
		return fmt.Errorf("postgres: update user %q: %w", u.Username, err)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE users SET password_hash = $1, role = $2, updated_at = $3 WHERE username = $4`,
		passwordHash(u), u.Role, s.nowSecond(), u.Username)
	if err != nil {
		return fmt.Errorf("postgres: update user %q: %w", u.Username, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: update user %q: %w", u.Username, store.ErrNotFound)
	}
	return nil
}

// DeleteUser removes a user; store.ErrNotFound if absent. The user's audit
// events stay.
func (s *Store) DeleteUser(ctx context.Context, username string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM users WHERE username = $1`, username)
	if err != nil {
		return fmt.Errorf("postgres: delete user %q: %w", username, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: delete user %q: %w", username, store.ErrNotFound)
	}
	return nil
}
