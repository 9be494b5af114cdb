package cli_test

import (
	"context"
	"encoding/json"
	"os/user"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/ottr-go/ottr/internal/api"
	"github.com/ottr-go/ottr/internal/store"
)

func TestUserCreateStatesThePasswordRule(t *testing.T) {
	symbols := strings.Join(strings.Split(api.PasswordSymbols, ""), " ")
	rule := []string{"at least 8 characters", "a lower-case letter", "an upper-case letter", "a digit", "one of the symbols " + symbols, "at most 72 bytes"}
	help := mustRun(t, "user", "create", "--help")
	for _, want := range rule {
		if !strings.Contains(help, want) {
			t.Errorf("user create --help does not state %q:\n%s", want, help)
		}
	}
	cfg := workspace(t)
	_, errOut, code := run(t, "password1\n", "-c", cfg, "user", "create", "bob", "--role", "DEVELOPER")
	if code != 2 {
		t.Errorf("a password without an upper-case letter or a symbol: exit %d, want 2", code)
	}
	for _, want := range append([]string{"an upper-case letter [A-Z]", "one of the symbols"}, rule...) {
		if !strings.Contains(errOut, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "password1") {
		t.Errorf("the refusal quotes the password:\n%s", errOut)
	}
}

// The user commands change users as the API does, and the audit trail
// records each change as it records the API's: by whom, what, on which
// user, before and after, never a password.
func TestUserCommandsAreAudited(t *testing.T) {
	cfg := workspace(t)
	const first, second = "Str0ng!pass", "An0ther#pass"
	if _, errOut, code := run(t, first+"\n", "-c", cfg, "user", "create", "admin", "--role", "ADMIN"); code != 0 {
		t.Fatalf("user create admin: exit %d\n%s", code, errOut)
	}
	if _, errOut, code := run(t, first+"\n", "-c", cfg, "user", "create", "alice", "--role", "developer"); code != 0 {
		t.Fatalf("user create alice: exit %d\n%s", code, errOut)
	}

	// The last ADMIN stays one.
	for _, args := range [][]string{{"user", "delete", "admin"}, {"user", "set-role", "admin", "--role", "PRIVILEGED"}} {
		_, errOut, code := run(t, "", append([]string{"-c", cfg}, args...)...)
		if code != 1 || !strings.Contains(errOut, "admin is the last ADMIN: create another admin before you") {
			t.Errorf("ottr %s: exit %d, %q", strings.Join(args, " "), code, errOut)
		}
	}

	if out, errOut, code := run(t, second+"\n", "-c", cfg, "user", "set-password", "alice"); code != 0 || !strings.Contains(out, "set the password of alice") {
		t.Fatalf("user set-password: exit %d\n%s%s", code, out, errOut)
	}
	if out := mustRun(t, "-c", cfg, "user", "set-role", "alice", "--role", "privileged"); !strings.Contains(out, "alice is PRIVILEGED now (was DEVELOPER)") {
		t.Errorf("user set-role said %q", out)
	}
	ap := openApp(t, cfg)
	alice, err := ap.Store.GetUser(context.Background(), "alice")
	ap.Close()
	if err != nil {
		t.Fatal(err)
	}
	if alice.Role != store.RolePrivileged || bcrypt.CompareHashAndPassword(alice.PasswordHash, []byte(second)) != nil {
		t.Errorf("alice is %s and her new password does not open her hash", alice.Role)
	}
	if out := mustRun(t, "-c", cfg, "user", "delete", "alice"); !strings.Contains(out, "deleted alice (PRIVILEGED)") {
		t.Errorf("user delete said %q", out)
	}
	if _, _, code := run(t, "", "-c", cfg, "user", "set-role", "alice", "--role", "ADMIN"); code != 3 {
		t.Errorf("set-role of a deleted user: exit %d, want 3", code)
	}
	list := mustRun(t, "-c", cfg, "user", "list")
	if strings.Contains(list, "alice") || !strings.Contains(list, "admin") {
		t.Errorf("user list after deleting alice:\n%s", list)
	}

	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	ap = openApp(t, cfg)
	events, err := ap.Store.ListAudit(context.Background(), store.AuditFilter{})
	ap.Close()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(events) - 1; i >= 0; i-- { // oldest first
		e := events[i]
		got = append(got, e.Actor+" "+e.Action+" "+e.Target+" "+string(compact(t, e.Before))+" "+string(compact(t, e.After)))
	}
	actor := "cli:" + me.Username
	want := []string{
		actor + ` user.create user/admin  {"role":"ADMIN","username":"admin"}`,
		actor + ` user.create user/alice  {"role":"DEVELOPER","username":"alice"}`,
		actor + ` user.password user/alice {"role":"DEVELOPER","username":"alice"} {"password":"changed","role":"DEVELOPER","username":"alice"}`,
		actor + ` user.role user/alice {"role":"DEVELOPER","username":"alice"} {"role":"PRIVILEGED","username":"alice"}`,
		actor + ` user.delete user/alice {"role":"PRIVILEGED","username":"alice"} `,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit trail:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// compact returns the JSON of an audit event's record with its keys in
// order, or nothing for none.
func compact(t *testing.T, raw json.RawMessage) []byte {
	t.Helper()
	if len(raw) == 0 {
		return nil
	}
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
