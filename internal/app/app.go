// Package app assembles a running ottr from its configuration: the store,
// the secret vault, the routing table, the CA profiles and their issuers,
// the DNS delegation checks, the rotation runner, the queue and the
// scheduler. The CLI and the lab both start ottr through it, so they run the
// same wiring.
package app

import (
	"context"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-acme/lego/v5/challenge"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/dnsdelegate"
	"github.com/ottr-go/ottr/internal/dnsprovider"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/issuer"
	"github.com/ottr-go/ottr/internal/issuer/acme"
	"github.com/ottr-go/ottr/internal/metrics"
	"github.com/ottr-go/ottr/internal/notify"
	"github.com/ottr-go/ottr/internal/policy"
	"github.com/ottr-go/ottr/internal/queue"
	"github.com/ottr-go/ottr/internal/ratelimit"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/route"
	"github.com/ottr-go/ottr/internal/scheduler"
	"github.com/ottr-go/ottr/internal/secret"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/store/postgres"
	"github.com/ottr-go/ottr/internal/store/sqlite"
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

	// mu guards cas, the CA profiles built so far; Reload empties it.
	mu  sync.Mutex
	cas map[string]*rotation.CAProfile
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

func delegateZones(zones map[string]string) []string {
	out := make([]string, 0, len(zones))
	for _, d := range zones {
		out = append(out, d)
	}
	return out
}

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
	drivers := Drivers()
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
	st, db, pool, err := openStore(ctx, cfg.Database, cfg.Workers.Concurrency, o)
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
		cas:         map[string]*rotation.CAProfile{},
		db:          db,
		pool:        pool,
	}
	a.live.Store(&live{cfg: cfg, delegations: delegations})
	if err := a.newMetrics(); err != nil {
		st.Close()
		return nil, err
	}
	deps := rotation.Deps{
		Store:          st,
		Drivers:        drivers,
		Routes:         a.Routes,
		CAs:            a.CA,
		Credentials:    a.credentials,
		ResolveSecret:  a.resolve,
		KnownHostsFile: cfg.KnownHostsFile,
		Policy:         cfg.Policy,
		Now:            o.Now,
		Logger:         o.Logger,
		Observer:       a.rotationObserver(),
		// A CA that answered "rate limited" gets no order booked, nor
		// placed, before it said to come back.
		RateLimited: a.Budget.Penalize,
		HeldUntil:   a.Budget.PenalizedUntil,
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
	return a, nil
}

// Close releases the store.
func (a *App) Close() error { return a.Store.Close() }

// Clustered reports whether the store is PostgreSQL, shared by several
// processes.
func (a *App) Clustered() bool { return a.pool != nil }

// openStore opens the SQLite file, or the PostgreSQL database of a
// postgres:// URL (given as is, or as env:NAME or file:PATH), applying
// migrations under a lock. It returns the handle River shares.
func openStore(ctx context.Context, database string, concurrency int, o Options) (store.Store, *sql.DB, *pgxpool.Pool, error) {
	if strings.HasPrefix(database, "env:") || strings.HasPrefix(database, "file:") {
		url, err := secret.Resolve(database, o.Env, os.ReadFile)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("database: %w", err)
		}
		database = strings.TrimSpace(url)
	}
	if IsPostgresURL(database) {
		opts := []postgres.Option{postgres.WithLogger(o.Logger), postgres.WithClock(o.Now)}
		if !strings.Contains(database, "pool_max_conns") {
			opts = append(opts, postgres.WithMaxConns(poolSize(concurrency)))
		}
		pg, err := postgres.Open(ctx, database, opts...)
		if err != nil {
			return nil, nil, nil, err
		}
		return pg, nil, pg.Pool(), nil
	}
	// Open creates the file's directory (0700) and refuses one ottr
	// cannot use.
	st, err := sqlite.Open(ctx, database, sqlite.WithLogger(o.Logger))
	if err != nil {
		return nil, nil, nil, err
	}
	return st, st.DB(), nil, nil
}

// poolSize is how many PostgreSQL connections a process keeps for
// concurrency rotations at once, unless the URL's pool_max_conns says:
// every rotation writes its journal and log as it goes, and River fetches,
// completes and heartbeats beside them. With pgx's default of four, 50
// rotations queued for a connection after each step — and the order a CA
// had just created waited there to be journaled, where a crash lost it.
func poolSize(concurrency int) int {
	return max(4, min(concurrency/4+4, 32))
}

// IsPostgresURL reports whether database names a PostgreSQL database.
func IsPostgresURL(database string) bool {
	return strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://")
}

// compileRoutes builds cfg's routing table, with every route's options
// checked against its driver's schema and rules; a refusal is a
// *config.Error naming each problem's line.
func compileRoutes(drivers *driver.Registry, cfg *config.Config) (*route.Table, error) {
	return cfg.CompileRoutes(func(name string, options map[string]any) error {
		d, ok := drivers.Get(name)
		if !ok {
			return fmt.Errorf("%w %q (this build has: %s)", route.ErrUnknownDriver, name, strings.Join(drivers.Names(), ", "))
		}
		return driver.CheckOptions(d, options)
	})
}

// newDelegations returns the delegations of dns.zones, nil when there are
// none.
func newDelegations(cfg *config.Config) (*dnsdelegate.Delegations, error) {
	if len(cfg.DNS.Zones) == 0 {
		return nil, nil
	}
	d, err := dnsdelegate.New(cfg.DNS.Zones)
	if err != nil {
		return nil, fmt.Errorf("dns.zones: %w", err)
	}
	return d, nil
}

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

// CA returns the profile named name, creating its ACME issuer (and account)
// on first use.
func (a *App) CA(name string) (*rotation.CAProfile, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p, ok := a.cas[name]; ok {
		return p, nil
	}
	// Read under mu: Reload empties the cache under it after the swap,
	// so no profile of an older config is cached after a reload.
	c, ok := a.Current().CertificateAuthorities[name]
	if !ok {
		return nil, fmt.Errorf("certificate authority %q is not configured (certificate_authorities in the config)", name)
	}
	roots, err := a.roots(c)
	if err != nil {
		return nil, fmt.Errorf("certificate authority %s: %w", name, err)
	}
	acfg := acme.Config{
		Name:           name,
		DirectoryURL:   c.Directory,
		Email:          c.Email,
		HTTPClient:     a.acmeHTTPClient(name, c.Directory, roots),
		Profile:        c.Profile,
		PreferredChain: c.PreferredChain,
		Accounts:       vaultAccounts{a.Vault},
		Logger:         a.log,
	}
	if acfg.DNS01, err = a.DNS01(); err != nil {
		return nil, fmt.Errorf("certificate authority %s: %w", name, err)
	}
	acfg.DNS01.Observe = a.Metrics.ObserveDNSUpdate
	if c.EAB != nil {
		hmac, err := a.resolve(c.EAB.HMACKey)
		if err != nil {
			return nil, fmt.Errorf("certificate authority %s: eab.hmac_key: %w", name, err)
		}
		acfg.EAB = &acme.EAB{KID: c.EAB.KeyID, HMACKey: hmac}
	}
	iss, err := acme.New(context.Background(), acfg)
	if err != nil {
		return nil, fmt.Errorf("certificate authority %s: %w", name, err)
	}
	p := &rotation.CAProfile{
		Name:            name,
		Issuer:          iss,
		Roots:           roots,
		ExpectedIssuers: c.ExpectedIssuers,
		MinLifetime:     c.MinLifetime,
		KeyType:         c.KeyType,
		KeyTypes:        c.KeyTypes,
		Profile:         c.Profile,
	}
	a.cas[name] = p
	return p, nil
}

// DNS01 is how challenge records are written, from the dns section.
func (a *App) DNS01() (acme.DNS01Config, error) {
	cfg := a.Current()
	d := cfg.DNS
	c := acme.DNS01Config{
		Nameserver:         d.RFC2136.Nameserver,
		TSIGKey:            d.RFC2136.TSIGKey,
		TSIGAlgorithm:      d.RFC2136.TSIGAlgorithm,
		Zones:              delegateZones(d.Zones),
		PropagationTimeout: d.PropagationTimeout,
		PollingInterval:    d.PollingInterval,
		CheckResolversOnly: d.CheckResolversOnly,
		DoHURL:             d.DoH,
	}
	var err error
	if s := d.RFC2136.TSIGSecret; s != "" {
		if c.TSIGSecret, err = a.resolve(s); err != nil {
			return c, fmt.Errorf("dns.rfc2136.tsig_secret: %w", err)
		}
	}
	if c.Providers, err = a.dnsProviders(d); err != nil {
		return c, err
	}
	return c, nil
}

// dnsProviders builds the provider of every delegate zone that has one in
// dns.providers; the others are written through dns.rfc2136.
func (a *App) dnsProviders(d config.DNS) (map[string]challenge.Provider, error) {
	if len(d.Providers) == 0 {
		return nil, nil
	}
	settings := dnsprovider.Settings{
		PropagationTimeout: d.PropagationTimeout,
		PollingInterval:    d.PollingInterval,
		Resolve:            a.resolve,
	}
	out := make(map[string]challenge.Provider, len(d.Providers))
	for zone, p := range d.Providers {
		provider, err := dnsprovider.New(zone, p, settings)
		if err != nil {
			return nil, err
		}
		out[zone] = provider
	}
	return out, nil
}

func (a *App) roots(c config.CA) (*x509.CertPool, error) {
	if c.RootsFile == "" {
		return x509.SystemCertPool()
	}
	pemBytes, err := os.ReadFile(c.RootsFile)
	if err != nil {
		return nil, fmt.Errorf("roots_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("roots_file %s holds no PEM certificate", c.RootsFile)
	}
	return pool, nil
}

// Resolve reads a secret reference of the config (env:NAME, file:PATH).
func (a *App) Resolve(ref string) (string, error) { return a.resolve(ref) }

func (a *App) resolve(ref string) (string, error) {
	return secret.Resolve(ref, a.opts.Env, os.ReadFile)
}

// credentials returns the login named by the asset, or "default".
func (a *App) credentials(as asset.Asset, _ route.Route) (driver.Credentials, error) {
	name := as.Credentials
	if name == "" {
		name = "default"
	}
	c, ok := a.Current().Credentials[name]
	if !ok {
		return driver.Credentials{}, fmt.Errorf("no credentials named %q in the config (credentials.%s)", name, name)
	}
	out := driver.Credentials{Username: c.Username}
	var err error
	if c.Password != "" {
		if out.Password, err = a.resolve(c.Password); err != nil {
			return driver.Credentials{}, fmt.Errorf("credentials.%s.password: %w", name, err)
		}
	}
	if c.PrivateKey != "" {
		key, err := a.resolve(c.PrivateKey)
		if err != nil {
			return driver.Credentials{}, fmt.Errorf("credentials.%s.private_key: %w", name, err)
		}
		out.PrivateKey = []byte(key)
	}
	return out, nil
}

func (a *App) checkDelegation(ctx context.Context, names []string) error {
	l := a.live.Load()
	if l.delegations == nil {
		return nil
	}
	records, err := l.delegations.Records(names)
	if err != nil {
		return err
	}
	checker := &dnsdelegate.Checker{Resolvers: l.cfg.DNS.Resolvers, Timeout: 5 * time.Second}
	return errors.Join(checker.CheckAll(ctx, records)...)
}

// QueueRole says what a process does with the job queue.
type QueueRole struct {
	// Work runs rotations: those of Queues, or of every queue when Queues
	// is empty.
	Work   bool
	Queues []string
	// Scan runs the periodic scan and leads the queue's maintenance
	// (River's leader election); a process that does not scan never
	// leads. 'ottr serve' scans, workers do not.
	Scan bool
}

// Queue builds the job queue on the app's database for a process of the
// given role, with the scheduler its scans run.
func (a *App) Queue(ctx context.Context, role QueueRole) (*queue.Queue, *scheduler.Scheduler, error) {
	sched := a.scheduler()
	qc := a.queueConfig(queue.ProcessID("ottr"))
	qc.Queues = role.Queues
	// The runner is always known, even to a process that runs no
	// rotations, so a leader rescues (not discards) a dead worker's jobs.
	qc.Runner, qc.ScanOnly = a.Runner, !role.Work
	if role.Scan {
		qc.Scanner = measuredScans{sched: sched, metrics: a.Metrics, now: a.opts.Now}
	} else {
		qc.NoLead = true
	}
	if err := a.notifyQueue(&qc, sched, role); err != nil {
		return nil, nil, err
	}
	q, err := queue.New(ctx, qc)
	if err != nil {
		return nil, nil, err
	}
	sched.Enqueuer = q
	a.setEnqueuer(q)
	return q, sched, nil
}

// ForegroundQueue builds the queue of a rotation run in this process
// ('ottr rotate'): its job lives on a queue of this process's own.
func (a *App) ForegroundQueue(ctx context.Context) (*queue.Queue, error) {
	qc := a.queueConfig("")
	qc.Runner = a.Runner
	q, err := queue.NewForeground(ctx, qc)
	if err == nil {
		a.setEnqueuer(q)
	}
	return q, err
}

func (a *App) queueConfig(id string) queue.Config {
	qc := queue.Config{
		DB:           a.db,
		Pool:         a.pool,
		Concurrency:  a.Config.Workers.Concurrency,
		JobTimeout:   a.Config.Workers.JobTimeout,
		ScanInterval: a.Config.Scheduler.Interval,
		Logger:       a.log,
		ID:           id,
		Store:        a.Store,
	}
	if a.pool != nil {
		qc.Liveness = queue.Heartbeats{Pool: a.pool, After: a.Config.Workers.TakeoverAfter, Logger: a.log}
	} else {
		// Every process that shares the SQLite file runs on this machine.
		qc.Liveness = queue.LockFiles{Dir: a.Config.Database + ".processes"}
	}
	return qc
}

func (a *App) scheduler() *scheduler.Scheduler {
	return &scheduler.Scheduler{
		Store:       a.Store,
		Creator:     a.Runner,
		Policy:      a.Config.Policy,
		Batch:       a.Config.Scheduler.Batch,
		RenewalInfo: a.renewalInfo,
		Budget:      a.Budget,
		Now:         a.opts.Now,
		Logger:      a.log,
	}
}

// renewalInfo asks the CA profile caName (ACME ARI) when the certificate
// with ARI certificate ID certID should be renewed.
func (a *App) renewalInfo(ctx context.Context, caName, certID string) (issuer.RenewalInfo, error) {
	ca, err := a.CA(caName)
	if err != nil {
		return issuer.RenewalInfo{}, err
	}
	return ca.Issuer.RenewalInfo(ctx, certID)
}

// Migrate brings River's tables up to date; ottr's own are migrated when
// the store opens.
func (a *App) Migrate(ctx context.Context) error {
	if a.pool != nil {
		return queue.MigratePostgres(ctx, a.pool)
	}
	return queue.Migrate(ctx, a.db)
}

// vaultAccounts keeps ACME accounts in the encrypted vault.
type vaultAccounts struct{ v *secret.Vault }

func (s vaultAccounts) LoadAccount(ctx context.Context, name string) ([]byte, error) {
	b, err := s.v.Get(ctx, "acme-account/"+name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", acme.ErrNoAccount, err)
	}
	return b, err
}

func (s vaultAccounts) SaveAccount(ctx context.Context, name string, data []byte) error {
	return s.v.Put(ctx, "acme-account/"+name, data)
}

func (s vaultAccounts) CreateAccount(ctx context.Context, name string, data []byte) error {
	err := s.v.Create(ctx, "acme-account/"+name, data)
	if errors.Is(err, store.ErrExists) {
		return fmt.Errorf("%w: %w", acme.ErrAccountExists, err)
	}
	return err
}
