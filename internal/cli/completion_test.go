package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// complete asks for the completions of the command line args, as the
// shells' scripts do (`ottr __complete ARGS... WORD`), and returns them
// without the directive line.
func complete(t *testing.T, args ...string) []string {
	t.Helper()
	out := mustRun(t, append([]string{"__complete"}, args...)...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], ":") {
		t.Fatalf("__complete %s printed no directive:\n%s", strings.Join(args, " "), out)
	}
	return lines[:len(lines)-1]
}

func TestCompletionOffersNamesAndValues(t *testing.T) {
	cfg := workspace(t)
	addAsset(t, cfg, "web.example.com")
	addAsset(t, cfg, "web2.example.com")
	addAsset(t, cfg, "db.example.com")
	if _, errOut, code := run(t, "Str0ng!pass\n", "-c", cfg, "user", "create", "admin", "--role", "ADMIN"); code != 0 {
		t.Fatalf("user create: exit %d\n%s", code, errOut)
	}
	if _, _, code := run(t, "", "-c", cfg, "rotate", "db.example.com", "--force"); code != 1 {
		t.Fatalf("the rotation against a CA that is not there: exit %d, want 1", code)
	}
	channels := notifyWorkspace(t, "notifications:\n  channels:\n    pki-hook:\n      kind: webhook\n      url: https://hooks.example.com/ottr\n      secret: env:OTTR_TEST_UNSET_WEBHOOK_SECRET\n")

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"asset names", []string{"-c", cfg, "asset", "get", ""}, []string{"db.example.com", "web.example.com", "web2.example.com"}},
		{"asset names starting with what is typed", []string{"-c", cfg, "rotate", "We"}, []string{"web.example.com", "web2.example.com"}},
		{"nothing after the one asset a command takes", []string{"-c", cfg, "asset", "delete", "web.example.com", ""}, nil},
		{"the assets not given yet", []string{"-c", cfg, "dns", "plan", "web.example.com", "db.example.com", ""}, []string{"web2.example.com"}},
		{"the assets of route test", []string{"-c", cfg, "route", "test", "d"}, []string{"db.example.com"}},
		{"the assets of rotation list --asset", []string{"-c", cfg, "rotation", "list", "--asset", "db"}, []string{"db.example.com"}},
		{"route names", []string{"-c", cfg, "route", "show", ""}, []string{"panos-9\tdriver linux", "linux\tdriver linux"}},
		{"rotation IDs", []string{"-c", cfg, "rotation", "show", ""}, []string{"1\tdb.example.com failed"}},
		{"user names", []string{"-c", cfg, "user", "set-password", ""}, []string{"admin\tADMIN"}},
		{"roles", []string{"-c", cfg, "user", "set-role", "admin", "--role", ""}, []string{"ADMIN", "PRIVILEGED", "DEVELOPER"}},
		{"channel names", []string{"-c", channels, "notify", "test", ""}, []string{"pki-hook\twebhook"}},
		{"--output values", []string{"-c", cfg, "plan", "-o", ""}, []string{"table", "json", "yaml"}},
		{"lab platforms", []string{"lab", "--platforms", ""}, []string{"linux", "panos", "bigip", "lighthouse", "junos", "script", "ssm"}},
		{"the asset of device check", []string{"-c", cfg, "device", "check", "web"}, []string{"web.example.com", "web2.example.com"}},
		{"rotation states", []string{"-c", cfg, "rotation", "list", "--state", ""}, []string{"pending", "running", "succeeded", "failed", "rolled_back"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := complete(t, tt.args...); strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("completions %q, want %q", got, tt.want)
			}
		})
	}
}

// A TAB where ottr has no database yet offers nothing, and makes none.
func TestCompletionWithoutADatabaseCreatesNone(t *testing.T) {
	cfg := workspace(t)
	if got := complete(t, "-c", cfg, "asset", "get", ""); len(got) != 0 {
		t.Errorf("completions %q without a database", got)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "data")); !os.IsNotExist(err) {
		t.Errorf("the completion made the data directory (%v)", err)
	}
}
