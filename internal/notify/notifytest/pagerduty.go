package notifytest

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"
)

// PagerDuty emulates the Events API v2 (POST /v2/enqueue) for one
// integration, and keeps the state of each alert by dedup_key.
//
// It answers 202 {"status": "success", "message": "Event processed",
// "dedup_key"}, or 400 {"status": "invalid event", "message": "Event object
// is invalid", "errors"} for another routing key.
type PagerDuty struct {
	*Server
	routingKey string
	events     []PagerDutyEvent
	alerts     map[string]string
}

// PagerDutyEvent is an event PagerDuty accepted.
type PagerDutyEvent struct {
	RoutingKey  string            `json:"routing_key"`
	EventAction string            `json:"event_action"`
	DedupKey    string            `json:"dedup_key"`
	Payload     *PagerDutyPayload `json:"payload"`
	Client      string            `json:"client"`
	ClientURL   string            `json:"client_url"`
	Links       []struct {
		Href string `json:"href"`
		Text string `json:"text"`
	} `json:"links"`
	// Body is the request's body.
	Body []byte `json:"-"`
}

// PagerDutyPayload is a trigger's payload.
type PagerDutyPayload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp"`
	Component     string         `json:"component"`
	Group         string         `json:"group"`
	Class         string         `json:"class"`
	CustomDetails map[string]any `json:"custom_details"`
}

// NewPagerDuty starts a PagerDuty whose integration has routingKey.
func NewPagerDuty(t testing.TB, routingKey string) *PagerDuty {
	t.Helper()
	p := &PagerDuty{routingKey: routingKey, alerts: map[string]string{}}
	p.Server = newServer(t, "pagerduty", p.serve, pagerDutyRefusal)
	return p
}

// EventsURL is the Events API's address, for a channel's events_url.
func (p *PagerDuty) EventsURL() string { return p.srv.URL + "/v2/enqueue" }

// Events returns the events PagerDuty accepted, in order.
func (p *PagerDuty) Events() []PagerDutyEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.events)
}

// Alert is the state of the alert with dedupKey: "triggered",
// "acknowledged", "resolved", or "" when no event named it.
func (p *PagerDuty) Alert(dedupKey string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.alerts[dedupKey]
}

// pagerDutyAlertStates are the state each event action leaves an alert in.
var pagerDutyAlertStates = map[string]string{"trigger": "triggered", "acknowledge": "acknowledged", "resolve": "resolved"}

// The Events API v2's limits (developer.pagerduty.com, "Send an Alert
// Event").
const (
	pagerDutyKeyLen      = 32
	pagerDutyDedupKeyLen = 255
	pagerDutySummaryLen  = 1024
)

func (p *PagerDuty) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v2/enqueue" {
		writeJSON(w, http.StatusNotFound, map[string]any{"status": "not found", "message": "Not found"})
		return
	}
	body, doc, problems := readJSON(r)
	if len(problems) > 0 {
		p.violation(r, problems)
		p.invalid(w, problems)
		return
	}
	var c checker
	key := c.str(doc, "", "routing_key", true, 0)
	action := c.oneOf(doc, "", "event_action", true, "trigger", "acknowledge", "resolve")
	c.str(doc, "", "dedup_key", action != "trigger", pagerDutyDedupKeyLen)
	if action == "trigger" {
		payload := c.objectField(doc, "", "payload", true)
		if payload != nil {
			c.str(payload, "payload.", "summary", true, pagerDutySummaryLen)
			c.str(payload, "payload.", "source", true, 0)
			c.oneOf(payload, "payload.", "severity", true, "critical", "error", "warning", "info")
			if ts := c.str(payload, "payload.", "timestamp", false, 0); ts != "" {
				if _, err := time.Parse(time.RFC3339, ts); err != nil {
					c.problemf("payload.timestamp %q is not ISO 8601", ts)
				}
			}
			for _, key := range []string{"component", "group", "class"} {
				c.str(payload, "payload.", key, false, 0)
			}
			c.objectField(payload, "payload.", "custom_details", false)
		}
	}
	each(c.array(doc, "", "links", false, 0, 0), "links", func(item any, path string) {
		if link := c.object(item, path); link != nil {
			c.link(link, path+".", "href", true, 0)
			c.str(link, path+".", "text", false, 0)
		}
	})
	c.str(doc, "", "client", false, 0)
	c.link(doc, "", "client_url", false, 0)
	if len(c.problems) > 0 {
		p.violation(r, c.problems)
		p.invalid(w, c.problems)
		return
	}
	if len(key) != pagerDutyKeyLen || key != p.routingKey {
		p.invalid(w, []string{"Invalid routing key"})
		return
	}
	event := PagerDutyEvent{Body: body}
	if err := json.Unmarshal(body, &event); err != nil {
		p.violation(r, []string{err.Error()})
		p.invalid(w, []string{err.Error()})
		return
	}
	if event.DedupKey == "" {
		event.DedupKey = rand.Text()
	}
	p.mu.Lock()
	p.events = append(p.events, event)
	p.alerts[event.DedupKey] = pagerDutyAlertStates[action]
	p.mu.Unlock()
	writeJSON(w, http.StatusAccepted, map[string]any{"status": "success", "message": "Event processed", "dedup_key": event.DedupKey})
}

func (p *PagerDuty) invalid(w http.ResponseWriter, errors []string) {
	writeJSON(w, http.StatusBadRequest, map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": errors})
}

// pagerDutyRefusal is the Events API's answer with status.
func pagerDutyRefusal(_ *http.Request, status int) (string, string) {
	if status == http.StatusTooManyRequests {
		return "application/json", `{"status":"throttle event","message":"Requests for this service are arriving too quickly.  Please retry later."}`
	}
	return "application/json", `{"status":"error","message":"Internal server error"}`
}
