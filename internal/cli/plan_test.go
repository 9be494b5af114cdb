package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// A wave of due devices larger than Let's Encrypt's 300 new orders per
// three hours: `ottr plan` shows the first 300 running now and the rest
// one every 36 seconds, as the account's bucket refills.
func TestPlanShowsAWaveSpreadOverTheCAsRateLimits(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ottr.yaml")
	// The whole fleet is under example.com, so Let's Encrypt's 50
	// certificates per registered domain and week would hold it back
	// first; lifting that limit shows the account's own.
	text := `data_dir: data
certificate_authorities:
  lets_encrypt:
    preset: letsencrypt
    rate_limits:
      certificates_per_registered_domain: {count: -1}
dns:
  zones:
    example.com: example-acme.com
routes:
  - match: {platform: linux}
    driver: linux
    options: {cert_path: /etc/ssl/c.pem, key_path: /etc/ssl/k.pem, reload_command: "systemctl reload nginx"}
`
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	const wave = 310
	var csv strings.Builder
	csv.WriteString("system_name,common_name,ip_address,host_platform,certificate_authority\n")
	for i := range wave {
		name := fmt.Sprintf("dev%03d.example.com", i)
		fmt.Fprintf(&csv, "%s,%s,192.0.2.%d,linux,lets_encrypt\n", name, name, 1+i%250)
	}
	assets := filepath.Join(dir, "assets.csv")
	if err := os.WriteFile(assets, []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "-c", cfg, "asset", "import", assets)

	var rows []struct {
		Asset  string     `json:"asset"`
		Due    bool       `json:"due"`
		RunsAt *time.Time `json:"runs_at"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, "-c", cfg, "plan", "-o", "json")), &rows); err != nil {
		t.Fatal(err)
	}
	var times []time.Time
	for _, r := range rows {
		if !r.Due || r.RunsAt == nil {
			t.Fatalf("%s: due %v, runs at %v; want every imported asset due with a time", r.Asset, r.Due, r.RunsAt)
		}
		times = append(times, *r.RunsAt)
	}
	if len(times) != wave {
		t.Fatalf("plan lists %d assets, want %d", len(times), wave)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	first := times[0]
	if n := len(slices.DeleteFunc(slices.Clone(times), func(at time.Time) bool { return !at.Equal(first) })); n != 300 {
		t.Errorf("%d rotations run first, want Let's Encrypt's 300", n)
	}
	for i, at := range times[300:] {
		if want := first.Add(time.Duration(i+1) * 36 * time.Second); !at.Equal(want) {
			t.Errorf("rotation %d runs %s after the first, want %s", 301+i, at.Sub(first), want.Sub(first))
		}
	}

	table := mustRun(t, "-c", cfg, "plan", "--due")
	if !strings.Contains(table, "RUNS AT") || !strings.Contains(table, "the CAs' rate limits spread the due rotations until ") ||
		!strings.Contains(table, "(6m0s from now)") {
		t.Errorf("plan table does not show when the wave ends:\n%s", lastLines(table, 3))
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
