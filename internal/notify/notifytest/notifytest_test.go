package notifytest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordingTB keeps the violations an emulator reports instead of failing
// the test, so a test can send what ottr must never send.
type recordingTB struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recordingTB) violations() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errors...)
}

// exchange is one request to an emulator and what it must make of it.
type exchange struct {
	name    string
	url     func() string
	header  map[string]string
	body    string
	status  int
	answer  string // a part of the answer's body
	breaks  string // a part of the violation reported; "" for none
	records bool
}

func run(t *testing.T, rec *recordingTB, srv *Server, records func() int, tests []exchange) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, violations := records(), len(rec.violations())
			req, err := http.NewRequest(http.MethodPost, tt.url(), strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json; charset=utf-8")
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := srv.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(answer), tt.answer) {
				t.Errorf("answer %s %s, want %d with %q", resp.Status, answer, tt.status, tt.answer)
			}
			got := rec.violations()[violations:]
			switch {
			case tt.breaks == "" && len(got) > 0:
				t.Errorf("reported %q, want no violation", got)
			case tt.breaks != "" && (len(got) != 1 || !strings.Contains(got[0], tt.breaks)):
				t.Errorf("reported %q, want one violation saying %q", got, tt.breaks)
			}
			if recorded := records() - before; recorded != map[bool]int{true: 1, false: 0}[tt.records] {
				t.Errorf("recorded %d messages, want records=%v", recorded, tt.records)
			}
		})
	}
}

const goodBlocks = `[{"type":"header","text":{"type":"plain_text","text":"Rotation failed"}},` +
	`{"type":"section","fields":[{"type":"mrkdwn","text":"*Platform*\npanos"}]},` +
	`{"type":"actions","elements":[{"type":"button","text":{"type":"plain_text","text":"Open"},"url":"https://ottr.example.com/r/1","action_id":"a"}]}]`

func TestSlackChecksRequestsAsSlackDocumentsThem(t *testing.T) {
	rec := &recordingTB{TB: t}
	slack := NewSlack(rec, "xoxb-good")
	api := func() string { return slack.APIURL() + "/chat.postMessage" }
	bearer := map[string]string{"Authorization": "Bearer xoxb-good"}
	records := func() int { return len(slack.Messages()) }
	run(t, rec, slack.Server, records, []exchange{
		{name: "a message with blocks is posted", url: api, header: bearer, body: `{"channel":"#a","text":"hi","blocks":` + goodBlocks + `}`,
			status: 200, answer: `"ok":true`, records: true},
		{name: "another token is invalid_auth", url: api, header: map[string]string{"Authorization": "Bearer xoxb-other"}, body: `{"channel":"#a","text":"hi"}`,
			status: 200, answer: "invalid_auth"},
		{name: "no token is not_authed", url: api, body: `{"channel":"#a","text":"hi"}`, status: 200, answer: "not_authed", breaks: "Authorization"},
		{name: "no channel", url: api, header: bearer, body: `{"text":"hi"}`, status: 200, answer: "invalid_blocks", breaks: "channel is required"},
		{name: "neither text nor blocks", url: api, header: bearer, body: `{"channel":"#a"}`, status: 200, answer: "invalid_blocks", breaks: "text is required"},
		{name: "a header too long", url: api, header: bearer,
			body:   `{"channel":"#a","text":"hi","blocks":[{"type":"header","text":{"type":"plain_text","text":"` + strings.Repeat("x", 151) + `"}}]}`,
			status: 200, answer: "invalid_blocks", breaks: "at most 150"},
		{name: "eleven fields in a section", url: api, header: bearer,
			body:   `{"channel":"#a","text":"hi","blocks":[{"type":"section","fields":[` + strings.TrimSuffix(strings.Repeat(`{"type":"mrkdwn","text":"x"},`, 11), ",") + `]}]}`,
			status: 200, answer: "invalid_blocks", breaks: "at most 10"},
		{name: "a header in mrkdwn", url: api, header: bearer,
			body:   `{"channel":"#a","text":"hi","blocks":[{"type":"header","text":{"type":"mrkdwn","text":"*x*"}}]}`,
			status: 200, answer: "invalid_blocks", breaks: "plain_text"},
		{name: "a button without a label", url: api, header: bearer,
			body:   `{"channel":"#a","text":"hi","blocks":[{"type":"actions","elements":[{"type":"button","url":"https://x.example"}]}]}`,
			status: 200, answer: "invalid_blocks", breaks: "text is required"},
		{name: "the webhook takes a message", url: slack.WebhookURL, body: `{"text":"hi","blocks":` + goodBlocks + `}`, status: 200, answer: "ok", records: true},
		{name: "another webhook is no_service", url: func() string { return slack.WebhookURL() + "x" }, body: `{"text":"hi"}`, status: 404, answer: "no_service"},
		{name: "the webhook without text", url: slack.WebhookURL, body: `{}`, status: 400, answer: "invalid_blocks", breaks: "text is required"},
	})
}

func TestPagerDutyChecksEventsAsPagerDutyDocumentsThem(t *testing.T) {
	rec := &recordingTB{TB: t}
	const key = "0123456789abcdef0123456789abcdef"
	pd := NewPagerDuty(rec, key)
	trigger := func(payload string) string {
		return `{"routing_key":"` + key + `","event_action":"trigger","dedup_key":"k1","payload":` + payload + `}`
	}
	records := func() int { return len(pd.Events()) }
	run(t, rec, pd.Server, records, []exchange{
		{name: "a trigger", url: pd.EventsURL, body: trigger(`{"summary":"s","source":"fw1","severity":"error","timestamp":"2026-01-02T03:04:05Z","custom_details":{"a":"b"}}`),
			status: 202, answer: `"dedup_key":"k1"`, records: true},
		{name: "a resolve", url: pd.EventsURL, body: `{"routing_key":"` + key + `","event_action":"resolve","dedup_key":"k1"}`, status: 202, answer: "success", records: true},
		{name: "another routing key", url: pd.EventsURL, body: strings.Replace(trigger(`{"summary":"s","source":"fw1","severity":"error"}`), key, strings.Repeat("z", 32), 1),
			status: 400, answer: "Invalid routing key"},
		{name: "a resolve without dedup_key", url: pd.EventsURL, body: `{"routing_key":"` + key + `","event_action":"resolve"}`, status: 400, breaks: "dedup_key is required"},
		{name: "an unknown severity", url: pd.EventsURL, body: trigger(`{"summary":"s","source":"fw1","severity":"high"}`), status: 400, breaks: "severity"},
		{name: "a trigger without source", url: pd.EventsURL, body: trigger(`{"summary":"s","severity":"info"}`), status: 400, breaks: "source is required"},
		{name: "a summary too long", url: pd.EventsURL, body: trigger(`{"summary":"` + strings.Repeat("s", 1025) + `","source":"fw1","severity":"info"}`), status: 400, breaks: "at most 1024"},
		{name: "a timestamp that is not ISO 8601", url: pd.EventsURL, body: trigger(`{"summary":"s","source":"fw1","severity":"info","timestamp":"yesterday"}`), status: 400, breaks: "ISO 8601"},
		{name: "custom_details that are not an object", url: pd.EventsURL, body: trigger(`{"summary":"s","source":"fw1","severity":"info","custom_details":"x"}`), status: 400, breaks: "custom_details"},
	})
	if state := pd.Alert("k1"); state != "resolved" {
		t.Errorf("alert k1 is %q, want resolved", state)
	}
}

func TestTeamsChecksMessagesAsTeamsDocumentsThem(t *testing.T) {
	rec := &recordingTB{TB: t}
	teams := NewTeams(rec)
	message := func(card string) string {
		return `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":` + card + `}]}`
	}
	card := func(version, body string) string {
		return `{"type":"AdaptiveCard","version":"` + version + `","body":` + body +
			`,"actions":[{"type":"Action.OpenUrl","title":"Open","url":"https://ottr.example.com/r/1"}]}`
	}
	good := `[{"type":"TextBlock","text":"Rotation failed","color":"Attention"},{"type":"FactSet","facts":[{"title":"Platform","value":"panos"}]}]`
	records := func() int { return len(teams.Messages()) }
	run(t, rec, teams.Server, records, []exchange{
		{name: "an adaptive card", url: teams.WebhookURL, body: message(card("1.4", good)), status: 202, records: true},
		{name: "another sig", url: func() string { return teams.WebhookURL() + "x" }, body: message(card("1.4", good)), status: 401, answer: "DirectApiAuthorizationRequired"},
		{name: "a MessageCard", url: teams.WebhookURL, body: `{"@type":"MessageCard","text":"hi"}`, status: 400, breaks: "type is required"},
		{name: "another attachment type", url: teams.WebhookURL,
			body: strings.Replace(message(card("1.4", good)), "vnd.microsoft.card.adaptive", "vnd.microsoft.card.hero", 1), status: 400, breaks: "contentType"},
		{name: "a card version Teams does not render", url: teams.WebhookURL, body: message(card("1.6", good)), status: 400, breaks: "version"},
		{name: "a fact without value", url: teams.WebhookURL, body: message(card("1.4", `[{"type":"FactSet","facts":[{"title":"Platform"}]}]`)), status: 400, breaks: "value is required"},
		{name: "an unknown colour", url: teams.WebhookURL, body: message(card("1.4", `[{"type":"TextBlock","text":"x","color":"Red"}]`)), status: 400, breaks: "color"},
	})
}

func TestWebhookChecksSignatureAndHeaders(t *testing.T) {
	rec := &recordingTB{TB: t}
	const secret = "receiver-secret"
	wh := NewWebhook(rec, secret)
	body := `{"kind":"rotation.failed","key":"k1","time":"2026-01-02T03:04:05Z","summary":"s"}`
	signed := func(secret, timestamp, body string, headers map[string]string) map[string]string {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(timestamp + "." + body))
		h := map[string]string{"X-Ottr-Timestamp": timestamp, "X-Ottr-Signature": "v1=" + hex.EncodeToString(mac.Sum(nil)),
			"X-Ottr-Event": "rotation.failed", "X-Ottr-Delivery": "k1"}
		for k, v := range headers {
			h[k] = v
		}
		return h
	}
	now := strconv.FormatInt(time.Now().Unix(), 10)
	old := strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)
	records := func() int { return len(wh.Deliveries()) }
	run(t, rec, wh.Server, records, []exchange{
		{name: "a signed delivery", url: wh.URL, header: signed(secret, now, body, nil), body: body, status: 204, records: true},
		{name: "another secret", url: wh.URL, header: signed("other", now, body, nil), body: body, status: 401, answer: "signature mismatch"},
		{name: "an old timestamp", url: wh.URL, header: signed(secret, old, body, nil), body: body, status: 401, answer: "too far"},
		{name: "a body changed after signing", url: wh.URL, header: signed(secret, now, body, nil), body: strings.Replace(body, `"s"`, `"t"`, 1), status: 401},
		{name: "an event header that is not the kind", url: wh.URL, header: signed(secret, now, body, map[string]string{"X-Ottr-Event": "digest"}), body: body,
			status: 400, breaks: "X-Ottr-Event"},
		{name: "a field the docs do not name", url: wh.URL, header: signed(secret, now, `{"kind":"digest","key":"k1","extra":1}`, map[string]string{"X-Ottr-Event": "digest"}),
			body: `{"kind":"digest","key":"k1","extra":1}`, status: 400, breaks: "extra"},
	})
}

func TestFailNextRefusesThatManyRequestsInTheVendorsWords(t *testing.T) {
	rec := &recordingTB{TB: t}
	slack := NewSlack(rec, "xoxb-good")
	slack.FailNext(2, http.StatusTooManyRequests, 1500*time.Millisecond)
	for i, want := range []int{429, 429, 200} {
		req, _ := http.NewRequest(http.MethodPost, slack.APIURL()+"/chat.postMessage", strings.NewReader(`{"channel":"#a","text":"hi"}`))
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		req.Header.Set("Authorization", "Bearer xoxb-good")
		resp, err := slack.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("request %d: %s, want %d", i, resp.Status, want)
		}
		if want == 429 && (resp.Header.Get("Retry-After") != "2" || !strings.Contains(string(body), "ratelimited")) {
			t.Errorf("request %d: Retry-After %q body %s, want 2 and ratelimited", i, resp.Header.Get("Retry-After"), body)
		}
	}
	if slack.Received() != 3 || len(slack.Messages()) != 1 {
		t.Errorf("received %d, recorded %d; want 3 and 1", slack.Received(), len(slack.Messages()))
	}
}
