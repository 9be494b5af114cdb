package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
)

// DefaultSlackAPI is Slack's Web API; a channel's url replaces it (GovSlack
// is https://slack-gov.com/api).
const DefaultSlackAPI = "https://slack.com/api"

// slackChannel posts with chat.postMessage and a bot token, as Ottr did, or
// to an incoming webhook.
type slackChannel struct {
	name string
	post *poster
	// token and channel are for chat.postMessage; both empty for an
	// incoming webhook, which posts where it was made for.
	token   string
	channel string
	logger  *slog.Logger
}

var _ Channel = (*slackChannel)(nil)

func newSlack(s channelSettings) (Channel, error) {
	switch {
	case s.Token != "" && s.WebhookURL != "":
		return nil, s.errorf("webhook_url", "give token (with channel) or webhook_url, not both")
	case s.Token == "" && s.WebhookURL == "":
		return nil, s.errorf("token", "required: a bot token with chat:write (and channel), or webhook_url for an incoming webhook")
	case s.WebhookURL != "":
		return newSlackWebhook(s)
	}
	if s.Channel == "" {
		return nil, s.errorf("channel", "required with a token: the channel to post to, #name or its ID")
	}
	token, err := s.secret("token", s.Token)
	if err != nil {
		return nil, err
	}
	base := s.URL
	if base == "" {
		base = DefaultSlackAPI
	}
	u, err := s.endpoint("url", base)
	if err != nil {
		return nil, err
	}
	u = u.JoinPath("chat.postMessage")
	post, err := s.newPoster(u, secrets{token})
	if err != nil {
		return nil, err
	}
	return &slackChannel{name: s.name, post: post, token: token, channel: s.Channel, logger: s.Logger}, nil
}

func newSlackWebhook(s channelSettings) (Channel, error) {
	if s.Channel != "" {
		return nil, s.errorf("channel", "an incoming webhook posts to the channel it was made for; leave channel out")
	}
	if s.URL != "" {
		return nil, s.errorf("url", "the Web API's address is for a token; an incoming webhook needs none")
	}
	post, err := s.postToSecretURL("webhook_url", s.WebhookURL)
	if err != nil {
		return nil, err
	}
	return &slackChannel{name: s.name, post: post, logger: s.Logger}, nil
}

func (c *slackChannel) Name() string { return c.name }
func (c *slackChannel) Kind() string { return "slack" }

// Send posts e as Block Kit blocks, with its summary as the text that
// notifications and screen readers show.
func (c *slackChannel) Send(ctx context.Context, e Event) (Receipt, error) {
	m := render(e)
	body, err := json.Marshal(slackPayload{Channel: c.channel, Text: slackEscape(m.Summary), Blocks: slackBlocks(m)})
	if err != nil {
		return Receipt{}, fmt.Errorf("%s: %w", c.post.prefix, err)
	}
	if c.token == "" {
		a, err := c.post.post(ctx, body, nil)
		if err != nil {
			return Receipt{}, err
		}
		return Receipt{Status: a.Status, Detail: strings.TrimSpace(string(a.Body))}, nil
	}
	a, err := c.post.post(ctx, body, http.Header{"Authorization": {"Bearer " + c.token}})
	if err != nil {
		return Receipt{}, err
	}
	return c.postMessageAnswer(a)
}

// postMessageAnswer reads chat.postMessage's answer, which is HTTP 200 even
// when Slack refused the message: "ok" says which.
func (c *slackChannel) postMessageAnswer(a answer) (Receipt, error) {
	var got struct {
		OK      bool   `json:"ok"`
		Error   string `json:"error"`
		Warning string `json:"warning"`
		Channel string `json:"channel"`
		TS      string `json:"ts"`
	}
	if err := json.Unmarshal(a.Body, &got); err != nil {
		return Receipt{}, &RetryableError{Err: fmt.Errorf("%s: chat.postMessage answered %s with no JSON: %w", c.post.prefix, a.Status, err)}
	}
	if got.Warning != "" {
		c.logger.Warn("slack accepted the message with a warning", "channel", c.name, "warning", got.Warning)
	}
	if !got.OK {
		err := fmt.Errorf("%s: chat.postMessage answered %q%s", c.post.prefix, got.Error, slackHints[got.Error])
		if slices.Contains(slackRetryable, got.Error) {
			return Receipt{}, &RetryableError{After: retryAfter(a.Header.Get("Retry-After"), c.post.now()), Err: err}
		}
		return Receipt{}, err
	}
	return Receipt{Status: a.Status, Detail: fmt.Sprintf("channel %s, ts %s", got.Channel, got.TS)}, nil
}

// slackRetryable are chat.postMessage's errors that pass.
var slackRetryable = []string{"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}

// slackHints say how to fix chat.postMessage's most common errors.
var slackHints = map[string]string{
	"not_in_channel":    ": invite the app to the channel (/invite @app-name)",
	"channel_not_found": ": check the channel's name or ID, and that the app can see it",
	"is_archived":       ": the channel is archived; name another",
	"invalid_auth":      ": the token is not valid; check the secret it is read from",
	"not_authed":        ": no token reached Slack",
	"token_revoked":     ": the token was revoked; install the app again and store the new one",
	"token_expired":     ": the token expired; store a fresh one",
	"account_inactive":  ": the token's user or app was deactivated",
	"missing_scope":     ": the token needs the chat:write scope",
}

// slackPayload is chat.postMessage's JSON and an incoming webhook's (which
// takes no channel).
type slackPayload struct {
	Channel string       `json:"channel,omitempty"`
	Text    string       `json:"text"`
	Blocks  []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type   string      `json:"type"`
	Text   *slackText  `json:"text,omitempty"`
	Fields []slackText `json:"fields,omitempty"`
	// Elements are an actions block's buttons, or a context block's text
	// objects.
	Elements []any `json:"elements,omitempty"`
}

type slackButton struct {
	Type     string    `json:"type"`
	Text     slackText `json:"text"`
	URL      string    `json:"url"`
	ActionID string    `json:"action_id"`
	Style    string    `json:"style,omitempty"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// Block Kit's limits (api.slack.com/reference/block-kit/blocks).
const (
	slackHeaderLen  = 150
	slackFieldsMax  = 10
	slackSectionLen = 3000
	slackButtonLen  = 75
)

// slackBlocks lays m out: a header, the summary, the facts as section
// fields (ten to a section), the error as code, a digest's lists, a
// context line with the event's kind and time, and a button to the link.
func slackBlocks(m message) []slackBlock {
	blocks := []slackBlock{{Type: "header", Text: &slackText{Type: "plain_text", Text: truncate(m.Title, slackHeaderLen)}}}
	if m.Summary != m.Title {
		blocks = append(blocks, slackSection(slackEscape(m.Summary)))
	}
	for chunk := range slices.Chunk(m.Facts, slackFieldsMax) {
		section := slackBlock{Type: "section"}
		for _, f := range chunk {
			section.Fields = append(section.Fields, slackText{Type: "mrkdwn", Text: "*" + slackEscape(f.Label) + "*\n" + slackEscape(f.Value)})
		}
		blocks = append(blocks, section)
	}
	if m.Error != "" {
		// A fence inside the error would end the code block early.
		blocks = append(blocks, slackSection("*Error*\n```"+slackEscape(strings.ReplaceAll(m.Error, "```", "'''"))+"```"))
	}
	for _, l := range m.Lists {
		text := "*" + slackEscape(l.Title) + "*"
		for _, line := range l.lines() {
			text += "\n• " + slackEscape(line)
		}
		blocks = append(blocks, slackSection(text))
	}
	blocks = append(blocks, slackBlock{Type: "context", Elements: []any{slackText{Type: "mrkdwn", Text: slackEscape(m.footer())}}})
	if m.Link != "" {
		button := slackButton{
			Type:     "button",
			Text:     slackText{Type: "plain_text", Text: truncate(m.LinkText, slackButtonLen)},
			URL:      m.Link,
			ActionID: "ottr-open",
		}
		if m.Severity == severityCritical || m.Severity == severityError {
			button.Style = "danger"
		}
		blocks = append(blocks, slackBlock{Type: "actions", Elements: []any{button}})
	}
	return blocks
}

func slackSection(mrkdwn string) slackBlock {
	return slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: truncate(mrkdwn, slackSectionLen)}}
}

// slackEscape escapes the three characters Slack's mrkdwn reads as markup
// of its own (links, mentions).
func slackEscape(text string) string { return slackEscaper.Replace(text) }

var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
