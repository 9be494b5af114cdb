package store

import (
	"context"
	"encoding/json"
	"time"
)

// Roles, from most to least privileged; each has every right of the ones
// after it (Ottr's ADMIN > PRIVILEGED > DEVELOPER).
const (
	RoleAdmin      = "ADMIN"
	RolePrivileged = "PRIVILEGED"
	RoleDeveloper  = "DEVELOPER"
)

// User is an API user.
type User struct {
	Username string `json:"username"`
	// PasswordHash is a bcrypt hash; it never leaves the server.
	PasswordHash []byte    `json:"-"`
	Role         string    `json:"role"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Users keeps API users. A store that serves the API implements it.
type Users interface {
	// CreateUser inserts u, stamping CreatedAt and UpdatedAt with the
	// store's clock; ErrExists if the username is taken.
	CreateUser(ctx context.Context, u User) error
	// GetUser returns one user; ErrNotFound if absent.
	GetUser(ctx context.Context, username string) (User, error)
	// ListUsers returns every user, ordered by username.
	ListUsers(ctx context.Context) ([]User, error)
	// UpdateUser replaces the password hash and role and stamps UpdatedAt;
	// ErrNotFound if absent.
	UpdateUser(ctx context.Context, u User) error
	// DeleteUser removes a user; ErrNotFound if absent.
	DeleteUser(ctx context.Context, username string) error
}

// AuditEvent records one change: who did what to which record, with the
// record before and after (secrets already redacted by the caller).
type AuditEvent struct {
	ID     int64     `json:"id"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	// Target names the record changed, e.g. "asset/fw1.example.com".
	Target     string          `json:"target"`
	Before     json.RawMessage `json:"before,omitempty"`
	After      json.RawMessage `json:"after,omitempty"`
	RemoteAddr string          `json:"remote_addr,omitempty"`
}

// AuditFilter selects audit events. Zero fields do not filter.
type AuditFilter struct {
	Actor  string
	Action string
	Target string
	// Since keeps events at or after it, Until those before it.
	Since, Until time.Time
	// BeforeID is a keyset cursor: only events with a smaller ID.
	BeforeID int64
	// Limit caps the result; 0 means no limit.
	Limit int
}

// Audit keeps the append-only audit trail.
type Audit interface {
	// AppendAudit records e and returns it with ID (and Time, if zero) set.
	AppendAudit(ctx context.Context, e AuditEvent) (AuditEvent, error)
	// ListAudit returns events matching f, newest first.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
}
