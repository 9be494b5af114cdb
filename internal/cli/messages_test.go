package cli_test

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The messages a new user meets first: each says what is wrong, where,
// and what to do.

func TestServeOnAPortInUseNamesTheSettingThatChoseIt(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()

	cfg := workspace(t)
	withListen := filepath.Join(filepath.Dir(cfg), "listen.yaml")
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(withListen, append(data, []byte("api:\n  listen: "+addr+"\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"an address given with --listen", []string{"-c", cfg, "serve", "--listen", addr},
			[]string{addr + " is in use by another process", "choose another address with --listen"}},
		{"an address from the config", []string{"-c", withListen, "serve"},
			[]string{addr + " is in use by another process", "api.listen (" + withListen + ":", "or --listen"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := run(t, "", tt.args...)
			if code == 0 {
				t.Fatal("serve started on a port in use")
			}
			for _, want := range tt.want {
				if !strings.Contains(errOut, want) {
					t.Errorf("error lacks %q:\n%s", want, errOut)
				}
			}
		})
	}
}

// Every command refuses a log level it does not know before it starts
// anything, the long-running ones included.
func TestEveryCommandRefusesAnUnknownLogLevel(t *testing.T) {
	cfg := workspace(t)
	for _, command := range [][]string{{"serve"}, {"worker", "--queue", "dc1"}, {"lab", "--devices", "1"}, {"plan"}} {
		t.Run(command[0], func(t *testing.T) {
			out, errOut, code := run(t, "", append([]string{"-c", cfg, "--log-level", "verbose"}, command...)...)
			if code == 0 || !strings.Contains(errOut, `--log-level: "verbose" is not a log level: use debug, info, warn or error`) {
				t.Errorf("exit %d:\n%s%s", code, out, errOut)
			}
			if out != "" {
				t.Errorf("%s started before the flag was checked:\n%s", command[0], out)
			}
		})
	}
}

func TestABadlyIndentedConfigIsReportedAtItsLine(t *testing.T) {
	cfg := workspace(t)
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The workspace's last route's options, one space too far right:
	// the file's first block starts on line 1.
	lines := strings.Split(string(data), "\n")
	n := len(lines) - 1
	lines[n-1] = " " + lines[n-1]
	if err := os.WriteFile(cfg, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := run(t, "", "-c", cfg, "plan")
	if want := cfg + ":" + strconv.Itoa(n) + ": invalid YAML: mapping values are not allowed in this context: this line is indented 5 spaces and line " + strconv.Itoa(n-1) + " above it 4"; code == 0 || !strings.Contains(errOut, want) {
		t.Errorf("exit %d, want %q:\n%s", code, want, errOut)
	}
}

func TestRouteImportOfBrokenJSONGivesLineAndColumn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "route.json")
	if err := os.WriteFile(path, []byte("{\"platform\": {\n  \"panos\": {\"os\": {}}\n  \"f5\": {\"os\": {}}\n}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := run(t, "", "route", "import", path)
	if want := path + ": route: ottr route.json: line 3, column 3: invalid character"; code == 0 || !strings.Contains(errOut, want) {
		t.Errorf("exit %d, want %q:\n%s", code, want, errOut)
	}
}

func TestDNSDoctorNoWriteSaysTheWriteCheckWasSkipped(t *testing.T) {
	cfg := dnsWorkspace(t, false)
	out, errOut, _ := run(t, "", "-c", cfg, "dns", "doctor", "--no-write")
	if !strings.Contains(out, "the write check was skipped (--no-write)") || strings.Contains(out, "no DNS provider") {
		t.Errorf("doctor --no-write:\n%s%s", out, errOut)
	}
}
