package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
)

// storeAsset stores an asset named name on platform (linux is routed by the
// test config, anything else is not), in data center dc; expires, when
// not zero, is its certificate's expiry, issued 90 days before.
func (e *env) storeAsset(name, platform, dc string, expires time.Time) {
	e.t.Helper()
	a := asset.Asset{SystemName: name, CommonName: name, IPAddress: "192.0.2.10", HostPlatform: platform,
		CertificateAuthority: "lab", DataCenter: dc}
	if !expires.IsZero() {
		notBefore := expires.Add(-90 * 24 * time.Hour)
		a.CertificateExpiration, a.CertificateNotBefore = &expires, &notBefore
	}
	if err := e.app.Store.CreateAsset(context.Background(), a); err != nil {
		e.t.Fatal(err)
	}
}

// row returns the table row of a page that links to asset name.
func (p page) row(t testing.TB, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<tr>\s*<td data-label="Asset"><a href="/ui/assets/` + regexp.QuoteMeta(name) + `">.*?</tr>`).FindString(p.body)
	if m == "" {
		t.Fatalf("no row for %s:\n%s", name, p.body)
	}
	return m
}

// fieldError is how a page shows msg beside the form field name.
func fieldError(name, msg string) string {
	return `<p class="error" id="f-` + name + `-error" role="alert">` + msg
}

func TestThePlanSaysOfEachAssetWhetherItIsDueWhyWhenItRunsAndItsRoute(t *testing.T) {
	e := newEnv(t)
	e.storeAsset("new.lab.ottr.test", "linux", "dc1", time.Time{})
	e.storeAsset("fresh.lab.ottr.test", "linux", "dc1", time.Now().Add(80*24*time.Hour))
	e.storeAsset("fw.lab.ottr.test", "panos", "dc2", time.Time{})
	for _, role := range []string{"admin", "privileged", "developer"} {
		p := e.loggedIn(role).get("/ui/plan")
		if p.status != http.StatusOK {
			t.Fatalf("as %s: status %d", role, p.status)
		}
		if !strings.Contains(p.body, "<strong>3</strong> assets, <strong>2</strong> due, <strong>1</strong> without a route") {
			t.Errorf("as %s: the counts are not 3 assets, 2 due, 1 without a route:\n%s", role, p.body)
		}
	}
	p := e.loggedIn("developer").get("/ui/plan")
	due := p.row(t, "new.lab.ottr.test")
	for _, want := range []string{"state-due", "expiry_unknown", "0 lab-linux", "linux"} {
		if !strings.Contains(due, want) {
			t.Errorf("the due asset's row lacks %q: %s", want, due)
		}
	}
	if n := strings.Count(due, "<time "); n != 2 {
		t.Errorf("the due asset's row shows %d times, want when it is due and when it runs: %s", n, due)
	}
	fresh := p.row(t, "fresh.lab.ottr.test")
	if !strings.Contains(fresh, "not_due") || !strings.Contains(fresh, "(in ") || strings.Contains(fresh, "state-due") {
		t.Errorf("the fresh asset's row does not say it is not due, and when it will be: %s", fresh)
	}
	if fw := p.row(t, "fw.lab.ottr.test"); !strings.Contains(fw, "no route") {
		t.Errorf("the unrouted asset's row does not say no route takes it: %s", fw)
	}
	if n := strings.Count(p.body, `method="post"`); n != 1 {
		t.Errorf("the plan shows %d forms that post, want only the logout", n)
	}
}

func TestThePlanFiltersByDataCenterPlatformAndNameAndDueOnly(t *testing.T) {
	e := newEnv(t)
	e.storeAsset("a.lab.ottr.test", "linux", "dc1", time.Time{})
	e.storeAsset("b.lab.ottr.test", "linux", "dc2", time.Time{})
	e.storeAsset("c.lab.ottr.test", "panos", "dc2", time.Now().Add(80*24*time.Hour))
	b := e.loggedIn("developer")
	tests := []struct {
		name, query string
		want        []string
	}{
		{"a data center keeps its assets", "data_center=DC2", []string{"b.lab.ottr.test", "c.lab.ottr.test"}},
		{"a platform keeps its assets", "platform=panos", []string{"c.lab.ottr.test"}},
		{"a name keeps that asset", "name=A.lab.ottr.test", []string{"a.lab.ottr.test"}},
		{"due only drops the others", "due=true&data_center=dc2", []string{"b.lab.ottr.test"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := b.get("/ui/plan?" + tt.query)
			if p.status != http.StatusOK {
				t.Fatalf("status %d", p.status)
			}
			for _, name := range []string{"a.lab.ottr.test", "b.lab.ottr.test", "c.lab.ottr.test"} {
				shown := strings.Contains(p.body, `href="/ui/assets/`+name+`"`)
				if want := slices.Contains(tt.want, name); shown != want {
					t.Errorf("%s shown: %v, want %v", name, shown, want)
				}
			}
		})
	}
}

func TestAPlanFilterThatBreaksTheAssetRulesIsShownBesideItsField(t *testing.T) {
	e := newEnv(t)
	e.storeAsset("a.lab.ottr.test", "linux", "dc1", time.Time{})
	p := e.loggedIn("developer").get("/ui/plan?data_center=" + url.QueryEscape("dc 1!"))
	if p.status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422", p.status)
	}
	if !strings.Contains(p.body, fieldError("data_center", "data_center must be empty or 1 to 63 lower-case letters")) {
		t.Errorf("no error beside the data center:\n%s", p.body)
	}
	if strings.Contains(p.body, "a.lab.ottr.test") {
		t.Errorf("the plan is shown for a filter it cannot apply")
	}
}

func TestThePlanPagesItsRowsButCountsEveryAsset(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var assets []asset.Asset
	for i := range planPageSize + 5 {
		name := fmt.Sprintf("host%04d.lab.ottr.test", i)
		assets = append(assets, asset.Asset{SystemName: name, CommonName: name, IPAddress: "192.0.2.10",
			HostPlatform: "linux", CertificateAuthority: "lab"})
	}
	if err := e.app.Store.ImportAssets(ctx, assets); err != nil {
		t.Fatal(err)
	}
	b := e.loggedIn("developer")
	first := b.get("/ui/plan")
	if !strings.Contains(first.body, "<strong>205</strong> assets") || !strings.Contains(first.body, "host0199.lab") || strings.Contains(first.body, "host0200.lab") {
		t.Fatalf("the first page does not count 205 assets and show the first 200")
	}
	next := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(first.body)
	if next == nil {
		t.Fatal("the first page links no next page")
	}
	second := b.get(strings.ReplaceAll(next[1], "&amp;", "&"))
	if !strings.Contains(second.body, "host0204.lab") || strings.Contains(second.body, "host0199.lab") || !strings.Contains(second.body, "Page 2 of 2") {
		t.Errorf("the second page does not show the last 5 assets")
	}
}
