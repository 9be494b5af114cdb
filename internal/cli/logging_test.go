package cli_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/cli"
	"github.com/ottr-go/ottr/internal/testenv/output"
)

// With --log-format json every log line on standard error is a JSON
// object, and a rotation's lines carry the keys the text format has:
// rotation, asset and step.
func TestJSONLogsCarryTheRotationKeys(t *testing.T) {
	t.Setenv("OTTR_TEST_LOG_TOKEN", "tok-Log-Format-17")
	cfg, _ := secretWorkspace(t, "env:OTTR_TEST_LOG_TOKEN")
	mustRun(t, "-c", cfg, "asset", "add", "--system-name", "box.example.com", "--common-name", "box.example.com",
		"--ip", "127.0.0.1", "--platform", "appliance", "--ca", "lab")
	_, errOut, code := run(t, "", "-c", cfg, "--log-format", "json", "--log-level", "info", "rotate", "box.example.com")
	if code == 0 {
		t.Fatalf("the rotation of a device whose script fails succeeded:\n%s", errOut)
	}
	var fromRotation int
	for _, line := range strings.Split(strings.TrimSpace(errOut), "\n") {
		if strings.HasPrefix(line, "ottr: ") {
			break // the command's own error, after the log, which may run over lines
		}
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Errorf("a log line is not JSON: %q (%v)", line, err)
			continue
		}
		for _, key := range []string{"time", "level", "msg"} {
			if _, ok := entry[key]; !ok {
				t.Errorf("log line %q has no %q", line, key)
			}
		}
		if _, ok := entry["rotation"]; ok {
			fromRotation++
			if entry["asset"] != "box.example.com" || entry["step"] == nil {
				t.Errorf("a rotation's log line lacks its asset or step: %q", line)
			}
		}
	}
	if fromRotation == 0 {
		t.Errorf("no log line of the rotation (with the key rotation) among:\n%s", errOut)
	}
	if strings.Contains(errOut, "tok-Log-Format-17") {
		t.Errorf("the log shows the route's secret:\n%s", errOut)
	}
}

func TestLogSettingsOttrDoesNotKnowAreRefused(t *testing.T) {
	cfg := workspace(t)
	badLevel := filepath.Join(filepath.Dir(cfg), "bad-level.yaml")
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(badLevel, append(data, "log:\n  level: loud\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	lines := strings.Count(string(data), "\n")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"an unknown --log-level", []string{"-c", cfg, "--log-level", "verbose", "asset", "list"},
			`ottr: --log-level: "verbose" is not a log level: use debug, info, warn or error`},
		{"an unknown --log-format", []string{"-c", cfg, "--log-format", "yaml", "asset", "list"},
			`ottr: --log-format: "yaml" is not a log format: use text or json`},
		{"an unknown log.level in the config, naming its line", []string{"-c", badLevel, "asset", "list"},
			badLevel + ":" + strconv.Itoa(lines+2) + `: log.level: "loud" is not a log level: use debug, info, warn or error`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := run(t, "", tt.args...)
			if code == 0 || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want a failure saying %q", code, errOut, tt.want)
			}
			if out != "" {
				t.Errorf("the refused command printed %q", out)
			}
		})
	}
}

// A worker answers /metrics with its own work's metrics (not the
// inventory, which 'ottr serve' answers) and /healthz, on the address of
// --metrics-listen.
func TestWorkerServesMetricsAndHealth(t *testing.T) {
	cfg := workspace(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut output.Buffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, []string{"-c", cfg, "worker", "--queue", "dc1", "--metrics-listen", "127.0.0.1:0"}, strings.NewReader(""), &out, &errOut)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("worker exited %d: %s", code, errOut.String())
		}
	}()
	base := waitFor(t, &out, &errOut, `serving /metrics and /healthz on (http://127\.0\.0\.1:\d+)`)

	body, header := get(t, base+"/metrics")
	if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("/metrics Content-Type %q, want the text exposition format", ct)
	}
	for _, want := range []string{"ottr_build_info{", `ottr_rotations_total{driver="linux",result="failed"} 0`, "go_goroutines "} {
		if !strings.Contains(body, want) {
			t.Errorf("the worker's /metrics lacks %q", want)
		}
	}
	for _, unwanted := range []string{"ottr_asset_status", "ottr_queue_jobs"} {
		if strings.Contains(body, unwanted) {
			t.Errorf("the worker's /metrics has %s, which 'ottr serve' answers for the whole cluster", unwanted)
		}
	}
	if body, _ := get(t, base+"/healthz"); strings.TrimSpace(body) != `{"status":"ok"}` {
		t.Errorf("/healthz answered %q", body)
	}
}

// A second worker on a machine, whose default metrics address the first
// holds, still runs, and says why it serves no metrics.
func TestWorkerWhoseMetricsAddressIsTakenRunsWithAWarning(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := workspace(t)
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, append(data, "metrics:\n  worker_listen: "+taken.Addr().String()+"\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut output.Buffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, []string{"-c", cfg, "worker", "--queue", "dc1"}, strings.NewReader(""), &out, &errOut)
	}()
	waitFor(t, &out, &errOut, `(ottr worker on queues dc1)`)
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("worker exited %d: %s", code, errOut.String())
	}
	if !strings.Contains(errOut.String(), "warning: the worker serves no /metrics or /healthz") {
		t.Errorf("no warning about the taken address:\n%s", errOut.String())
	}

	_, errOut2, code := run(t, "", "-c", cfg, "worker", "--queue", "dc1", "--metrics-listen", taken.Addr().String())
	if code == 0 || !strings.Contains(errOut2, "--metrics-listen") {
		t.Errorf("a taken --metrics-listen: exit %d, %q; want a failure naming the flag", code, errOut2)
	}
}

// waitFor waits for the command's standard output to match pattern and
// returns the first group.
func waitFor(t *testing.T, out, errOut *output.Buffer, pattern string) string {
	t.Helper()
	re := regexp.MustCompile(pattern)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
	}
	t.Fatalf("the command never printed %s:\n%s%s", pattern, out.String(), errOut.String())
	return ""
}

func get(t *testing.T, url string) (string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	return string(body), resp.Header
}
