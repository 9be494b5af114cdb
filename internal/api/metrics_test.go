package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/store"
)

// Prometheus scrapes /metrics as probes call /healthz: without a token.
func TestMetricsAnswerWithoutATokenInTheExpositionFormat(t *testing.T) {
	e := newEnv(t)
	e.addUser("admin", store.RoleAdmin)
	admin := e.token("admin", time.Time{})
	name := e.addAsset(admin, "fw1")
	r := e.call(http.MethodGet, "/metrics", "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /metrics without a token: %d %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q, want the text exposition format", ct)
	}
	body := string(r.body)
	for _, want := range []string{
		`ottr_asset_status{asset="` + name + `",data_center="dc1",platform="linux",profile="lab",state="due"} 1`,
		`ottr_rotation_consecutive_failures{asset="` + name + `",data_center="dc1",platform="linux",profile="lab"} 0`,
		"ottr_build_info{",
		`ottr_scans_total{result="failed"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if r := e.call(http.MethodPost, "/metrics", "", nil); r.status == http.StatusOK {
		t.Errorf("POST /metrics: %d, want it refused", r.status)
	}
}

// An asset deleted through the API leaves no series behind.
func TestMetricsForgetADeletedAsset(t *testing.T) {
	e := newEnv(t)
	e.addUser("admin", store.RoleAdmin)
	admin := e.token("admin", time.Time{})
	name := e.addAsset(admin, "fw2")
	if !strings.Contains(string(e.call(http.MethodGet, "/metrics", "", nil).body), `asset="`+name+`"`) {
		t.Fatalf("/metrics lacks the asset %s", name)
	}
	if r := e.call(http.MethodDelete, "/api/v1/assets/delete/"+name, admin, nil); r.status >= 300 {
		t.Fatalf("delete %s: %d %s", name, r.status, r.body)
	}
	if body := string(e.call(http.MethodGet, "/metrics", "", nil).body); strings.Contains(body, name) {
		t.Errorf("/metrics still shows the deleted asset %s", name)
	}
}
