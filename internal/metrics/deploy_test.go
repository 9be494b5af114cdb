package metrics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"gopkg.in/yaml.v3"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/issuer/acme"
	"github.com/ottr-go/ottr/internal/metrics"
	"github.com/ottr-go/ottr/internal/queue"
	"github.com/ottr-go/ottr/internal/ratelimit"
	"github.com/ottr-go/ottr/internal/rotation"
)

// repoRoot is the module's root, where deploy/ and docs/ are.
var repoRoot = filepath.Join("..", "..")

// promtool returns the path of Debian's promtool, failing the test
// (never skipping it) when it is missing.
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is missing: install the Debian package prometheus (apt-get install prometheus; 'make test' installs it as root)")
	}
	return path
}

// exported returns the name of every series family ottr exports, with a
// histogram's _bucket, _sum and _count: a Metrics with every collector
// added and every counter and histogram used once.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	ctx := context.Background()
	st := newStore(t)
	when := time.Now().Add(30 * 24 * time.Hour)
	a := asset.Asset{SystemName: "a.example.com", CommonName: "a.example.com", CertificateAuthority: "le", HostPlatform: "linux",
		IPAddress: "192.0.2.1", CertificateExpiration: &when, CertificateNotBefore: &when, RenewalTime: &when}
	if err := st.CreateAsset(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := queue.Migrate(ctx, st.DB()); err != nil {
		t.Fatal(err)
	}
	client, err := river.NewClient(riversqlite.New(st.DB()), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Insert(ctx, waitingJob{}, &river.InsertOpts{Queue: "dc1"}); err != nil {
		t.Fatal(err)
	}
	budget := ratelimit.New(map[string]ratelimit.Limits{"le": ratelimit.Defaults(ratelimit.KindLetsEncrypt)}, nil)
	budget.Penalize("le", time.Now().Add(time.Hour))

	m := metrics.New(metrics.Options{})
	m.AddInventory(metrics.Inventory{Store: st})
	if err := m.AddQueue(metrics.Queue{DB: st.DB()}); err != nil {
		t.Fatal(err)
	}
	m.AddBudget(budget, []string{"le"})
	m.InitRotations([]string{"linux"})
	observe := m.RotationObserver(nil, nil)
	observe(rotation.Event{RotationID: 1, Asset: a.SystemName, Step: rotation.StepCSR, Phase: "done", Duration: time.Second})
	observe(rotation.Event{RotationID: 1, Asset: a.SystemName, Phase: "end", State: "succeeded"})
	m.ObserveDNSUpdate(acme.DNSUpdate{Operation: "present", Zone: "acme.example.net"})
	m.ObserveScan(time.Second, 1, nil)
	m.ObserveDelivery("oncall", "rotation.failed", nil, false)
	ca := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ca.Close()
	resp, err := (&http.Client{Transport: m.ACMETransport("le", ca.URL+"/dir", nil)}).Get(ca.URL + "/dir")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	families, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
		if f.GetType().String() == "HISTOGRAM" {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				names[f.GetName()+suffix] = true
			}
		}
	}
	return names
}

// metricName finds the metric names of ottr's own and of the Go and
// process collectors in PromQL; function names and labels do not match.
var metricName = regexp.MustCompile(`\b(?:ottr|go|process)_[a-z0-9_]+\b`)

// checkNames fails t for every metric expr names that ottr does not export,
// and for an expr that names none of ottr's own.
func checkNames(t *testing.T, where, expr string, names map[string]bool) {
	t.Helper()
	found := metricName.FindAllString(expr, -1)
	if !slices.ContainsFunc(found, func(n string) bool { return strings.HasPrefix(n, "ottr_") }) {
		t.Errorf("%s: %q reads no metric of ottr's", where, expr)
	}
	for _, n := range found {
		if !names[n] {
			t.Errorf("%s: %q reads %s, which ottr does not export", where, expr, n)
		}
	}
}

func TestAlertRulesPassPromtoolAndItsUnitTests(t *testing.T) {
	tool := promtool(t)
	dir := filepath.Join(repoRoot, "deploy", "prometheus")
	for _, args := range [][]string{{"check", "rules", "alerts.yaml"}, {"test", "rules", "alerts_test.yaml"}} {
		cmd := exec.Command(tool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert, Expr string
			}
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &rules); err != nil {
		t.Fatal(err)
	}
	names := exported(t)
	tested, err := os.ReadFile(filepath.Join(dir, "alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			checkNames(t, r.Alert, r.Expr, names)
			if !strings.Contains(string(tested), "alertname: "+r.Alert+"\n") {
				t.Errorf("alerts_test.yaml does not test %s", r.Alert)
			}
		}
	}
}

// dashboardVariables stand for the dashboard's variables when its queries
// are checked.
var dashboardVariables = strings.NewReplacer("$__rate_interval", "5m", "$data_center", ".*")

func TestTheDashboardQueriesOttrsMetrics(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "grafana", "ottr-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dashboard struct {
		Title  string
		UID    string
		Panels []struct {
			Title   string
			Type    string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct {
				Name, Type string
				Definition string
			}
		}
	}
	if err := json.Unmarshal(data, &dashboard); err != nil {
		t.Fatalf("the dashboard is not valid JSON: %v", err)
	}
	if dashboard.Title == "" || dashboard.UID == "" {
		t.Errorf("the dashboard has no title or uid")
	}
	names := exported(t)
	var exprs []string
	for _, p := range dashboard.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			checkNames(t, "panel "+p.Title, target.Expr, names)
			exprs = append(exprs, target.Expr)
		}
	}
	for _, v := range dashboard.Templating.List {
		if v.Type == "query" {
			checkNames(t, "variable "+v.Name, v.Definition, names)
		}
	}
	// promtool parses every query as the expression of a recording rule.
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range exprs {
		quoted, _ := json.Marshal(dashboardVariables.Replace(e))
		fmt.Fprintf(&rules, "      - record: dashboard_query_%d\n        expr: %s\n", i, quoted)
	}
	file := filepath.Join(t.TempDir(), "dashboard-queries.yaml")
	if err := os.WriteFile(file, []byte(rules.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool(t), "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("a dashboard query is not PromQL: %v\n%s", err, out)
	}
}

func TestEveryMetricIsDocumented(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	names := exported(t)
	for name := range names {
		if strings.HasPrefix(name, "ottr_") && !strings.HasSuffix(name, "_bucket") && !strings.HasSuffix(name, "_sum") &&
			!(strings.HasSuffix(name, "_count") && names[strings.TrimSuffix(name, "_count")+"_bucket"]) &&
			!strings.Contains(doc, "`"+name+"`") {
			t.Errorf("docs/metrics.md does not document %s", name)
		}
	}
	for _, name := range metricName.FindAllString(doc, -1) {
		if !names[name] {
			t.Errorf("docs/metrics.md names %s, which ottr does not export", name)
		}
	}
	for _, state := range metrics.AssetStates {
		if !strings.Contains(doc, "`"+state+"`") {
			t.Errorf("docs/metrics.md does not explain the state %s", state)
		}
	}
}
