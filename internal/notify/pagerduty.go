package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// DefaultPagerDutyEventsURL is PagerDuty's Events API v2.
const DefaultPagerDutyEventsURL = "https://events.pagerduty.com/v2/enqueue"

// pagerDutyKeyLen is the length of an Events API v2 integration key.
const pagerDutyKeyLen = 32

// pagerDutyDedupKeyLen is the longest dedup_key PagerDuty takes.
const pagerDutyDedupKeyLen = 255

// pagerDutyChannel triggers an incident for a failure, a rollback, a coming
// expiry or drift, and resolves it when the rotation recovers.
type pagerDutyChannel struct {
	name       string
	post       *poster
	routingKey string
}

var _ Channel = (*pagerDutyChannel)(nil)

func newPagerDuty(s channelSettings) (Channel, error) {
	key, err := s.secret("routing_key", s.RoutingKey)
	if err != nil {
		return nil, err
	}
	if len(key) != pagerDutyKeyLen {
		return nil, s.errorf("routing_key", "the key it names has %d characters; an Events API v2 integration key has %d", len(key), pagerDutyKeyLen)
	}
	events := s.EventsURL
	if events == "" {
		events = DefaultPagerDutyEventsURL
	}
	u, err := s.endpoint("events_url", events)
	if err != nil {
		return nil, err
	}
	post, err := s.newPoster(u, secrets{key})
	if err != nil {
		return nil, err
	}
	return &pagerDutyChannel{name: s.name, post: post, routingKey: key}, nil
}

func (c *pagerDutyChannel) Name() string { return c.name }
func (c *pagerDutyChannel) Kind() string { return "pagerduty" }

// pagerDutyEvent is an Events API v2 event.
type pagerDutyEvent struct {
	RoutingKey  string            `json:"routing_key"`
	EventAction string            `json:"event_action"`
	DedupKey    string            `json:"dedup_key"`
	Payload     *pagerDutyPayload `json:"payload,omitempty"`
	Client      string            `json:"client,omitempty"`
	ClientURL   string            `json:"client_url,omitempty"`
	Links       []pagerDutyLink   `json:"links,omitempty"`
}

type pagerDutyPayload struct {
	Summary       string            `json:"summary"`
	Source        string            `json:"source"`
	Severity      severity          `json:"severity"`
	Timestamp     string            `json:"timestamp,omitempty"`
	Component     string            `json:"component,omitempty"`
	Group         string            `json:"group,omitempty"`
	Class         string            `json:"class"`
	CustomDetails map[string]string `json:"custom_details"`
}

type pagerDutyLink struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// pagerDutySummaryLen is the longest summary PagerDuty keeps.
const pagerDutySummaryLen = 1024

// Send triggers, or for rotation.recovered resolves, the incident keyed by
// e's Incident (one per asset and failure streak), or by its Key when it
// has none. A digest is no incident: it is not sent, and the receipt says
// so.
func (c *pagerDutyChannel) Send(ctx context.Context, e Event) (Receipt, error) {
	if e.Kind == DigestKind {
		return Receipt{Status: "not sent", Detail: "PagerDuty pages on incidents; a digest is not one"}, nil
	}
	event := pagerDutyEvent{RoutingKey: c.routingKey, EventAction: "trigger", DedupKey: pagerDutyDedupKey(e)}
	if e.Kind == RotationRecovered {
		event.EventAction = "resolve"
	} else {
		m := render(e)
		source := "ottr"
		if e.Asset != nil && e.Asset.SystemName != "" {
			source = e.Asset.SystemName
		}
		event.Payload = &pagerDutyPayload{
			Summary:       truncate(m.Summary, pagerDutySummaryLen),
			Source:        source,
			Severity:      m.Severity,
			Component:     "TLS certificate",
			Class:         string(e.Kind),
			CustomDetails: m.detailsMap(),
		}
		if !e.Time.IsZero() {
			event.Payload.Timestamp = e.Time.UTC().Format(time.RFC3339)
		}
		if e.Asset != nil {
			event.Payload.Group = e.Asset.DataCenter
		}
		event.Client = "ottr"
		if e.Link != "" {
			event.ClientURL = e.Link
			event.Links = []pagerDutyLink{{Href: e.Link, Text: m.LinkText}}
		}
	}
	body, err := json.Marshal(event)
	if err != nil {
		return Receipt{}, fmt.Errorf("%s: %w", c.post.prefix, err)
	}
	a, err := c.post.post(ctx, body, nil)
	if err != nil {
		return Receipt{}, err
	}
	var got struct {
		Status   string `json:"status"`
		Message  string `json:"message"`
		DedupKey string `json:"dedup_key"`
	}
	_ = json.Unmarshal(a.Body, &got) // the 2xx is what counts; its body is for the receipt
	if got.DedupKey == "" {
		got.DedupKey = event.DedupKey
	}
	return Receipt{Status: a.Status, Detail: event.EventAction + " dedup_key " + got.DedupKey}, nil
}

// pagerDutyDedupKey is e's Incident, or its Key, as a dedup_key: one that
// is too long for PagerDuty is replaced by its hash, which stays the same
// for the trigger and the resolve.
func pagerDutyDedupKey(e Event) string {
	key := e.Incident
	if key == "" {
		key = e.Key
	}
	if len(key) <= pagerDutyDedupKeyLen {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "ottr-sha256-" + hex.EncodeToString(sum[:])
}
