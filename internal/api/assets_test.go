package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
)

func adminEnv(t *testing.T) (*env, string) {
	t.Helper()
	e := newEnv(t)
	e.addUser("admin", store.RoleAdmin)
	return e, e.token("admin", time.Time{})
}

func TestOttrsFormsAreAcceptedAndAnsweredInRFC3339(t *testing.T) {
	e, admin := adminEnv(t)
	body := assetJSON("fw1")
	body["certificate_expiration"] = "2030-06-01T12:00:00"
	body["certificate_validation"] = "False"
	r := e.call(http.MethodPost, "/api/v1/assets", admin, body)
	if r.status != http.StatusCreated {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var raw map[string]any
	r.json(t, &raw)
	if raw["certificate_expiration"] != "2030-06-01T12:00:00Z" || raw["certificate_validation"] != false {
		t.Errorf("stored expiration %v, validation %v", raw["certificate_expiration"], raw["certificate_validation"])
	}
	body = assetJSON("fw2")
	body["certificate_expiration"] = "None"
	r = e.call(http.MethodPost, "/api/v1/assets", admin, body)
	r.json(t, &raw)
	if r.status != http.StatusCreated || raw["certificate_expiration"] != nil {
		t.Errorf("\"None\": %d, expiration %v, want 201 and null", r.status, raw["certificate_expiration"])
	}
	if raw["certificate_validation"] != true || raw["origin"] != "API" {
		t.Errorf("an asset created without them has certificate_validation %v, origin %v; Ottr set True and API", raw["certificate_validation"], raw["origin"])
	}
}

func TestPostRefusesAnAssetThatExists(t *testing.T) {
	e, admin := adminEnv(t)
	e.addAsset(admin, "fw1")
	body := assetJSON("FW1") // the same device, spelled in capitals
	r := e.call(http.MethodPost, "/api/v1/assets", admin, body)
	if r.status != http.StatusConflict {
		t.Fatalf("%d, want 409: %s", r.status, r.body)
	}
	if p := r.problem(t); !strings.Contains(p.Detail, "PUT") {
		t.Errorf("detail %q does not point to PUT", p.Detail)
	}
}

func TestPutCreatesThenUpdatesKeepingWhatTheBodyLeavesOut(t *testing.T) {
	e, admin := adminEnv(t)
	ctx := context.Background()
	body := assetJSON("fw1")
	body["labels"] = map[string]string{"team": "netops"}
	if r := e.call(http.MethodPut, "/api/v1/assets", admin, body); r.status != http.StatusCreated {
		t.Fatalf("first PUT: %d, want 201: %s", r.status, r.body)
	}
	// ottr records a rotation's outcome on the asset.
	a, _ := e.app.Store.GetAsset(ctx, "fw1.lab.ottr.test")
	exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	a.CertificateExpiration, a.CertificateSerial = &exp, "0abc"
	if err := e.app.Store.UpdateAsset(ctx, a); err != nil {
		t.Fatal(err)
	}
	// Ottr's synchronizer sends its fields only.
	update := assetJSON("fw1")
	update["ip_address"] = "192.0.2.99"
	delete(update, "subject_alternative_name")
	r := e.call(http.MethodPut, "/api/v1/assets", admin, update)
	if r.status != http.StatusOK {
		t.Fatalf("second PUT: %d, want 200: %s", r.status, r.body)
	}
	var got asset.Asset
	r.json(t, &got)
	if got.IPAddress != "192.0.2.99" {
		t.Errorf("ip_address %s, want the new one", got.IPAddress)
	}
	if got.CertificateExpiration == nil || !got.CertificateExpiration.Equal(exp) || got.CertificateSerial != "0abc" || got.Labels["team"] != "netops" {
		t.Errorf("fields the update left out changed: expiration %v, serial %q, labels %v", got.CertificateExpiration, got.CertificateSerial, got.Labels)
	}
	// What GET returns can be sent back as it is.
	back := e.call(http.MethodGet, "/api/v1/assets/fw1.lab.ottr.test", admin, nil)
	if r := e.call(http.MethodPut, "/api/v1/assets", admin, back.body); r.status != http.StatusOK {
		t.Errorf("PUT of the asset as GET returned it: %d %s", r.status, r.body)
	}
	events, _ := e.app.Store.ListAudit(ctx, store.AuditFilter{Target: "asset/fw1.lab.ottr.test"})
	if len(events) < 2 || events[len(events)-1].Action != "asset.create" || events[len(events)-2].Action != "asset.update" {
		t.Fatalf("audit %+v: want a create then an update", events)
	}
	var before, after asset.Asset
	_ = json.Unmarshal(events[len(events)-2].Before, &before)
	_ = json.Unmarshal(events[len(events)-2].After, &after)
	if before.IPAddress != "192.0.2.10" || after.IPAddress != "192.0.2.99" || events[0].Actor != "admin" {
		t.Errorf("the update's audit record has before %s, after %s, actor %s", before.IPAddress, after.IPAddress, events[0].Actor)
	}
}

func TestGetAndDeleteAnAsset(t *testing.T) {
	e, admin := adminEnv(t)
	name := e.addAsset(admin, "fw1")
	if r := e.call(http.MethodGet, "/api/v1/assets/FW1.Lab.Ottr.Test", admin, nil); r.status != http.StatusOK {
		t.Errorf("GET by another spelling: %d", r.status)
	}
	if r := e.call(http.MethodDelete, "/api/v1/assets/delete/"+name, admin, nil); r.status != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	for _, r := range []response{
		e.call(http.MethodGet, "/api/v1/assets/"+name, admin, nil),
		e.call(http.MethodDelete, "/api/v1/assets/delete/"+name, admin, nil),
	} {
		if r.status != http.StatusNotFound {
			t.Errorf("after delete: %d, want 404", r.status)
		}
	}
}

func TestCertificateValidationSetAndUnsetAnswerAsOttrDid(t *testing.T) {
	e, admin := adminEnv(t)
	name := e.addAsset(admin, "fw1")
	for _, tc := range []struct {
		path string
		key  string
		want bool
	}{
		{"/admin/v1/management/certificate-validation/unset/", "Certificate Validation Unset", false},
		{"/api/v1/management/certificate-validation/set/", "Certificate Validation Enabled", true},
		{"/api/v1/management/certificate-validation/unset/", "Certificate Validation Unset", false},
		{"/admin/v1/management/certificate-validation/set/", "Certificate Validation Enabled", true},
	} {
		r := e.call(http.MethodPatch, tc.path+name, admin, nil)
		var msg map[string]string
		r.json(t, &msg)
		if r.status != http.StatusOK || msg[tc.key] == "" {
			t.Errorf("PATCH %s: %d %v", tc.path, r.status, msg)
		}
		if a, _ := e.app.Store.GetAsset(context.Background(), name); a.CertificateValidation != tc.want {
			t.Errorf("PATCH %s: certificate_validation %v", tc.path, a.CertificateValidation)
		}
	}
	if r := e.call(http.MethodPatch, "/admin/v1/management/certificate-validation/set/nope.lab.ottr.test", admin, nil); r.status != http.StatusNotFound {
		t.Errorf("unknown asset: %d, want 404", r.status)
	}
}

func TestSearchFiltersAndPages(t *testing.T) {
	e, admin := adminEnv(t)
	ctx := context.Background()
	now := e.clock.Now()
	for i := range 25 {
		body := assetJSON(fmt.Sprintf("host-%02d", i))
		body["data_center"] = []string{"dc1", "dc2"}[i%2]
		body["ip_address"] = fmt.Sprintf("192.0.2.%d", i+1)
		e.call(http.MethodPost, "/api/v1/assets", admin, body)
		a, _ := e.app.Store.GetAsset(ctx, body["system_name"].(string))
		exp := now.Add(time.Duration(i*5) * 24 * time.Hour) // 0, 5, …, 120 days
		a.CertificateExpiration = &exp
		_ = e.app.Store.UpdateAsset(ctx, a)
	}
	search := func(query string) ([]asset.Asset, response) {
		r := e.call(http.MethodGet, "/api/v1/search?"+query, admin, nil)
		if r.status != http.StatusOK {
			t.Fatalf("search %s: %d %s", query, r.status, r.body)
		}
		var out []asset.Asset
		r.json(t, &out)
		return out, r
	}
	if got, _ := search("data_center=DC2"); len(got) != 12 {
		t.Errorf("data_center=DC2: %d assets, want 12", len(got))
	}
	if got, _ := search("ip_address=192.0.2.3"); len(got) != 1 || got[0].SystemName != "host-02.lab.ottr.test" {
		t.Errorf("ip_address: %v", got)
	}
	if got, _ := search("system_name=HOST-03.lab.ottr.test"); len(got) != 1 {
		t.Errorf("system_name in capitals: %d assets, want 1", len(got))
	}
	if got, _ := search("days_until_expiration=30"); len(got) != 6 {
		t.Errorf("days_until_expiration=30: %d assets, want the 6 expiring within 30 days", len(got))
	}
	if got, _ := search("host_platform=panos"); len(got) != 0 {
		t.Errorf("host_platform=panos: %v, want none", got)
	}
	// Pages of 10: the body stays a list, the next page is in the headers.
	var all []string
	query := "limit=10&origin=API"
	for page := 0; page < 5; page++ {
		got, r := search(query)
		for _, a := range got {
			all = append(all, a.SystemName)
		}
		next := r.header.Get("X-Next-Cursor")
		if next == "" {
			break
		}
		link := r.header.Get("Link")
		if !strings.Contains(link, "cursor="+next) || !strings.HasSuffix(link, `rel="next"`) {
			t.Errorf("Link %q does not lead to cursor %s", link, next)
		}
		query = "limit=10&origin=API&cursor=" + next
	}
	if len(all) != 25 || all[0] != "host-00.lab.ottr.test" || all[24] != "host-24.lab.ottr.test" {
		t.Errorf("paging gave %d assets (%v…), want all 25 in order", len(all), all[:min(3, len(all))])
	}
	for _, bad := range []string{"limit=0", "limit=1001", "days_until_expiration=soon", "cursor=***", "platform=linux"} {
		if r := e.call(http.MethodGet, "/api/v1/search?"+bad, admin, nil); r.status != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d, want 422", bad, r.status)
		}
	}
}

func TestRotateQueuesOnTheAssetsDataCenter(t *testing.T) {
	e, admin := adminEnv(t)
	body := assetJSON("fw1")
	body["data_center"] = "dc7"
	e.call(http.MethodPost, "/api/v1/assets", admin, body)
	r := e.call(http.MethodPost, "/api/v1/certificate/rotate/fw1.lab.ottr.test", admin, nil)
	if r.status != http.StatusAccepted {
		t.Fatalf("%d, want 202: %s", r.status, r.body)
	}
	var got rotateBody
	r.json(t, &got)
	if got.StatusURL != fmt.Sprintf("/api/v1/rotations/%d", got.RotationID) || r.header.Get("Location") != got.StatusURL {
		t.Errorf("answer %+v, Location %q", got, r.header.Get("Location"))
	}
	if len(e.enq.rots) != 1 || e.enq.rots[0].ID != got.RotationID || e.enq.dcs[0] != "dc7" || e.enq.rots[0].Trigger != store.TriggerAPI {
		t.Errorf("queued %+v on %v", e.enq.rots, e.enq.dcs)
	}
	again := e.call(http.MethodPost, "/api/v1/certificate/rotate/fw1.lab.ottr.test", admin, nil)
	if again.status != http.StatusConflict || !strings.Contains(again.problem(t).Detail, fmt.Sprint(got.RotationID)) {
		t.Errorf("second rotate: %d %s, want 409 naming rotation %d", again.status, again.body, got.RotationID)
	}
	status := e.call(http.MethodGet, got.StatusURL, admin, nil)
	var view rotationView
	status.json(t, &view)
	if status.status != http.StatusOK || view.State != store.StatePending || view.Asset != "fw1.lab.ottr.test" {
		t.Errorf("status: %d %+v", status.status, view)
	}
	if r := e.call(http.MethodGet, "/api/v1/rotations?asset=fw1.lab.ottr.test&state=pending", admin, nil); !strings.Contains(string(r.body), `"id":1`) {
		t.Errorf("list: %d %s", r.status, r.body)
	}
}

func TestRotateAnswers404And422(t *testing.T) {
	e, admin := adminEnv(t)
	if r := e.call(http.MethodPost, "/api/v1/certificate/rotate/nope.lab.ottr.test", admin, nil); r.status != http.StatusNotFound {
		t.Errorf("unknown asset: %d, want 404", r.status)
	}
	body := assetJSON("pa1")
	body["host_platform"], body["os_version"], body["device_model"] = "panos", "8.1", "PA-220"
	if r := e.call(http.MethodPost, "/api/v1/assets", admin, body); r.status != http.StatusCreated {
		t.Fatalf("add: %d %s", r.status, r.body)
	}
	r := e.call(http.MethodPost, "/api/v1/certificate/rotate/pa1.lab.ottr.test", admin, nil)
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("no route: %d, want 422: %s", r.status, r.body)
	}
	p := r.problem(t)
	text := p.Detail
	for _, d := range p.Errors {
		text += " " + d.Message
	}
	for _, missing := range []string{`os_version "8.1"`, `device_model "PA-220" is not in [PA-3220]`, `host_platform "panos" is not "linux"`} {
		if !strings.Contains(text, missing) {
			t.Errorf("the problem does not say %s: %s", missing, r.body)
		}
	}
	if len(e.enq.rots) != 0 {
		t.Error("a rotation with no route was queued")
	}
}

func TestARotationThatCannotBeQueuedDoesNotBlockTheNext(t *testing.T) {
	e, admin := adminEnv(t)
	name := e.addAsset(admin, "fw1")
	e.enq.err = errors.New("queue down")
	if r := e.call(http.MethodPost, "/api/v1/certificate/rotate/"+name, admin, nil); r.status != http.StatusInternalServerError {
		t.Fatalf("%d, want 500", r.status)
	} else if strings.Contains(string(r.body), "queue down") {
		t.Errorf("the answer shows the internal error: %s", r.body)
	}
	if rots, err := e.app.Store.ListRotations(context.Background(), store.RotationFilter{Asset: name}); err != nil || len(rots) != 0 {
		t.Errorf("a rotation that could not be queued was kept: %d (%v)", len(rots), err)
	}
	e.enq.err = nil
	if r := e.call(http.MethodPost, "/api/v1/certificate/rotate/"+name, admin, nil); r.status != http.StatusAccepted {
		t.Errorf("next try: %d, want 202: %s", r.status, r.body)
	}
}

func TestRotateSetsGoingARotationWhoseProcessIsGone(t *testing.T) {
	e, admin := adminEnv(t)
	name := e.addAsset(admin, "fw1")
	first := e.call(http.MethodPost, "/api/v1/certificate/rotate/"+name, admin, nil)
	if first.status != http.StatusAccepted {
		t.Fatalf("%d, want 202: %s", first.status, first.body)
	}
	var started rotateBody
	if err := json.Unmarshal(first.body, &started); err != nil {
		t.Fatal(err)
	}

	t.Run("a rotation on its way is a conflict", func(t *testing.T) {
		r := e.call(http.MethodPost, "/api/v1/certificate/rotate/"+name, admin, nil)
		if r.status != http.StatusConflict {
			t.Errorf("%d, want 409: %s", r.status, r.body)
		}
	})
	t.Run("a rotation whose process is gone is taken over and answered like a new one", func(t *testing.T) {
		e.enq.revive = true
		r := e.call(http.MethodPost, "/api/v1/certificate/rotate/"+name, admin, nil)
		if r.status != http.StatusAccepted {
			t.Fatalf("%d, want 202: %s", r.status, r.body)
		}
		var got rotateBody
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatal(err)
		}
		if got.RotationID != started.RotationID {
			t.Errorf("answered rotation %d, want the active one, %d", got.RotationID, started.RotationID)
		}
		if len(e.enq.rots) != 1 {
			t.Errorf("%d rotations queued, want only the first", len(e.enq.rots))
		}
	})
}
