package api

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/ottr-go/ottr/internal/store"
)

// Password rules: Ottr's (at least 8 characters with a lower-case letter,
// an upper-case letter, a digit and one of its symbols) plus a maximum,
// since bcrypt reads only the first 72 bytes and a longer password would
// silently be cut.
const (
	MinPasswordLength = 8
	MaxPasswordBytes  = 72
	// PasswordSymbols are the symbols Ottr's rule asks for one of.
	PasswordSymbols = "@$!%*#?&."
)

// CheckPasswordRules returns an error naming every rule password breaks,
// or nil. The error never quotes the password.
func CheckPasswordRules(password string) error {
	var broken []string
	if len([]rune(password)) < MinPasswordLength {
		broken = append(broken, fmt.Sprintf("at least %d characters", MinPasswordLength))
	}
	if len(password) > MaxPasswordBytes {
		broken = append(broken, fmt.Sprintf("at most %d bytes (bcrypt's limit)", MaxPasswordBytes))
	}
	if !strings.ContainsFunc(password, func(r rune) bool { return r >= 'a' && r <= 'z' }) {
		broken = append(broken, "a lower-case letter [a-z]")
	}
	if !strings.ContainsFunc(password, func(r rune) bool { return r >= 'A' && r <= 'Z' }) {
		broken = append(broken, "an upper-case letter [A-Z]")
	}
	if !strings.ContainsFunc(password, func(r rune) bool { return r >= '0' && r <= '9' }) {
		broken = append(broken, "a digit [0-9]")
	}
	if !strings.ContainsAny(password, PasswordSymbols) {
		broken = append(broken, "one of the symbols "+PasswordSymbols)
	}
	if strings.ContainsFunc(password, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		broken = append(broken, "no control characters")
	}
	if len(broken) == 0 {
		return nil
	}
	return errors.New("password must have " + strings.Join(broken, ", "))
}

// HashPassword checks password against the rules and returns its bcrypt
// hash at DefaultBcryptCost.
func HashPassword(password string) ([]byte, error) {
	if err := CheckPasswordRules(password); err != nil {
		return nil, err
	}
	return hashPassword(password, DefaultBcryptCost)
}

func hashPassword(password string, cost int) ([]byte, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	return h, nil
}

// usernamePattern keeps usernames printable, free of spaces and short
// enough to show in the audit log.
var usernamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$`)

// CheckUsername returns why username is not acceptable, or nil.
func CheckUsername(username string) error {
	if !usernamePattern.MatchString(username) {
		return errors.New("username must be 1 to 64 letters, digits, '.', '_', '@', '+' or '-', starting with a letter or digit")
	}
	return nil
}

// Roles returns the roles, most privileged first.
func Roles() []string {
	return []string{store.RoleAdmin, store.RolePrivileged, store.RoleDeveloper}
}

// roleRank orders roles: each has every right of those ranked below it.
// An unknown role ranks 0 and is allowed nothing.
func roleRank(role string) int {
	switch role {
	case store.RoleAdmin:
		return 3
	case store.RolePrivileged:
		return 2
	case store.RoleDeveloper:
		return 1
	}
	return 0
}

// CheckRole returns why role is not one of Roles, or nil.
func CheckRole(role string) error {
	if roleRank(role) == 0 {
		return fmt.Errorf("role must be one of %s", strings.Join(Roles(), ", "))
	}
	return nil
}

// CreateUser checks the username, password and role, hashes the password
// with bcrypt and stores the user; `ottr user create` calls it to make the
// first admin. It fails with an error wrapping store.ErrExists when the
// username is taken.
func CreateUser(ctx context.Context, users store.Users, username, password, role string) error {
	return createUser(ctx, users, username, password, role, DefaultBcryptCost)
}

func createUser(ctx context.Context, users store.Users, username, password, role string, cost int) error {
	if err := errors.Join(CheckUsername(username), CheckPasswordRules(password), CheckRole(role)); err != nil {
		return fmt.Errorf("api: create user: %w", err)
	}
	hash, err := hashPassword(password, cost)
	if err != nil {
		return fmt.Errorf("api: create user: %w", err)
	}
	if err := users.CreateUser(ctx, store.User{Username: username, PasswordHash: hash, Role: role}); err != nil {
		return fmt.Errorf("api: create user %s: %w", username, err)
	}
	return nil
}

// IsLastAdmin reports whether u is the only ADMIN: the API, `ottr user`
// and the web UI refuse to delete or demote it, since no one could manage
// users after.
func IsLastAdmin(ctx context.Context, users store.Users, u store.User) (bool, error) {
	if u.Role != store.RoleAdmin {
		return false, nil
	}
	all, err := users.ListUsers(ctx)
	if err != nil {
		return false, fmt.Errorf("api: list users: %w", err)
	}
	admins := 0
	for _, other := range all {
		if other.Role == store.RoleAdmin {
			admins++
		}
	}
	return admins <= 1, nil
}
