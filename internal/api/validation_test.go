package api

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/store"
)

// Every rule an asset must follow, sent through the API: each bad body is
// refused with 422 and a problem whose errors name the field at fault.
func TestEveryAssetRuleIsEnforcedThroughTheAPINamingTheField(t *testing.T) {
	e := newEnv(t)
	e.addUser("admin", store.RoleAdmin)
	admin := e.token("admin", time.Time{})

	for _, tc := range []struct {
		name  string
		set   map[string]any
		drop  []string
		field string
		says  string
	}{
		{"system_name is required", nil, []string{"system_name"}, "system_name", "required"},
		{"system_name is not a wildcard", map[string]any{"system_name": "*.lab.ottr.test"}, nil, "system_name", "wildcard"},
		{"system_name is a fully-qualified name", map[string]any{"system_name": "fw1"}, nil, "system_name", "fully-qualified"},
		{"system_name labels hold letters, digits and hyphens", map[string]any{"system_name": "fw_1.lab.ottr.test"}, nil, "system_name", "letters, digits and hyphens"},
		{"system_name is not an IP address", map[string]any{"system_name": "192.0.2.10"}, nil, "system_name", "ip_address"},
		{"common_name is required", nil, []string{"common_name"}, "common_name", "required"},
		{"common_name fits a certificate", map[string]any{"common_name": strings.Repeat("a", 60) + ".lab.ottr.test"}, nil, "common_name", "at most 64"},
		{"common_name is in a managed zone", map[string]any{"common_name": "fw1.example.com"}, nil, "common_name", "managed DNS zone"},
		{"a SAN is a name", map[string]any{"subject_alternative_name": []string{"bad..lab.ottr.test"}}, nil, "subject_alternative_name[1]", "empty label"},
		{"a SAN is in a managed zone", map[string]any{"subject_alternative_name": []string{"www.example.com"}}, nil, "subject_alternative_name[1]", "managed DNS zone"},
		{"a SAN wildcard is the leftmost label", map[string]any{"subject_alternative_name": []string{"a.*.lab.ottr.test"}}, nil, "subject_alternative_name[1]", "leftmost"},
		{"subject_alternative_name is a list of strings", map[string]any{"subject_alternative_name": 7}, nil, "subject_alternative_name", "list of strings"},
		{"ip_address is required", nil, []string{"ip_address"}, "ip_address", "required"},
		{"ip_address is an address", map[string]any{"ip_address": "10.0.0.256"}, nil, "ip_address", "IPv4 or IPv6"},
		{"ip_address carries no zone", map[string]any{"ip_address": "fe80::1%eth0"}, nil, "ip_address", "zone"},
		{"host_platform is required", nil, []string{"host_platform"}, "host_platform", "required"},
		{"host_platform is in the routing table", map[string]any{"host_platform": "windows"}, nil, "host_platform", "routing table"},
		{"certificate_authority is required", nil, []string{"certificate_authority"}, "certificate_authority", "required"},
		{"certificate_authority is configured", map[string]any{"certificate_authority": "digicert"}, nil, "certificate_authority", "CA profiles"},
		{"certificate_expiration is a time or None", map[string]any{"certificate_expiration": "next tuesday"}, nil, "certificate_expiration", "ISO 8601"},
		{"certificate_validation is a boolean", map[string]any{"certificate_validation": "maybe"}, nil, "certificate_validation", "True or False"},
		{"key_type is a known key type", map[string]any{"key_type": "dsa1024"}, nil, "key_type", "rsa2048"},
		{"port is a TCP port", map[string]any{"port": 70000}, nil, "port", "65535"},
		{"port is a number", map[string]any{"port": "https"}, nil, "port", "whole number"},
		{"data_center names a queue", map[string]any{"data_center": "DC 1!"}, nil, "data_center", "lower-case letters"},
		{"label keys are simple", map[string]any{"labels": map[string]string{"bad key": "x"}}, nil, "labels.bad key", "key must be"},
		{"label values hold no ';'", map[string]any{"labels": map[string]string{"team": "a;b"}}, nil, "labels.team", "no ';'"},
		{"labels are an object", map[string]any{"labels": []string{"x"}}, nil, "labels", "object"},
		{"paused is a boolean", map[string]any{"paused": 3}, nil, "paused", "True or False"},
		{"unknown fields are refused", map[string]any{"hostname": "fw1"}, nil, "hostname", "unknown field"},
		{"failure_count is ottr's to set", map[string]any{"failure_count": 3}, nil, "failure_count", "cannot be set"},
		{"certificate_serial is ottr's to set", map[string]any{"certificate_serial": "01"}, nil, "certificate_serial", "cannot be set"},
		{"renewal_window is ottr's to set", map[string]any{"renewal_window": map[string]string{"start": "2030-01-02T00:00:00Z", "end": "2030-01-01T00:00:00Z"}}, nil, "renewal_window", "cannot be set"},
		{"next_attempt_at is ottr's to set", map[string]any{"next_attempt_at": "2030-01-01T00:00:00Z"}, nil, "next_attempt_at", "cannot be set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := assetJSON("valid")
			for k, v := range tc.set {
				body[k] = v
			}
			for _, k := range tc.drop {
				delete(body, k)
			}
			for _, method := range []string{http.MethodPost, http.MethodPut} {
				r := e.call(method, "/api/v1/assets", admin, body)
				if r.status != http.StatusUnprocessableEntity {
					t.Fatalf("%s: %d, want 422: %s", method, r.status, r.body)
				}
				p := r.problem(t)
				var locations []string
				found := false
				for _, d := range p.Errors {
					locations = append(locations, d.Location)
					if d.Location == "body."+tc.field {
						found = true
						if !strings.Contains(d.Message, tc.says) {
							t.Errorf("%s: the error on %s says %q, want it to say %q", method, tc.field, d.Message, tc.says)
						}
						if !strings.Contains(d.Message, strings.Split(tc.field, "[")[0]) && !strings.HasPrefix(tc.field, "labels.") {
							t.Errorf("%s: the message %q does not name the field", method, d.Message)
						}
					}
				}
				if !found {
					t.Errorf("%s: errors at %v, want one at body.%s", method, locations, tc.field)
				}
			}
		})
	}
	if r := e.call(http.MethodGet, "/api/v1/search", admin, nil); string(r.body) != "[]\n" {
		t.Errorf("a refused asset was stored: %s", r.body)
	}
}

func TestAnAssetWithManyBadFieldsGetsOneErrorForEach(t *testing.T) {
	e := newEnv(t)
	e.addUser("admin", store.RoleAdmin)
	body := assetJSON("valid")
	body["ip_address"] = "nope"
	body["port"] = -1
	body["key_type"] = "dsa"
	r := e.call(http.MethodPost, "/api/v1/assets", e.token("admin", time.Time{}), body)
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("%d, want 422: %s", r.status, r.body)
	}
	var got []string
	for _, d := range r.problem(t).Errors {
		got = append(got, d.Location)
	}
	slices.Sort(got)
	if want := []string{"body.ip_address", "body.key_type", "body.port"}; !slices.Equal(got, want) {
		t.Errorf("errors at %v, want %v", got, want)
	}
}

func TestMalformedAssetBodiesAre4xxProblems(t *testing.T) {
	e := newEnv(t)
	e.addUser("admin", store.RoleAdmin)
	admin := e.token("admin", time.Time{})
	for _, tc := range []struct {
		name   string
		body   string
		status int
	}{
		{"no body", "", http.StatusBadRequest},
		{"not JSON", "{system_name: fw1}", http.StatusBadRequest},
		{"a list", `[{"system_name": "fw1.lab.ottr.test"}]`, http.StatusUnprocessableEntity},
		{"null", `null`, http.StatusUnprocessableEntity},
		{"two objects", `{} {}`, http.StatusBadRequest},
		{"an empty object", `{}`, http.StatusUnprocessableEntity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.call(http.MethodPost, "/api/v1/assets", admin, tc.body)
			if r.status != tc.status {
				t.Fatalf("%d, want %d: %s", r.status, tc.status, r.body)
			}
			if p := r.problem(t); p.Detail == "" {
				t.Errorf("problem %+v has no detail", p)
			}
		})
	}
}

func TestBodiesOverTheLimitAre413(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxBodyBytes = 1024 })
	e.addUser("admin", store.RoleAdmin)
	body := assetJSON("big")
	body["labels"] = map[string]string{"note": strings.Repeat("x", 2000)}
	r := e.call(http.MethodPost, "/api/v1/assets", e.token("admin", time.Time{}), body)
	if r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("%d, want 413: %s", r.status, r.body)
	}
	if p := r.problem(t); !strings.Contains(p.Detail, "1024") {
		t.Errorf("detail %q does not give the limit", p.Detail)
	}
}

func TestBodiesUpToTheConfiguredLimitAreRead(t *testing.T) {
	const limit = 2 << 20 // above huma's own default of 1 MiB
	e := newEnv(t, func(c *Config) { c.MaxBodyBytes = limit })
	e.addUser("admin", store.RoleAdmin)
	body := `{"system_name":"big.lab.ottr.test","labels":{"note":"`
	body += strings.Repeat("x", limit-len(body)-3) + `"}}`
	if len(body) != limit {
		t.Fatalf("body of %d bytes, want %d", len(body), limit)
	}
	r := e.call(http.MethodPost, "/api/v1/assets", e.token("admin", time.Time{}), body)
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("a body of exactly the limit: %d, want 422 for its content: %.300s", r.status, r.body)
	}
}

func TestABodyOfAnotherMediaTypeIsA415SayingWhichHeaderToSend(t *testing.T) {
	e := newEnv(t)
	e.addUser("admin", store.RoleAdmin)
	req := httptest.NewRequest(http.MethodPost, "/api/v1/plan", strings.NewReader(`{"due_only": true}`))
	// What curl -d sends when no header is given.
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", e.token("admin", time.Time{}))
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	r := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	if r.status != http.StatusUnsupportedMediaType {
		t.Fatalf("%d, want 415: %s", r.status, r.body)
	}
	p := r.problem(t)
	for _, want := range []string{"Content-Type: application/json", "application/x-www-form-urlencoded"} {
		if !strings.Contains(p.Detail, want) {
			t.Errorf("detail %q does not say %q", p.Detail, want)
		}
	}
}
