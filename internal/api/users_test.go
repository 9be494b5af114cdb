package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/store"
)

func TestAdminsManageUsersWithoutEverSeeingAHash(t *testing.T) {
	e, admin := adminEnv(t)
	r := e.call(http.MethodPost, "/admin/v1/users", admin, map[string]string{"username": "alice", "password": "Alice-pw1!", "role": "PRIVILEGED"})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var created userView
	r.json(t, &created)
	if created.Username != "alice" || created.Role != "PRIVILEGED" || created.Timestamp.IsZero() {
		t.Errorf("created %+v", created)
	}
	if r := login(e, "alice", "Alice-pw1!"); r.status != http.StatusOK {
		t.Errorf("the new user cannot log in: %d", r.status)
	}
	list := e.call(http.MethodGet, "/admin/v1/users", admin, nil)
	if !strings.Contains(string(list.body), `"username":"alice"`) || strings.Contains(strings.ToLower(string(list.body)), "hash") || strings.Contains(string(list.body), "$2a$") {
		t.Errorf("list: %s", list.body)
	}
	for _, tc := range []struct {
		name   string
		body   map[string]string
		status int
		field  string
	}{
		{"a taken username", map[string]string{"username": "alice", "password": "Alice-pw1!", "role": "DEVELOPER"}, 409, "body.username"},
		{"a weak password", map[string]string{"username": "bob", "password": "weakpass", "role": "DEVELOPER"}, 422, "body.password"},
		{"a username with a space", map[string]string{"username": "bob smith", "password": "Alice-pw1!", "role": "DEVELOPER"}, 422, "body.username"},
		{"an unknown role", map[string]string{"username": "bob", "password": "Alice-pw1!", "role": "ROOT"}, 422, "body.role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.call(http.MethodPost, "/admin/v1/users", admin, tc.body)
			if r.status != tc.status {
				t.Fatalf("%d, want %d: %s", r.status, tc.status, r.body)
			}
			p := r.problem(t)
			if len(p.Errors) == 0 || p.Errors[0].Location != tc.field {
				t.Errorf("errors %+v, want one at %s", p.Errors, tc.field)
			}
			if strings.Contains(string(r.body), tc.body["password"]) {
				t.Errorf("the answer quotes the password: %s", r.body)
			}
		})
	}
	if r := e.call(http.MethodDelete, "/admin/v1/users/alice", admin, nil); r.status != http.StatusNoContent {
		t.Errorf("delete: %d", r.status)
	}
	if r := e.call(http.MethodDelete, "/admin/v1/users/nobody", admin, nil); r.status != http.StatusNoContent {
		t.Errorf("delete of an unknown user: %d, want 204 as Ottr answered", r.status)
	}
	if r := e.call(http.MethodDelete, "/admin/v1/users/admin", admin, nil); r.status != http.StatusConflict {
		t.Errorf("delete of the last admin: %d, want 409", r.status)
	}

	events, err := e.app.Store.ListAudit(context.Background(), store.AuditFilter{Target: "user/alice"})
	if err != nil || len(events) != 2 || events[0].Action != "user.delete" || events[1].Action != "user.create" {
		t.Fatalf("audit of alice: %+v %v", events, err)
	}
	for _, ev := range events {
		all := string(ev.Before) + string(ev.After)
		if strings.Contains(all, "Alice-pw1!") || strings.Contains(all, "$2a$") || strings.Contains(strings.ToLower(all), "hash") {
			t.Errorf("audit event %s holds a secret: %s", ev.Action, all)
		}
		if ev.Actor != "admin" || ev.RemoteAddr == "" {
			t.Errorf("audit event %+v lacks the actor or address", ev)
		}
	}
}

func TestTheAuditTrailPagesNewestFirst(t *testing.T) {
	e, admin := adminEnv(t)
	for i := range 5 {
		e.addAsset(admin, fmt.Sprintf("fw%d", i))
	}
	var ids []int64
	query := "/admin/v1/audit?action=asset.create&limit=2"
	for query != "" {
		r := e.call(http.MethodGet, query, admin, nil)
		var page []store.AuditEvent
		r.json(t, &page)
		for _, ev := range page {
			ids = append(ids, ev.ID)
		}
		query = ""
		if link := r.header.Get("Link"); link != "" {
			query = strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
		}
	}
	if len(ids) != 5 {
		t.Fatalf("ids %v, want 5 events", ids)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] >= ids[i-1] {
			t.Errorf("ids %v are not newest first", ids)
		}
	}
}

func TestHealthAndReadiness(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		if r := e.call(http.MethodGet, path, "", nil); r.status != http.StatusOK || !strings.Contains(string(r.body), `"ok"`) {
			t.Errorf("%s: %d %s", path, r.status, r.body)
		}
	}
	e.app.Store.Close()
	if r := e.call(http.MethodGet, "/readyz", "", nil); r.status != http.StatusServiceUnavailable {
		t.Errorf("readyz with the store closed: %d, want 503", r.status)
	}
}

func TestTheOpenAPIDescriptionAndDocsPageWorkOffline(t *testing.T) {
	e := newEnv(t)
	r := e.call(http.MethodGet, "/openapi.json", "", nil)
	var spec struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	r.json(t, &spec)
	if !strings.HasPrefix(spec.OpenAPI, "3.1") {
		t.Errorf("openapi %q, want 3.1", spec.OpenAPI)
	}
	for _, path := range []string{"/api/v1/search", "/api/v1/assets", "/user/v1/authenticate", "/admin/v1/management/certificate-validation/set/{system_name}", "/api/v1/management/certificate-validation/unset/{system_name}"} {
		if spec.Paths[path] == nil {
			t.Errorf("the description lacks %s", path)
		}
	}
	put, _ := json.Marshal(spec.Paths["/api/v1/assets"]["put"])
	if !strings.Contains(string(put), "#/components/schemas/Asset") {
		t.Errorf("PUT /api/v1/assets does not document the asset body: %s", put)
	}

	docs := e.call(http.MethodGet, "/docs", "", nil)
	page := string(docs.body)
	if docs.status != http.StatusOK || !strings.Contains(page, "/api/v1/certificate/rotate/{system_name}") {
		t.Fatalf("docs: %d %.200s", docs.status, page)
	}
	if refs := regexp.MustCompile(`(?i)(src|href)\s*=\s*"(https?:)?//`).FindAllString(page, -1); len(refs) > 0 {
		t.Errorf("the docs page loads from elsewhere: %v", refs)
	}
	if strings.Contains(page, "<script") {
		t.Error("the docs page runs a script")
	}
}

func TestEveryChangeLandsInTheAuditTrail(t *testing.T) {
	e, admin := adminEnv(t)
	name := e.addAsset(admin, "fw1")
	e.call(http.MethodPut, "/api/v1/assets", admin, assetJSON("fw1"))
	e.call(http.MethodPatch, "/admin/v1/management/certificate-validation/unset/"+name, admin, nil)
	e.call(http.MethodPatch, "/api/v1/management/certificate-validation/set/"+name, admin, nil)
	e.call(http.MethodPost, "/api/v1/certificate/rotate/"+name, admin, nil)
	e.call(http.MethodDelete, "/api/v1/assets/delete/"+name, admin, nil)
	e.call(http.MethodPost, "/admin/v1/users", admin, map[string]string{"username": "bob", "password": "Bob-pass1!", "role": "DEVELOPER"})
	e.call(http.MethodPut, "/user/v1/authenticate", "", map[string]string{"username": "bob", "password": "Bob-pass1!", "updated_password": "Bob-pass2!"})
	e.call(http.MethodDelete, "/admin/v1/users/bob", admin, nil)

	events, err := e.app.Store.ListAudit(context.Background(), store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(events) - 1; i >= 0; i-- {
		ev := events[i]
		got = append(got, ev.Action+" "+ev.Target+" by "+ev.Actor)
		if ev.RemoteAddr == "" || ev.Time.IsZero() {
			t.Errorf("%s: no address or time", ev.Action)
		}
	}
	want := []string{
		"asset.create asset/fw1.lab.ottr.test by admin",
		"asset.update asset/fw1.lab.ottr.test by admin",
		"asset.certificate_validation.unset asset/fw1.lab.ottr.test by admin",
		"asset.certificate_validation.set asset/fw1.lab.ottr.test by admin",
		"asset.rotate asset/fw1.lab.ottr.test by admin",
		"asset.delete asset/fw1.lab.ottr.test by admin",
		"user.create user/bob by admin",
		"user.password user/bob by bob",
		"user.delete user/bob by admin",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit trail:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
