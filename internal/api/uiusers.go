package api

import "context"

// CreateUser creates a user from the web UI as POST /admin/v1/users does:
// the same checks, and the password hashed at the server's bcrypt cost.
// It fails with an error wrapping store.ErrExists when the username is
// taken.
func (a *UISessions) CreateUser(ctx context.Context, username, password, role string) error {
	return createUser(ctx, a.s.store, username, password, role, a.s.cfg.BcryptCost)
}

// HashPassword checks password against the rules and hashes it at the
// server's bcrypt cost, for a password set from the web UI.
func (a *UISessions) HashPassword(password string) ([]byte, error) {
	if err := CheckPasswordRules(password); err != nil {
		return nil, err
	}
	return hashPassword(password, a.s.cfg.BcryptCost)
}
