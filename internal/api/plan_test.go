package api

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/store"
)

// addFreshAndUnrouted adds an asset with a certificate a day old, not
// due, and one no route takes; it returns the fresh one's name.
func (e *env) addFreshAndUnrouted(admin string) string {
	e.t.Helper()
	ctx := context.Background()
	fresh := e.addAsset(admin, "fresh")
	a, _ := e.app.Store.GetAsset(ctx, fresh)
	notBefore, exp := e.clock.Now().Add(-24*time.Hour), e.clock.Now().Add(89*24*time.Hour)
	a.CertificateNotBefore, a.CertificateExpiration = &notBefore, &exp
	if err := e.app.Store.UpdateAsset(ctx, a); err != nil {
		e.t.Fatal(err)
	}
	body := assetJSON("unrouted")
	body["host_platform"], body["os_version"] = "panos", "10.1"
	e.call(http.MethodPost, "/api/v1/assets", admin, body)
	return fresh
}

func TestPlanSaysWhatIsDueAndWhichRouteTakesItWithoutChangingAnything(t *testing.T) {
	e, admin := adminEnv(t)
	ctx := context.Background()
	e.addAsset(admin, "due")
	fresh := e.addFreshAndUnrouted(admin)
	auditBefore, _ := e.app.Store.ListAudit(ctx, store.AuditFilter{})

	r := e.call(http.MethodPost, "/api/v1/plan", admin, nil)
	var res planResult
	r.json(t, &res)
	if r.status != http.StatusOK || res.Assets != 3 || res.Due != 2 || res.NoRoute != 1 || len(res.Rows) != 3 {
		t.Fatalf("plan: %d %+v", r.status, res)
	}
	for _, row := range res.Rows {
		switch row.Asset {
		case "due.lab.ottr.test":
			if !row.Due || row.Reason != "expiry_unknown" || row.Route != "lab-linux" || row.Driver != "linux" {
				t.Errorf("due asset: %+v", row)
			}
		case fresh:
			if row.Due || row.Reason != "not_due" || !row.When.After(e.clock.Now()) {
				t.Errorf("fresh asset: %+v", row)
			}
		case "unrouted.lab.ottr.test":
			if row.Route != "" {
				t.Errorf("unrouted asset: %+v", row)
			}
		}
	}
	r = e.call(http.MethodPost, "/api/v1/plan", admin, map[string]any{"due_only": true, "limit": 1, "host_platform": "linux"})
	r.json(t, &res)
	if res.Assets != 2 || res.Due != 1 || len(res.Rows) != 1 || res.Rows[0].Asset != "due.lab.ottr.test" || res.Truncated {
		t.Errorf("due only, linux, limit 1: %+v", res)
	}
	rots, _ := e.app.Store.ListRotations(ctx, store.RotationFilter{})
	auditAfter, _ := e.app.Store.ListAudit(ctx, store.AuditFilter{})
	if len(rots) != 0 || len(e.enq.rots) != 0 || len(auditAfter) != len(auditBefore) {
		t.Errorf("the plan changed something: %d rotations, %d queued, %d audit events", len(rots), len(e.enq.rots), len(auditAfter)-len(auditBefore))
	}
}

func TestRoutesAreListedInOrder(t *testing.T) {
	e, admin := adminEnv(t)
	var routes []routeView
	r := e.call(http.MethodGet, "/api/v1/routes", admin, nil)
	r.json(t, &routes)
	if len(routes) != 2 || routes[0].Name != "lab-linux" || routes[1].Match.OSVersion != "9.*" || routes[1].Index != 1 {
		t.Errorf("routes: %+v", routes)
	}
}

// A CA that takes two new orders an hour: of three due devices the plan
// runs two now and the third half an hour later, as `ottr plan` and the
// web UI's plan book them, and a plan of the third alone still says half
// an hour, since the scheduler books the whole inventory.
func TestPlanSaysWhenEachDueRotationRunsUnderTheCAsRateLimits(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ottr.yaml")
	text := strings.Replace(fmt.Sprintf(testConfig, dir), "    directory: https://127.0.0.1:14000/dir\n",
		"    directory: https://127.0.0.1:14000/dir\n    rate_limits:\n      new_orders_per_account: {count: 2, period: 1h}\n", 1)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWithConfig(t, cfg, nil)
	e.addUser("admin", store.RoleAdmin)
	admin := e.token("admin", time.Time{})
	for _, name := range []string{"a", "b", "c"} {
		e.addAsset(admin, name)
	}
	e.addFreshAndUnrouted(admin)

	var res planResult
	e.call(http.MethodPost, "/api/v1/plan", admin, nil).json(t, &res)
	runsAt := map[string]*time.Time{}
	for _, row := range res.Rows {
		runsAt[strings.TrimSuffix(row.Asset, ".lab.ottr.test")] = row.RunsAt
	}
	for _, name := range []string{"fresh", "unrouted"} {
		if at, ok := runsAt[name]; !ok || at != nil {
			t.Errorf("%s runs at %v, want null: it is not due or has no route", name, at)
		}
	}
	first, second, third := runsAt["a"], runsAt["b"], runsAt["c"]
	if first == nil || second == nil || third == nil {
		t.Fatalf("a, b and c are due with a route but run at %v, %v, %v", first, second, third)
	}
	if !second.Equal(*first) || third.Sub(*first) != 30*time.Minute {
		t.Errorf("a, b and c run at %s, %s, %s; want a and b together and c half an hour later", first, second, third)
	}

	e.call(http.MethodPost, "/api/v1/plan", admin, map[string]any{"system_name": "c.lab.ottr.test"}).json(t, &res)
	// The budget reads the real clock, a little later on every call, so
	// c alone runs half an hour after this plan's now, not exactly at c's
	// time above; booked alone it would run now.
	if len(res.Rows) != 1 || res.Rows[0].RunsAt == nil || res.Rows[0].RunsAt.Sub(res.Now) < 30*time.Minute {
		t.Errorf("c alone, planned at %s: %+v; want it to run half an hour later, after a and b, as in the whole plan", res.Now, res.Rows)
	}

	var spec struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Description string `json:"description"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	e.call(http.MethodGet, "/openapi.json", "", nil).json(t, &spec)
	var documented bool
	for _, schema := range spec.Components.Schemas {
		if _, hasAsset := schema.Properties["asset"]; hasAsset && strings.Contains(schema.Properties["runs_at"].Description, "rate limits") {
			documented = true
		}
	}
	if !documented {
		t.Error("the OpenAPI description does not document runs_at in the plan's rows")
	}
}
