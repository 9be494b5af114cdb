package notify

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/policy"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/verify"
)

// Delivery is one event to send through one channel: what one delivery
// job carries.
type Delivery struct {
	Channel string `json:"channel"`
	Event   Event  `json:"event"`
}

// Enqueuer queues deliveries inside the transaction that claims their
// event (store.Notifications), so an event is claimed with its deliveries
// or not at all; *queue.Queue implements it. It must not use the store.
type Enqueuer interface {
	EnqueueDeliveriesTx(ctx context.Context, tx any, deliveries []Delivery) error
}

// Config sets up a Notifier.
type Config struct {
	// Settings are the notifications section of the configuration.
	Settings config.Notifications
	// Store keeps the claims and is where assets are read from.
	Store store.Store
	// Routes tells which assets a route takes: an asset no route takes
	// will not be rotated before it expires.
	Routes rotation.Router
	// Policy is the renewal policy, for when a certificate is due.
	Policy policy.Settings
	// HeldUntil returns when orders to a CA stop being held back after it
	// refused one for its rate limits (zero: they are not); nil: never.
	HeldUntil func(ca string) time.Time
	// Secrets returns the secrets a message about a may not show: the
	// device's login and its route's secret options, resolved. An error
	// shown in a message has each of them replaced by "[redacted]".
	Secrets func(a asset.Asset) []string
	// Fetch returns the chain a device serves (the drift check); nil
	// means verify.Fetch with a ten-second timeout.
	Fetch func(ctx context.Context, address, serverName string) ([]*x509.Certificate, error)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives what was decided; nil discards it.
	Logger *slog.Logger
}

// Notifier decides events — each once per cause, in the whole cluster —
// and queues their delivery to the channels the rules choose: from how
// each rotation ended (RotationEnded), the certificates near their expiry
// (CheckExpiry), what devices serve (CheckDrift) and the daily digest
// (SendDigest). It is safe for concurrent use.
type Notifier struct {
	cfg      Config
	router   Router
	links    links
	enqueuer atomic.Pointer[Enqueuer]
}

// New returns a Notifier, checking that its store and routes are set.
func New(c Config) (*Notifier, error) {
	switch {
	case c.Store == nil:
		return nil, errors.New("notify: a store is required")
	case c.Routes == nil:
		return nil, errors.New("notify: a routing table is required")
	}
	if c.HeldUntil == nil {
		c.HeldUntil = func(string) time.Time { return time.Time{} }
	}
	if c.Secrets == nil {
		c.Secrets = func(asset.Asset) []string { return nil }
	}
	if c.Fetch == nil {
		c.Fetch = func(ctx context.Context, address, serverName string) ([]*x509.Certificate, error) {
			return verify.Fetch(ctx, address, serverName, fetchTimeout)
		}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return &Notifier{cfg: c, router: NewRouter(c.Settings), links: links{base: c.Settings.ExternalURL}}, nil
}

// fetchTimeout bounds one look at what a device serves.
const fetchTimeout = 10 * time.Second

// SetEnqueuer sets what queues the deliveries: the process's job queue,
// which is built after the Notifier. Until it is set, nothing is told,
// and nothing is claimed, so another process may tell it.
func (n *Notifier) SetEnqueuer(e Enqueuer) { n.enqueuer.Store(&e) }

// tell claims keys, Keys[0] being e's own, and queues e's deliveries in
// the same transaction. It reports whether this call claimed them: false
// when a key was claimed before, by this process or another.
func (n *Notifier) tell(ctx context.Context, e Event, keys []string) (bool, error) {
	enq := n.enqueuer.Load()
	if enq == nil {
		return false, errors.New("notify: no job queue to deliver with")
	}
	e.Key = keys[0]
	e.Summary = summary(e)
	channels := n.router.Channels(e)
	deliveries := make([]Delivery, len(channels))
	for i, ch := range channels {
		deliveries[i] = Delivery{Channel: ch, Event: e}
	}
	claimed, err := n.cfg.Store.ClaimNotification(ctx, keys, func(ctx context.Context, tx any) error {
		if len(deliveries) == 0 {
			return nil
		}
		return (*enq).EnqueueDeliveriesTx(ctx, tx, deliveries)
	})
	if err != nil {
		return false, fmt.Errorf("notify: %s: %w", e.Key, err)
	}
	if claimed {
		n.cfg.Logger.Info("notification decided", "kind", e.Kind, "key", e.Key, "channels", channels, "summary", e.Summary)
	}
	return claimed, nil
}

// endingTimeout bounds what RotationEnded does, in the rotation's job.
const endingTimeout = 30 * time.Second

// RotationEnded tells what an ended rotation is news for: a failure that
// starts or escalates a streak, a rollback, a recovery, and a device seen
// serving a certificate that is neither the recorded one nor the issued
// one. It implements rotation.Deps.Ended: problems are logged, never
// returned, and take at most half a minute.
func (n *Notifier) RotationEnded(ctx context.Context, e rotation.Ending) {
	ctx, cancel := context.WithTimeout(ctx, endingTimeout)
	defer cancel()
	now := n.cfg.Now()
	if state := e.Rotation.State; (state == store.StateFailed || state == store.StateRolledBack) && e.After.FailureCount <= e.Before.FailureCount {
		// The failure could not be counted on the asset; count it here.
		e.After.FailureCount = e.Before.FailureCount + 1
	}
	if err := n.tellEnding(ctx, e, now); err != nil {
		n.cfg.Logger.Warn("could not decide the notification of a rotation", "rotation", e.Rotation.ID, "asset", e.Rotation.Asset, "err", err)
	}
	for _, seen := range []struct{ by, serial string }{{"preflight", e.ServedBefore}, {"verify", e.ServedAtVerify}} {
		for _, served := range driftSerials(e.Before.CertificateSerial, seen.serial) {
			if err := n.tellDrift(ctx, e.Before, served, seen.by, n.links.rotation(e.Rotation.ID), now); err != nil {
				n.cfg.Logger.Warn("could not decide the notification of a drift", "rotation", e.Rotation.ID, "asset", e.Rotation.Asset, "err", err)
			}
		}
	}
}

func (n *Notifier) tellEnding(ctx context.Context, e rotation.Ending, now time.Time) error {
	s := streak(e.Before)
	// A key claimed by another process between the read and the claim
	// changes the decision: decide once more on what it told.
	for range 2 {
		claimed, err := n.cfg.Store.ClaimedNotifications(ctx, streakKeys(s))
		if err != nil {
			return err
		}
		d, ok := decideEnding(e, toldOf(s, claimed), n.cfg.Settings.Failure, now)
		if !ok {
			return nil
		}
		told, err := n.tell(ctx, n.endingEvent(e, d, s, now), d.Keys)
		if err != nil || told {
			return err
		}
	}
	return nil
}

// endingEvent is the event d tells of the ended rotation e, whose asset's
// streak is s.
func (n *Notifier) endingEvent(e rotation.Ending, d decision, s string, now time.Time) Event {
	rot := e.Rotation
	ev := Event{
		Kind:         d.Kind,
		Time:         now,
		Link:         n.links.rotation(rot.ID),
		Asset:        assetOf(e.After, now),
		Escalated:    d.Escalated,
		FailureCount: e.After.FailureCount,
		Incident:     s,
		Rotation:     &Rotation{ID: rot.ID, State: string(rot.State), Step: string(e.Step), Attempts: rot.Attempts, Trigger: string(rot.Trigger)},
	}
	if d.Kind == RotationRecovered {
		ev.FailureCount = e.Before.FailureCount
	}
	if e.Err != nil {
		ev.Rotation.Error = redact(e.Err.Error(), n.cfg.Secrets(e.After))
	}
	return ev
}

// tellDrift tells that the device of a serves served where served is not
// the recorded certificate: once per recorded and served pair.
func (n *Notifier) tellDrift(ctx context.Context, a asset.Asset, served, seenBy, link string, now time.Time) error {
	recorded := normalSerial(a.CertificateSerial)
	if link == "" {
		link = n.links.asset(a.SystemName)
	}
	_, err := n.tell(ctx, Event{
		Kind:  CertificateDrift,
		Time:  now,
		Link:  link,
		Asset: assetOf(a, now),
		Drift: &Drift{RecordedSerial: recorded, ServedSerial: served, SeenBy: seenBy},
	}, []string{driftKey(a.SystemName, recorded, served)})
	return err
}
