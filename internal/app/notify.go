package app

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/notify"
	"github.com/ottr-go/ottr/internal/queue"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/scheduler"
)

// newNotifier returns the notifier of cfg, and nil when it has no
// channel: then nothing is decided or claimed.
func (a *App) newNotifier(cfg *config.Config) (*notify.Notifier, error) {
	if len(cfg.Notifications.Channels) == 0 {
		return nil, nil
	}
	return notify.New(notify.Config{
		Settings:  cfg.Notifications,
		Store:     a.Store,
		Routes:    a.Routes,
		Policy:    a.Config.Policy,
		HeldUntil: a.Budget.PenalizedUntil,
		Secrets:   a.secretsOf,
		Now:       a.opts.Now,
		Logger:    a.log,
	})
}

// notifier returns the notifier in place; nil when no channel is
// configured.
func (a *App) notifier() *notify.Notifier { return a.live.Load().notifier }

// rotationEnded tells the notifier in place how a rotation ended.
func (a *App) rotationEnded(ctx context.Context, e rotation.Ending) {
	if n := a.notifier(); n != nil {
		n.RotationEnded(ctx, e)
	}
}

// setEnqueuer makes q the queue of the deliveries the notifiers decide,
// this one's and those Reload makes.
func (a *App) setEnqueuer(q notify.Enqueuer) {
	a.reloading.Lock()
	defer a.reloading.Unlock()
	a.enqueuer = q
	if n := a.notifier(); n != nil {
		n.SetEnqueuer(q)
	}
}

// Channels builds the named notification channels of the config in
// effect, every one when names is empty, resolving their secrets now: a
// missing env: or file: one is an error naming its setting and line. A
// channel's secret in a secret store is read again at each send, through
// the cache of the configuration in effect, and a store that is down now
// fails that channel's deliveries until it is back, not the start.
func (a *App) Channels(names ...string) (map[string]notify.Channel, error) {
	return a.channelsOf(a.Current(), names...)
}

func (a *App) channelsOf(cfg *config.Config, names ...string) (map[string]notify.Channel, error) {
	build := a.opts.NewChannel
	if build == nil {
		build = notify.NewChannel
	}
	return notify.BuildChannels(cfg, names, build, notify.ChannelOptions{Resolve: a.resolve, Now: a.opts.Now, Logger: a.log})
}

// newDispatcher delivers through channels.
func (a *App) newDispatcher(channels map[string]notify.Channel) *notify.Dispatcher {
	delivered := func(channel, kind string, err error, final bool) {
		a.Metrics.ObserveDelivery(channel, kind, err, final)
		if a.opts.Delivered != nil {
			a.opts.Delivered(channel, kind, err, final)
		}
	}
	return notify.NewDispatcher(channels, a.log, delivered).WithClaims(a.Store)
}

// notifyQueue sets up the notifications of a process with role: every
// process that runs rotations decides their events and queues their
// deliveries; the processes that scan build every channel (so a missing
// env: or file: secret stops them at start), deliver, check expiries with each scan, and
// run the drift check and the digest. Each goes through the notifier and
// channels in place, which Reload replaces; what is scheduled (the drift
// check's interval, the digest's time, whether this process delivers at
// all) is set here, at start.
func (a *App) notifyQueue(qc *queue.Config, sched *scheduler.Scheduler, role QueueRole) error {
	a.reloading.Lock()
	defer a.reloading.Unlock()
	a.scans = role.Scan
	if a.notifier() == nil || !role.Scan {
		return nil
	}
	channels, err := a.Channels()
	if err != nil {
		return err
	}
	l := *a.live.Load()
	l.dispatcher = a.newDispatcher(channels)
	a.live.Store(&l)
	a.delivers = true
	qc.Deliverer = liveDeliverer{a}
	sched.Expiry = liveExpiry{a}
	settings := a.Config.Notifications
	if every := settings.DriftCheck.Interval; every > 0 {
		qc.Tasks = append(qc.Tasks, queue.Task{Name: "drift_check", Every: every, Timeout: every, Run: func(ctx context.Context) error {
			if n := a.notifier(); n != nil {
				_, err := n.CheckDrift(ctx)
				return err
			}
			return nil
		}})
	}
	if hour, minute, ok := settings.Digest.Clock(); ok {
		qc.Tasks = append(qc.Tasks, queue.Task{Name: "digest", At: time.Duration(hour)*time.Hour + time.Duration(minute)*time.Minute,
			Run: func(ctx context.Context) error {
				if n := a.notifier(); n != nil {
					_, err := n.SendDigest(ctx)
					return err
				}
				return nil
			}})
	}
	return nil
}

// liveDeliverer delivers through the channels in place.
type liveDeliverer struct{ a *App }

func (d liveDeliverer) Deliver(ctx context.Context, delivery notify.Delivery, attempt int, last bool) error {
	return d.a.live.Load().dispatcher.Deliver(ctx, delivery, attempt, last)
}

// liveExpiry checks expiries with the notifier in place.
type liveExpiry struct{ a *App }

func (e liveExpiry) CheckExpiry(ctx context.Context) (int, error) {
	if n := e.a.notifier(); n != nil {
		return n.CheckExpiry(ctx)
	}
	return 0, nil
}

// secretsOf returns the secrets a message about as must not show: its
// device login and its route's secret options, and the configuration's
// other secrets (database, DNS, CA and channel keys), resolved now.
func (a *App) secretsOf(as asset.Asset) []string {
	var out []string
	if r, _, ok := a.Routes.Match(as); ok {
		if creds, err := a.credentials(as, r); err == nil {
			out = append(out, creds.Password, string(creds.PrivateKey))
		}
		if d, ok := a.Drivers.Get(r.Driver); ok {
			names := d.Schema().SecretNames()
			if options, err := driver.ResolveSecretOptions(r.Options, names, a.resolve); err == nil {
				for _, name := range names {
					out = appendStrings(out, options[name])
				}
			}
		}
	}
	for _, s := range a.Current().SecretRefs() {
		// Devices' logins are each asset's own, added above.
		if strings.HasPrefix(s.Setting, "credentials.") {
			continue
		}
		if value, err := a.resolve(s.Ref); err == nil {
			out = append(out, value)
		}
	}
	return slices.DeleteFunc(out, func(s string) bool { return s == "" })
}

// appendStrings appends v's strings: v itself, or a map's values.
func appendStrings(out []string, v any) []string {
	switch t := v.(type) {
	case string:
		out = append(out, t)
	case map[string]any:
		for _, value := range t {
			if s, ok := value.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// LastDeliveries returns the latest delivery of every notification
// channel that has one still in the job table, by channel.
func (a *App) LastDeliveries(ctx context.Context) (map[string]queue.LastDelivery, error) {
	return queue.LastDeliveries(ctx, a.db, a.pool)
}
