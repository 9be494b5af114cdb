package ui

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/lab/dnsserver"
)

// useDNS serves the test config's managed zone (lab.ottr.test) and its
// delegate zone (acme.ottr.test) from a lab DNS server holding records,
// and makes it the resolver the UI looks delegations up through.
func (e *env) useDNS(records ...string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := dnsserver.Start(ctx, dnsserver.Config{Zones: []string{"lab.ottr.test.", "acme.ottr.test."}})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = srv.Close() })
	for _, r := range records {
		if err := srv.AddRecord(r); err != nil {
			e.t.Fatal(err)
		}
	}
	next := *e.app.Current()
	next.DNS.Resolvers = []string{srv.Addr()}
	if _, err := e.app.Reload(&next); err != nil {
		e.t.Fatal(err)
	}
}

func TestTheDNSScreenShowsTheMissingDelegationsAsOneZoneFileSnippet(t *testing.T) {
	e := newEnv(t)
	e.useDNS(
		"_acme-challenge.ok.lab.ottr.test. 300 IN CNAME _acme-challenge.ok.acme.ottr.test.",
		"_acme-challenge.wrong.lab.ottr.test. 300 IN CNAME _acme-challenge.elsewhere.acme.ottr.test.",
	)
	for _, name := range []string{"ok.lab.ottr.test", "wrong.lab.ottr.test", "new1.lab.ottr.test", "new2.lab.ottr.test"} {
		e.storeAsset(name, "linux", "dc1", time.Time{})
	}
	e.storeAsset("outside.example.org", "linux", "dc1", time.Time{})
	b := e.loggedIn("developer")

	p := b.get("/ui/dns")
	if p.status != http.StatusOK {
		t.Fatalf("status %d:\n%s", p.status, p.body)
	}
	for _, want := range []string{
		"4 records, as <code>ottr dns plan</code>",
		"_acme-challenge.ok.lab.ottr.test. 300 IN CNAME _acme-challenge.ok.acme.ottr.test.",
		`<a href="/ui/assets/outside.example.org">outside.example.org</a>: dnsdelegate: name &#34;outside.example.org&#34; is under none of the managed zones`,
		`action="/ui/dns"`,
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the DNS screen lacks %q:\n%s", want, p.body)
		}
	}

	zone := b.get("/ui/dns?format=zone")
	if zone.status != http.StatusOK || !strings.HasPrefix(zone.header.Get("Content-Type"), "text/plain") || strings.Count(zone.body, " IN CNAME ") != 4 ||
		!strings.Contains(zone.body, "\n_acme-challenge.new2.lab.ottr.test. 300 IN CNAME _acme-challenge.new2.acme.ottr.test.\n") {
		t.Errorf("the zone file download: status %d, Content-Type %q:\n%s", zone.status, zone.header.Get("Content-Type"), zone.body)
	}

	wantSnippet := "; _acme-challenge delegations for zones lab.ottr.test.\n" +
		"_acme-challenge.new1.lab.ottr.test. 300 IN CNAME _acme-challenge.new1.acme.ottr.test.\n" +
		"_acme-challenge.new2.lab.ottr.test. 300 IN CNAME _acme-challenge.new2.acme.ottr.test.\n"
	for _, tt := range []struct {
		name   string
		header http.Header
	}{
		{"the button without JavaScript loads the page with the lookup", nil},
		{"htmx loads the section alone", http.Header{"Hx-Request": {"true"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := b.do(http.MethodGet, "/ui/dns?check=1", nil, tt.header)
			if p.status != http.StatusOK {
				t.Fatalf("status %d:\n%s", p.status, p.body)
			}
			if !strings.Contains(p.body, "2 <code>_acme-challenge</code> CNAMEs do not exist") || !strings.Contains(p.body, wantSnippet) {
				t.Errorf("the missing delegations are not the snippet\n%s\nin:\n%s", wantSnippet, p.body)
			}
			if !strings.Contains(p.body, "<strong>wrong.lab.ottr.test</strong> <span class=\"badge state-failing\">wrong-target</span>") {
				t.Errorf("the wrong CNAME is not shown apart with its fix:\n%s", p.body)
			}
			if full := strings.Contains(p.body, "<html"); full != (tt.header == nil) {
				t.Errorf("a whole page: %v", full)
			}
		})
	}
}

func TestTheDNSScreenSaysWhenNoZoneIsDelegated(t *testing.T) {
	e := newEnv(t)
	next := *e.app.Current()
	next.DNS.Zones = nil
	if _, err := e.app.Reload(&next); err != nil {
		t.Fatal(err)
	}
	p := e.loggedIn("developer").get("/ui/dns?check=1")
	if p.status != http.StatusOK || !strings.Contains(p.body, "set <code>dns.zones</code> in the configuration") {
		t.Errorf("status %d; the screen does not say to configure dns.zones:\n%s", p.status, p.body)
	}
}

func TestTheDNSScreenShowsTheFirstRecordsAndOffersThemAllAsAZoneFile(t *testing.T) {
	e := newEnv(t)
	for i := range neededPreview + 5 {
		e.storeAsset(fmt.Sprintf("h%02d.lab.ottr.test", i), "linux", "dc1", time.Time{})
	}
	p := e.loggedIn("developer").get("/ui/dns")
	if n := strings.Count(p.body, " IN CNAME "); n != neededPreview {
		t.Errorf("the page shows %d records, want the first %d", n, neededPreview)
	}
	if !strings.Contains(p.body, fmt.Sprintf(`<a href="/ui/dns?format=zone" download>Download the %d records as a zone file</a>; the first %d:`, neededPreview+5, neededPreview)) {
		t.Errorf("the page does not offer every record as a zone file:\n%s", p.body)
	}
}
