package metrics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/cli"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/store/sqlite"
	"github.com/ottr-go/ottr/internal/testenv"
	"github.com/ottr-go/ottr/internal/testenv/output"
)

// prometheusServer is Debian's Prometheus, run by a test.
type prometheusServer struct {
	url string
}

// startPrometheus runs Prometheus with its own data directory on a free
// loopback port, scraping target's /metrics every second and evaluating
// deploy/prometheus/alerts.yaml, until the test ends.
func startPrometheus(t *testing.T, target string) *prometheusServer {
	t.Helper()
	binary, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus is missing: install the Debian package prometheus (apt-get install prometheus; 'make test' installs it as root)")
	}
	rules, err := filepath.Abs(filepath.Join(repoRoot, "deploy", "prometheus", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: ottr
    static_configs:
      - targets: [%q]
`, rules, target)
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(binary, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	logFile, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
		if t.Failed() {
			if log, err := os.ReadFile(logFile.Name()); err == nil {
				t.Logf("prometheus log:\n%s", log)
			}
		}
	})
	p := &prometheusServer{url: "http://" + addr}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(logFile.Name())
			t.Fatalf("prometheus exited (%v):\n%s", err, log)
		default:
		}
		if resp, err := http.Get(p.url + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("prometheus did not become ready within a minute")
		}
	}
}

// freeAddr returns a loopback address nobody listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// sample is one series of a query's answer.
type sample struct {
	Metric map[string]string
	Value  float64
}

// query evaluates PromQL through Prometheus's HTTP API; an error is what
// Prometheus answered.
func (p *prometheusServer) query(q string) ([]sample, error) {
	resp, err := http.Get(p.url + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var answer struct {
		Status, Error string
		Data          struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return nil, err
	}
	if answer.Status != "success" {
		return nil, fmt.Errorf("%s: %s", q, answer.Error)
	}
	out := make([]sample, 0, len(answer.Data.Result))
	for _, r := range answer.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: value %v: %w", q, r.Value[1], err)
		}
		out = append(out, sample{Metric: r.Metric, Value: v})
	}
	return out, nil
}

// scalar is the value of a query answered by one series, and whether
// there was exactly one.
func (p *prometheusServer) scalar(t *testing.T, q string) (float64, bool) {
	t.Helper()
	res, err := p.query(q)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 {
		return 0, false
	}
	return res[0].Value, true
}

// TestPrometheusScrapesALabWave runs `ottr serve` on the lab with one
// device whose reloads fail, and Debian's Prometheus scraping it: after
// the wave, PromQL returns the healthy device's notAfter, the failed
// rotations the store recorded, and the rotation alert pending for the
// broken device.
func TestPrometheusScrapesALabWave(t *testing.T) {
	testenv.SkipInShort(t, testenv.RealServers)
	l := startLab(t)
	ctx := context.Background()
	wave, broken := l.Assets[hostWave].SystemName, l.Assets[hostBroken].SystemName

	// The inventory goes in as an operator's does; then `ottr serve`
	// takes the database over.
	database := filepath.Join(t.TempDir(), "ottr.db")
	cfg, err := config.Load(l.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = database
	seed, err := app.New(ctx, cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{hostWave, hostBroken} {
		if err := seed.Store.CreateAsset(ctx, l.Assets[i]); err != nil {
			t.Fatal(err)
		}
	}
	seed.Close()
	l.Hosts[hostBroken].FailReloads(true)
	defer l.Hosts[hostBroken].FailReloads(false)

	serveCtx, stop := context.WithCancel(ctx)
	var out, errOut output.Buffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(serveCtx, []string{"-c", l.ConfigPath, "--database", database, "--log-level", "info", "serve", "--listen", "127.0.0.1:0"},
			strings.NewReader(""), &out, &errOut)
	}()
	stopServe := func() {
		if stop == nil {
			return
		}
		stop()
		stop = nil
		if code := <-done; code != 0 {
			t.Errorf("ottr serve exited %d:\n%s", code, errOut.String())
		}
	}
	defer stopServe()
	var target string
	for deadline := time.Now().Add(time.Minute); target == ""; time.Sleep(20 * time.Millisecond) {
		if m := regexp.MustCompile(`serving the API on http://(127\.0\.0\.1:\d+)`).FindStringSubmatch(out.String()); m != nil {
			target = m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("ottr serve did not start:\n%s%s", out.String(), errOut.String())
		}
	}
	prom := startPrometheus(t, target)

	// The wave is over, as Prometheus sees it, once both rotations ended,
	// the healthy device's new expiry is scraped and the broken one's
	// failure is counted. A rotation's end is counted as it ends and the
	// asset's failures as the store records them, so a scrape between the
	// two may see one without the other: wait for all three.
	served := l.Hosts[hostWave].Served
	var notAfter, failures float64
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(250 * time.Millisecond) {
		ended, _ := prom.scalar(t, `sum(ottr_rotations_total)`)
		notAfter, _ = prom.scalar(t, fmt.Sprintf(`ottr_certificate_not_after_timestamp_seconds{asset=%q}`, wave))
		failures, _ = prom.scalar(t, fmt.Sprintf(`ottr_rotation_consecutive_failures{asset=%q}`, broken))
		if ended >= 2 && notAfter == float64(served().NotAfter.Unix()) && failures >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 3 minutes Prometheus sees %v rotations ended, notAfter %v for %s (the device serves %s) and %v consecutive failures of %s:\n%s",
				ended, notAfter, wave, served().NotAfter, failures, broken, errOut.String())
		}
	}
	failed, ok := prom.scalar(t, `sum(ottr_rotations_total{result="failed"})`)
	if !ok {
		t.Fatal("Prometheus has no failed rotations")
	}
	if v, _ := prom.scalar(t, fmt.Sprintf(`ottr_rotation_consecutive_failures{asset=%q}`, broken)); v != 1 {
		t.Errorf("consecutive failures of %s: %v, want 1", broken, v)
	}
	if v, _ := prom.scalar(t, fmt.Sprintf(`ottr_asset_status{asset=%q,state="failing"}`, broken)); v != 1 {
		t.Errorf("%s is not failing in ottr_asset_status", broken)
	}
	if v, _ := prom.scalar(t, fmt.Sprintf(`ottr_asset_status{asset=%q,state="ok"}`, wave)); v != 1 {
		t.Errorf("%s, rotated, is not ok in ottr_asset_status", wave)
	}
	if n, _ := prom.scalar(t, `sum(ottr_acme_requests_total{endpoint="new-order",status="201"})`); n < 2 {
		t.Errorf("%v new orders counted, want one per device", n)
	}
	if v, ok := prom.scalar(t, `time() - ottr_scan_last_success_timestamp_seconds`); !ok || v > 120 {
		t.Errorf("the last successful scan was %v s ago (%v)", v, ok)
	}
	checkRulesAndAlerts(t, prom, broken)
	checkDashboardQueries(t, prom)
	checkNoSecretIn(t, l.Dir, "http://"+target+"/metrics", cfg.MasterKeyFile)

	// What the store recorded, read once serve has stopped.
	stopServe()
	st, err := sqlite.Open(ctx, database)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rots, err := st.ListRotations(ctx, store.RotationFilter{State: store.StateFailed})
	if err != nil {
		t.Fatal(err)
	}
	if failed != float64(len(rots)) || failed < 1 {
		t.Errorf("Prometheus counts %v failed rotations, the store recorded %d", failed, len(rots))
	}
	for _, r := range rots {
		if r.Asset != broken {
			t.Errorf("rotation %d of %s failed: %s", r.ID, r.Asset, r.Error)
		}
	}
}

// checkRulesAndAlerts checks that every rule of alerts.yaml evaluates on
// ottr's metrics, and that the broken device's alert is on its way.
func checkRulesAndAlerts(t *testing.T, prom *prometheusServer, broken string) {
	t.Helper()
	var rules struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name, Health, LastError string
					Alerts                  []struct {
						Labels map[string]string
						State  string
					}
				}
			}
		}
	}
	pending := false
	for deadline := time.Now().Add(time.Minute); !pending; time.Sleep(250 * time.Millisecond) {
		resp, err := http.Get(prom.url + "/api/v1/rules")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&rules)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range rules.Data.Groups {
			for _, r := range g.Rules {
				for _, a := range r.Alerts {
					if r.Name == "OttrRotationFailing" && a.Labels["asset"] == broken && a.State == "pending" {
						pending = true
					}
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("OttrRotationFailing is not pending for %s: %+v", broken, rules.Data.Groups)
		}
	}
	count := 0
	for _, g := range rules.Data.Groups {
		for _, r := range g.Rules {
			count++
			if r.Health != "ok" {
				t.Errorf("rule %s: health %q: %s", r.Name, r.Health, r.LastError)
			}
		}
	}
	if count == 0 {
		t.Error("Prometheus loaded no rule of alerts.yaml")
	}
}

// checkDashboardQueries runs every query of the dashboard on Prometheus.
func checkDashboardQueries(t *testing.T, prom *prometheusServer) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "grafana", "ottr-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dashboard struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(data, &dashboard); err != nil {
		t.Fatal(err)
	}
	answered := 0
	for _, p := range dashboard.Panels {
		for _, target := range p.Targets {
			res, err := prom.query(dashboardVariables.Replace(target.Expr))
			if err != nil {
				t.Errorf("panel %q: %v", p.Title, err)
			}
			if len(res) > 0 {
				answered++
			}
		}
	}
	if answered == 0 {
		t.Error("no dashboard query has an answer after a wave")
	}
}

// checkNoSecretIn fails t if what url serves holds a secret of the lab:
// the TSIG key, the device login key, the master key, a device password.
func checkNoSecretIn(t *testing.T, labDir, url, masterKeyFile string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(labDir, "*.password"))
	files = append(files, filepath.Join(labDir, "tsig.secret"), filepath.Join(labDir, "id_ed25519"), masterKeyFile)
	checked := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			// Lines of a PEM key, and the secrets themselves; not the
			// armour lines every PEM file shares.
			if line = strings.TrimSpace(line); len(line) >= 16 && !strings.HasPrefix(line, "-----") {
				checked++
				if strings.Contains(string(body), line) {
					t.Errorf("/metrics holds a secret of %s", filepath.Base(f))
				}
			}
		}
	}
	if checked == 0 {
		t.Error("no lab secret was found to look for")
	}
}
