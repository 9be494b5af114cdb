package notify

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"
)

// Dispatcher sends deliveries through the channels they name. The queue's
// delivery jobs call it; it is safe for concurrent use.
type Dispatcher struct {
	channels  map[string]Channel
	logger    *slog.Logger
	delivered func(channel, kind string, err error, final bool)
	// claims, if set, tells whether a failure streak has recovered since
	// (WithClaims).
	claims Claims
}

// Claims tells which notification keys are recorded; store.Store has it.
type Claims interface {
	ClaimedNotifications(ctx context.Context, keys []string) (map[string]bool, error)
}

// WithClaims lets the Dispatcher see that a failure streak has recovered
// since a failure was decided: PagerDuty then gets no late trigger, which
// would open again the incident the recovery resolved and page someone
// for a device that works. Other channels still show the failure: it
// happened, and their messages say when.
func (p *Dispatcher) WithClaims(c Claims) *Dispatcher {
	p.claims = c
	return p
}

// NewDispatcher returns a Dispatcher over channels, by name. delivered, if
// not nil, is told of every attempt — the channel, the event's kind, the
// error (nil when it was sent) and whether it was final (no attempt
// follows) — so sent, retried and failed deliveries can be counted per
// channel. logger receives each attempt's outcome: a channel
// that is down shows there at every retry.
func NewDispatcher(channels map[string]Channel, logger *slog.Logger, delivered func(channel, kind string, err error, final bool)) *Dispatcher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{channels: channels, logger: logger, delivered: delivered}
}

// Deliver sends d once; attempt counts from 1. Its error wraps the
// channel's: a *RetryableError when trying again later may succeed, any
// other error when it will not (a channel no longer configured is one).
func (p *Dispatcher) Deliver(ctx context.Context, d Delivery, attempt int, last bool) error {
	kind := string(d.Event.Kind)
	log := p.logger.With("channel", d.Channel, "kind", kind, "key", d.Event.Key, "attempt", attempt)
	ch, ok := p.channels[d.Channel]
	if !ok {
		err := fmt.Errorf("notify: channel %q is not in notifications.channels any more (configured: %s); the message is dropped",
			d.Channel, strings.Join(slices.Sorted(maps.Keys(p.channels)), ", "))
		p.report(d.Channel, kind, err, true)
		log.Error("notification not delivered", "err", err)
		return err
	}
	if p.staleTrigger(ctx, ch, d.Event) {
		log.Info("notification not sent: the failure streak has recovered since, and a late trigger would reopen its PagerDuty incident")
		return nil
	}
	started := time.Now()
	receipt, err := ch.Send(ctx, d.Event)
	_, retryable := Retryable(err)
	p.report(d.Channel, kind, err, err != nil && (!retryable || last))
	if err != nil {
		err = fmt.Errorf("notify: channel %s: %w", d.Channel, err)
		if after, retry := Retryable(err); retry {
			log.Warn("notification not delivered; it is retried", "err", err, "retry_after", after)
		} else {
			log.Error("notification not delivered; the channel refused it for good", "err", err)
		}
		return err
	}
	log.Info("notification delivered", "status", receipt.Status, "took", time.Since(started).Round(time.Millisecond))
	return nil
}

// staleTrigger reports whether e, a failure delivered late to PagerDuty,
// belongs to a streak that has recovered since.
func (p *Dispatcher) staleTrigger(ctx context.Context, ch Channel, e Event) bool {
	if p.claims == nil || ch.Kind() != "pagerduty" || e.Incident == "" ||
		(e.Kind != RotationFailed && e.Kind != RotationRolledBack) {
		return false
	}
	key := recoveredKey(e.Incident)
	claimed, err := p.claims.ClaimedNotifications(ctx, []string{key})
	return err == nil && claimed[key]
}

func (p *Dispatcher) report(channel, kind string, err error, final bool) {
	if p.delivered != nil {
		p.delivered(channel, kind, err, final)
	}
}

// SampleEvent is what 'ottr notify test' sends: the failure of an invented
// device, marked as a test, with every field a real failure has.
func SampleEvent(externalURL string, now time.Time) Event {
	notAfter := now.Add(5 * 24 * time.Hour).UTC().Truncate(time.Second)
	days := daysLeft(notAfter, now)
	e := Event{
		Kind: RotationFailed,
		Time: now.UTC(),
		Test: true,
		Link: externalURL,
		Asset: &Asset{
			SystemName: "test.ottr.invalid",
			IPAddress:  "192.0.2.10",
			Platform:   "panos",
			OSVersion:  "11.1.2",
			CA:         "lets_encrypt",
			DataCenter: "dc1",
			Labels:     map[string]string{"team": "pki"},
			Serial:     "4a1b2c3d",
			NotAfter:   &notAfter,
			DaysLeft:   &days,
		},
		Rotation: &Rotation{
			State:    "failed",
			Step:     "install",
			Error:    "this is a test message from 'ottr notify test': no rotation failed",
			Attempts: 1,
			Trigger:  "schedule",
		},
		FailureCount: 1,
		Incident:     "test.ottr.invalid/test",
		Key:          "test/" + now.UTC().Format(time.RFC3339Nano),
	}
	e.Summary = "Test message from ottr: " + summary(e)
	return e
}
