package ui

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// operationsPages are the plan, routes, DNS, audit, users and
// notifications screens in their fullest states, each with the least
// role that may open it.
var operationsPages = []struct{ path, role string }{
	{"/ui/plan?data_center=dc1&due=true", "developer"},
	{"/ui/routes?system_name=web.lab.ottr.test&host_platform=linux&data_center=dc2&labels=team%3Dpki", "developer"},
	{"/ui/dns?check=1", "developer"},
	{"/ui/audit?actor=admin&since=2020-01-01", "admin"},
	{"/ui/users?user=developer", "admin"},
	{"/ui/users?user=developer&confirm=delete", "admin"},
	{"/ui/notifications", "developer"},
}

// operationsPosts are the forms of those screens, with the least role
// that may post each.
var operationsPosts = []struct {
	path, role string
	form       url.Values
}{
	{"/ui/users", "admin", url.Values{"op": {"role"}, "username": {"developer"}, "role": {"ADMIN"}}},
	{"/ui/notifications", "privileged", url.Values{"channel": {"ops"}}},
}

func operationsEnv(t *testing.T) *env {
	e := newEnv(t)
	e.useRoutes()
	e.useDNS("_acme-challenge.web.lab.ottr.test. 300 IN CNAME _acme-challenge.web.acme.ottr.test.")
	e.useChannels(newReceiver(t))
	e.storeAsset("web.lab.ottr.test", "linux", "dc1", time.Time{})
	e.storeAsset("new.lab.ottr.test", "linux", "dc1", time.Now().Add(3*24*time.Hour))
	return e
}

func TestTheOperationsScreensSendAVisitorToLogInAndRefuseLowerRoles(t *testing.T) {
	e := operationsEnv(t)
	visitor := e.browser()
	for _, p := range operationsPages {
		got := visitor.get(p.path)
		if got.status != http.StatusSeeOther || got.header.Get("Location") != "/ui/login?next="+url.QueryEscape(p.path) {
			t.Errorf("%s as a visitor: status %d, Location %q, want the login page and back", p.path, got.status, got.header.Get("Location"))
		}
	}
	for _, p := range operationsPosts {
		if got := visitor.post(p.path, p.form); got.status != http.StatusUnauthorized {
			t.Errorf("POST %s as a visitor: status %d, want 401", p.path, got.status)
		}
	}
	for _, role := range []string{"admin", "privileged", "developer"} {
		b := e.loggedIn(role)
		token := b.get("/ui/").csrf(t)
		for _, p := range operationsPages {
			want := http.StatusOK
			if rank[strings.ToUpper(role)] < rank[strings.ToUpper(p.role)] {
				want = http.StatusForbidden
			}
			if got := b.get(p.path); got.status != want {
				t.Errorf("%s as %s: status %d, want %d", p.path, role, got.status, want)
			}
		}
		for _, p := range operationsPosts {
			if rank[strings.ToUpper(role)] >= rank[strings.ToUpper(p.role)] {
				continue
			}
			form := url.Values{"csrf": {token}}
			for k, v := range p.form {
				form[k] = v
			}
			if got := b.post(p.path, form); got.status != http.StatusForbidden {
				t.Errorf("a forged POST %s as %s: status %d, want 403", p.path, role, got.status)
			}
		}
	}
}

// inline matches inline style and script, and event handler attributes.
var inline = regexp.MustCompile(`(?i)\sstyle\s*=|<script>|<script\s[^>]*>[^<]|\son[a-z]+\s*=`)

func TestTheOperationsScreensReferenceNothingOutsideOttr(t *testing.T) {
	e := operationsEnv(t)
	b := e.loggedIn("admin")
	for _, p := range operationsPages {
		got := b.get(p.path)
		if got.status != http.StatusOK {
			t.Fatalf("%s: status %d", p.path, got.status)
		}
		if m := external.FindString(got.body); m != "" {
			t.Errorf("%s references %q", p.path, m)
		}
		if inline.MatchString(got.body) {
			t.Errorf("%s has inline style or script, which the Content-Security-Policy blocks", p.path)
		}
	}
}
