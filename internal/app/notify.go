package app

import (
	"context"
	"slices"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/notify"
	"github.com/ottr-go/ottr/internal/queue"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/scheduler"
)

// newNotifier returns the notifier of the configuration, and nil when it
// has no channel: then nothing is decided or claimed.
func (a *App) newNotifier(deps *rotation.Deps) error {
	if len(a.Config.Notifications.Channels) == 0 {
		return nil
	}
	n, err := notify.New(notify.Config{
		Settings:  a.Config.Notifications,
		Store:     a.Store,
		Routes:    a.Routes,
		Policy:    a.Config.Policy,
		HeldUntil: a.Budget.PenalizedUntil,
		Secrets:   a.secretsOf,
		Now:       a.opts.Now,
		Logger:    a.log,
	})
	if err != nil {
		return err
	}
	a.Notifier = n
	deps.Ended = n.RotationEnded
	return nil
}

// Channels builds the named notification channels, every one when names
// is empty, resolving their secrets now: a missing one is an error naming
// its setting and line.
func (a *App) Channels(names ...string) (map[string]notify.Channel, error) {
	build := a.opts.NewChannel
	if build == nil {
		build = notify.NewChannel
	}
	return notify.BuildChannels(a.Config, names, build, notify.ChannelOptions{Resolve: a.resolve, Now: a.opts.Now, Logger: a.log})
}

// notifyQueue sets up the notifications of a process with role: every
// process that runs rotations decides their events and queues their
// deliveries; the processes that scan build every channel (so a missing
// secret stops them at start), deliver, check expiries with each scan, and
// run the drift check and the digest.
func (a *App) notifyQueue(qc *queue.Config, sched *scheduler.Scheduler, role QueueRole) error {
	if a.Notifier == nil || !role.Scan {
		return nil
	}
	channels, err := a.Channels()
	if err != nil {
		return err
	}
	n := a.Notifier
	delivered := func(channel, kind string, err error, final bool) {
		a.Metrics.ObserveDelivery(channel, kind, err, final)
		if a.opts.Delivered != nil {
			a.opts.Delivered(channel, kind, err, final)
		}
	}
	qc.Deliverer = notify.NewDispatcher(channels, a.log, delivered).WithClaims(a.Store)
	sched.Expiry = n
	settings := a.Config.Notifications
	if every := settings.DriftCheck.Interval; every > 0 {
		qc.Tasks = append(qc.Tasks, queue.Task{Name: "drift_check", Every: every, Timeout: every, Run: func(ctx context.Context) error {
			_, err := n.CheckDrift(ctx)
			return err
		}})
	}
	if hour, minute, ok := settings.Digest.Clock(); ok {
		qc.Tasks = append(qc.Tasks, queue.Task{Name: "digest", At: time.Duration(hour)*time.Hour + time.Duration(minute)*time.Minute,
			Run: func(ctx context.Context) error {
				_, err := n.SendDigest(ctx)
				return err
			}})
	}
	return nil
}

// secretsOf returns the secrets a message about as must not show: its
// device login and its route's secret options, and the configuration's
// other secrets (DNS, CA and channel keys), resolved now.
func (a *App) secretsOf(as asset.Asset) []string {
	var out []string
	if r, _, ok := a.Routes.Match(as); ok {
		if creds, err := a.credentials(as, r); err == nil {
			out = append(out, creds.Password, string(creds.PrivateKey))
		}
		if d, ok := a.Drivers.Get(r.Driver); ok {
			names := d.Capabilities().SecretOptions
			if options, err := driver.ResolveSecretOptions(r.Options, names, a.resolve); err == nil {
				for _, name := range names {
					out = appendStrings(out, options[name])
				}
			}
		}
	}
	for _, ref := range a.configSecrets() {
		if value, err := a.resolve(ref); err == nil {
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

// configSecrets are the references of every secret of the configuration
// that is no device's.
func (a *App) configSecrets() []string {
	c := a.Config
	refs := []string{c.DNS.RFC2136.TSIGSecret, c.DNS.Apply.RFC2136.TSIGSecret}
	for _, ca := range c.CertificateAuthorities {
		if ca.EAB != nil {
			refs = append(refs, ca.EAB.HMACKey)
		}
	}
	for _, p := range c.DNS.Providers {
		refs = append(refs, p.RFC2136.TSIGSecret, p.Route53.SecretAccessKey, p.Cloudflare.APIToken, p.Cloudflare.ZoneToken, p.HTTPReq.Password)
	}
	for _, ch := range c.Notifications.Channels {
		for _, s := range ch.Secrets() {
			refs = append(refs, s.Ref)
		}
	}
	return slices.DeleteFunc(refs, func(ref string) bool { return ref == "" })
}
