package api

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/store"
)

func TestPlanSaysWhatIsDueAndWhichRouteTakesItWithoutChangingAnything(t *testing.T) {
	e, admin := adminEnv(t)
	ctx := context.Background()
	e.addAsset(admin, "due")
	fresh := e.addAsset(admin, "fresh")
	a, _ := e.app.Store.GetAsset(ctx, fresh)
	notBefore, exp := e.clock.Now().Add(-24*time.Hour), e.clock.Now().Add(89*24*time.Hour)
	a.CertificateNotBefore, a.CertificateExpiration = &notBefore, &exp
	if err := e.app.Store.UpdateAsset(ctx, a); err != nil {
		t.Fatal(err)
	}
	body := assetJSON("unrouted")
	body["host_platform"], body["os_version"] = "panos", "10.1"
	e.call(http.MethodPost, "/api/v1/assets", admin, body)
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
