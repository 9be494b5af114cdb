package ui

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/notify"
	"github.com/ottr-go/ottr/internal/queue"
)

// channelView is one notification channel as the screen shows it: never
// a secret, nor a URL (a webhook's URL may be its credential).
type channelView struct {
	Name, Kind string
	// To says where messages go, where that is no secret: a Slack
	// channel, e-mail addresses.
	To string
	// Events are the event kinds the rules send it.
	Events string
	// Last is its latest delivery still in the job queue; nil when none
	// is.
	Last *queue.LastDelivery
}

// Outcome words the last delivery's job state for people.
func (c channelView) Outcome() string {
	switch c.Last.State {
	case "completed":
		return "delivered"
	case "discarded", "cancelled": // a refusal for good cancels the job
		return "failed for good"
	case "retryable":
		return "failed, to be tried again"
	}
	return "waiting to be sent"
}

// Badge is the state badge of the last delivery.
func (c channelView) Badge() string {
	switch c.Last.State {
	case "completed":
		return "state-ok"
	case "discarded", "cancelled":
		return "state-failing"
	case "retryable":
		return "state-due"
	}
	return "state-rotating"
}

type notificationsData struct {
	Channels []channelView
	// QueueError says the job queue could not be read, so the last
	// deliveries are unknown.
	QueueError string
	// Tested is the channel a sample message was just sent through, and
	// Receipt or TestError what it answered.
	Tested    string
	Receipt   *notify.Receipt
	TestError string
	Form      *form
}

// notificationsPage lists the notification channels with the latest
// delivery of each.
func (u *UI) notificationsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	d := &notificationsData{Form: newEmptyForm()}
	u.listChannels(r.Context(), d)
	return u.render(w, r, s, http.StatusOK, "notifications", "Notifications", d)
}

// notificationsTest sends a sample message through one channel and shows
// what it answered, as `ottr notify test` does: nothing is queued,
// retried or written.
func (u *UI) notificationsTest(w http.ResponseWriter, r *http.Request, s *session) error {
	f := newForm(r)
	d := &notificationsData{Form: f}
	cfg := u.app.Current()
	name := f.get("channel")
	settings, ok := cfg.Notifications.Channels[name]
	if !ok {
		f.Error = fmt.Sprintf("there is no channel named %q in notifications.channels: reload the page and choose one it lists", name)
		u.listChannels(r.Context(), d)
		return u.render(w, r, s, http.StatusUnprocessableEntity, "notifications", "Notifications", d)
	}
	d.Tested = name
	channels, err := u.app.Channels(name)
	if err == nil {
		ctx, cancel := context.WithTimeout(r.Context(), settings.Timeout+5*time.Second)
		defer cancel()
		var receipt notify.Receipt
		if receipt, err = channels[name].Send(ctx, notify.SampleEvent(cfg.Notifications.ExternalURL, u.now())); err == nil {
			d.Receipt = &receipt
		}
	}
	if err != nil {
		d.TestError = err.Error()
	}
	u.listChannels(r.Context(), d)
	return u.render(w, r, s, http.StatusOK, "notifications", "Notifications", d)
}

// listChannels fills d with the channels of the configuration in effect
// and their last deliveries.
func (u *UI) listChannels(ctx context.Context, d *notificationsData) {
	n := u.app.Current().Notifications
	if len(n.Channels) == 0 {
		return
	}
	last, err := u.app.LastDeliveries(ctx)
	if err != nil {
		u.log.Error("ui: read the last deliveries", "err", err)
		d.QueueError = "the job queue could not be read, so the last deliveries are not shown; the server's log has the details"
	}
	for _, name := range slices.Sorted(maps.Keys(n.Channels)) {
		c := n.Channels[name]
		v := channelView{Name: name, Kind: c.Kind, To: destination(c), Events: routedEvents(n, name)}
		if l, ok := last[name]; ok {
			v.Last = &l
		}
		d.Channels = append(d.Channels, v)
	}
}

// destination says where a channel sends, where that is no secret.
func destination(c config.NotifyChannel) string {
	switch {
	case c.Kind == "slack" && c.Channel != "":
		return c.Channel
	case c.Kind == "email":
		return strings.Join(c.To, ", ")
	}
	return ""
}

// routedEvents names the event kinds the rules send to channel.
func routedEvents(n config.Notifications, channel string) string {
	if len(n.Rules) == 0 {
		return "every event (no rules)"
	}
	kinds := map[string]bool{}
	for _, rule := range n.Rules {
		if !slices.Contains(rule.Channels, channel) {
			continue
		}
		if len(rule.Events) == 0 {
			return "every event, by the rules"
		}
		for _, k := range rule.Events {
			kinds[k] = true
		}
	}
	if len(kinds) == 0 {
		return "none: no rule names it"
	}
	return strings.Join(slices.Sorted(maps.Keys(kinds)), ", ")
}
