package cli_test

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/testenv/output"
)

// servingProcess is an `ottr serve` or `ottr worker` in a process of its
// own.
type servingProcess struct {
	pid         int
	out, errOut *output.Buffer
	// base is the API's URL, for serve.
	base string
}

// startServe runs `ottr serve` on cfg in a child process until the test
// ends, and returns once it answers.
func startServe(t *testing.T, cfg string) *servingProcess {
	t.Helper()
	p := startChild(t, regexp.MustCompile(`ottr serving the API on (http://127\.0\.0\.1:\d+)`),
		"-c", cfg, "--log-level", "info", "serve", "--listen", "127.0.0.1:0")
	p.base = regexp.MustCompile(`http://127\.0\.0\.1:\d+`).FindString(p.out.String())
	return p
}

// startChild runs the ottr command line with args in a child process
// until the test ends, and returns once its output matches ready.
func startChild(t *testing.T, ready *regexp.Regexp, args ...string) *servingProcess {
	t.Helper()
	cmd := childCommand(t, testBinary(t), args...)
	p := &servingProcess{out: &output.Buffer{}, errOut: &output.Buffer{}}
	cmd.Stdout, cmd.Stderr = p.out, p.errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.pid = cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("ottr %s exited with %v:\n%s", strings.Join(args, " "), err, p.errOut.String())
			}
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			<-exited
			t.Error("the process did not stop on SIGTERM")
		}
	})
	p.waitFor(t, exited, func() bool { return ready.MatchString(p.out.String()) }, "start")
	return p
}

// waitFor polls until done, failing the test when the process exits or a
// generous deadline passes.
func (p *servingProcess) waitFor(t *testing.T, exited <-chan error, done func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !done(); time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-exited:
			t.Fatalf("the process exited (%v) waiting for %s:\n%s\n%s", err, what, p.out.String(), p.errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s:\n%s\n%s", what, p.out.String(), p.errOut.String())
		}
	}
}

// reload sends SIGHUP and waits until the process has said, on its
// standard output or error, a new line holding want.
func (p *servingProcess) reload(t *testing.T, want string) {
	t.Helper()
	seen := strings.Count(p.out.String()+p.errOut.String(), want)
	if err := syscall.Kill(p.pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, nil, func() bool { return strings.Count(p.out.String()+p.errOut.String(), want) > seen }, "line saying "+want)
}

// routeNames returns the names of the routes the API serves.
func (p *servingProcess) routeNames(t *testing.T, token string) []string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, p.base+"/api/v1/routes", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var routes []struct{ Name string }
	if err := json.NewDecoder(resp.Body).Decode(&routes); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/routes: %d %v", resp.StatusCode, err)
	}
	names := make([]string, len(routes))
	for i, r := range routes {
		names[i] = r.Name
	}
	return names
}

func (p *servingProcess) token(t *testing.T, user, password string) string {
	t.Helper()
	resp, err := http.Post(p.base+"/user/v1/authenticate", "application/json",
		strings.NewReader(`{"username":"`+user+`","password":"`+password+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.Token == "" {
		t.Fatalf("authenticate: %d %v", resp.StatusCode, err)
	}
	return tok.Token
}

// SIGHUP has a running serve take the file as it is now on disk: a new
// route shows in the API at once, a broken file is refused with its
// errors and leaves the routes as they were, and a setting a running
// process cannot change is named.
func TestServeReloadsItsConfigurationOnSIGHUP(t *testing.T) {
	cfg := workspace(t)
	if _, errOut, code := run(t, "Str0ng!pass\n", "-c", cfg, "user", "create", "admin", "--role", "ADMIN"); code != 0 {
		t.Fatal(errOut)
	}
	original, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p := startServe(t, cfg)
	token := p.token(t, "admin", "Str0ng!pass")
	if got, want := p.routeNames(t, token), []string{"panos-9", "linux"}; !slices.Equal(got, want) {
		t.Fatalf("routes before the reload %v, want %v", got, want)
	}

	withHAProxy := string(original) + `  - name: haproxy
    match: {platform: haproxy}
    driver: linux
    options: {cert_path: /etc/haproxy/c.pem, key_path: /etc/haproxy/k.pem, reload_command: "systemctl reload haproxy"}
`
	write(withHAProxy + "workers: {concurrency: 7}\n")
	p.reload(t, "ottr reloaded "+cfg)
	if got, want := p.routeNames(t, token), []string{"panos-9", "linux", "haproxy"}; !slices.Equal(got, want) {
		t.Errorf("routes after the reload %v, want %v", got, want)
	}
	if line, _ := p.out.LineWith("ottr reloaded"); !strings.Contains(line, "routes (3)") {
		t.Errorf("the reload line does not say the routes changed: %q", line)
	}
	if line, _ := p.errOut.LineWith("keeps until it restarts"); !strings.Contains(line, "workers") {
		t.Errorf("no warning names workers, which a reload does not change:\n%s", p.errOut.String())
	}

	tests := []struct {
		name, file string
		// want is what the refusal logged must say.
		want []string
	}{
		{"a file with a YAML mistake", strings.Replace(withHAProxy, "  - name: haproxy", "   - name: haproxy", 1),
			[]string{"invalid YAML", cfg + ":"}},
		{"a route to a driver this build does not have", strings.Replace(withHAProxy, "driver: linux\n    options: {cert_path: /etc/haproxy", "driver: haproxy\n    options: {cert_path: /etc/haproxy", 1),
			[]string{"unknown driver", "haproxy", "this build has"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			write(tt.file)
			p.reload(t, "configuration reload refused")
			line := lastLineWith(p.errOut.String(), "configuration reload refused")
			for _, want := range tt.want {
				if !strings.Contains(line, want) {
					t.Errorf("the refusal does not say %q: %s", want, line)
				}
			}
			if got, want := p.routeNames(t, token), []string{"panos-9", "linux", "haproxy"}; !slices.Equal(got, want) {
				t.Errorf("routes after a refused reload %v, want those in effect, %v", got, want)
			}
		})
	}
}

// lastLineWith returns the last line of text that holds want.
func lastLineWith(text, want string) string {
	lines := strings.Split(text, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], want) {
			return lines[i]
		}
	}
	return ""
}

// A worker reloads on SIGHUP as serve does: each process of a cluster
// reloads its own.
func TestWorkerReloadsItsConfigurationOnSIGHUP(t *testing.T) {
	cfg := workspace(t)
	p := startChild(t, regexp.MustCompile(`ottr worker on queues dc1`),
		"-c", cfg, "worker", "--queue", "dc1", "--metrics-listen", "127.0.0.1:0")
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(data), "username: ottr", "username: rotator", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	p.reload(t, "ottr reloaded "+cfg)
	if line := lastLineWith(p.out.String(), "ottr reloaded"); !strings.Contains(line, "swapped in credentials") {
		t.Errorf("the reload line does not say the credentials changed: %q", line)
	}
}
