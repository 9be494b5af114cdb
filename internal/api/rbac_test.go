package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/ottr-go/ottr/internal/store"
)

// endpoint is one operation of the API as the RBAC matrix calls it.
type endpoint struct {
	method, pattern string
	// role is the least role that may call it; "" for no token needed.
	role string
	// ok is the status a caller with the role gets.
	ok int
	// prepare returns the path and body of one call; each call gets fresh
	// records where a call consumes them.
	prepare func(call int) (path string, body any)
}

func fixed(path string, body any) func(int) (string, any) {
	return func(int) (string, any) { return path, body }
}

// credential is a way of calling the API.
type credential struct {
	name   string
	header string
	// role is what the caller may do; "" means nothing (401).
	role string
}

func TestEveryEndpointLetsInExactlyTheRolesItShould(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.addUser("admin", store.RoleAdmin)
	e.addUser("privileged", store.RolePrivileged)
	e.addUser("developer", store.RoleDeveloper)
	e.addUser("leaver", store.RoleAdmin)
	e.addUser("demoted", store.RoleAdmin)
	admin := e.token("admin", time.Time{})

	creds := []credential{
		{"no token", "", ""},
		{"an expired token", e.token("admin", e.clock.Now().Add(-31*time.Minute)), ""},
		{"a deleted user's token", e.token("leaver", time.Time{}), ""},
		{"a demoted user's token", e.token("demoted", time.Time{}), store.RoleDeveloper},
		{"a DEVELOPER", e.token("developer", time.Time{}), store.RoleDeveloper},
		{"a PRIVILEGED user", e.token("privileged", time.Time{}), store.RolePrivileged},
		{"an ADMIN", admin, store.RoleAdmin},
	}
	if err := e.app.Store.DeleteUser(ctx, "leaver"); err != nil {
		t.Fatal(err)
	}
	demoted, _ := e.app.Store.GetUser(ctx, "demoted")
	demoted.Role = store.RoleDeveloper
	if err := e.app.Store.UpdateUser(ctx, demoted); err != nil {
		t.Fatal(err)
	}

	shared := e.addAsset(admin, "shared")
	rotated := e.addAsset(admin, "rotated")
	r := e.call(http.MethodPost, "/api/v1/certificate/rotate/"+rotated, admin, nil)
	var rot rotateBody
	r.json(t, &rot)
	pwUser, pw := "changer", e.addUser("changer", store.RoleDeveloper)
	loginUser, loginPW := "loginer", e.addUser("loginer", store.RoleDeveloper)

	fresh := func(prefix string) func(int) string {
		return func(call int) string { return e.addAsset(admin, fmt.Sprintf("%s-%d", prefix, call)) }
	}
	freshAsset, freshRotate := fresh("del"), fresh("rot")
	endpoints := []endpoint{
		{"GET", "/admin/v1/users", store.RoleAdmin, 200, fixed("/admin/v1/users", nil)},
		{"POST", "/admin/v1/users", store.RoleAdmin, 201, func(call int) (string, any) {
			return "/admin/v1/users", map[string]string{"username": fmt.Sprintf("new-%d", call), "password": "Abcdef1!", "role": "DEVELOPER"}
		}},
		{"DELETE", "/admin/v1/users/{username}", store.RoleAdmin, 204, func(call int) (string, any) {
			name := fmt.Sprintf("victim-%d", call)
			e.addUser(name, store.RoleDeveloper)
			return "/admin/v1/users/" + name, nil
		}},
		{"PATCH", "/admin/v1/management/certificate-validation/unset/{system_name}", store.RoleAdmin, 200,
			fixed("/admin/v1/management/certificate-validation/unset/"+shared, nil)},
		{"PATCH", "/admin/v1/management/certificate-validation/set/{system_name}", store.RoleAdmin, 200,
			fixed("/admin/v1/management/certificate-validation/set/"+shared, nil)},
		{"PATCH", "/api/v1/management/certificate-validation/unset/{system_name}", store.RoleAdmin, 200,
			fixed("/api/v1/management/certificate-validation/unset/"+shared, nil)},
		{"PATCH", "/api/v1/management/certificate-validation/set/{system_name}", store.RoleAdmin, 200,
			fixed("/api/v1/management/certificate-validation/set/"+shared, nil)},
		{"POST", "/api/v1/assets", store.RolePrivileged, 201, func(call int) (string, any) {
			return "/api/v1/assets", assetJSON(fmt.Sprintf("post-%d", call))
		}},
		{"PUT", "/api/v1/assets", store.RolePrivileged, 200, fixed("/api/v1/assets", assetJSON("shared"))},
		{"DELETE", "/api/v1/assets/delete/{system_name}", store.RolePrivileged, 204, func(call int) (string, any) {
			return "/api/v1/assets/delete/" + freshAsset(call), nil
		}},
		{"POST", "/api/v1/certificate/rotate/{system_name}", store.RolePrivileged, 202, func(call int) (string, any) {
			return "/api/v1/certificate/rotate/" + freshRotate(call), nil
		}},
		{"GET", "/api/v1/search", store.RoleDeveloper, 200, fixed("/api/v1/search?host_platform=linux&days_until_expiration=30", nil)},
		{"POST", "/user/v1/authenticate", "", 200, fixed("/user/v1/authenticate", map[string]string{"username": loginUser, "password": loginPW})},
		{"PUT", "/user/v1/authenticate", "", 204, func(call int) (string, any) {
			next := fmt.Sprintf("Changed!%d", call)
			body := map[string]string{"username": pwUser, "password": pw, "updated_password": next}
			pw = next
			return "/user/v1/authenticate", body
		}},
		{"GET", "/api/v1/assets/{system_name}", store.RoleDeveloper, 200, fixed("/api/v1/assets/"+shared, nil)},
		{"GET", "/api/v1/rotations", store.RoleDeveloper, 200, fixed("/api/v1/rotations?state=pending", nil)},
		{"GET", "/api/v1/rotations/{id}", store.RoleDeveloper, 200, fixed("/api/v1/rotations/"+strconv.FormatInt(rot.RotationID, 10), nil)},
		{"POST", "/api/v1/plan", store.RoleDeveloper, 200, fixed("/api/v1/plan", map[string]any{"due_only": true})},
		{"GET", "/api/v1/routes", store.RoleDeveloper, 200, fixed("/api/v1/routes", nil)},
		{"GET", "/admin/v1/audit", store.RoleAdmin, 200, fixed("/admin/v1/audit?limit=5", nil)},
		{"GET", "/healthz", "", 200, fixed("/healthz", nil)},
		{"GET", "/readyz", "", 200, fixed("/readyz", nil)},
		{"GET", "/openapi.json", "", 200, fixed("/openapi.json", nil)},
		{"GET", "/docs", "", 200, fixed("/docs", nil)},
	}
	checkCoversTheAPI(t, e, endpoints)

	call := 0
	for _, ep := range endpoints {
		for _, c := range creds {
			want := ep.ok
			switch {
			case ep.role == "":
			case c.role == "":
				want = http.StatusUnauthorized
			case roleRank(c.role) < roleRank(ep.role):
				want = http.StatusForbidden
			}
			call++
			path, body := ep.prepare(call)
			r := e.call(ep.method, path, c.header, body)
			if r.status != want {
				t.Errorf("%s %s with %s: %d, want %d: %.300s", ep.method, ep.pattern, c.name, r.status, want, r.body)
				continue
			}
			if r.status == http.StatusUnauthorized || r.status == http.StatusForbidden {
				if p := r.problem(t); p.Status != r.status || p.Detail == "" {
					t.Errorf("%s %s with %s: problem %+v does not say why", ep.method, ep.pattern, c.name, p)
				}
			}
		}
	}
}

// checkCoversTheAPI fails when an operation of the OpenAPI description is
// missing from the matrix, so a new endpoint cannot skip it.
func checkCoversTheAPI(t *testing.T, e *env, endpoints []endpoint) {
	t.Helper()
	covered := map[string]bool{}
	for _, ep := range endpoints {
		covered[ep.method+" "+ep.pattern] = true
	}
	var missing []string
	for path, item := range e.srv.OpenAPI().Paths {
		for method, op := range map[string]any{"GET": item.Get, "POST": item.Post, "PUT": item.Put, "PATCH": item.Patch, "DELETE": item.Delete} {
			if o, _ := op.(*huma.Operation); o == nil {
				continue
			}
			if !covered[method+" "+path] {
				missing = append(missing, method+" "+path)
			}
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Fatalf("the RBAC matrix does not call %s", strings.Join(missing, ", "))
	}
}
