package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExitStatusesTellFailuresApart runs real commands and checks the
// status a script branches on: 0 done, 1 the work failed, 2 the command
// line or the configuration is wrong, 3 the named thing does not exist.
func TestExitStatusesTellFailuresApart(t *testing.T) {
	cfg := workspace(t)
	dir := filepath.Dir(cfg)
	addAsset(t, cfg, "web.example.com")
	mustRun(t, "-c", cfg, "asset", "add", "--system-name", "pa.example.com", "--common-name", "pa.example.com",
		"--ip", "192.0.2.3", "--platform", "panos", "--os-version", "8.0", "--ca", "lets_encrypt")
	if _, errOut, code := run(t, "Str0ng!pass\n", "-c", cfg, "user", "create", "admin", "--role", "ADMIN"); code != 0 {
		t.Fatalf("user create: exit %d\n%s", code, errOut)
	}
	writeFile := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	typo := writeFile("typo.yaml", "workers:\n  concurency: 5\n")
	noDriver := writeFile("no-driver.yaml", "routes:\n  - driver: nosuch\n")

	tests := []struct {
		name string
		args []string
		want int
		// say is what standard error must hold.
		say string
	}{
		{"a command that works", []string{"-c", cfg, "asset", "list"}, 0, ""},
		{"the version", []string{"version"}, 0, ""},
		{"a failed rotation", []string{"-c", cfg, "rotate", "web.example.com", "--force"}, 1, "rotation 1 failed"},
		{"a route test no route passes", []string{"-c", cfg, "route", "test", "pa.example.com"}, 1, "no route takes pa.example.com"},
		{"an unknown command", []string{"rotat", "web.example.com"}, 2, `unknown command "rotat" for "ottr"`},
		{"an unknown subcommand", []string{"-c", cfg, "asset", "lst"}, 2, `unknown command "lst" for "ottr asset"`},
		{"an unknown flag", []string{"-c", cfg, "asset", "list", "--platfrom", "linux"}, 2, "unknown flag: --platfrom"},
		{"a missing argument", []string{"-c", cfg, "asset", "get"}, 2, "accepts 1 arg(s), received 0; usage: ottr asset get NAME"},
		{"too many arguments", []string{"-c", cfg, "rotate", "a.example.com", "b.example.com"}, 2, "accepts 1 arg(s), received 2"},
		{"a flag value that does not parse", []string{"-c", cfg, "rotation", "list", "--limit", "ten"}, 2, `invalid argument "ten" for "--limit"`},
		{"a flag value ottr does not know", []string{"-c", cfg, "rotation", "list", "--state", "broken"}, 2, `--state "broken": want one of pending, running, succeeded, failed, rolled_back`},
		{"an unknown output format", []string{"-c", cfg, "plan", "-o", "xml"}, 2, `invalid argument "xml" for "-o, --output" flag: want table, json or yaml`},
		{"an unknown log level", []string{"-c", cfg, "--log-level", "loud", "plan"}, 2, "--log-level"},
		{"a lab platform ottr does not know", []string{"lab", "--platforms", "netscaler"}, 2, `--platforms: lab: unknown platform "netscaler"`},
		{"a lab of no devices", []string{"lab", "--devices", "0"}, 2, "--devices 0: want at least 1"},
		{"a missing role", []string{"-c", cfg, "user", "set-role", "admin"}, 2, "--role is required"},
		{"a rotation ID that is not a number", []string{"-c", cfg, "rotation", "show", "last"}, 2, `rotation "last": want its number`},
		{"an asset with an invalid field", []string{"-c", cfg, "asset", "update", "web.example.com", "--ip", "300.1.1.1"}, 2, "ip_address"},
		{"no configuration file", []string{"-c", filepath.Join(dir, "none.yaml"), "plan"}, 2, "no configuration at"},
		{"a typo in the configuration", []string{"-c", typo, "plan"}, 2, "concurrency"},
		{"a route with a driver ottr does not have", []string{"-c", noDriver, "plan"}, 2, `driver "nosuch"`},
		{"an asset that does not exist", []string{"-c", cfg, "asset", "get", "nope.example.com"}, 3, "no asset named nope.example.com"},
		{"rotating an asset that does not exist", []string{"-c", cfg, "rotate", "nope.example.com"}, 3, "no asset named nope.example.com"},
		{"a rotation that does not exist", []string{"-c", cfg, "rotation", "show", "999"}, 3, "no rotation 999"},
		{"the rotations of an asset that does not exist", []string{"-c", cfg, "rotation", "list", "--asset", "nope.example.com"}, 3, "no asset named nope.example.com"},
		{"checking a device that does not exist", []string{"-c", cfg, "device", "check", "nope.example.com"}, 3, "no asset named nope.example.com"},
		{"a user that does not exist", []string{"-c", cfg, "user", "delete", "nobody"}, 3, "no user named nobody"},
		{"a route that does not exist", []string{"-c", cfg, "route", "show", "junos"}, 3, `no route named "junos" (the routes: panos-9, linux)`},
		{"a channel that does not exist", []string{"-c", cfg, "notify", "test", "pager"}, 3, `no channel named "pager"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := run(t, "", tt.args...)
			if code != tt.want {
				t.Errorf("ottr %s: exit %d, want %d\n%s%s", strings.Join(tt.args, " "), code, tt.want, out, errOut)
			}
			if !strings.Contains(errOut, tt.say) {
				t.Errorf("ottr %s: standard error does not say %q:\n%s", strings.Join(tt.args, " "), tt.say, errOut)
			}
		})
	}
}

func TestHelpListsTheExitStatuses(t *testing.T) {
	out := mustRun(t, "--help")
	for _, want := range []string{
		"Exit status:",
		"0  success",
		"1  the work failed",
		"2  usage or configuration error",
		"3  not found",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ottr --help does not say %q:\n%s", want, out)
		}
	}
}

// A mistyped command or flag is answered with the nearest ones there are,
// and the command's help is named.
func TestMistakesGetSuggestions(t *testing.T) {
	cfg := workspace(t)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"a mistyped command", []string{"plna"}, []string{`unknown command "plna" for "ottr"; did you mean plan?`, "Run 'ottr --help' for usage."}},
		{"a mistyped subcommand", []string{"-c", cfg, "rotation", "shwo", "1"}, []string{"did you mean show?", "Run 'ottr rotation --help' for usage."}},
		{"a mistyped flag", []string{"-c", cfg, "plan", "--outptu", "json"}, []string{"unknown flag: --outptu; did you mean --output?", "Run 'ottr plan --help' for usage."}},
		{"a mistyped flag with several near it", []string{"-c", cfg, "asset", "list", "--ipp", "192.0.2.1"}, []string{"did you mean --ip?"}},
		{"a mistyped global flag", []string{"--confg", cfg, "plan"}, []string{"did you mean --config?"}},
		{"-o where a file is written", []string{"-c", cfg, "asset", "export", "-o", "assets.json"}, []string{"this command writes a file, named with -f/--file"}},
		{"--output where a file is written", []string{"route", "import", "route.json", "--output", "routes.yaml"}, []string{"unknown flag: --output", "-f/--file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := run(t, "", tt.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("standard error does not say %q:\n%s", w, errOut)
				}
			}
		})
	}
}
