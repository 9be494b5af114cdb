package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/store"
)

// audit appends an event to the trail at t.
func (e *env) audit(at time.Time, actor, action, target string) {
	e.t.Helper()
	_, err := e.app.Store.AppendAudit(context.Background(), store.AuditEvent{Time: at, Actor: actor, Action: action, Target: target,
		After: []byte(`{"role":"DEVELOPER"}`)})
	if err != nil {
		e.t.Fatal(err)
	}
}

// auditRows are the actions and records of the audit screen's rows, in
// order, as "actor action target".
func (p page) auditRows() []string {
	var out []string
	re := regexp.MustCompile(`(?s)<td data-label="User">(.*?)</td>\s*<td data-label="Action"><span class="mono">(.*?)</span></td>\s*<td data-label="Record">(?:<a [^>]*>)?(.*?)(?:</a>)?</td>`)
	for _, m := range re.FindAllStringSubmatch(p.body, -1) {
		out = append(out, m[1]+" "+m[2]+" "+m[3])
	}
	return out
}

func TestTheAuditScreenFiltersByUserActionRecordAndTime(t *testing.T) {
	e := newEnv(t)
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	e.audit(day.Add(9*time.Hour), "alice", "asset.create", "asset/fw1.lab.ottr.test")
	e.audit(day.Add(10*time.Hour), "bob", "user.create", "user/carol")
	e.audit(day.Add(11*time.Hour), "alice", "asset.update", "asset/fw1.lab.ottr.test")
	e.audit(day.Add(36*time.Hour), "alice", "asset.delete", "asset/fw1.lab.ottr.test")
	b := e.loggedIn("admin")
	tests := []struct {
		name  string
		query url.Values
		want  []string
	}{
		{"a user keeps theirs, newest first", url.Values{"actor": {"alice"}}, []string{
			"alice asset.delete asset/fw1.lab.ottr.test", "alice asset.update asset/fw1.lab.ottr.test", "alice asset.create asset/fw1.lab.ottr.test"}},
		{"an action keeps its events", url.Values{"action": {"user.create"}}, []string{"bob user.create user/carol"}},
		{"a record keeps its events", url.Values{"target": {"user/carol"}}, []string{"bob user.create user/carol"}},
		{"a time range keeps the events inside it", url.Values{"since": {"2026-11-02T09:30"}, "until": {"2026-11-03"}}, []string{
			"alice asset.update asset/fw1.lab.ottr.test", "bob user.create user/carol"}},
		{"a user and a day together", url.Values{"actor": {"alice"}, "since": {"2026-11-03"}}, []string{"alice asset.delete asset/fw1.lab.ottr.test"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := b.get("/ui/audit?" + tt.query.Encode())
			if p.status != http.StatusOK {
				t.Fatalf("status %d:\n%s", p.status, p.body)
			}
			if got := p.auditRows(); strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
	p := b.get("/ui/audit?actor=bob")
	if !strings.Contains(p.body, `<time datetime="2026-11-02T10:00:00Z">2026-11-02 10:00 UTC <span class="rel">(`) {
		t.Errorf("the event's time is not shown in UTC and relative:\n%s", p.body)
	}
	if !strings.Contains(p.body, `{&#34;role&#34;:&#34;DEVELOPER&#34;}`) {
		t.Errorf("the event's record after the change is not shown:\n%s", p.body)
	}
}

func TestTheAuditScreenPagesFromNewestToOldest(t *testing.T) {
	e := newEnv(t)
	start := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	for i := range auditPageSize + 3 {
		e.audit(start.Add(time.Duration(i)*time.Minute), "alice", "asset.update", fmt.Sprintf("asset/h%03d.lab.ottr.test", i))
	}
	b := e.loggedIn("admin")
	first := b.get("/ui/audit?actor=alice")
	rows := first.auditRows()
	if len(rows) != auditPageSize || rows[0] != "alice asset.update asset/h052.lab.ottr.test" {
		t.Fatalf("the first page has %d rows, first %q; want %d from h052", len(rows), rows[0], auditPageSize)
	}
	older := regexp.MustCompile(`href="([^"]+)" rel="next">Older events`).FindStringSubmatch(first.body)
	if older == nil {
		t.Fatal("the first page links no older events")
	}
	second := b.get(strings.ReplaceAll(older[1], "&amp;", "&"))
	want := []string{"alice asset.update asset/h002.lab.ottr.test", "alice asset.update asset/h001.lab.ottr.test", "alice asset.update asset/h000.lab.ottr.test"}
	if got := second.auditRows(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the second page:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if strings.Contains(second.body, "Older events") || !strings.Contains(second.body, `href="/ui/audit?actor=alice">Newest events`) {
		t.Errorf("the last page links older events, or not the newest:\n%s", second.body)
	}
}

func TestABadAuditFilterIsShownBesideItsField(t *testing.T) {
	e := newEnv(t)
	b := e.loggedIn("admin")
	tests := []struct {
		name  string
		query url.Values
		field string
		msg   string
	}{
		{"a start that is no time", url.Values{"since": {"yesterday"}}, "since", "must be a UTC time like 2026-12-07T14:30"},
		{"an end before the start", url.Values{"since": {"2026-11-03"}, "until": {"2026-11-02"}}, "until", "must be after the start of the range"},
		{"a user longer than the API takes", url.Values{"actor": {strings.Repeat("a", 257)}}, "actor", "must be at most 256 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := b.get("/ui/audit?" + tt.query.Encode())
			if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, fieldError(tt.field, tt.msg)) {
				t.Errorf("status %d; no %q beside %s:\n%s", p.status, tt.msg, tt.field, p.body)
			}
			if strings.Contains(p.body, "<td data-label=\"User\">") {
				t.Errorf("events are listed for a filter that cannot apply")
			}
		})
	}
	if p := b.get("/ui/audit?before_id=x"); p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, "the page link is broken") {
		t.Errorf("a broken page link: status %d", p.status)
	}
}
