// Package app assembles a running ottr from its configuration: the store,
// the secret vault, the routing table, the CA profiles and their issuers,
// the DNS delegation checks, the rotation runner, the queue and the
// scheduler. The CLI and the lab both start ottr through it, so they run the
// same wiring.
package app

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/devicelock"
	"github.com/ottr-go/ottr/internal/dnsdelegate"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/issuer/acme"
	"github.com/ottr-go/ottr/internal/metrics"
	"github.com/ottr-go/ottr/internal/notify"
	"github.com/ottr-go/ottr/internal/policy"
	"github.com/ottr-go/ottr/internal/ratelimit"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/route"
	"github.com/ottr-go/ottr/internal/secret"
	"github.com/ottr-go/ottr/internal/store"
)

// Options tune what New builds.
type Options struct {
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Observer receives rotation progress events.
	Observer func(rotation.Event)
	// HTTPClient-free hooks for tests and the lab:

	// Env looks up environment variables for secret references; nil means
	// os.LookupEnv.
	Env func(string) (string, bool)
	// NewChannel builds notification channels; nil means notify.NewChannel.
	NewChannel notify.Constructor
	// Delivered, if set, is told of every attempt to deliver a
	// notification, after the metrics count it: the channel, the event's
	// kind, the error (nil when it was sent) and whether no attempt
	// follows.
	Delivered func(channel, kind string, err error, final bool)
}

// App is ottr assembled from a config.
type App struct {
	// Config is the configuration the process started with. Reload swaps
	// in the parts a running process can change (routes, CA profiles,
	// credentials, DNS, notifications): Current has them.
	Config *config.Config
	// Store is SQLite on a single node, PostgreSQL in cluster mode.
	Store   store.Store
	Vault   *secret.Vault
	Drivers *driver.Registry
	// Routes is the routing table in place, which Reload replaces.
	Routes *route.Live
	Runner *rotation.Runner
	// Delegations maps names to the CNAMEs they need, as the process
	// started; nil when no zones are configured.
	Delegations *dnsdelegate.Delegations
	// Budget books new orders against each CA's rate limits, for the
	// scheduler and for `ottr plan`. It is this process's own: in cluster
	// mode the scan runs on the elected leader only, so the leader's
	// budget books the orders of the whole fleet.
	Budget *ratelimit.Budget
	// Metrics are what /metrics serves (docs/metrics.md).
	Metrics *metrics.Metrics

	log  *slog.Logger
	opts Options
	// secrets resolves the secret references of the config in effect.
	secrets *secretResolver
	// db and pool are the store's database handles River shares: db for
	// SQLite, pool for PostgreSQL.
	db   *sql.DB
	pool *pgxpool.Pool

	// live is what Reload replaces whole.
	live atomic.Pointer[live]
	// reloading serializes Reload, and guards enqueuer, scans and
	// delivers.
	reloading sync.Mutex
	// enqueuer is the queue deliveries are queued on, handed to every
	// notifier Reload makes; scans is whether this process runs the scan,
	// and delivers whether it delivers notifications (see notifyQueue).
	enqueuer        notify.Enqueuer
	scans, delivers bool

	// mu guards cas, the CA profiles built so far, and caBuilds, those
	// being built; Reload forgets both.
	mu       sync.Mutex
	cas      map[string]*rotation.CAProfile
	caBuilds map[string]*caBuild
	// builds is the context CA profiles are built on, which no caller's
	// cancellation ends; Close ends it with cancelBuilds.
	builds       context.Context
	cancelBuilds context.CancelFunc
}

// live is the part of the app a reload swaps in.
type live struct {
	// cfg is the configuration in effect: what a reload may change from
	// the last file that loaded, the rest from the start.
	cfg *config.Config
	// delegations are dns.zones' delegations; nil when there are none.
	delegations *dnsdelegate.Delegations
	// notifier decides the notifications; nil when no channel is
	// configured.
	notifier *notify.Notifier
	// dispatcher delivers them; nil unless this process delivers.
	dispatcher *notify.Dispatcher
}

// Current returns the configuration in effect: the routes, CA profiles,
// credentials, DNS and notification settings of the last file Reload took,
// and the rest as the process started.
func (a *App) Current() *config.Config { return a.live.Load().cfg }

// ConfigError is a fault New found in the configuration itself, before it
// opened anything: the command line tells it (exit status 2) from a
// database or a data directory it could not open.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }

func (e *ConfigError) Unwrap() error { return e.Err }

// New opens the store and builds everything a rotation needs. Issuers are
// created on first use, so commands that never issue never reach a CA.
func New(ctx context.Context, cfg *config.Config, o Options) (*App, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Env == nil {
		o.Env = os.LookupEnv
	}
	// lego's resolvers and logger are process-wide: a process serves one
	// config at a time.
	acme.SetResolvers(cfg.DNS.Resolvers)
	acme.SetLogger(o.Logger)
	drivers := Drivers(cfg.KnownHostsFile)
	table, err := compileRoutes(drivers, cfg)
	if err != nil {
		return nil, &ConfigError{Err: err}
	}
	if err := notify.CheckConfig(cfg); err != nil {
		return nil, &ConfigError{Err: err}
	}
	delegations, err := newDelegations(cfg)
	if err != nil {
		return nil, &ConfigError{Err: err}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w: create it, owned by the user ottr runs as (mode 0700)", err)
	}
	secrets, err := newSecretResolver(cfg, o)
	if err != nil {
		return nil, &ConfigError{Err: err}
	}
	st, db, pool, err := openStore(ctx, cfg.Database, cfg.Workers.Concurrency, o, secrets.resolve)
	if err != nil {
		return nil, err
	}
	// The key is checked against the sealed values now, but made only
	// when the first value is sealed, so commands that seal nothing never
	// make one. In a cluster the operator makes it: a process making its
	// own would seal what the others cannot open.
	vault, err := secret.OpenVault(ctx, secret.KeyFile{Path: cfg.MasterKeyFile, MayCreate: pool == nil}, st)
	if err != nil {
		st.Close()
		return nil, err
	}
	a := &App{
		Config:      cfg,
		Store:       st,
		Vault:       vault,
		Drivers:     drivers,
		Routes:      route.NewLive(table),
		Delegations: delegations,
		Budget:      ratelimit.New(cfg.RateLimits(), o.Now),
		log:         o.Logger,
		opts:        o,
		secrets:     secrets,
		cas:         map[string]*rotation.CAProfile{},
		caBuilds:    map[string]*caBuild{},
		db:          db,
		pool:        pool,
	}
	a.live.Store(&live{cfg: cfg, delegations: delegations})
	if err := a.newMetrics(); err != nil {
		st.Close()
		return nil, err
	}
	deps := rotation.Deps{
		Store:         st,
		Drivers:       drivers,
		Routes:        a.Routes,
		CAs:           a.CA,
		Credentials:   a.credentials,
		ResolveSecret: a.resolve,
		Policy:        cfg.Policy,
		Now:           o.Now,
		Logger:        o.Logger,
		Observer:      a.rotationObserver(),
		// A CA that answered "rate limited" gets no order booked, nor
		// placed, before it said to come back.
		RateLimited: a.Budget.Penalize,
		HeldUntil:   a.Budget.PenalizedUntil,
		Devices:     devicelock.New(deviceBackend(cfg.Database, pool)),
	}
	// The rotation logs that the delegation is in place once the check
	// passes, so the check is set up only when there are zones to check.
	if delegations != nil {
		deps.CheckDelegation = a.checkDelegation
	}
	notifier, err := a.newNotifier(cfg)
	if err != nil {
		st.Close()
		return nil, err
	}
	a.live.Store(&live{cfg: cfg, delegations: delegations, notifier: notifier})
	deps.Ended = a.rotationEnded
	if a.Runner, err = rotation.NewRunner(deps); err != nil {
		st.Close()
		return nil, err
	}
	a.builds, a.cancelBuilds = context.WithCancel(context.Background())
	go clearZoneCache(a.builds, zoneCacheLifetime)
	memoryLimit(a.builds, cfg.Workers.MemoryLimitMiB, a.log)
	return a, nil
}

// deviceBackend is how the processes sharing the store take devices in
// turns: PostgreSQL advisory locks in a cluster, flocks beside the SQLite
// file of processes on one machine.
func deviceBackend(database string, pool *pgxpool.Pool) devicelock.Backend {
	if pool != nil {
		return devicelock.NewAdvisory(pool)
	}
	return devicelock.Files{Dir: database + ".devices"}
}

// Close stops the CA profile builds under way and the clearing of lego's
// zone cache, and releases the store.
func (a *App) Close() error {
	a.cancelBuilds()
	return a.Store.Close()
}

// Clustered reports whether the store is PostgreSQL, shared by several
// processes.
func (a *App) Clustered() bool { return a.pool != nil }

// Rules returns what asset validation checks against the config in
// effect.
func (a *App) Rules() asset.Rules {
	cfg := a.Current()
	return asset.Rules{Platforms: a.Routes.Platforms(), CAs: cfg.CANames(), Zones: cfg.ManagedZones()}
}

// Prepare normalises and validates an asset about to be written, and
// refreshes the renewal time the scheduler's index finds it by: every write
// of an asset from outside a rotation goes through here, so an edited expiry
// or window takes effect at the next scan.
func (a *App) Prepare(as asset.Asset) (asset.Asset, error) {
	asset.Normalize(&as)
	if err := asset.Validate(as, a.Rules()); err != nil {
		return as, err
	}
	as.RenewalTime = policy.RenewalTime(as, a.Config.Policy)
	return as, nil
}
