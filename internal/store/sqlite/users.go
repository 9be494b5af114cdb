package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/ottr-go/ottr/internal/store"
)

var (
	_ store.Users = (*Store)(nil)
	_ store.Audit = (*Store)(nil)
)

const userColumns = `username, password_hash, role, created_at, updated_at`

func scanUser(row scanner) (store.User, error) {
	var (
		u                    store.User
		createdAt, updatedAt int64
	)
	if err := row.Scan(&u.Username, &u.PasswordHash, &u.Role, &createdAt, &updatedAt); err != nil {
		return store.User{}, err
	}
	if u.PasswordHash == nil {
		u.PasswordHash = []byte{}
	}
	u.CreatedAt, u.UpdatedAt = timeOf(createdAt), timeOf(updatedAt)
	return u, nil
}

// checkUser refuses what the table's CHECK constraints would, with an error
// that says what is wrong instead of SQLite's constraint text.
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

// CreateUser inserts u with CreatedAt and UpdatedAt set to the store's
// clock; store.ErrExists if the username is taken. Errors never include the
// password hash.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	if err := checkUser(u); err != nil {
		return fmt.Errorf("sqlite: create user %q: %w", u.Username, err)
	}
	hash := u.PasswordHash
	if hash == nil {
		hash = []byte{} // the column is NOT NULL; nil would bind as NULL
	}
	now := s.nowSeconds().Unix()
	_, err := s.db.ExecContext(ctx, `INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?)`,
		u.Username, hash, u.Role, now, now)
	if isPrimaryKeyViolation(err) {
		return fmt.Errorf("sqlite: create user %q: %w", u.Username, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create user %q: %w", u.Username, err)
	}
	return nil
}

// GetUser returns one user; store.ErrNotFound if absent.
func (s *Store) GetUser(ctx context.Context, username string) (store.User, error) {
	u, err := scanUser(s.lookups.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE username = ?`, username))
	if errors.Is(err, sql.ErrNoRows) {
		return store.User{}, fmt.Errorf("sqlite: get user %q: %w", username, store.ErrNotFound)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("sqlite: get user %q: %w", username, err)
	}
	return u, nil
}

// ListUsers returns every user, ordered by username.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.read.QueryContext(readContext(ctx), `SELECT `+userColumns+` FROM users ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list users: %w", err)
	}
	defer rows.Close()
	var out []store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list users: %w", err)
	}
	return out, nil
}

// UpdateUser replaces the password hash and role and sets UpdatedAt to the
// store's clock, keeping CreatedAt; store.ErrNotFound if absent.
func (s *Store) UpdateUser(ctx context.Context, u store.User) error {
	if err := checkUser(u); err != nil {
		return fmt.Errorf("sqlite: update user %q: %w", u.Username, err)
	}
	hash := u.PasswordHash
	if hash == nil {
		hash = []byte{}
	}
	res, err := s.db.ExecContext(ctx, `UPDATE users SET password_hash = ?, role = ?, updated_at = ? WHERE username = ?`,
		hash, u.Role, s.nowSeconds().Unix(), u.Username)
	if err != nil {
		return fmt.Errorf("sqlite: update user %q: %w", u.Username, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: update user %q: %w", u.Username, err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: update user %q: %w", u.Username, store.ErrNotFound)
	}
	return nil
}

// DeleteUser removes a user; store.ErrNotFound if absent. The user's audit
// events stay.
func (s *Store) DeleteUser(ctx context.Context, username string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM users WHERE username = ?`, username)
	if err != nil {
		return fmt.Errorf("sqlite: delete user %q: %w", username, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: delete user %q: %w", username, err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: delete user %q: %w", username, store.ErrNotFound)
	}
	return nil
}
