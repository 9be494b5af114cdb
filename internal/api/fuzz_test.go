package api

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/store"
)

// The fuzz targets send what a client could and check that nothing it
// sends makes the server fail: every answer is below 500, and every 4xx
// is a problem document. With their seed corpora they run as plain tests;
// `go test -fuzz FuzzAssetBody ./internal/api` explores further.

// fuzzEnv is one server per fuzz target, with an admin token.
func fuzzEnv(f *testing.F) (*env, string) {
	f.Helper()
	e := newEnv(f)
	e.addUser("admin", store.RoleAdmin)
	e.addUser("fuzzer", store.RoleDeveloper)
	// The test clock stands still, so the token stays valid however long
	// the fuzzer runs.
	return e, e.token("admin", time.Time{})
}

// serveChecked sends req and checks the answer.
func (e *env) serveChecked(t *testing.T, req *http.Request) {
	t.Helper()
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	if rec.Code >= 500 {
		t.Fatalf("%s %s: %d: %s", req.Method, req.URL, rec.Code, rec.Body.Bytes())
	}
	if rec.Code >= 400 && rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("%s %s: %d with Content-Type %q, want a problem document", req.Method, req.URL, rec.Code, rec.Header().Get("Content-Type"))
	}
}

func FuzzAssetBody(f *testing.F) {
	e, admin := fuzzEnv(f)
	for _, seed := range []string{
		`{"system_name":"fw1.lab.ottr.test","common_name":"fw1.lab.ottr.test","certificate_authority":"lab","host_platform":"linux","ip_address":"192.0.2.1","os_version":"12","data_center":"dc1","device_model":"x"}`,
		`{"system_name":{"S":"fw2.lab.ottr.test"},"common_name":{"S":"fw2.lab.ottr.test"},"subject_alternative_name":{"L":[{"S":"fw2.lab.ottr.test"}]},"certificate_authority":{"S":"lab"},"certificate_expiration":{"S":"None"},"certificate_validation":{"S":"True"},"host_platform":{"S":"linux"},"ip_address":{"S":"192.0.2.2"}}`,
		`{"system_name":"fw3.lab.ottr.test","certificate_expiration":"2030-01-01 00:00:00","port":"8443","labels":{"a":"b"},"renewal_window":{"start":"x"}}`,
		`{"system_name":"x","failure_count":-1,"next_attempt_at":null,"renewal_time":"None"}`,
		`{"labels":{"M":{"k":{"N":"1"}}},"port":{"N":"1e400"}}`,
		`{"subject_alternative_name":"None","paused":"yes","port":99999999999999999999}`,
		`{"":""}`, `[]`, `null`, `"x"`, `{`, `{}{}`, "\x00", "",
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, put bool) {
		method := http.MethodPost
		if put {
			method = http.MethodPut
		}
		req := httptest.NewRequest(method, "/api/v1/assets", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", admin)
		e.serveChecked(t, req)
	})
}

func FuzzSearchQuery(f *testing.F) {
	e, admin := fuzzEnv(f)
	for _, seed := range []string{
		"", "days_until_expiration=30", "days_until_expiration=-5&limit=1000", "days_until_expiration=99999999999999999999",
		"ip_address=10.0.0.1&system_name=FW1.example.com&data_center=DC1&host_platform=panos&origin=API",
		"cursor=Zm9v", "cursor=%%%", "limit=abc", "limit=0", "unknown=1", "system_name=%E2%98%83.example.com",
		"system_name=" + string(bytes.Repeat([]byte("a"), 300)), "a=1&a=2&limit=1&limit=2", ";;;&&&===",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/search", nil)
		req.URL.RawQuery = rawQuery
		req.Header.Set("Authorization", admin)
		e.serveChecked(t, req)
	})
}

func FuzzAuthenticateBody(f *testing.F) {
	e, _ := fuzzEnv(f)
	for _, seed := range []string{
		`{"username":"admin","password":"Pw!admin-1a"}`,
		`{"username":"nobody","password":"x"}`,
		`{"username":"admin","password":"Pw!admin-1a","updated_password":"Pw!admin-1a"}`,
		`{"username":"fuzzer","password":"Pw!fuzzer-1a","updated_password":"short"}`,
		`{"username":"admin","password":"` + string(bytes.Repeat([]byte("x"), 2000)) + `"}`,
		`{"username":1,"password":[]}`, `{"username":"a"}`, `{}`, `[]`, `{`, "",
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, put bool) {
		method := http.MethodPost
		if put {
			method = http.MethodPut
		}
		req := httptest.NewRequest(method, "/user/v1/authenticate", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		e.serveChecked(t, req)
	})
}

func FuzzAuthorizationHeader(f *testing.F) {
	e, admin := fuzzEnv(f)
	for _, seed := range []string{
		admin, admin[len("Bearer "):], "Bearer", "Bearer ", "Basic YWRtaW46cGFzcw==", "bearer  x.y.z",
		"Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.", "Bearer a.b.c.d", admin + "x", "\x00\xff",
	} {
		f.Add(seed, "/api/v1/search")
		f.Add(seed, "/admin/v1/users")
	}
	f.Add(admin, "/api/v1/assets/%2e%2e")
	f.Add(admin, "/api/v1/rotations/-1")
	f.Add(admin, "/api/v1/rotations/99999999999999999999")
	f.Add(admin, "/api/v1/assets/"+string(bytes.Repeat([]byte("a"), 400)))
	f.Fuzz(func(t *testing.T, authorization, path string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path = path
		req.Header.Set("Authorization", authorization)
		e.serveChecked(t, req)
	})
}
