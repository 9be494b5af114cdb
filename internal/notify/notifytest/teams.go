package notifytest

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// Teams emulates a Microsoft Teams Workflows webhook ("When a Teams webhook
// request is received"), whose address carries its credential in the sig
// query parameter. It takes a message whose attachments are Adaptive
// Cards, answers 202 Accepted, and 401 for another sig. Office 365
// connectors' MessageCard is refused: they are retired.
type Teams struct {
	*Server
	path     string
	sig      string
	messages []TeamsMessage
}

// TeamsMessage is a message the webhook accepted.
type TeamsMessage struct {
	// Cards are the attachments' Adaptive Cards, as decoded JSON.
	Cards []map[string]any
	// Body is the request's body.
	Body []byte
}

// NewTeams starts a Teams Workflows webhook.
func NewTeams(t testing.TB) *Teams {
	t.Helper()
	tm := &Teams{
		path: "/workflows/" + strings.ToLower(rand.Text()) + "/triggers/manual/paths/invoke",
		sig:  rand.Text(),
	}
	tm.Server = newServer(t, "teams", tm.serve, teamsRefusal)
	return tm
}

// WebhookURL is the webhook's address, for a channel's webhook_url.
func (tm *Teams) WebhookURL() string {
	return tm.srv.URL + tm.path + "?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=" + tm.sig
}

// Messages returns the messages the webhook accepted, in order.
func (tm *Teams) Messages() []TeamsMessage {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return slices.Clone(tm.messages)
}

// Adaptive Cards as Teams takes them: schema versions up to 1.5, and a
// message of at most about 28 KB.
var teamsCardVersions = []string{"1.0", "1.1", "1.2", "1.3", "1.4", "1.5"}

const (
	teamsCardType     = "application/vnd.microsoft.card.adaptive"
	teamsMaxMessage   = 28 << 10
	teamsNoSignatures = "DirectApiAuthorizationRequired"
)

func (tm *Teams) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != tm.path {
		writeJSON(w, http.StatusNotFound, teamsError("WorkflowNotFound", "The workflow could not be found."))
		return
	}
	if r.URL.Query().Get("sig") != tm.sig {
		writeJSON(w, http.StatusUnauthorized, teamsError(teamsNoSignatures, "The request must be authenticated by a valid signature."))
		return
	}
	body, doc, problems := readJSON(r)
	if len(problems) > 0 {
		tm.violation(r, problems)
		writeJSON(w, http.StatusBadRequest, teamsError("InvalidRequestContent", strings.Join(problems, "; ")))
		return
	}
	var c checker
	if len(body) > teamsMaxMessage {
		c.problemf("the message has %d bytes, Teams takes about %d", len(body), teamsMaxMessage)
	}
	if kind := c.str(doc, "", "type", true, 0); kind != "message" {
		c.problemf("type %q, want message (MessageCard and Office 365 connectors are retired)", kind)
	}
	var cards []map[string]any
	each(c.array(doc, "", "attachments", true, 1, 0), "attachments", func(item any, path string) {
		attachment := c.object(item, path)
		if attachment == nil {
			return
		}
		c.oneOf(attachment, path+".", "contentType", true, teamsCardType)
		if card := c.objectField(attachment, path+".", "content", true); card != nil {
			checkAdaptiveCard(&c, card, path+".content.")
			cards = append(cards, card)
		}
	})
	if len(c.problems) > 0 {
		tm.violation(r, c.problems)
		writeJSON(w, http.StatusBadRequest, teamsError("InvalidRequestContent", strings.Join(c.problems, "; ")))
		return
	}
	tm.mu.Lock()
	tm.messages = append(tm.messages, TeamsMessage{Cards: cards, Body: body})
	tm.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

// checkAdaptiveCard checks the card and the elements ottr puts in it.
func checkAdaptiveCard(c *checker, card map[string]any, path string) {
	if kind := c.str(card, path, "type", true, 0); kind != "AdaptiveCard" {
		c.problemf("%stype %q, want AdaptiveCard", path, kind)
	}
	c.oneOf(card, path, "version", true, teamsCardVersions...)
	each(c.array(card, path, "body", true, 1, 0), path+"body", func(item any, path string) {
		element := c.object(item, path)
		if element == nil {
			return
		}
		path += "."
		switch kind := c.str(element, path, "type", true, 0); kind {
		case "TextBlock":
			c.str(element, path, "text", true, 0)
			c.oneOf(element, path, "color", false, "Default", "Dark", "Light", "Accent", "Good", "Warning", "Attention")
			c.oneOf(element, path, "size", false, "Default", "Small", "Medium", "Large", "ExtraLarge")
			c.oneOf(element, path, "weight", false, "Default", "Lighter", "Bolder")
			c.oneOf(element, path, "fontType", false, "Default", "Monospace")
		case "FactSet":
			each(c.array(element, path, "facts", true, 1, 0), path+"facts", func(item any, path string) {
				if fact := c.object(item, path); fact != nil {
					c.str(fact, path+".", "title", true, 0)
					c.str(fact, path+".", "value", true, 0)
				}
			})
		case "Container", "ColumnSet", "Image", "RichTextBlock", "ActionSet", "":
		default:
			c.problemf("%stype %q is not an Adaptive Card element", path, kind)
		}
	})
	each(c.array(card, path, "actions", false, 0, 0), path+"actions", func(item any, path string) {
		action := c.object(item, path)
		if action == nil {
			return
		}
		path += "."
		switch kind := c.str(action, path, "type", true, 0); kind {
		case "Action.OpenUrl":
			c.link(action, path, "url", true, 0)
			c.str(action, path, "title", true, 0)
		case "Action.Submit", "Action.ShowCard", "Action.ToggleVisibility", "Action.Execute", "":
		default:
			c.problemf("%stype %q is not an Adaptive Card action", path, kind)
		}
	})
}

func teamsError(code, message string) map[string]any {
	return map[string]any{"error": map[string]any{"code": code, "message": message}}
}

// teamsRefusal is the Workflows endpoint's answer with status.
func teamsRefusal(_ *http.Request, status int) (string, string) {
	code, message := "InternalServerError", "The server encountered an internal error."
	if status == http.StatusTooManyRequests {
		code, message = "WorkflowTriggerIsThrottled", "Rate limit is exceeded. Try again later."
	}
	body, _ := json.Marshal(teamsError(code, message))
	return "application/json; charset=utf-8", string(body)
}

// Shown is every text the message's cards show, one per line: the
// TextBlocks, each fact as "title: value", the actions' titles.
func (m TeamsMessage) Shown() string {
	var lines []string
	for _, card := range m.Cards {
		for _, element := range objects(card["body"]) {
			if text, ok := element["text"].(string); ok {
				lines = append(lines, text)
			}
			for _, fact := range objects(element["facts"]) {
				lines = append(lines, fact["title"].(string)+": "+fact["value"].(string))
			}
		}
		for _, action := range objects(card["actions"]) {
			lines = append(lines, action["title"].(string))
		}
	}
	return strings.Join(lines, "\n")
}

// Buttons are the cards' Action.OpenUrl actions.
func (m TeamsMessage) Buttons() []Button {
	var buttons []Button
	for _, card := range m.Cards {
		for _, action := range objects(card["actions"]) {
			if action["type"] == "Action.OpenUrl" {
				buttons = append(buttons, Button{Text: action["title"].(string), URL: action["url"].(string)})
			}
		}
	}
	return buttons
}

// objects are the objects in a decoded JSON array.
func objects(v any) []map[string]any {
	items, _ := v.([]any)
	var out []map[string]any
	for _, item := range items {
		if obj, ok := item.(map[string]any); ok {
			out = append(out, obj)
		}
	}
	return out
}
