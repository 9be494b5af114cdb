package ui

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/store"
)

// screens are the pages of the UI and the least role that may open each.
var screens = []struct {
	path, role string
}{
	{"/ui/", store.RoleDeveloper},
	{"/ui/assets", store.RoleDeveloper},
	{"/ui/plan", store.RoleDeveloper},
	{"/ui/routes", store.RoleDeveloper},
	{"/ui/dns", store.RoleDeveloper},
	{"/ui/audit", store.RoleAdmin},
	{"/ui/users", store.RoleAdmin},
	{"/ui/notifications", store.RoleDeveloper},
}

// rank orders the roles as the API does.
var rank = map[string]int{store.RoleDeveloper: 1, store.RolePrivileged: 2, store.RoleAdmin: 3}

func TestEveryScreenOpensForTheRolesAllowedAndIsRefusedOtherwise(t *testing.T) {
	e := newEnv(t)
	for _, role := range []string{store.RoleAdmin, store.RolePrivileged, store.RoleDeveloper} {
		b := e.loggedIn(strings.ToLower(role))
		for _, sc := range screens {
			p := b.get(sc.path)
			want := http.StatusOK
			if rank[role] < rank[sc.role] {
				want = http.StatusForbidden
			}
			if p.status != want {
				t.Errorf("%s as %s: status %d, want %d:\n%s", sc.path, role, p.status, want, p.body)
			}
			linked := strings.Contains(p.body, `href="`+sc.path+`"`)
			if shown := rank[role] >= rank[sc.role]; linked != shown {
				t.Errorf("%s: the navigation for %s links %s: %v, want %v", sc.path, role, sc.path, linked, shown)
			}
		}
	}
}

func TestAVisitorWithoutASessionIsSentToTheLoginPageAndBack(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	p := b.get("/ui/assets?state=failing")
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/login?next="+url.QueryEscape("/ui/assets?state=failing") {
		t.Fatalf("status %d, Location %q", p.status, p.header.Get("Location"))
	}
	if root := b.get("/"); root.status != http.StatusSeeOther || root.header.Get("Location") != "/ui/" {
		t.Errorf("/: status %d, Location %q, want a redirect to /ui/", root.status, root.header.Get("Location"))
	}
	form := b.get("/ui/login?next=" + url.QueryEscape("/ui/assets?state=failing"))
	p = b.post("/ui/login", url.Values{"csrf": {form.csrf(t)}, "username": {"developer"}, "password": {testPassword},
		"next": {"/ui/assets?state=failing"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/assets?state=failing" {
		t.Fatalf("login: status %d, Location %q", p.status, p.header.Get("Location"))
	}
}

func TestTheLoginFormShowsEachErrorBesideItsField(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, username, password string
		status                   int
		field, message           string
	}{
		{"a wrong password is refused at the password", "admin", "Wrong-password-1", http.StatusUnauthorized, "password", "unknown user or wrong password"},
		{"an unknown user gets the same answer", "nobody", testPassword, http.StatusUnauthorized, "password", "unknown user or wrong password"},
		{"an empty username is asked for", "", testPassword, http.StatusUnprocessableEntity, "username", "enter your username"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := e.browser()
			form := b.get("/ui/login")
			p := b.post("/ui/login", url.Values{"csrf": {form.csrf(t)}, "username": {tt.username}, "password": {tt.password}})
			if p.status != tt.status {
				t.Fatalf("status %d, want %d", p.status, tt.status)
			}
			want := `<p class="error" id="f-` + tt.field + `-error" role="alert">` + tt.message + `</p>`
			if !strings.Contains(p.body, want) {
				t.Errorf("the page does not show %q beside %s:\n%s", tt.message, tt.field, p.body)
			}
			if strings.Contains(p.body, tt.password) && tt.password != "" {
				t.Errorf("the page shows the password back")
			}
		})
	}
}

func TestALoginWithoutTheFormsTokenIsRefused(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	p := b.post("/ui/login", url.Values{"username": {"admin"}, "password": {testPassword}})
	if p.status != http.StatusForbidden {
		t.Fatalf("status %d, want 403", p.status)
	}
	if c := p.header.Get("Set-Cookie"); strings.Contains(c, sessionCookie+"=") {
		t.Errorf("a session cookie was set: %s", c)
	}
}

func TestTheSessionCookieIsHttpOnlyAndSameSiteStrict(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	form := b.get("/ui/login")
	p := b.post("/ui/login", url.Values{"csrf": {form.csrf(t)}, "username": {"admin"}, "password": {testPassword}})
	var c string
	for _, v := range p.header.Values("Set-Cookie") {
		if strings.HasPrefix(v, sessionCookie+"=") {
			c = v
		}
	}
	for _, attr := range []string{"HttpOnly", "SameSite=Strict", "Path=/ui/", "Expires="} {
		if !strings.Contains(c, attr) {
			t.Errorf("session cookie %q lacks %s", c, attr)
		}
	}
}

func TestAFormPostedWithoutTheSessionsTokenIsRefused(t *testing.T) {
	e := newEnv(t)
	b := e.loggedIn("admin")
	token := b.get("/ui/").csrf(t)
	for _, form := range []url.Values{{}, {"csrf": {"forged"}}, {"csrf": {e.loggedIn("privileged").get("/ui/").csrf(t)}}} {
		if p := b.post("/ui/logout", form); p.status != http.StatusForbidden {
			t.Errorf("logout with csrf %q: status %d, want 403", form.Get("csrf"), p.status)
		}
	}
	if p := b.do(http.MethodPost, "/ui/logout", url.Values{}, http.Header{csrfHeader: {token}}); p.status != http.StatusSeeOther {
		t.Errorf("logout with the token in the htmx header: status %d, want 303", p.status)
	}
}

func TestLogoutEndsTheSessionOnTheServer(t *testing.T) {
	e := newEnv(t)
	b := e.loggedIn("admin")
	u, _ := url.Parse(e.srv.URL + "/ui/")
	cookies := b.client.Jar.Cookies(u)
	if p := b.post("/ui/logout", url.Values{"csrf": {b.get("/ui/").csrf(t)}}); p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/login" {
		t.Fatalf("logout: status %d, Location %q", p.status, p.header.Get("Location"))
	}
	// A copy of the cookie kept from before the logout.
	stale := e.browser()
	stale.client.Jar.SetCookies(u, cookies)
	if p := stale.get("/ui/assets"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/ui/login") {
		t.Errorf("the old cookie after logout: status %d, Location %q, want the login page", p.status, p.header.Get("Location"))
	}
}

func TestADeletedOrDemotedUserLosesAccessAtOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.addUser("carol", store.RoleAdmin)
	b := e.loggedIn("carol")
	if p := b.get("/ui/users"); p.status != http.StatusOK {
		t.Fatalf("users as admin: status %d", p.status)
	}
	u, err := e.app.Store.GetUser(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	u.Role = store.RoleDeveloper
	if err := e.app.Store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if p := b.get("/ui/users"); p.status != http.StatusForbidden {
		t.Errorf("users after the demotion: status %d, want 403", p.status)
	}
	if err := e.app.Store.DeleteUser(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	if p := b.get("/ui/"); p.status != http.StatusSeeOther {
		t.Errorf("the fleet after the deletion: status %d, want 303 to the login page", p.status)
	}
}

// external matches a reference to anything not served by ottr itself: an
// absolute or protocol-relative URL in an attribute, or a CSS import.
var external = regexp.MustCompile(`(?i)(?:src|href|action|hx-get|hx-post|formaction|xmlns:xlink)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:|//)|@import|url\(\s*["']?(?:https?:)?//`)

func TestNoPageReferencesAnythingOutsideOttr(t *testing.T) {
	e := newEnv(t)
	b := e.loggedIn("admin")
	paths := []string{"/ui/login"}
	for _, sc := range screens {
		paths = append(paths, sc.path)
	}
	for _, path := range paths {
		p := b.get(path)
		if m := external.FindString(p.body); m != "" {
			t.Errorf("%s references %q", path, m)
		}
		if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
	}
	css := b.get("/ui/static/ottr.css")
	if css.status != http.StatusOK || external.MatchString(css.body) {
		t.Errorf("ottr.css: status %d, or it references something outside ottr", css.status)
	}
	if js := b.get("/ui/static/htmx.min.js"); js.status != http.StatusOK || !strings.Contains(js.header.Get("Content-Type"), "javascript") {
		t.Errorf("htmx.min.js: status %d, Content-Type %q", js.status, js.header.Get("Content-Type"))
	}
}

func TestLoginAttemptsAreThrottledAsTheAPIsAre(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	var last page
	// The API's default limit: five failures of one user from one
	// address, then one a minute.
	for range 6 {
		form := b.get("/ui/login")
		last = b.post("/ui/login", url.Values{"csrf": {form.csrf(t)}, "username": {"admin"}, "password": {"Wrong-password-1"}})
	}
	if last.status != http.StatusTooManyRequests || last.header.Get("Retry-After") == "" {
		t.Fatalf("the sixth wrong password: status %d, Retry-After %q; want 429 with Retry-After", last.status, last.header.Get("Retry-After"))
	}
	if !strings.Contains(last.body, `<p class="form-error" role="alert">`) {
		t.Errorf("the page does not say why:\n%s", last.body)
	}
}

func TestAnHtmxRequestWithoutASessionIsToldToLoadTheLoginPage(t *testing.T) {
	e := newEnv(t)
	p := e.browser().do(http.MethodGet, "/ui/rotations/1/live", nil, http.Header{"Hx-Request": {"true"}})
	if p.status != http.StatusUnauthorized || p.header.Get("HX-Redirect") != "/ui/login?next="+url.QueryEscape("/ui/rotations/1/live") {
		t.Errorf("status %d, HX-Redirect %q; want 401 sending the whole page to the login form", p.status, p.header.Get("HX-Redirect"))
	}
}
