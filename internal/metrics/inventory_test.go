package metrics_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/metrics"
	"github.com/ottr-go/ottr/internal/store"
)

var now = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)

func at(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &t
}

// inventory stores one asset in each state and returns the metrics
// reading them, with junos unrouted.
func inventory(t *testing.T) (*metrics.Metrics, store.Store) {
	t.Helper()
	st := newStore(t)
	base := func(name, platform string) asset.Asset {
		return asset.Asset{SystemName: name, CommonName: name, CertificateAuthority: "lets_encrypt", DataCenter: "dc1",
			HostPlatform: platform, IPAddress: "192.0.2.1", OSVersion: "1"}
	}
	issued := func(a asset.Asset, renewal string) asset.Asset {
		a.CertificateNotBefore, a.CertificateExpiration, a.RenewalTime = at("2026-12-01T00:00:00Z"), at("2027-03-01T00:00:00Z"), at(renewal)
		return a
	}
	ok := issued(base("ok.example.com", "linux"), "2027-01-30T00:00:00Z")
	due := issued(base("due.example.com", "linux"), "2026-12-25T00:00:00Z")
	unknown := base("new.example.com", "linux")
	failing := issued(base("failing.example.com", "panos"), "2026-12-25T00:00:00Z")
	failing.FailureCount = 2
	paused := failing
	paused.SystemName, paused.CommonName, paused.Paused = "paused.example.com", "paused.example.com", true
	unrouted := issued(base("unrouted.example.com", "junos"), "2027-01-30T00:00:00Z")
	unrouted.DataCenter, unrouted.CertificateAuthority = "dc2", "digicert"
	for _, a := range []asset.Asset{ok, due, unknown, failing, paused, unrouted} {
		if err := st.CreateAsset(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	m := metrics.New(metrics.Options{Now: func() time.Time { return now }})
	m.AddInventory(metrics.Inventory{Store: st, Routed: func(a asset.Asset) bool { return a.HostPlatform != "junos" }, PageSize: 2})
	return m, st
}

func TestEveryAssetHasOneStateSeries(t *testing.T) {
	m, _ := inventory(t)
	want := `
# HELP ottr_asset_status Always 1, one series per asset, labelled with the asset's state: paused, unrouted, failing, due or ok.
# TYPE ottr_asset_status gauge
ottr_asset_status{asset="due.example.com",data_center="dc1",platform="linux",profile="lets_encrypt",state="due"} 1
ottr_asset_status{asset="failing.example.com",data_center="dc1",platform="panos",profile="lets_encrypt",state="failing"} 1
ottr_asset_status{asset="new.example.com",data_center="dc1",platform="linux",profile="lets_encrypt",state="due"} 1
ottr_asset_status{asset="ok.example.com",data_center="dc1",platform="linux",profile="lets_encrypt",state="ok"} 1
ottr_asset_status{asset="paused.example.com",data_center="dc1",platform="panos",profile="lets_encrypt",state="paused"} 1
ottr_asset_status{asset="unrouted.example.com",data_center="dc2",platform="junos",profile="digicert",state="unrouted"} 1
`
	if err := testutil.GatherAndCompare(m.Gatherer(), strings.NewReader(want), "ottr_asset_status"); err != nil {
		t.Error(err)
	}
}

func TestCertificateTimesAndFailuresPerAsset(t *testing.T) {
	m, _ := inventory(t)
	labels := func(name, platform string) string {
		return fmt.Sprintf(`asset=%q,data_center="dc1",platform=%q,profile="lets_encrypt"`, name, platform)
	}
	want := fmt.Sprintf(`
# HELP ottr_certificate_not_after_timestamp_seconds When the asset's recorded certificate expires (notAfter), in Unix seconds; absent while unknown.
# TYPE ottr_certificate_not_after_timestamp_seconds gauge
ottr_certificate_not_after_timestamp_seconds{%[1]s} 1803859200
ottr_certificate_not_after_timestamp_seconds{%[2]s} 1803859200
ottr_certificate_not_after_timestamp_seconds{%[3]s} 1803859200
ottr_certificate_not_after_timestamp_seconds{%[4]s} 1803859200
ottr_certificate_not_after_timestamp_seconds{asset="unrouted.example.com",data_center="dc2",platform="junos",profile="digicert"} 1803859200
# HELP ottr_certificate_renewal_timestamp_seconds When the renewal policy considers the asset's certificate due, in Unix seconds; absent while the expiry is unknown (due now).
# TYPE ottr_certificate_renewal_timestamp_seconds gauge
ottr_certificate_renewal_timestamp_seconds{%[1]s} 1798156800
ottr_certificate_renewal_timestamp_seconds{%[2]s} 1798156800
ottr_certificate_renewal_timestamp_seconds{%[3]s} 1801267200
ottr_certificate_renewal_timestamp_seconds{%[4]s} 1798156800
ottr_certificate_renewal_timestamp_seconds{asset="unrouted.example.com",data_center="dc2",platform="junos",profile="digicert"} 1801267200
# HELP ottr_rotation_consecutive_failures Rotations of the asset that failed in a row; 0 after a success.
# TYPE ottr_rotation_consecutive_failures gauge
ottr_rotation_consecutive_failures{%[1]s} 0
ottr_rotation_consecutive_failures{%[2]s} 2
ottr_rotation_consecutive_failures{%[5]s} 0
ottr_rotation_consecutive_failures{%[3]s} 0
ottr_rotation_consecutive_failures{%[4]s} 2
ottr_rotation_consecutive_failures{asset="unrouted.example.com",data_center="dc2",platform="junos",profile="digicert"} 0
`, labels("due.example.com", "linux"), labels("failing.example.com", "panos"), labels("ok.example.com", "linux"),
		labels("paused.example.com", "panos"), labels("new.example.com", "linux"))
	err := testutil.GatherAndCompare(m.Gatherer(), strings.NewReader(want),
		"ottr_certificate_not_after_timestamp_seconds", "ottr_certificate_renewal_timestamp_seconds", "ottr_rotation_consecutive_failures")
	if err != nil {
		t.Error(err)
	}
	if v, ok := value(t, m.Gatherer(), "ottr_certificate_not_before_timestamp_seconds",
		map[string]string{"asset": "ok.example.com", "data_center": "dc1", "platform": "linux", "profile": "lets_encrypt"}); !ok || v != float64(at("2026-12-01T00:00:00Z").Unix()) {
		t.Errorf("notBefore of ok.example.com = %v, %v; want 2026-12-01", v, ok)
	}
}

func TestADeletedAssetLeavesNoSeries(t *testing.T) {
	m, st := inventory(t)
	if n, err := testutil.GatherAndCount(m.Gatherer(), "ottr_asset_status"); err != nil || n != 6 {
		t.Fatalf("%d status series (%v), want 6", n, err)
	}
	if err := st.DeleteAsset(context.Background(), "ok.example.com"); err != nil {
		t.Fatal(err)
	}
	for _, h := range []http.Handler{m.Handler()} {
		if body := scrape(t, h, false); strings.Contains(body, "ok.example.com") {
			t.Errorf("the scrape still shows the deleted asset:\n%s", body)
		}
	}
	if n, _ := testutil.GatherAndCount(m.Gatherer(), "ottr_asset_status"); n != 5 {
		t.Errorf("%d status series after a deletion, want 5", n)
	}
}

// scrape GETs /metrics from h as Prometheus does, with or without gzip,
// and returns the text.
func scrape(t *testing.T, h http.Handler, gz bool) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	var body io.Reader = rec.Body
	if got := rec.Header().Get("Content-Encoding"); got != map[bool]string{true: "gzip", false: ""}[gz] {
		t.Fatalf("Content-Encoding %q when gzip accepted is %v", got, gz)
	}
	if gz {
		zr, err := gzip.NewReader(rec.Body)
		if err != nil {
			t.Fatal(err)
		}
		body = zr
	}
	text, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	return string(text)
}

// The handler writes the per-asset families itself; what it writes must
// be what the collector gathers, escaping included, gzipped or not.
func TestTheScrapeIsWhatTheCollectorsGather(t *testing.T) {
	st := newStore(t)
	assets := fleet(1500, now)
	// Label values the text format must escape.
	assets[7].HostPlatform = `quoted"platform`
	assets[8].DataCenter = `back\slash`
	assets[9].CertificateAuthority = "two\nlines"
	if err := st.ImportAssets(context.Background(), assets); err != nil {
		t.Fatal(err)
	}
	m := metrics.New(metrics.Options{Now: func() time.Time { return now }})
	m.InitRotations([]string{"linux"})
	m.AddInventory(metrics.Inventory{Store: st, Routed: func(a asset.Asset) bool { return a.HostPlatform != "junos" }, PageSize: 400})
	gathered, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*dto.MetricFamily{}
	for _, f := range gathered {
		if strings.HasPrefix(f.GetName(), "ottr_") {
			want[f.GetName()] = f
		}
	}
	for _, gz := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "gzip"}[gz], func(t *testing.T) {
			parser := expfmt.NewTextParser(model.UTF8Validation)
			got, err := parser.TextToMetricFamilies(strings.NewReader(scrape(t, m.Handler(), gz)))
			if err != nil {
				t.Fatalf("the scrape does not parse: %v", err)
			}
			for name := range got {
				if !strings.HasPrefix(name, "ottr_") {
					delete(got, name)
				}
			}
			if g, w := text(t, got), text(t, want); g != w {
				t.Errorf("scrape and gather differ:\n--- gathered\n%s\n--- scraped\n%s", w, g)
			}
		})
	}
}

// text writes families in the text format, in name order and each
// family's series in label order.
func text(t *testing.T, families map[string]*dto.MetricFamily) string {
	t.Helper()
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(families)) {
		f := families[name]
		slices.SortFunc(f.Metric, compareMetrics)
		if _, err := expfmt.MetricFamilyToText(&b, f); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

func compareMetrics(a, b *dto.Metric) int {
	var x, y bytes.Buffer
	for _, l := range a.Label {
		x.WriteString(l.GetName() + "=" + l.GetValue() + ",")
	}
	for _, l := range b.Label {
		y.WriteString(l.GetName() + "=" + l.GetValue() + ",")
	}
	return bytes.Compare(x.Bytes(), y.Bytes())
}
