package app

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/issuer/acme"
	"github.com/ottr-go/ottr/internal/notify"
	"github.com/ottr-go/ottr/internal/route"
)

// Reloaded says what a Reload did.
type Reloaded struct {
	// Changed names the sections swapped in that differ from what was in
	// effect: routes, certificate_authorities, credentials, dns,
	// notifications.
	Changed []string
	// NeedRestart names the settings of the new file that differ from
	// those the process started with and keep their old values until it
	// restarts.
	NeedRestart []string
}

// String says what the reload changed, for the log.
func (r Reloaded) String() string {
	if len(r.Changed) == 0 {
		return "no change to the routes, CA profiles, credentials, DNS or notifications"
	}
	return "swapped in " + strings.Join(r.Changed, ", ")
}

// Reload swaps in next's routes, CA profiles, credentials, DNS settings
// and notification channels, once next checks out as New would check it:
// its routes compile with their drivers' options, its notification rules
// hold, and, in a process that delivers notifications, every channel's
// secret resolves. When anything is wrong it returns the error and
// changes nothing.
//
// Rotations already running finish with what they started with: each
// resolved its route, its CA profile and its device login at preflight,
// and keeps them to the end; a rotation that starts after the swap, or
// one that resumes in another process, resolves them from next. A step
// that looks a profile up anew, such as a fallback CA at issue, finds
// next's. CA profiles are built again at their next use, so a changed
// roots_file or EAB key is read again too.
//
// What a running process cannot change (the database, the data and key
// files, the API and metrics addresses, the scheduler, the workers, the
// policy, the log, the CA rate limits the budget books against, and how
// notifications and DNS checks were scheduled at start) keeps its value
// from the start; Reloaded.NeedRestart names each that next changes.
func (a *App) Reload(next *config.Config) (Reloaded, error) {
	a.reloading.Lock()
	defer a.reloading.Unlock()
	table, err := compileRoutes(a.Drivers, next)
	if err != nil {
		return Reloaded{}, err
	}
	if err := notify.CheckConfig(next); err != nil {
		return Reloaded{}, err
	}
	delegations, err := newDelegations(next)
	if err != nil {
		return Reloaded{}, err
	}
	cfg := inEffect(a.Config, next)
	notifier, err := a.newNotifier(cfg)
	if err != nil {
		return Reloaded{}, err
	}
	old := a.live.Load()
	l := &live{cfg: cfg, delegations: delegations, notifier: notifier}
	if a.delivers {
		channels, err := a.channelsOf(cfg)
		if err != nil {
			return Reloaded{}, err
		}
		l.dispatcher = a.newDispatcher(channels)
	}
	if notifier != nil && a.enqueuer != nil {
		notifier.SetEnqueuer(a.enqueuer)
	}

	res := Reloaded{Changed: changed(old.cfg, cfg, a.Routes.Table(), table), NeedRestart: a.needRestart(next)}
	if !slices.Equal(old.cfg.DNS.Resolvers, cfg.DNS.Resolvers) {
		// lego's resolver client is process-wide and caches what it
		// learnt of the zones: replaced only when the resolvers change.
		acme.SetResolvers(cfg.DNS.Resolvers)
	}
	a.mu.Lock()
	a.live.Store(l)
	a.Routes.Replace(table)
	a.forgetCAs()
	a.mu.Unlock()
	return res, nil
}

// inEffect is next with every setting a running process cannot change
// taken from start instead.
func inEffect(start, next *config.Config) *config.Config {
	c := *next
	c.Database, c.DataDir, c.MasterKeyFile, c.KnownHostsFile = start.Database, start.DataDir, start.MasterKeyFile, start.KnownHostsFile
	c.API, c.Scheduler, c.Workers, c.Policy = start.API, start.Scheduler, start.Workers, start.Policy
	c.Log, c.Metrics = start.Log, start.Metrics
	return &c
}

// changed names the reloadable sections that differ between from and to.
func changed(from, to *config.Config, fromTable, toTable *route.Table) []string {
	var out []string
	if !reflect.DeepEqual(fromTable.Routes(), toTable.Routes()) {
		out = append(out, fmt.Sprintf("routes (%d)", toTable.Len()))
	}
	sections := []struct {
		name     string
		from, to any
	}{
		{"certificate_authorities", from.CertificateAuthorities, to.CertificateAuthorities},
		{"credentials", from.Credentials, to.Credentials},
		{"dns", from.DNS, to.DNS},
		{"notifications", from.Notifications, to.Notifications},
	}
	for _, s := range sections {
		if !reflect.DeepEqual(s.from, s.to) {
			out = append(out, s.name)
		}
	}
	return out
}

// needRestart names the settings of next that differ from the start and
// that a reload leaves as they were.
func (a *App) needRestart(next *config.Config) []string {
	start := a.Config
	var out []string
	differ := func(name string, x, y any) {
		if !reflect.DeepEqual(x, y) {
			out = append(out, name)
		}
	}
	differ("database", start.Database, next.Database)
	differ("data_dir", start.DataDir, next.DataDir)
	differ("master_key_file", start.MasterKeyFile, next.MasterKeyFile)
	differ("known_hosts_file", start.KnownHostsFile, next.KnownHostsFile)
	differ("api", start.API, next.API)
	differ("metrics", start.Metrics, next.Metrics)
	differ("log", start.Log, next.Log)
	differ("scheduler", start.Scheduler, next.Scheduler)
	differ("workers", start.Workers, next.Workers)
	differ("policy", start.Policy, next.Policy)
	startLimits, nextLimits := start.RateLimits(), next.RateLimits()
	for _, name := range slices.Sorted(maps.Keys(nextLimits)) {
		if !reflect.DeepEqual(startLimits[name], nextLimits[name]) {
			out = append(out, "certificate_authorities."+name+".rate_limits")
		}
	}
	if (len(start.DNS.Zones) == 0) != (len(next.DNS.Zones) == 0) {
		out = append(out, "dns.zones (turning the delegation check of preflight on or off)")
	}
	if a.scans && !a.delivers && len(next.Notifications.Channels) > 0 {
		out = append(out, "notifications.channels (this process set up no delivery at start)")
	}
	differ("notifications.drift_check.interval", start.Notifications.DriftCheck.Interval, next.Notifications.DriftCheck.Interval)
	differ("notifications.digest.at", start.Notifications.Digest.At, next.Notifications.Digest.At)
	return out
}
