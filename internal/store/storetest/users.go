package storetest

import (
	"bytes"
	"context"
	"testing"

	"github.com/ottr-go/ottr/internal/store"
)

// assertUser fails t unless got holds want's username, hash and role.
func assertUser(t *testing.T, got, want store.User) {
	t.Helper()
	if got.Username != want.Username || !bytes.Equal(got.PasswordHash, want.PasswordHash) || got.Role != want.Role {
		t.Errorf("got user %q with role %s and hash %q, want %q with role %s and hash %q",
			got.Username, got.Role, got.PasswordHash, want.Username, want.Role, want.PasswordHash)
	}
}

func runUserTests(t *testing.T, newStore newStoreFunc) {
	ctx := context.Background()
	alice := store.User{Username: "alice", PasswordHash: []byte("$2a$10$alicealicealice"), Role: store.RoleAdmin}

	t.Run("round-trips a user and stamps its creation", func(t *testing.T) {
		s := newStore(t)
		must(t, s.CreateUser(ctx, alice))
		got, err := s.GetUser(ctx, "alice")
		must(t, err)
		assertUser(t, got, alice)
		if got.CreatedAt.IsZero() || !got.UpdatedAt.Equal(got.CreatedAt) {
			t.Errorf("got created_at %v, updated_at %v; want both set and equal", got.CreatedAt, got.UpdatedAt)
		}
		assertUTC(t, "user", &got.CreatedAt, &got.UpdatedAt)
	})

	t.Run("keeps a password hash byte for byte", func(t *testing.T) {
		s := newStore(t)
		u := store.User{Username: "bob", PasswordHash: []byte{0, 1, 2, 0xff, 0, '$'}, Role: store.RoleDeveloper}
		must(t, s.CreateUser(ctx, u))
		got, err := s.GetUser(ctx, "bob")
		must(t, err)
		assertUser(t, got, u)
	})

	t.Run("accepts each of the three roles", func(t *testing.T) {
		s := newStore(t)
		for _, role := range []string{store.RoleAdmin, store.RolePrivileged, store.RoleDeveloper} {
			must(t, s.CreateUser(ctx, store.User{Username: "user-" + role, PasswordHash: []byte("h"), Role: role}))
			got, err := s.GetUser(ctx, "user-"+role)
			must(t, err)
			if got.Role != role {
				t.Errorf("got role %q, want %q", got.Role, role)
			}
		}
	})

	t.Run("refuses a user with an unknown role or no username", func(t *testing.T) {
		s := newStore(t)
		for _, u := range []store.User{
			{Username: "mallory", PasswordHash: []byte("h"), Role: "ROOT"},
			{Username: "mallory", PasswordHash: []byte("h"), Role: "admin"},
			{Username: "mallory", PasswordHash: []byte("h")},
			{PasswordHash: []byte("h"), Role: store.RoleAdmin},
		} {
			if err := s.CreateUser(ctx, u); err == nil {
				t.Errorf("created user %q with role %q", u.Username, u.Role)
			}
		}
		must(t, s.CreateUser(ctx, alice))
		if err := s.UpdateUser(ctx, store.User{Username: "alice", PasswordHash: []byte("h"), Role: "ROOT"}); err == nil {
			t.Error("updated alice to role ROOT")
		}
		users, err := s.ListUsers(ctx)
		must(t, err)
		if len(users) != 1 {
			t.Fatalf("got %d users, want only alice", len(users))
		}
		assertUser(t, users[0], alice)
	})

	t.Run("refuses to create a user whose username is taken", func(t *testing.T) {
		s := newStore(t)
		must(t, s.CreateUser(ctx, alice))
		err := s.CreateUser(ctx, store.User{Username: "alice", PasswordHash: []byte("other"), Role: store.RoleDeveloper})
		assertIs(t, err, store.ErrExists)
		got, err := s.GetUser(ctx, "alice")
		must(t, err)
		assertUser(t, got, alice)
	})

	t.Run("reports a missing user as not found", func(t *testing.T) {
		s := newStore(t)
		must(t, s.CreateUser(ctx, alice))
		_, err := s.GetUser(ctx, "absent")
		assertIs(t, err, store.ErrNotFound)
		assertIs(t, s.UpdateUser(ctx, store.User{Username: "absent", PasswordHash: []byte("h"), Role: store.RoleAdmin}), store.ErrNotFound)
		assertIs(t, s.DeleteUser(ctx, "absent"), store.ErrNotFound)
		if _, err := s.GetUser(ctx, "absent"); err == nil {
			t.Error("updating a missing user created it")
		}
	})

	t.Run("lists users by username", func(t *testing.T) {
		s := newStore(t)
		users, err := s.ListUsers(ctx)
		must(t, err)
		if len(users) != 0 {
			t.Errorf("a new store lists %d users", len(users))
		}
		for _, name := range []string{"carol", "alice", "dave", "bob"} {
			must(t, s.CreateUser(ctx, store.User{Username: name, PasswordHash: []byte("h-" + name), Role: store.RoleDeveloper}))
		}
		users, err = s.ListUsers(ctx)
		must(t, err)
		var names []string
		for _, u := range users {
			names = append(names, u.Username)
			if string(u.PasswordHash) != "h-"+u.Username {
				t.Errorf("user %q listed with hash %q", u.Username, u.PasswordHash)
			}
		}
		if mustJSON(t, names) != mustJSON(t, []string{"alice", "bob", "carol", "dave"}) {
			t.Errorf("got users %q, want alice, bob, carol, dave", names)
		}
	})

	t.Run("changes the role and password on update, keeping the creation time", func(t *testing.T) {
		s := newStore(t)
		must(t, s.CreateUser(ctx, alice))
		created, err := s.GetUser(ctx, "alice")
		must(t, err)
		want := store.User{Username: "alice", PasswordHash: []byte("$2a$10$newnewnew"), Role: store.RoleDeveloper}
		must(t, s.UpdateUser(ctx, want))
		got, err := s.GetUser(ctx, "alice")
		must(t, err)
		assertUser(t, got, want)
		if !got.CreatedAt.Equal(created.CreatedAt) {
			t.Errorf("update moved created_at from %v to %v", created.CreatedAt, got.CreatedAt)
		}
		if got.UpdatedAt.Before(got.CreatedAt) {
			t.Errorf("updated_at %v before created_at %v", got.UpdatedAt, got.CreatedAt)
		}
	})

	t.Run("deletes a user", func(t *testing.T) {
		s := newStore(t)
		must(t, s.CreateUser(ctx, alice))
		must(t, s.CreateUser(ctx, store.User{Username: "bob", PasswordHash: []byte("h"), Role: store.RoleDeveloper}))
		must(t, s.DeleteUser(ctx, "alice"))
		_, err := s.GetUser(ctx, "alice")
		assertIs(t, err, store.ErrNotFound)
		if _, err := s.GetUser(ctx, "bob"); err != nil {
			t.Errorf("deleting alice removed bob too: %v", err)
		}
		assertIs(t, s.DeleteUser(ctx, "alice"), store.ErrNotFound)
		must(t, s.CreateUser(ctx, alice))
	})
}
