package ui

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/notify"
)

// receiver is a webhook receiver: /ok takes messages, /broken refuses
// them for good (400). It keeps the events it was sent, by path.
type receiver struct {
	*httptest.Server
	mu  sync.Mutex
	got map[string][]notify.Event
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{got: map[string][]notify.Event{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var e notify.Event
		_ = json.Unmarshal(body, &e)
		r.mu.Lock()
		r.got[req.URL.Path] = append(r.got[req.URL.Path], e)
		r.mu.Unlock()
		if req.URL.Path == "/broken" {
			http.Error(w, "no such hook", http.StatusBadRequest)
		}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) events(path string) []notify.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]notify.Event(nil), r.got[path]...)
}

// useChannels configures two webhook channels to hooks, ops (which takes
// messages) and broken (which refuses them), with ops getting only
// rotation failures by the rules.
func (e *env) useChannels(hooks *receiver) {
	e.t.Helper()
	secretFile := filepath.Join(e.t.TempDir(), "hook-secret")
	if err := os.WriteFile(secretFile, []byte("hook-secret-value"), 0o600); err != nil {
		e.t.Fatal(err)
	}
	next := *e.app.Current()
	next.Notifications.Channels = map[string]config.NotifyChannel{
		"ops":    {Kind: "webhook", URL: hooks.URL + "/ok", Secret: "file:" + secretFile, Timeout: 10 * time.Second},
		"broken": {Kind: "webhook", URL: hooks.URL + "/broken", Secret: "file:" + secretFile, Timeout: 10 * time.Second},
	}
	next.Notifications.Rules = []config.NotifyRule{
		{Events: []string{string(notify.RotationFailed)}, Channels: []string{"ops"}},
		{Channels: []string{"broken"}},
	}
	if _, err := e.app.Reload(&next); err != nil {
		e.t.Fatal(err)
	}
}

// channelRow is the notifications screen's row of channel.
func (p page) channelRow(t testing.TB, channel string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<td data-label="Channel">` + regexp.QuoteMeta(channel) + `</td>.*?</tr>`).FindString(p.body)
	if m == "" {
		t.Fatalf("no row for channel %s:\n%s", channel, p.body)
	}
	return m
}

func TestTheNotificationsScreenShowsEachChannelsLastDelivery(t *testing.T) {
	e := newEnv(t)
	hooks := newReceiver(t)
	e.useChannels(hooks)
	ctx := context.Background()
	q, _, err := e.app.Queue(ctx, app.QueueRole{Work: true, Scan: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = q.Stop(stop)
	})
	b := e.loggedIn("developer")
	before := b.get("/ui/notifications")
	if !strings.Contains(before.channelRow(t, "ops"), "none in the job queue") {
		t.Errorf("ops shows a delivery before any:\n%s", before.channelRow(t, "ops"))
	}
	if !strings.Contains(before.channelRow(t, "ops"), "rotation.failed") || !strings.Contains(before.channelRow(t, "broken"), "every event, by the rules") {
		t.Errorf("the rules' events are not shown:\n%s\n%s", before.channelRow(t, "ops"), before.channelRow(t, "broken"))
	}

	event := notify.Event{Kind: notify.RotationFailed, Key: "ui-test/1", Time: time.Now().UTC(), Summary: "Rotation of fw1.lab.ottr.test failed at install"}
	claimed, err := e.app.Store.ClaimNotification(ctx, []string{event.Key}, func(ctx context.Context, tx any) error {
		return q.EnqueueDeliveriesTx(ctx, tx, []notify.Delivery{{Channel: "ops", Event: event}, {Channel: "broken", Event: event}})
	})
	if err != nil || !claimed {
		t.Fatalf("queue the deliveries: claimed %v, %v", claimed, err)
	}
	var p page
	deadline := time.Now().Add(2 * time.Minute)
	for {
		p = b.get("/ui/notifications")
		if strings.Contains(p.channelRow(t, "ops"), "delivered") && strings.Contains(p.channelRow(t, "broken"), "failed for good") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deliveries did not end as delivered and failed:\n%s\n%s", p.channelRow(t, "ops"), p.channelRow(t, "broken"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	ops := p.channelRow(t, "ops")
	for _, want := range []string{"state-ok", "rotation.failed: Rotation of fw1.lab.ottr.test failed at install", "(attempt 1)", `<time datetime="`} {
		if !strings.Contains(ops, want) {
			t.Errorf("the ops row lacks %q:\n%s", want, ops)
		}
	}
	if broken := p.channelRow(t, "broken"); !strings.Contains(broken, "answered 400 Bad Request: no such hook") ||
		strings.Contains(broken, "JobCancelError") || strings.Contains(broken, hooks.URL+"/broken") {
		t.Errorf("the broken row does not give the refusal, or shows the hook's address:\n%s", broken)
	}
	if got := hooks.events("/ok"); len(got) != 1 || got[0].Key != "ui-test/1" {
		t.Errorf("ops received %+v, want the one event", got)
	}
}

func TestASampleMessageIsSentOnlyForPrivilegedUsers(t *testing.T) {
	e := newEnv(t)
	hooks := newReceiver(t)
	e.useChannels(hooks)

	dev := e.loggedIn("developer")
	page := dev.get("/ui/notifications")
	if strings.Contains(page.body, "Send a test message") {
		t.Errorf("a developer is offered the test button")
	}
	if p := dev.post("/ui/notifications", url.Values{"csrf": {page.csrf(t)}, "channel": {"ops"}}); p.status != http.StatusForbidden {
		t.Errorf("a developer's forged test: status %d, want 403", p.status)
	}

	b := e.loggedIn("privileged")
	if p := b.post("/ui/notifications", url.Values{"channel": {"ops"}}); p.status != http.StatusForbidden {
		t.Errorf("a test without the CSRF token: status %d, want 403", p.status)
	}
	if p := b.postForm("/ui/notifications", "/ui/notifications", url.Values{"channel": {"nowhere"}}); p.status != http.StatusUnprocessableEntity ||
		!strings.Contains(p.body, `there is no channel named &#34;nowhere&#34; in notifications.channels`) {
		t.Errorf("an unknown channel: status %d:\n%s", p.status, p.body)
	}
	if got := hooks.events("/ok"); len(got) != 0 {
		t.Fatalf("refused tests sent %d messages", len(got))
	}

	p := b.postForm("/ui/notifications", "/ui/notifications", url.Values{"channel": {"ops"}})
	if p.status != http.StatusOK || !strings.Contains(p.body, "ops took the sample message: 200 OK") {
		t.Errorf("status %d; the page does not say ops took the message:\n%s", p.status, p.body)
	}
	if got := hooks.events("/ok"); len(got) != 1 || !got[0].Test || got[0].Asset == nil || got[0].Asset.SystemName != "test.ottr.invalid" {
		t.Errorf("ops received %+v, want the one sample event marked as a test", got)
	}
	p = b.postForm("/ui/notifications", "/ui/notifications", url.Values{"channel": {"broken"}})
	if !strings.Contains(p.body, "broken did not take the sample message:") || !strings.Contains(p.body, "400 Bad Request") {
		t.Errorf("the page does not say broken refused the message:\n%s", p.body)
	}
}
