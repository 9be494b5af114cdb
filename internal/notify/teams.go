package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// teamsChannel posts an Adaptive Card to a Teams Workflows webhook ("When a
// Teams webhook request is received"). Office 365 connectors and their
// MessageCard are retired.
type teamsChannel struct {
	name string
	post *poster
}

var _ Channel = (*teamsChannel)(nil)

func newTeams(s channelSettings) (Channel, error) {
	post, err := s.postToSecretURL("webhook_url", s.WebhookURL)
	if err != nil {
		return nil, err
	}
	return &teamsChannel{name: s.name, post: post}, nil
}

func (c *teamsChannel) Name() string { return c.name }
func (c *teamsChannel) Kind() string { return "teams" }

// Send posts e as a message whose one attachment is an Adaptive Card.
func (c *teamsChannel) Send(ctx context.Context, e Event) (Receipt, error) {
	body, err := json.Marshal(teamsMessage{
		Type: "message",
		Attachments: []teamsAttachment{{
			ContentType: teamsCardType,
			Content:     teamsCard(render(e)),
		}},
	})
	if err != nil {
		return Receipt{}, fmt.Errorf("%s: %w", c.post.prefix, err)
	}
	a, err := c.post.post(ctx, body, nil)
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{Status: a.Status}, nil
}

// teamsCardType is an Adaptive Card attachment's content type.
const teamsCardType = "application/vnd.microsoft.card.adaptive"

// teamsCardVersion is the card schema: 1.4 is what Teams renders on every
// client, mobile included.
const teamsCardVersion = "1.4"

type teamsMessage struct {
	Type        string            `json:"type"`
	Attachments []teamsAttachment `json:"attachments"`
}

type teamsAttachment struct {
	ContentType string `json:"contentType"`
	// ContentURL is null: the card travels inline.
	ContentURL *string   `json:"contentUrl"`
	Content    adaptCard `json:"content"`
}

type adaptCard struct {
	Schema  string         `json:"$schema"`
	Type    string         `json:"type"`
	Version string         `json:"version"`
	Body    []adaptElement `json:"body"`
	Actions []adaptAction  `json:"actions,omitempty"`
	// MSTeams widens the card to the message pane, which a FactSet
	// with long values needs.
	MSTeams map[string]string `json:"msteams,omitempty"`
}

// adaptElement is a TextBlock or a FactSet.
type adaptElement struct {
	Type     string      `json:"type"`
	Text     string      `json:"text,omitempty"`
	Wrap     bool        `json:"wrap,omitempty"`
	Weight   string      `json:"weight,omitempty"`
	Size     string      `json:"size,omitempty"`
	Color    string      `json:"color,omitempty"`
	FontType string      `json:"fontType,omitempty"`
	Spacing  string      `json:"spacing,omitempty"`
	Facts    []adaptFact `json:"facts,omitempty"`
}

type adaptFact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

type adaptAction struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

// teamsColors are the title's colour by severity.
var teamsColors = map[severity]string{
	severityCritical: "Attention",
	severityError:    "Attention",
	severityWarning:  "Warning",
	severityInfo:     "Good",
}

// teamsCard lays m out: the title in the severity's colour, the summary,
// the facts as a FactSet, the error in monospace, a digest's lists, the
// kind and time, and an Action.OpenUrl to the link.
func teamsCard(m message) adaptCard {
	card := adaptCard{
		Schema:  "http://adaptivecards.io/schemas/adaptive-card.json",
		Type:    "AdaptiveCard",
		Version: teamsCardVersion,
		Body: []adaptElement{{
			Type: "TextBlock", Text: m.Title, Wrap: true, Weight: "Bolder", Size: "Large", Color: teamsColors[m.Severity],
		}},
		MSTeams: map[string]string{"width": "Full"},
	}
	if m.Kind == DigestKind {
		card.Body[0].Color = "Accent"
	}
	if m.Summary != m.Title {
		card.Body = append(card.Body, adaptElement{Type: "TextBlock", Text: m.Summary, Wrap: true})
	}
	if len(m.Facts) > 0 {
		set := adaptElement{Type: "FactSet"}
		for _, f := range m.Facts {
			set.Facts = append(set.Facts, adaptFact{Title: f.Label, Value: f.Value})
		}
		card.Body = append(card.Body, set)
	}
	if m.Error != "" {
		card.Body = append(card.Body,
			adaptElement{Type: "TextBlock", Text: "Error", Weight: "Bolder", Spacing: "Medium"},
			adaptElement{Type: "TextBlock", Text: m.Error, Wrap: true, FontType: "Monospace"})
	}
	for _, l := range m.Lists {
		card.Body = append(card.Body,
			adaptElement{Type: "TextBlock", Text: l.Title, Weight: "Bolder", Spacing: "Medium"},
			adaptElement{Type: "TextBlock", Text: "- " + strings.Join(l.lines(), "\n- "), Wrap: true})
	}
	card.Body = append(card.Body, adaptElement{Type: "TextBlock", Text: m.footer(), Size: "Small", Wrap: true, Spacing: "Medium"})
	if m.Link != "" {
		card.Actions = []adaptAction{{Type: "Action.OpenUrl", Title: m.LinkText, URL: m.Link}}
	}
	return card
}
