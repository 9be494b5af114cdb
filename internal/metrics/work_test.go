package metrics_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ottr-go/ottr/internal/issuer/acme"
	"github.com/ottr-go/ottr/internal/metrics"
	"github.com/ottr-go/ottr/internal/ratelimit"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/store"
)

func TestRotationsAreCountedByDriverAndResult(t *testing.T) {
	m := metrics.New(metrics.Options{})
	m.InitRotations([]string{"linux", "panos"})
	lookups := map[string]int{}
	drivers := map[string]string{"fw.example.com": "panos", "web.example.com": "linux"}
	var sent, told int
	observer := m.RotationObserver(func(asset string) string { lookups[asset]++; return drivers[asset] }, func(rotation.Event) { told++ })
	observe := func(e rotation.Event) { sent++; observer(e) }

	run := func(id int64, asset string, failAt rotation.Step, state store.State) {
		for _, step := range rotation.Steps() {
			observe(rotation.Event{RotationID: id, Asset: asset, Step: step, Phase: "start"})
			if step == failAt {
				observe(rotation.Event{RotationID: id, Asset: asset, Step: step, Phase: "fail", Duration: 2 * time.Second, Err: errors.New("refused")})
				break
			}
			observe(rotation.Event{RotationID: id, Asset: asset, Step: step, Phase: "done", Duration: 30 * time.Millisecond})
		}
		observe(rotation.Event{RotationID: id, Asset: asset, Step: failAt, Phase: "end", State: state})
	}
	run(1, "web.example.com", "", "succeeded")
	run(2, "fw.example.com", rotation.StepInstall, "failed")
	run(3, "fw.example.com", rotation.StepVerify, "rolled_back")
	run(4, "gone.example.com", rotation.StepPreflight, "failed")

	want := `
# HELP ottr_rotations_total Rotations that ended, by the driver of the asset's route and the final state (succeeded, failed, rolled_back).
# TYPE ottr_rotations_total counter
ottr_rotations_total{driver="linux",result="failed"} 0
ottr_rotations_total{driver="linux",result="rolled_back"} 0
ottr_rotations_total{driver="linux",result="succeeded"} 1
ottr_rotations_total{driver="none",result="failed"} 1
ottr_rotations_total{driver="none",result="rolled_back"} 0
ottr_rotations_total{driver="none",result="succeeded"} 0
ottr_rotations_total{driver="panos",result="failed"} 1
ottr_rotations_total{driver="panos",result="rolled_back"} 1
ottr_rotations_total{driver="panos",result="succeeded"} 0
`
	if err := testutil.GatherAndCompare(m.Gatherer(), strings.NewReader(want), "ottr_rotations_total"); err != nil {
		t.Error(err)
	}
	steps := func(driver string, step rotation.Step, result string) float64 {
		v, _ := value(t, m.Gatherer(), "ottr_rotation_step_duration_seconds", map[string]string{"driver": driver, "step": string(step), "result": result})
		return v
	}
	if got := steps("panos", rotation.StepCSR, "succeeded"); got != 2 {
		t.Errorf("panos csr steps that succeeded: %v, want 2", got)
	}
	if got := steps("panos", rotation.StepInstall, "failed"); got != 1 {
		t.Errorf("panos install steps that failed: %v, want 1", got)
	}
	if got := steps("linux", rotation.StepRecord, "succeeded"); got != 1 {
		t.Errorf("linux record steps: %v, want 1", got)
	}
	if lookups["fw.example.com"] != 2 || lookups["web.example.com"] != 1 {
		t.Errorf("driver lookups %v: want one per rotation", lookups)
	}
	if told != sent {
		t.Errorf("the next observer was told %d of %d events", told, sent)
	}
}

func TestDNSUpdatesAreCountedByZoneOperationAndResult(t *testing.T) {
	m := metrics.New(metrics.Options{})
	m.ObserveDNSUpdate(acme.DNSUpdate{Operation: "present", Zone: "acme.example.net", Duration: 40 * time.Millisecond})
	m.ObserveDNSUpdate(acme.DNSUpdate{Operation: "present", Zone: "acme.example.net", Duration: time.Second, Err: errors.New("REFUSED")})
	m.ObserveDNSUpdate(acme.DNSUpdate{Operation: "cleanup", Zone: "acme.example.net", Duration: 30 * time.Millisecond})
	want := `
# HELP ottr_dns_updates_total DNS-01 challenge records written (present) and removed (cleanup), by delegate zone and result (succeeded, failed).
# TYPE ottr_dns_updates_total counter
ottr_dns_updates_total{operation="cleanup",result="succeeded",zone="acme.example.net"} 1
ottr_dns_updates_total{operation="present",result="failed",zone="acme.example.net"} 1
ottr_dns_updates_total{operation="present",result="succeeded",zone="acme.example.net"} 1
`
	if err := testutil.GatherAndCompare(m.Gatherer(), strings.NewReader(want), "ottr_dns_updates_total"); err != nil {
		t.Error(err)
	}
	if v, _ := value(t, m.Gatherer(), "ottr_dns_update_duration_seconds", map[string]string{"operation": "present"}); v != 2 {
		t.Errorf("%v present updates timed, want 2", v)
	}
}

func TestRateLimitHeadroomPerCA(t *testing.T) {
	clock := time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC)
	budget := ratelimit.New(map[string]ratelimit.Limits{
		"le":      ratelimit.Defaults(ratelimit.KindLetsEncrypt),
		"staging": ratelimit.Defaults(ratelimit.KindLetsEncryptStaging),
	}, func() time.Time { return clock })
	for i := range 40 {
		budget.Reserve("le", []string{strings.Repeat("a", i+1) + ".example.com"})
	}
	budget.Penalize("staging", clock.Add(time.Hour))
	m := metrics.New(metrics.Options{})
	m.AddBudget(budget, []string{"le", "staging", "internal"})
	want := `
# HELP ottr_ratelimit_held_until_timestamp_seconds Until when the CA's Retry-After holds every order to it back, in Unix seconds; absent when it does not.
# TYPE ottr_ratelimit_held_until_timestamp_seconds gauge
ottr_ratelimit_held_until_timestamp_seconds{ca="staging"} ` + unix(clock.Add(time.Hour)) + `
# HELP ottr_ratelimit_new_orders_left New orders the CA profile's account could place now without waiting, after those already booked (this process's rate-limit budget).
# TYPE ottr_ratelimit_new_orders_left gauge
ottr_ratelimit_new_orders_left{ca="le"} 260
ottr_ratelimit_new_orders_left{ca="staging"} 0
# HELP ottr_ratelimit_new_orders_limit The CA profile's new-orders-per-account limit the budget counts against.
# TYPE ottr_ratelimit_new_orders_limit gauge
ottr_ratelimit_new_orders_limit{ca="le"} 300
ottr_ratelimit_new_orders_limit{ca="staging"} 1500
`
	if err := testutil.GatherAndCompare(m.Gatherer(), strings.NewReader(want),
		"ottr_ratelimit_held_until_timestamp_seconds", "ottr_ratelimit_new_orders_left", "ottr_ratelimit_new_orders_limit"); err != nil {
		t.Error(err)
	}
}

func TestScans(t *testing.T) {
	clock := time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC)
	m := metrics.New(metrics.Options{Now: func() time.Time { return clock }})
	if _, ok := value(t, m.Gatherer(), "ottr_scan_last_success_timestamp_seconds", nil); ok {
		t.Error("a last successful scan before any scan")
	}
	m.ObserveScan(2*time.Second, 12, nil)
	first := clock
	clock = clock.Add(5 * time.Minute)
	m.ObserveScan(time.Second, 0, errors.New("database is locked"))
	want := `
# HELP ottr_scan_last_success_timestamp_seconds When this process's last successful scan ended, in Unix seconds; absent until one has.
# TYPE ottr_scan_last_success_timestamp_seconds gauge
ottr_scan_last_success_timestamp_seconds ` + unix(first) + `
# HELP ottr_scans_total Scheduler scans for due assets run by this process, by result (succeeded, failed).
# TYPE ottr_scans_total counter
ottr_scans_total{result="failed"} 1
ottr_scans_total{result="succeeded"} 1
# HELP ottr_scan_enqueued_rotations_total Rotations the scheduler's scans queued.
# TYPE ottr_scan_enqueued_rotations_total counter
ottr_scan_enqueued_rotations_total 12
`
	if err := testutil.GatherAndCompare(m.Gatherer(), strings.NewReader(want),
		"ottr_scan_last_success_timestamp_seconds", "ottr_scans_total", "ottr_scan_enqueued_rotations_total"); err != nil {
		t.Error(err)
	}
}

func TestNotificationsAreCountedPerChannel(t *testing.T) {
	m := metrics.New(metrics.Options{})
	m.InitNotifications([]string{"oncall"}, []string{"rotation.failed"})
	m.ObserveDelivery("oncall", "rotation.failed", errors.New("429"), false)
	m.ObserveDelivery("oncall", "rotation.failed", nil, false)
	m.ObserveDelivery("team", "certificate.expiring", errors.New("500"), true)
	want := `
# HELP ottr_notifications_total Notification deliveries, by channel, event kind and result (sent; retried: failed and tried again later; failed: given up).
# TYPE ottr_notifications_total counter
ottr_notifications_total{channel="oncall",event="rotation.failed",result="failed"} 0
ottr_notifications_total{channel="oncall",event="rotation.failed",result="retried"} 1
ottr_notifications_total{channel="oncall",event="rotation.failed",result="sent"} 1
ottr_notifications_total{channel="team",event="certificate.expiring",result="failed"} 1
`
	if err := testutil.GatherAndCompare(m.Gatherer(), strings.NewReader(want), "ottr_notifications_total"); err != nil {
		t.Error(err)
	}
}

func TestBuildInfo(t *testing.T) {
	m := metrics.New(metrics.Options{})
	families, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "ottr_build_info" {
			if len(f.Metric) != 1 || f.Metric[0].GetGauge().GetValue() != 1 {
				t.Fatalf("ottr_build_info: %v", f.Metric)
			}
			if got := labelOf(f.Metric[0].Label, "goversion"); got != runtime.Version() {
				t.Errorf("goversion %q, want %q", got, runtime.Version())
			}
			for _, l := range []string{"version", "revision"} {
				if labelOf(f.Metric[0].Label, l) == "" {
					t.Errorf("ottr_build_info has no %s", l)
				}
			}
			return
		}
	}
	t.Error("no ottr_build_info")
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// The directory's own URLs are learnt from the directory as it passes,
// whatever their paths; a request that got no answer is an "error".
func TestACMEEndpointsAreLearntFromTheDirectory(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/dir":
			fmt.Fprintf(w, `{"newNonce":%q,"newOrder":%q,"renewalInfo":%q}`, srv.URL+"/n1", srv.URL+"/n2", srv.URL+"/n3")
		case "/n2":
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	defer srv.Close()
	m := metrics.New(metrics.Options{})
	client := &http.Client{Transport: m.ACMETransport("le", srv.URL+"/dir", nil)}
	for _, path := range []string{"/dir", "/n1", "/n2", "/n3/abc.def", "/n4"} {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if path == "/dir" && !strings.Contains(string(body), "newNonce") {
			t.Errorf("the client got the directory %q, not as the CA sent it", body)
		}
	}
	srv.Close()
	if _, err := client.Get(srv.URL + "/n1"); err == nil {
		t.Fatal("a request to a closed server got an answer")
	}
	want := `
# HELP ottr_acme_requests_total HTTP requests to ACME CAs, by CA profile, ACME endpoint and HTTP status ("error" when no answer came).
# TYPE ottr_acme_requests_total counter
ottr_acme_requests_total{ca="le",endpoint="directory",status="200"} 1
ottr_acme_requests_total{ca="le",endpoint="new-nonce",status="200"} 1
ottr_acme_requests_total{ca="le",endpoint="new-nonce",status="error"} 1
ottr_acme_requests_total{ca="le",endpoint="new-order",status="429"} 1
ottr_acme_requests_total{ca="le",endpoint="other",status="200"} 1
ottr_acme_requests_total{ca="le",endpoint="renewal-info",status="200"} 1
`
	if err := testutil.GatherAndCompare(m.Gatherer(), strings.NewReader(want), "ottr_acme_requests_total"); err != nil {
		t.Error(err)
	}
}
