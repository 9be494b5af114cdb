package ui

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/ottr-go/ottr/internal/store"
)

// lastAudit is the newest audit event of action on target; it fails t
// when there is none.
func (e *env) lastAudit(t *testing.T, action, target string) store.AuditEvent {
	t.Helper()
	events, err := e.app.Store.ListAudit(context.Background(), store.AuditFilter{Action: action, Target: target, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) == 0 {
		t.Fatalf("no %s of %s in the audit trail", action, target)
	}
	return events[0]
}

// postForm posts values with the CSRF token of the page at from.
func (b *browser) postForm(from, to string, values url.Values) page {
	b.e.t.Helper()
	values.Set("csrf", b.get(from).csrf(b.e.t))
	return b.post(to, values)
}

func TestAnAdminCreatesAUserWhoCanLogIn(t *testing.T) {
	e := newEnv(t)
	b := e.loggedIn("admin")
	p := b.postForm("/ui/users", "/ui/users", url.Values{"op": {"create"}, "username": {"dana"}, "password": {"Dana.pass1"}, "role": {"PRIVILEGED"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("status %d, want 303:\n%s", p.status, p.body)
	}
	shown := b.get(p.header.Get("Location"))
	if !strings.Contains(shown.body, "Created dana.") || !strings.Contains(shown.body, `<td data-label="User">dana</td>`) {
		t.Errorf("the users screen does not show dana created:\n%s", shown.body)
	}
	u, err := e.app.Store.GetUser(context.Background(), "dana")
	if err != nil || u.Role != store.RolePrivileged || bcrypt.CompareHashAndPassword(u.PasswordHash, []byte("Dana.pass1")) != nil {
		t.Fatalf("dana stored as %+v, %v; want PRIVILEGED with the password", u.Role, err)
	}
	ev := e.lastAudit(t, "user.create", "user/dana")
	if ev.Actor != "admin" || string(ev.After) != `{"role":"PRIVILEGED","username":"dana"}` || strings.Contains(string(ev.After), "pass") {
		t.Errorf("audited as %s with %s", ev.Actor, ev.After)
	}
	dana := e.browser()
	form := dana.get("/ui/login")
	if p := dana.post("/ui/login", url.Values{"csrf": {form.csrf(t)}, "username": {"dana"}, "password": {"Dana.pass1"}}); p.status != http.StatusSeeOther {
		t.Errorf("dana cannot log in: status %d", p.status)
	}
}

func TestTheUserFormsRefuseWhatTheAPIRefusesBesideTheFieldAndSaveNothing(t *testing.T) {
	e := newEnv(t)
	b := e.loggedIn("admin")
	tests := []struct {
		name   string
		values url.Values
		field  string
		msg    string
	}{
		{"a username with a space", url.Values{"op": {"create"}, "username": {"da na"}, "password": {"Dana.pass1"}, "role": {"DEVELOPER"}},
			"username", "username must be 1 to 64 letters"},
		{"a password without a digit", url.Values{"op": {"create"}, "username": {"dana"}, "password": {"Dana.pass"}, "role": {"DEVELOPER"}},
			"password", "password must have a digit [0-9]"},
		{"a role ottr does not have", url.Values{"op": {"create"}, "username": {"dana"}, "password": {"Dana.pass1"}, "role": {"ROOT"}},
			"role", "role must be one of ADMIN, PRIVILEGED, DEVELOPER"},
		{"a username taken", url.Values{"op": {"create"}, "username": {"developer"}, "password": {"Dana.pass1"}, "role": {"ADMIN"}},
			"username", "a user named developer exists already"},
		{"a new password that is too short", url.Values{"op": {"password"}, "username": {"developer"}, "password": {"Ab1."}},
			"password", "password must have at least 8 characters"},
		{"a role ottr does not have, on a user", url.Values{"op": {"role"}, "username": {"developer"}, "role": {"root"}},
			"role", "role must be one of"},
		{"demoting the last ADMIN", url.Values{"op": {"role"}, "username": {"admin"}, "role": {"DEVELOPER"}},
			"role", "admin is the last ADMIN: create another admin before you make it DEVELOPER"},
	}
	before, err := e.app.Store.ListUsers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := b.postForm("/ui/users", "/ui/users", tt.values)
			if p.status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422:\n%s", p.status, p.body)
			}
			if !strings.Contains(p.body, fieldError(tt.field, tt.msg)) {
				t.Errorf("no %q beside %s:\n%s", tt.msg, tt.field, p.body)
			}
			if pw := tt.values.Get("password"); pw != "" && strings.Contains(p.body, pw) {
				t.Errorf("the page shows the password back")
			}
		})
	}
	after, err := e.app.Store.ListUsers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("%d users after, %d before", len(after), len(before))
	}
	for i := range after {
		if after[i].Role != before[i].Role || string(after[i].PasswordHash) != string(before[i].PasswordHash) {
			t.Errorf("%s was changed", after[i].Username)
		}
	}
}

func TestAnAdminChangesARoleResetsAPasswordAndDeletesAUserAfterConfirming(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	admin := e.loggedIn("admin")
	dev := e.loggedIn("developer")

	if p := admin.postForm("/ui/users?user=developer", "/ui/users", url.Values{"op": {"role"}, "username": {"developer"}, "role": {"PRIVILEGED"}}); p.status != http.StatusSeeOther {
		t.Fatalf("role: status %d:\n%s", p.status, p.body)
	}
	if u, _ := e.app.Store.GetUser(ctx, "developer"); u.Role != store.RolePrivileged {
		t.Errorf("the role is %s, want PRIVILEGED", u.Role)
	}
	ev := e.lastAudit(t, "user.role", "user/developer")
	if string(ev.Before) != `{"role":"DEVELOPER","username":"developer"}` || string(ev.After) != `{"role":"PRIVILEGED","username":"developer"}` {
		t.Errorf("the role change is audited as %s -> %s", ev.Before, ev.After)
	}

	if p := admin.postForm("/ui/users?user=developer", "/ui/users", url.Values{"op": {"password"}, "username": {"developer"}, "password": {"New.pass22"}}); p.status != http.StatusSeeOther {
		t.Fatalf("password: status %d:\n%s", p.status, p.body)
	}
	if u, _ := e.app.Store.GetUser(ctx, "developer"); bcrypt.CompareHashAndPassword(u.PasswordHash, []byte("New.pass22")) != nil {
		t.Error("the new password does not check")
	}
	var after map[string]string
	if err := json.Unmarshal(e.lastAudit(t, "user.password", "user/developer").After, &after); err != nil || after["password"] != "changed" {
		t.Errorf("the password change is audited as %v (%v)", after, err)
	}
	if p := dev.get("/ui/"); p.status != http.StatusSeeOther {
		t.Errorf("the user's session outlived the password reset: status %d", p.status)
	}

	confirm := admin.get("/ui/users?user=developer&confirm=delete")
	if !strings.Contains(confirm.body, "Delete <strong>developer</strong> (PRIVILEGED)?") {
		t.Fatalf("no confirmation:\n%s", confirm.body)
	}
	if _, err := e.app.Store.GetUser(ctx, "developer"); err != nil {
		t.Fatalf("asking to confirm deleted the user: %v", err)
	}
	p := admin.post("/ui/users", url.Values{"csrf": {confirm.csrf(t)}, "op": {"delete"}, "username": {"developer"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("delete: status %d:\n%s", p.status, p.body)
	}
	if _, err := e.app.Store.GetUser(ctx, "developer"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the user is still there: %v", err)
	}
	if ev := e.lastAudit(t, "user.delete", "user/developer"); ev.Actor != "admin" || ev.After != nil {
		t.Errorf("the deletion is audited as %+v", ev)
	}
}

func TestTheLastAdminCannotBeDeleted(t *testing.T) {
	e := newEnv(t)
	b := e.loggedIn("admin")
	p := b.postForm("/ui/users?user=admin&confirm=delete", "/ui/users", url.Values{"op": {"delete"}, "username": {"admin"}})
	if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, "admin is the last ADMIN: create another admin before you delete this one") {
		t.Errorf("status %d:\n%s", p.status, p.body)
	}
	if _, err := e.app.Store.GetUser(context.Background(), "admin"); err != nil {
		t.Errorf("the last admin was deleted: %v", err)
	}
}

func TestOnlyAnAdminSeesOrChangesUsers(t *testing.T) {
	e := newEnv(t)
	for _, role := range []string{"privileged", "developer"} {
		b := e.loggedIn(role)
		token := b.get("/ui/").csrf(t)
		if p := b.get("/ui/users?user=admin"); p.status != http.StatusForbidden {
			t.Errorf("as %s: the users screen answers %d, want 403", role, p.status)
		}
		p := b.post("/ui/users", url.Values{"csrf": {token}, "op": {"role"}, "username": {role}, "role": {"ADMIN"}})
		if p.status != http.StatusForbidden {
			t.Errorf("as %s: a forged role change answers %d, want 403", role, p.status)
		}
		if u, _ := e.app.Store.GetUser(context.Background(), role); u.Role == store.RoleAdmin {
			t.Errorf("as %s: the forged change made it ADMIN", role)
		}
	}
	admin := e.loggedIn("admin")
	if p := admin.post("/ui/users", url.Values{"op": {"delete"}, "username": {"developer"}}); p.status != http.StatusForbidden {
		t.Errorf("a deletion without the CSRF token answers %d, want 403", p.status)
	}
	if _, err := e.app.Store.GetUser(context.Background(), "developer"); err != nil {
		t.Errorf("the deletion without the token went through: %v", err)
	}
	if p := e.browser().post("/ui/users", url.Values{"op": {"delete"}, "username": {"developer"}}); p.status != http.StatusUnauthorized {
		t.Errorf("a visitor's post answers %d, want 401", p.status)
	}
}

func TestPasswordFieldsTellPasswordManagersWhetherAPasswordIsTypedOrChosen(t *testing.T) {
	e := newEnv(t)
	admin := e.loggedIn("admin")
	tests := []struct {
		name, path   string
		b            *browser
		autocomplete string
	}{
		{"the login form asks for the user's own password", "/ui/login", e.browser(), "current-password"},
		{"creating a user chooses a new password", "/ui/users", admin, "new-password"},
		{"setting a user's password chooses a new one", "/ui/users?user=developer", admin, "new-password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.b.get(tt.path)
			if p.status != http.StatusOK {
				t.Fatalf("%s: status %d", tt.path, p.status)
			}
			var passwords int
			for _, in := range elements(parsedPage(t, tt.path, p.body), "input") {
				if typ, _ := attr(in, "type"); typ != "password" {
					continue
				}
				passwords++
				if got, _ := attr(in, "autocomplete"); got != tt.autocomplete {
					t.Errorf("%s: %s has autocomplete=%q, want %q", tt.path, describe(in), got, tt.autocomplete)
				}
			}
			if passwords != 1 {
				t.Errorf("%s has %d password fields, want 1", tt.path, passwords)
			}
		})
	}
}
