package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
)

var roles = []string{store.RoleAdmin, store.RolePrivileged, store.RoleDeveloper}

// fleet adds one asset in each state but rotating and returns them by
// state.
func (e *env) fleet() map[string]asset.Asset {
	e.t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	days := func(n int) *time.Time { t := now.Add(time.Duration(n) * 24 * time.Hour); return &t }
	linux := func(name string) asset.Asset {
		return asset.Asset{SystemName: name + ".lab.ottr.test", CommonName: name + ".lab.ottr.test", HostPlatform: "linux", CertificateAuthority: "lab",
			DataCenter: "dc1", IPAddress: "127.0.0.1", Labels: map[string]string{"team": "net"}}
	}
	ok := linux("ok")
	ok.CertificateExpiration, ok.CertificateNotBefore, ok.CertificateSerial = days(80), days(-10), "0a1b2c"
	due := linux("due")
	due.DataCenter = "dc2"
	failing := linux("fail")
	failing.CertificateExpiration, failing.CertificateNotBefore, failing.FailureCount = days(20), days(-70), 2
	paused := linux("paused")
	paused.Paused = true
	out := map[string]asset.Asset{}
	for state, a := range map[string]asset.Asset{"ok": ok, "due": due, "failing": failing, "paused": paused} {
		out[state] = e.addAsset(a)
	}
	// No route takes junos: such an asset is stored before its route is
	// taken out of the table, since the API refuses to add one.
	orphan := out["ok"].Clone()
	orphan.SystemName, orphan.CommonName, orphan.SubjectAlternativeName = "orphan.lab.ottr.test", "orphan.lab.ottr.test", nil
	orphan.HostPlatform, orphan.CertificateExpiration, orphan.CertificateSerial = "junos", nil, ""
	if err := e.app.Store.CreateAsset(context.Background(), orphan); err != nil {
		e.t.Fatal(err)
	}
	out["unrouted"] = orphan
	return out
}

// fleetAsset reads an asset back from the store.
func (e *env) fleetAsset(name string) asset.Asset {
	e.t.Helper()
	a, err := e.app.Store.GetAsset(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// actions are the asset page's forms and links, by the least role that
// may use each.
func assetActions(name string) map[string]string {
	p := "/ui/assets/" + name
	return map[string]string{
		`action="` + p + `/rotate"`:     store.RolePrivileged,
		`action="` + p + `/pause"`:      store.RolePrivileged,
		`href="` + p + `/edit"`:         store.RolePrivileged,
		`href="` + p + `/delete"`:       store.RolePrivileged,
		`action="` + p + `/validation"`: store.RoleAdmin,
	}
}

// assetPages are the pages of an asset and of one of its rotations, with
// the least role that may open each.
func assetPages(name string, rotation int64) []struct{ path, role string } {
	return []struct{ path, role string }{
		{"/ui/assets/" + name, store.RoleDeveloper},
		{"/ui/assets/" + name + "/dns", store.RoleDeveloper},
		{"/ui/assets/" + name + "/edit", store.RolePrivileged},
		{"/ui/assets/" + name + "/delete", store.RolePrivileged},
		{fmt.Sprintf("/ui/rotations/%d", rotation), store.RoleDeveloper},
		{fmt.Sprintf("/ui/rotations/%d/live", rotation), store.RoleDeveloper},
	}
}

func TestTheAssetAndRotationPagesOpenForTheRolesAllowedAndShowOnlyTheActionsEachMayUse(t *testing.T) {
	e := newEnv(t)
	name := e.fleet()["ok"].SystemName
	rot, err := e.app.Store.CreateRotation(context.Background(), store.Rotation{Asset: name, Trigger: store.TriggerManual, State: store.StatePending})
	if err != nil {
		t.Fatal(err)
	}
	pages := append(assetPages(name, rot.ID), struct{ path, role string }{"/ui/assets?state=ok", store.RoleDeveloper})
	for _, role := range roles {
		b := e.loggedIn(strings.ToLower(role))
		for _, pg := range pages {
			want := http.StatusOK
			if rank[role] < rank[pg.role] {
				want = http.StatusForbidden
			}
			p := b.get(pg.path)
			if p.status != want {
				t.Errorf("%s as %s: status %d, want %d", pg.path, role, p.status, want)
			}
			if m := external.FindString(p.body); m != "" {
				t.Errorf("%s references %q", pg.path, m)
			}
		}
		page := b.get("/ui/assets/" + name)
		for action, min := range assetActions(name) {
			if shown := strings.Contains(page.body, action); shown != (rank[role] >= rank[min]) {
				t.Errorf("the asset page for %s shows %s: %v", role, action, shown)
			}
		}
		if table := b.get("/ui/assets"); strings.Contains(table.body, `action="/ui/assets/bulk"`) && strings.Contains(table.body, `value="rotate"`) != (rank[role] >= rank[store.RolePrivileged]) {
			t.Errorf("the assets table for %s shows the bulk rotate button: %v", role, !(rank[role] >= rank[store.RolePrivileged]))
		}
	}
}

func TestTheOverviewCountsEveryStateAndListsWhatFailsAndRuns(t *testing.T) {
	e := newEnv(t)
	fleet := e.fleet()
	rot, err := e.app.Store.CreateRotation(context.Background(), store.Rotation{Asset: fleet["due"].SystemName, Trigger: store.TriggerManual, State: store.StatePending})
	if err != nil {
		t.Fatal(err)
	}
	p := e.loggedIn("developer").get("/ui/")
	for state, n := range map[string]int{"ok": 1, "due": 0, "rotating": 1, "failing": 1, "paused": 1, "unrouted": 1} {
		want := fmt.Sprintf(`<a class="state-%s" href="/ui/assets?state=%s"><span class="n">%d</span> %s</a>`, state, state, n, state)
		if !strings.Contains(p.body, want) {
			t.Errorf("the overview does not count %d %s:\n%s", n, state, p.body)
		}
	}
	for _, want := range []string{
		`href="/ui/assets/` + fleet["failing"].SystemName + `"`,                                                                  // failing now
		fmt.Sprintf(`href="/ui/rotations/%d"`, rot.ID),                                                                           // running now
		`<title id="expiry-title">Certificates by time to expiry: expired: 0, &lt; 7 days: 0, &lt; 14 days: 0, &lt; 30 days: 1,`, // the failing one in 20 days
		`href="/ui/assets/` + fleet["ok"].SystemName + `"`,                                                                       // next wave
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the overview lacks %s", want)
		}
	}
}

func TestTheAssetsTableFiltersSortsAndPagesOnTheServer(t *testing.T) {
	e := newEnv(t)
	fleet := e.fleet()
	b := e.loggedIn("developer")
	rowLink := func(a asset.Asset) string { return `<a href="/ui/assets/` + a.SystemName + `">` }
	tests := []struct {
		name, query string
		want, not   []string
	}{
		{"by state", "state=failing", []string{"failing"}, []string{"ok", "due", "paused", "unrouted"}},
		{"by name", "name=PAUS", []string{"paused"}, []string{"ok", "failing"}},
		{"by data center", "dc=DC2", []string{"due"}, []string{"ok"}},
		{"by platform", "platform=junos", []string{"unrouted"}, []string{"ok"}},
		{"by label", "labels=team%3Dnet&state=ok", []string{"ok"}, []string{"failing"}},
		{"by days to expiry, unknown expiries included", "days=30", []string{"failing", "due"}, []string{"ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := b.get("/ui/assets?" + tt.query)
			if p.status != http.StatusOK {
				t.Fatalf("status %d:\n%s", p.status, p.body)
			}
			for _, s := range tt.want {
				if !strings.Contains(p.body, rowLink(fleet[s])) {
					t.Errorf("%s is not listed", fleet[s].SystemName)
				}
			}
			for _, s := range tt.not {
				if strings.Contains(p.body, rowLink(fleet[s])) {
					t.Errorf("%s is listed", fleet[s].SystemName)
				}
			}
		})
	}
	t.Run("sorted by expiry descending, two a page", func(t *testing.T) {
		p := b.get("/ui/assets?sort=expiry&dir=desc&per=2")
		okAt, failAt := strings.Index(p.body, rowLink(fleet["ok"])), strings.Index(p.body, rowLink(fleet["failing"]))
		if okAt < 0 || failAt < 0 || okAt > failAt {
			t.Errorf("want ok (80 days) then failing (20 days) on page 1:\n%s", p.body)
		}
		if !strings.Contains(p.body, "Showing 1–2 of 5 assets.") || !strings.Contains(p.body, `page=2`) {
			t.Errorf("page 1 of 3 should say so and link page 2:\n%s", p.body)
		}
		p = b.get("/ui/assets?sort=expiry&dir=desc&per=2&page=3")
		if !strings.Contains(p.body, "Showing 5–5 of 5 assets.") {
			t.Errorf("page 3 should show the fifth asset:\n%s", p.body)
		}
	})
}

func TestAFilterThatCannotBeReadIsShownBesideItsField(t *testing.T) {
	e := newEnv(t)
	b := e.loggedIn("developer")
	tests := []struct{ query, field, message string }{
		{"days=soon", "days", "a whole number of days from -36500 to 36500"},
		{"labels=team", "labels", `&#34;team&#34; is not key=value`},
		{"state=broken", "state", "state must be one of ok, due, rotating, failing, paused, unrouted"},
	}
	for _, tt := range tests {
		p := b.get("/ui/assets?" + tt.query)
		if p.status != http.StatusUnprocessableEntity {
			t.Errorf("%s: status %d, want 422", tt.query, p.status)
		}
		if want := `<p class="error" id="f-` + tt.field + `-error" role="alert">` + tt.message; !strings.Contains(p.body, want) {
			t.Errorf("%s: no %q beside the field:\n%s", tt.query, tt.message, p.body)
		}
	}
}

func TestRotateNowQueuesAForcedRotationShowsItAndAuditsIt(t *testing.T) {
	e := newEnv(t)
	name := e.fleet()["ok"].SystemName
	b := e.loggedIn("privileged")
	page := b.get("/ui/assets/" + name)
	p := b.post("/ui/assets/"+name+"/rotate", url.Values{"csrf": {page.csrf(t)}})
	queued := e.enq.queued()
	if len(queued) != 1 || queued[0].Asset != name || !queued[0].Force || queued[0].Trigger != store.TriggerManual {
		t.Fatalf("queued %+v, want one forced manual rotation of %s", queued, name)
	}
	if want := fmt.Sprintf("/ui/rotations/%d", queued[0].ID); p.status != http.StatusSeeOther || p.header.Get("Location") != want {
		t.Fatalf("status %d, Location %q; want 303 to %s", p.status, p.header.Get("Location"), want)
	}
	events, err := e.app.Store.ListAudit(context.Background(), store.AuditFilter{Action: "asset.rotate"})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Actor != "privileged" || events[0].Target != "asset/"+name {
		t.Errorf("audit %+v, want one asset.rotate by privileged", events)
	}
	again := b.post("/ui/assets/"+name+"/rotate", url.Values{"csrf": {page.csrf(t)}})
	if again.status != http.StatusConflict || !strings.Contains(again.body, fmt.Sprintf("rotation %d is already pending", queued[0].ID)) {
		t.Errorf("a second press: status %d, want 409 naming the rotation on its way:\n%s", again.status, again.body)
	}
}

func TestAForgedPostIsRefusedAndChangesNothing(t *testing.T) {
	e := newEnv(t)
	fleet := e.fleet()
	name := fleet["ok"].SystemName
	posts := []struct {
		user, path string
		form       url.Values
	}{
		{"developer", "/ui/assets/" + name + "/rotate", nil},
		{"developer", "/ui/assets/" + name + "/pause", nil},
		{"developer", "/ui/assets/" + name + "/edit", url.Values{"host_platform": {"junos"}}},
		{"developer", "/ui/assets/" + name + "/delete", nil},
		{"developer", "/ui/assets/bulk", url.Values{"action": {"rotate"}, "asset": {name}}},
		{"privileged", "/ui/assets/" + name + "/validation", url.Values{"validation": {"on"}}},
	}
	for _, p := range posts {
		b := e.loggedIn(p.user)
		form := url.Values{"csrf": {b.get("/ui/").csrf(t)}}
		for k, v := range p.form {
			form[k] = v
		}
		if got := b.post(p.path, form); got.status != http.StatusForbidden {
			t.Errorf("%s posting %s with a valid token: status %d, want 403", p.user, p.path, got.status)
		}
	}
	// Every role, without the token.
	admin := e.loggedIn("admin")
	if got := admin.post("/ui/assets/"+name+"/pause", url.Values{}); got.status != http.StatusForbidden {
		t.Errorf("a pause without the CSRF token: status %d, want 403", got.status)
	}
	after, err := e.app.Store.GetAsset(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	if after.Paused || after.HostPlatform != "linux" || after.CertificateValidation != fleet["ok"].CertificateValidation || len(e.enq.queued()) != 0 {
		t.Errorf("a refused post changed the asset: %+v, queued %v", after, e.enq.queued())
	}
}

func TestPauseResumeAndValidationChangeTheAssetAndAreAudited(t *testing.T) {
	e := newEnv(t)
	name := e.fleet()["ok"].SystemName
	b := e.loggedIn("admin")
	token := b.get("/ui/").csrf(t)
	ctx := context.Background()
	steps := []struct {
		path   string
		form   url.Values
		check  func(asset.Asset) bool
		action string
	}{
		{"/pause", nil, func(a asset.Asset) bool { return a.Paused }, "asset.update"},
		{"/resume", nil, func(a asset.Asset) bool { return !a.Paused }, "asset.update"},
		{"/validation", url.Values{"validation": {"on"}}, func(a asset.Asset) bool { return a.CertificateValidation }, "asset.certificate_validation.set"},
		{"/validation", nil, func(a asset.Asset) bool { return !a.CertificateValidation }, "asset.certificate_validation.unset"},
	}
	for _, s := range steps {
		form := url.Values{"csrf": {token}}
		for k, v := range s.form {
			form[k] = v
		}
		if p := b.post("/ui/assets/"+name+s.path, form); p.status != http.StatusSeeOther {
			t.Fatalf("%s: status %d:\n%s", s.path, p.status, p.body)
		}
		a, err := e.app.Store.GetAsset(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if !s.check(a) {
			t.Errorf("after %s %+v", s.path, a)
		}
		events, err := e.app.Store.ListAudit(ctx, store.AuditFilter{Action: s.action, Limit: 1})
		if err != nil || len(events) != 1 || events[0].Actor != "admin" {
			t.Errorf("after %s: audit %+v %v", s.path, events, err)
		}
	}
}

func TestTheEditFormChecksTheAPIsRulesShowsEachErrorBesideItsFieldAndSavesNothing(t *testing.T) {
	e := newEnv(t)
	name := e.fleet()["ok"].SystemName
	b := e.loggedIn("privileged")
	edit := b.get("/ui/assets/" + name + "/edit")
	form := assetValues(e.fleetAsset(name))
	form.Set("csrf", edit.csrf(t))
	form.Set("ip_address", "not-an-ip")
	form.Set("port", "https")
	form.Set("labels", "team=web")
	form.Set("data_center", "dc9")
	p := b.post("/ui/assets/"+name+"/edit", form)
	if p.status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422:\n%s", p.status, p.body)
	}
	for _, field := range []string{"ip_address", "port"} {
		if !strings.Contains(p.body, `aria-invalid="true" aria-describedby="f-`+field+`-hint f-`+field+`-error"`) ||
			strings.Contains(p.body, `<p class="error" id="f-`+field+`-error" role="alert"></p>`) {
			t.Errorf("no error beside %s:\n%s", field, p.body)
		}
	}
	if !strings.Contains(p.body, `value="dc9"`) {
		t.Error("the form did not keep what was typed")
	}
	a, err := e.app.Store.GetAsset(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	if a.DataCenter != "dc1" || a.Labels["team"] != "net" {
		t.Errorf("a refused edit saved something: %+v", a)
	}

	form.Set("ip_address", "127.0.0.2")
	form.Set("port", "8443")
	if p := b.post("/ui/assets/"+name+"/edit", form); p.status != http.StatusSeeOther {
		t.Fatalf("a good edit: status %d:\n%s", p.status, p.body)
	}
	a, err = e.app.Store.GetAsset(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	if a.IPAddress != "127.0.0.2" || a.Port != 8443 || a.DataCenter != "dc9" || a.Labels["team"] != "web" || a.CertificateSerial != "0a1b2c" {
		t.Errorf("after the edit %+v", a)
	}
}

func TestDeleteAsksFirstThenRemovesTheAsset(t *testing.T) {
	e := newEnv(t)
	name := e.fleet()["paused"].SystemName
	b := e.loggedIn("privileged")
	confirm := b.get("/ui/assets/" + name + "/delete")
	if !strings.Contains(confirm.body, "Delete "+name+"?") {
		t.Fatalf("no confirmation:\n%s", confirm.body)
	}
	if p := b.post("/ui/assets/"+name+"/delete", url.Values{"csrf": {confirm.csrf(t)}}); p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/assets" {
		t.Fatalf("status %d, Location %q", p.status, p.header.Get("Location"))
	}
	if p := b.get("/ui/assets/" + name); p.status != http.StatusNotFound {
		t.Errorf("the deleted asset's page: status %d, want 404", p.status)
	}
}

func TestBulkActionsActOnEachCheckedAssetAndSayWhatFailed(t *testing.T) {
	e := newEnv(t)
	fleet := e.fleet()
	b := e.loggedIn("privileged")
	token := b.get("/ui/assets").csrf(t)
	p := b.post("/ui/assets/bulk", url.Values{"csrf": {token}, "action": {"rotate"},
		"asset": {fleet["ok"].SystemName, fleet["due"].SystemName, fleet["unrouted"].SystemName}})
	if p.status != http.StatusOK || !strings.Contains(p.body, "Rotation started for 2 assets") ||
		!strings.Contains(p.body, fleet["unrouted"].SystemName+"</a>: no route takes it") {
		t.Errorf("status %d:\n%s", p.status, p.body)
	}
	if n := len(e.enq.queued()); n != 2 {
		t.Errorf("%d rotations queued, want 2", n)
	}
	p = b.post("/ui/assets/bulk", url.Values{"csrf": {token}, "action": {"pause"}, "asset": {fleet["ok"].SystemName, fleet["failing"].SystemName}})
	if p.status != http.StatusOK {
		t.Fatalf("pause: status %d", p.status)
	}
	for _, s := range []string{"ok", "failing"} {
		if a, err := e.app.Store.GetAsset(context.Background(), fleet[s].SystemName); err != nil || !a.Paused {
			t.Errorf("%s not paused: %v", s, err)
		}
	}
}

func TestTheRotationPageShowsStepsLogAndErrorAndPollsOnlyWhileItRuns(t *testing.T) {
	e := newEnv(t)
	name := e.fleet()["ok"].SystemName
	ctx := context.Background()
	st := e.app.Store
	rot, err := st.CreateRotation(ctx, store.Rotation{Asset: name, Trigger: store.TriggerManual, State: store.StateRunning})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().UTC()
	out, _ := json.Marshal(map[string]string{"current_serial": "01aa"})
	if err := st.AppendJournal(ctx, rot.ID, store.JournalEntry{Step: "preflight", Output: out, StartedAt: start, FinishedAt: start.Add(42 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	if err := st.AppendLog(ctx, rot.ID, store.LogLine{Time: start, Level: "info", Step: "preflight", Message: "current certificate serial 01aa"}); err != nil {
		t.Fatal(err)
	}
	b := e.loggedIn("developer")
	path := fmt.Sprintf("/ui/rotations/%d", rot.ID)
	p := b.get(path)
	for _, want := range []string{`hx-get="` + path + `/live"`, "<td data-label=\"Took\" class=\"num\">42ms</td>", "under way", "[preflight] current certificate serial 01aa", ">01aa<"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the running rotation's page lacks %q:\n%s", want, p.body)
		}
	}
	if err := st.UpdateRotationState(ctx, rot.ID, store.StateUpdate{State: store.StateFailed, Attempts: 1, Error: "csr: the device refused"}); err != nil {
		t.Fatal(err)
	}
	live := b.get(path + "/live")
	if strings.Contains(live.body, "hx-get") || strings.Contains(live.body, "<html") {
		t.Errorf("the ended rotation's fragment still polls, or is a whole page:\n%s", live.body)
	}
	for _, want := range []string{"csr: the device refused", "failed here", "not run"} {
		if !strings.Contains(live.body, want) {
			t.Errorf("the failed rotation lacks %q:\n%s", want, live.body)
		}
	}
	if p := b.get("/ui/rotations/999"); p.status != http.StatusNotFound {
		t.Errorf("an unknown rotation: status %d, want 404", p.status)
	}
}

func TestTheDNSCheckIsAFragmentForHtmxAndAPageWithoutIt(t *testing.T) {
	e := newEnv(t)
	name := e.fleet()["ok"].SystemName
	b := e.loggedIn("developer")
	path := "/ui/assets/" + name + "/dns"
	fragment := b.do(http.MethodGet, path, nil, http.Header{"Hx-Request": {"true"}})
	if fragment.status != http.StatusOK || strings.Contains(fragment.body, "<html") || !strings.Contains(fragment.body, `<div id="dns">`) {
		t.Errorf("for htmx: status %d, want the fragment alone:\n%s", fragment.status, fragment.body)
	}
	// The test config's resolver answers nothing: the check says so.
	if !strings.Contains(fragment.body, "lookup-failed") {
		t.Errorf("the fragment does not say the lookup failed:\n%s", fragment.body)
	}
	whole := b.get(path)
	if whole.status != http.StatusOK || !strings.Contains(whole.body, "<html") || !strings.Contains(whole.body, `href="/ui/assets/`+name+`"`) {
		t.Errorf("without htmx: status %d, want a page linking back to the asset:\n%s", whole.status, whole.body)
	}
}
