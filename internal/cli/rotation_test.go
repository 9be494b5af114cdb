package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/lab"
)

// The workspace's CA has no DNS provider to write its challenges with, so
// a rotation fails in preflight.
const preflightFailure = "no DNS provider writes the delegate zone example-acme.com"

// A failed `ottr rotate` says its error once: the step line says where,
// the last line of standard error says what, and the log does not repeat
// it.
func TestAFailedRotateSaysItsErrorOnce(t *testing.T) {
	cfg := workspace(t)
	addAsset(t, cfg, "web.example.com")
	out, errOut, code := run(t, "", "-c", cfg, "rotate", "web.example.com", "--force")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	if n := strings.Count(out+errOut, preflightFailure); n != 1 {
		t.Errorf("the error is printed %d times, want once:\n--- stdout\n%s--- stderr\n%s", n, out, errOut)
	}
	if !regexp.MustCompile(`(?m)^  preflight  FAILED \d+m?s$`).MatchString(out) {
		t.Errorf("no step line for the failed preflight:\n%s", out)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "ottr: rotation 1 failed (its log: ottr rotation show 1): preflight: ") ||
		!strings.Contains(last, preflightFailure) {
		t.Errorf("the last line of standard error is %q, want the rotation's error", last)
	}

	// The rotation keeps the whole story.
	shown := mustRun(t, "-c", cfg, "rotation", "show", "1")
	for _, want := range []string{
		"state:     failed",
		"trigger:   manual (forced)",
		"error:     preflight: ",
		"preflight  -        -         failed",
	} {
		if !strings.Contains(shown, want) {
			t.Errorf("rotation show does not say %q:\n%s", want, shown)
		}
	}
	if !regexp.MustCompile(`(?m)^\S+Z\s+error\s+preflight\s+preflight: .*` + regexp.QuoteMeta(preflightFailure)).MatchString(shown) {
		t.Errorf("rotation show does not print the captured log line of the failure:\n%s", shown)
	}
}

func TestRotationListFilters(t *testing.T) {
	cfg := workspace(t)
	addAsset(t, cfg, "a.example.com")
	addAsset(t, cfg, "b.example.com")
	for _, name := range []string{"a.example.com", "b.example.com", "a.example.com"} {
		if _, _, code := run(t, "", "-c", cfg, "rotate", name, "--force"); code != 1 {
			t.Fatalf("rotate %s: exit %d, want 1", name, code)
		}
	}
	tests := []struct {
		name string
		args []string
		ids  []float64
	}{
		{"every rotation, newest first", nil, []float64{3, 2, 1}},
		{"one asset's", []string{"--asset", "A.Example.com."}, []float64{3, 1}},
		{"the failed ones", []string{"--state", "failed"}, []float64{3, 2, 1}},
		{"none succeeded", []string{"--state", "succeeded"}, nil},
		{"the newest", []string{"--limit", "1"}, []float64{3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := mustRun(t, append([]string{"-c", cfg, "rotation", "list", "-o", "json"}, tt.args...)...)
			var rows []map[string]any
			if err := json.Unmarshal([]byte(out), &rows); err != nil || rows == nil {
				t.Fatalf("not a JSON list: %v\n%s", err, out)
			}
			var ids []float64
			for _, r := range rows {
				ids = append(ids, r["id"].(float64))
			}
			if !slices.Equal(ids, tt.ids) {
				t.Errorf("rotations %v, want %v", ids, tt.ids)
			}
		})
	}
	table := mustRun(t, "-c", cfg, "rotation", "list", "--state", "failed")
	if !regexp.MustCompile(`(?m)^3\s+a\.example\.com\s+failed\s+manual\s+\S+Z\s+\S+\s+preflight: `).MatchString(table) {
		t.Errorf("the table does not show rotation 3 with its error:\n%s", table)
	}
}

// A rotation that went through: every step with its timings, and the log
// it captured, read from the lab's database while its ottr runs.
func TestRotationShowPrintsEachStepAndTheLog(t *testing.T) {
	labDir := filepath.Join(t.TempDir(), "lab")
	startLab(t, labDir)
	cfg := filepath.Join(labDir, "ottr.yaml")
	device := lab.DeviceName(lab.PlatformLinux, 0)

	var rows []struct {
		ID    int64
		State string
	}
	if err := json.Unmarshal([]byte(mustRun(t, "-c", cfg, "rotation", "list", "--asset", device, "-o", "json")), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].State != "succeeded" {
		t.Fatalf("the lab's wave left rotations %+v of %s, want one that succeeded", rows, device)
	}
	id := rows[0].ID

	var shown struct {
		State      string
		Error      *string
		FinishedAt *string `json:"finished_at"`
		Steps      []struct {
			Step       string
			DurationMS int64 `json:"duration_ms"`
			Output     json.RawMessage
		}
		Log []struct{ Level, Message string }
	}
	if err := json.Unmarshal([]byte(mustRun(t, "-c", cfg, "rotation", "show", strconv.FormatInt(id, 10), "-o", "json")), &shown); err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, s := range shown.Steps {
		steps = append(steps, s.Step)
		if s.DurationMS < 0 || len(s.Output) == 0 {
			t.Errorf("step %s: duration %d ms, output %s", s.Step, s.DurationMS, s.Output)
		}
	}
	if got := strings.Join(steps, " "); got != "preflight csr issue install verify record" {
		t.Errorf("steps %q, want every step in order", got)
	}
	if shown.Error != nil || shown.FinishedAt == nil || len(shown.Log) == 0 || shown.Log[len(shown.Log)-1].Message != "rotation succeeded" {
		t.Errorf("state %s, error %v, finished at %v, log %+v", shown.State, shown.Error, shown.FinishedAt, shown.Log)
	}

	table := mustRun(t, "-c", cfg, "rotation", "show", strconv.FormatInt(id, 10))
	for _, step := range steps {
		if !regexp.MustCompile(`(?m)^` + step + `\s+\S+Z\s+\d+(\.\d+)?(ms|s|µs)\s+done$`).MatchString(table) {
			t.Errorf("the table has no timed row for step %s:\n%s", step, table)
		}
	}
	if !strings.Contains(table, "state:     succeeded: the device serves the new certificate") || !strings.Contains(table, "rotation succeeded") {
		t.Errorf("the table does not show the state and the log:\n%s", table)
	}
}

// `ottr rotate` logs as the configuration's log section says, and its
// rotation's info lines pass while the failure is left to the error.
func TestRotateLogsAsTheConfigSays(t *testing.T) {
	cfg := workspace(t)
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, append(data, "log:\n  level: info\n  format: json\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	addAsset(t, cfg, "web.example.com")
	_, errOut, code := run(t, "", "-c", cfg, "rotate", "web.example.com", "--force")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, errOut)
	}
	var levels []string
	for _, line := range strings.Split(strings.TrimSpace(errOut), "\n") {
		if strings.HasPrefix(line, "ottr: ") {
			break
		}
		var entry struct {
			Level    string
			Rotation *int
		}
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("a log line is not JSON: %q", line)
		}
		if entry.Rotation != nil {
			levels = append(levels, entry.Level)
		}
	}
	if !slices.Contains(levels, "INFO") || slices.Contains(levels, "ERROR") {
		t.Errorf("the rotation's log lines have levels %v: want its INFO lines, and no ERROR line saying the failure again:\n%s", levels, errOut)
	}
}
