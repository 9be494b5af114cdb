package notifytest

import (
	"crypto/rand"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// Slack emulates Slack's Web API method chat.postMessage, authenticated
// with a bot token, and one incoming webhook.
//
// chat.postMessage answers HTTP 200 with {"ok": true, "channel", "ts"},
// or with {"ok": false, "error"}: "not_authed" without a token,
// "invalid_auth" for another token, "invalid_blocks" for blocks that break
// Block Kit's rules. The webhook answers "ok", or 400 "invalid_payload" /
// "invalid_blocks", and 404 "no_service" at any other path.
type Slack struct {
	*Server
	token       string
	webhookPath string
	messages    []SlackMessage
}

// SlackMessage is a message Slack accepted.
type SlackMessage struct {
	// Via is "chat.postMessage" or "webhook".
	Via string
	// Channel is chat.postMessage's channel; empty through the webhook.
	Channel string
	// Text is the fallback text notifications show.
	Text string
	// Blocks are the Block Kit blocks, as decoded JSON.
	Blocks []any
	// Body is the request's body.
	Body []byte
}

// NewSlack starts a Slack that takes token as the bot token.
func NewSlack(t testing.TB, token string) *Slack {
	t.Helper()
	s := &Slack{token: token, webhookPath: "/services/T0OTTR/B0OTTR/" + rand.Text()}
	s.Server = newServer(t, "slack", s.serve, slackRefusal)
	return s
}

// APIURL is the Web API's base address, for a channel's url.
func (s *Slack) APIURL() string { return s.srv.URL + "/api" }

// WebhookURL is the incoming webhook's address, for a channel's
// webhook_url. Its path is its credential, as at Slack.
func (s *Slack) WebhookURL() string { return s.srv.URL + s.webhookPath }

// Messages returns the messages Slack accepted, in order.
func (s *Slack) Messages() []SlackMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.messages)
}

func (s *Slack) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/api/chat.postMessage":
		s.postMessage(w, r)
	case r.URL.Path == s.webhookPath:
		s.webhook(w, r)
	case strings.HasPrefix(r.URL.Path, "/services/"):
		writeText(w, http.StatusNotFound, "no_service")
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"ok": false, "error": "unknown_method"})
	}
}

func (s *Slack) postMessage(w http.ResponseWriter, r *http.Request) {
	body, doc, problems := readJSON(r)
	if len(problems) > 0 {
		s.violation(r, problems)
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "invalid_arguments"})
		return
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		s.violation(r, []string{"no Authorization: Bearer header"})
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "not_authed"})
		return
	}
	if token != s.token {
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}
	var c checker
	channel := c.str(doc, "", "channel", true, 0)
	text, blocks := checkSlackMessage(&c, doc)
	if len(c.problems) > 0 {
		s.violation(r, c.problems)
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "invalid_blocks", "errors": c.problems})
		return
	}
	s.mu.Lock()
	s.messages = append(s.messages, SlackMessage{Via: "chat.postMessage", Channel: channel, Text: text, Blocks: blocks, Body: body})
	ts := fmt.Sprintf("1700000000.%06d", len(s.messages))
	s.mu.Unlock()
	answer := map[string]any{"ok": true, "channel": "C0OTTR0001", "ts": ts}
	// Slack warns, and still posts, when the JSON's charset is not given.
	if _, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); !strings.EqualFold(params["charset"], "utf-8") {
		answer["warning"] = "missing_charset"
	}
	writeJSON(w, http.StatusOK, answer)
}

func (s *Slack) webhook(w http.ResponseWriter, r *http.Request) {
	body, doc, problems := readJSON(r)
	if len(problems) > 0 {
		s.violation(r, problems)
		writeText(w, http.StatusBadRequest, "invalid_payload")
		return
	}
	var c checker
	text, blocks := checkSlackMessage(&c, doc)
	if len(c.problems) > 0 {
		s.violation(r, c.problems)
		writeText(w, http.StatusBadRequest, "invalid_blocks")
		return
	}
	s.mu.Lock()
	s.messages = append(s.messages, SlackMessage{Via: "webhook", Text: text, Blocks: blocks, Body: body})
	s.mu.Unlock()
	writeText(w, http.StatusOK, "ok")
}

// slackRefusal is Slack's answer with status: the Web API's JSON error,
// the webhook's word.
func slackRefusal(r *http.Request, status int) (string, string) {
	word := "internal_error"
	if status == http.StatusTooManyRequests {
		word = "ratelimited"
	}
	if strings.HasPrefix(r.URL.Path, "/api/") {
		return "application/json; charset=utf-8", `{"ok":false,"error":"` + word + `"}`
	}
	if status == http.StatusTooManyRequests {
		word = "rate_limited"
	}
	return "text/plain; charset=utf-8", word
}

// Block Kit's rules (api.slack.com/reference/block-kit/blocks and
// .../composition-objects), checked for the blocks ottr sends.
const (
	slackMaxBlocks      = 50
	slackMaxMessageText = 40000
	slackHeaderLen      = 150
	slackSectionLen     = 3000
	slackFieldLen       = 2000
	slackMaxFields      = 10
	slackMaxElements    = 25
	slackContextMax     = 10
	slackButtonTextLen  = 75
	slackURLLen         = 3000
	slackActionIDLen    = 255
)

// checkSlackMessage checks text and blocks, which chat.postMessage and
// webhooks share: text is required without blocks, and is the fallback
// with them.
func checkSlackMessage(c *checker, doc map[string]any) (string, []any) {
	blocks := c.array(doc, "", "blocks", false, 0, slackMaxBlocks)
	text := c.str(doc, "", "text", len(blocks) == 0, slackMaxMessageText)
	actionIDs := map[string]bool{}
	each(blocks, "blocks", func(item any, path string) {
		block := c.object(item, path)
		if block == nil {
			return
		}
		path += "."
		switch kind := c.str(block, path, "type", true, 0); kind {
		case "header":
			checkSlackText(c, c.objectField(block, path, "text", true), path+"text.", slackHeaderLen, "plain_text")
		case "section":
			_, hasText := block["text"]
			fields := c.array(block, path, "fields", !hasText, 1, slackMaxFields)
			if hasText {
				checkSlackText(c, c.objectField(block, path, "text", true), path+"text.", slackSectionLen, "plain_text", "mrkdwn")
			}
			each(fields, path+"fields", func(item any, path string) {
				checkSlackText(c, c.object(item, path), path+".", slackFieldLen, "plain_text", "mrkdwn")
			})
		case "actions":
			each(c.array(block, path, "elements", true, 1, slackMaxElements), path+"elements", func(item any, path string) {
				checkSlackButton(c, c.object(item, path), path+".", actionIDs)
			})
		case "context":
			each(c.array(block, path, "elements", true, 1, slackContextMax), path+"elements", func(item any, path string) {
				checkSlackText(c, c.object(item, path), path+".", slackSectionLen, "plain_text", "mrkdwn")
			})
		case "divider", "":
		default:
			c.problemf("%stype %q is not a block ottr sends", path, kind)
		}
	})
	return text, blocks
}

// checkSlackText checks a text object: its type one of types, its text
// present and at most maxLen characters.
func checkSlackText(c *checker, obj map[string]any, path string, maxLen int, types ...string) {
	if obj == nil {
		return
	}
	c.oneOf(obj, path, "type", true, types...)
	c.str(obj, path, "text", true, maxLen)
}

// checkSlackButton checks a button element; action_id is unique in a
// message.
func checkSlackButton(c *checker, obj map[string]any, path string, actionIDs map[string]bool) {
	if obj == nil {
		return
	}
	if kind := c.str(obj, path, "type", true, 0); kind != "button" {
		c.problemf("%stype %q, want button", path, kind)
		return
	}
	checkSlackText(c, c.objectField(obj, path, "text", true), path+"text.", slackButtonTextLen, "plain_text")
	c.link(obj, path, "url", false, slackURLLen)
	if id := c.str(obj, path, "action_id", false, slackActionIDLen); id != "" {
		if actionIDs[id] {
			c.problemf("%saction_id %q is not unique in the message", path, id)
		}
		actionIDs[id] = true
	}
	c.oneOf(obj, path, "style", false, "primary", "danger")
}

// Shown is every text the message shows, one per line: the header, the
// sections and their fields, the context, the buttons' labels.
func (m SlackMessage) Shown() string {
	var lines []string
	walkSlack(m.Blocks, func(obj map[string]any) {
		if text, ok := obj["text"].(string); ok {
			lines = append(lines, text)
		}
	})
	return strings.Join(lines, "\n")
}

// Buttons are the message's buttons.
func (m SlackMessage) Buttons() []Button {
	var buttons []Button
	walkSlack(m.Blocks, func(obj map[string]any) {
		if obj["type"] == "button" {
			label, _ := obj["text"].(map[string]any)
			text, _ := label["text"].(string)
			url, _ := obj["url"].(string)
			buttons = append(buttons, Button{Text: text, URL: url})
		}
	})
	return buttons
}

// walkSlack calls f for every object in v, depth first.
func walkSlack(v any, f func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		f(v)
		for _, key := range []string{"text", "fields", "elements"} {
			walkSlack(v[key], f)
		}
	case []any:
		for _, item := range v {
			walkSlack(item, f)
		}
	}
}
