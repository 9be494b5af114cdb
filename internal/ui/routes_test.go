package ui

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	routing "github.com/ottr-go/ottr/internal/route"
)

// useRoutes puts a routing table of three routes in place of the test
// config's one: linux hosts, panos 10 and later, and anything in dc2 run
// by a script whose token is a secret option.
func (e *env) useRoutes() {
	e.t.Helper()
	linux := map[string]any{"cert_path": "/etc/ottr/cert.pem", "key_path": "/etc/ottr/key.pem", "reload_command": "true"}
	table, err := routing.Compile([]routing.Route{
		{Name: "lab-linux", Match: routing.Match{Platform: "linux"}, Driver: "linux", Options: linux},
		{Name: "panos-10", Match: routing.Match{Platform: "panos", OSVersion: ">=10"}, Driver: "panos"},
		{Name: "dc2-script", Match: routing.Match{DataCenter: "dc2"}, Driver: "script",
			Options: map[string]any{"command": "/usr/local/bin/deploy", "env": map[string]any{"TOKEN": "env:DEPLOY_TOKEN"}}},
	}, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.app.Routes.Replace(table)
}

// verdict is what the tester says of the route named name: its item of
// the verdict list, up to the next route's.
func (p page) verdict(t testing.TB, name string) string {
	t.Helper()
	loc := regexp.MustCompile(`<strong>route \d+ ` + regexp.QuoteMeta(name) + `</strong>`).FindStringIndex(p.body)
	if loc == nil {
		t.Fatalf("the tester says nothing of route %s:\n%s", name, p.body)
	}
	rest := p.body[loc[0]:]
	if end := regexp.MustCompile(`<strong>route \d+ |</ol>`).FindAllStringIndex(rest, 2); len(end) == 2 {
		rest = rest[:end[1][0]]
	}
	return rest
}

func TestTheRouteTesterNamesTheRouteAnAssetTakesAndWhyNotTheOthers(t *testing.T) {
	e := newEnv(t)
	e.useRoutes()
	b := e.loggedIn("developer")
	tests := []struct {
		name   string
		fields url.Values
		chosen string
		// why are the reasons given for each route.
		why map[string]string
	}{
		{
			"a panos 10 firewall in dc2 takes panos-10, before dc2-script",
			url.Values{"system_name": {"FW1.lab.ottr.test"}, "host_platform": {"panos"}, "os_version": {"10.2.4"}, "data_center": {"DC2"}},
			"fw1.lab.ottr.test takes route 1 <strong>panos-10</strong> (driver panos)",
			map[string]string{
				"lab-linux":  `host_platform &#34;panos&#34; is not &#34;linux&#34;`,
				"panos-10":   "takes this route",
				"dc2-script": `not used: routes[1] &#34;panos-10&#34; matches first`,
			},
		},
		{
			"an old panos in dc1 is taken by no route",
			url.Values{"system_name": {"fw2.lab.ottr.test"}, "host_platform": {"panos"}, "os_version": {"9.1.0"}, "data_center": {"dc1"}},
			"No route takes fw2.lab.ottr.test: it would never be rotated",
			map[string]string{
				"panos-10":   "9.1.0",
				"dc2-script": `data_center &#34;dc1&#34; is not &#34;dc2&#34;`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := b.get("/ui/routes?" + tt.fields.Encode())
			if p.status != http.StatusOK {
				t.Fatalf("status %d:\n%s", p.status, p.body)
			}
			if !strings.Contains(p.body, tt.chosen) {
				t.Errorf("the tester does not say %q:\n%s", tt.chosen, p.body)
			}
			for route, why := range tt.why {
				if v := p.verdict(t, route); !strings.Contains(v, why) {
					t.Errorf("route %s: the tester says %s, want %q", route, v, why)
				}
			}
		})
	}
}

func TestTheRouteTesterTestsAnInventoryAssetByName(t *testing.T) {
	e := newEnv(t)
	e.useRoutes()
	e.storeAsset("web.lab.ottr.test", "linux", "dc2", time.Time{})
	p := e.loggedIn("developer").get("/ui/routes?asset=web.lab.ottr.test")
	if p.status != http.StatusOK || !strings.Contains(p.body, "web.lab.ottr.test takes route 0 <strong>lab-linux</strong>") {
		t.Fatalf("status %d; the tester does not route the inventory asset to lab-linux:\n%s", p.status, p.body)
	}
	if v := p.verdict(t, "dc2-script"); !strings.Contains(v, "matches too, but an earlier route wins") {
		t.Errorf("dc2-script: %s", v)
	}
}

func TestTheRouteTesterShowsEachBadFieldBesideIt(t *testing.T) {
	e := newEnv(t)
	e.useRoutes()
	e.storeAsset("web.lab.ottr.test", "linux", "dc1", time.Time{})
	b := e.loggedIn("developer")
	tests := []struct {
		name   string
		fields url.Values
		field  string
		msg    string
	}{
		{"a name with a space", url.Values{"system_name": {"fw 1.lab.ottr.test"}, "host_platform": {"panos"}}, "system_name", "system_name "},
		{"a data center that cannot name a queue", url.Values{"system_name": {"fw1.lab.ottr.test"}, "data_center": {"dc/1"}}, "data_center", "data_center must be empty or 1 to 63"},
		{"a label without a value", url.Values{"system_name": {"fw1.lab.ottr.test"}, "labels": {"team"}}, "labels", "label &#34;team&#34;: write each label as key=value"},
		{"a SAN that is no name", url.Values{"system_name": {"fw1.lab.ottr.test"}, "sans": {"ok.lab.ottr.test bad_name!"}}, "sans", "subject_alternative_name[2]"},
		{"an asset the inventory lacks", url.Values{"asset": {"gone.lab.ottr.test"}}, "asset", "no asset named gone.lab.ottr.test in the inventory"},
		{"an asset and fields at once", url.Values{"asset": {"web.lab.ottr.test"}, "host_platform": {"linux"}}, "asset", "name an inventory asset or fill in the fields below, not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := b.get("/ui/routes?" + tt.fields.Encode())
			if p.status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", p.status)
			}
			if !strings.Contains(p.body, fieldError(tt.field, tt.msg)) {
				t.Errorf("no %q beside %s:\n%s", tt.msg, tt.field, p.body)
			}
			if strings.Contains(p.body, "takes this route") {
				t.Errorf("the tester gave a verdict for fields it could not accept")
			}
		})
	}
}

func TestTheRoutingTableShowsSecretOptionsToAdminOnly(t *testing.T) {
	e := newEnv(t)
	e.useRoutes()
	for _, role := range []string{"admin", "privileged", "developer"} {
		p := e.loggedIn(role).get("/ui/routes")
		if p.status != http.StatusOK || !strings.Contains(p.body, "<td data-label=\"Name\">panos-10</td>") {
			t.Fatalf("as %s: status %d, or the table lacks panos-10", role, p.status)
		}
		if shown := strings.Contains(p.body, "env:DEPLOY_TOKEN"); shown != (role == "admin") {
			t.Errorf("as %s: the script's secret reference shown: %v", role, shown)
		}
	}
}
