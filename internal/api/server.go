// Package api is ottr's HTTP API: Ottr's v1 endpoints with the same paths,
// verbs, roles and JSON field names, so Ottr's scripts run unchanged, and
// ottr's own endpoints beside them — all on huma v2 over net/http, with
// short-lived EdDSA tokens checked against the store on every request,
// RFC 9457 problems for every bad input, an audit record for every change,
// and an OpenAPI 3.1 description with an offline docs page.
package api

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/store"
)

// Enqueuer queues rotations; *queue.Queue implements it.
type Enqueuer interface {
	// EnqueueFunc makes what queues a new rotation's job on its data
	// center's queue inside the transaction that creates the rotation.
	EnqueueFunc(dataCenter string, runAt time.Time) rotation.Enqueue
	// Revive makes sure an active rotation will run: it takes over a job
	// whose process is gone and queues a missing one, and reports whether
	// it did either.
	Revive(ctx context.Context, rot store.Rotation, dataCenter string) (bool, error)
}

// Vault keeps secrets encrypted at rest; *secret.Vault implements it. A
// missing name is an error wrapping store.ErrNotFound.
type Vault interface {
	Get(ctx context.Context, name string) ([]byte, error)
	Put(ctx context.Context, name string, plaintext []byte) error
}

// Defaults of Config.
const (
	DefaultTokenTTL     = 30 * time.Minute
	DefaultMaxBodyBytes = 1 << 20
	// DefaultBcryptCost makes one hash take about a quarter of a second on
	// a current server core: slow for a password guesser, fast enough for
	// a login.
	DefaultBcryptCost = 12
)

// Config sets up a Server. App and Enqueuer are required.
type Config struct {
	// App gives the routing table, asset preparation, the rotation runner,
	// the vault and the renewal policy.
	App *app.App
	// Store keeps the inventory, rotations, users and audit trail;
	// default App.Store.
	Store store.Store
	// Vault keeps the token signing key; default App.Vault.
	Vault Vault
	// Enqueuer queues the rotations the API creates.
	Enqueuer Enqueuer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives request errors and security events; nil discards.
	Logger *slog.Logger
	// TokenTTL is how long a token is valid. Default 30m, as Ottr's.
	TokenTTL time.Duration
	// LoginLimits shape the throttle in front of login and password-change
	// attempts: per client address, per user and address, and per user
	// without locking the owner out (see ratelimit.go for the defaults).
	LoginLimits LoginLimits
	// MaxBodyBytes bounds a request body; larger ones get 413. Default 1 MiB.
	MaxBodyBytes int64
	// BcryptCost is the cost of new password hashes. Default 12.
	BcryptCost int
	// Version is shown in the OpenAPI description.
	Version string
}

func (c Config) withDefaults() (Config, error) {
	if c.App == nil {
		return c, errors.New("api: an app is required")
	}
	if c.Enqueuer == nil {
		return c, errors.New("api: an enqueuer is required")
	}
	if c.Store == nil {
		c.Store = c.App.Store
	}
	if c.Vault == nil {
		c.Vault = c.App.Vault
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.TokenTTL <= 0 {
		c.TokenTTL = DefaultTokenTTL
	}
	c.LoginLimits = c.LoginLimits.withDefaults()
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.BcryptCost == 0 {
		c.BcryptCost = DefaultBcryptCost
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	return c, nil
}

// Server serves the API. It is safe for concurrent use.
type Server struct {
	cfg     Config
	app     *app.App
	store   store.Store
	log     *slog.Logger
	now     func() time.Time
	tokens  *tokens
	limits  *loginThrottle
	dummy   []byte // bcrypt hash compared against for unknown users
	api     huma.API
	mux     *http.ServeMux
	handler http.Handler
	uiOnce  sync.Once
	ui      *UISessions
}

// New builds the server: it loads (or, on first start, creates and stores)
// the token signing key and registers every operation.
func New(ctx context.Context, cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:    cfg,
		app:    cfg.App,
		store:  cfg.Store,
		log:    cfg.Logger,
		now:    cfg.Now,
		limits: newLoginThrottle(cfg.LoginLimits),
	}
	if s.tokens, err = loadTokens(ctx, cfg.Vault, cfg.TokenTTL, cfg.Now); err != nil {
		return nil, err
	}
	if s.dummy, err = hashPassword("Dummy-password-1", cfg.BcryptCost); err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	s.mux = http.NewServeMux()
	s.api = humago.New(s.mux, s.humaConfig())
	s.register()
	s.handler = s.middleware(s.mux)
	return s, nil
}

// Handler returns the HTTP handler serving every endpoint.
func (s *Server) Handler() http.Handler { return s.handler }

// HTTPServer returns an http.Server serving the API on addr, with timeouts
// that keep slow or idle clients from holding connections: the caller
// sets TLSConfig if it serves TLS, and runs ListenAndServe(TLS).
func (s *Server) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// MountUI serves the web UI's handler under /ui/ and redirects / there.
func (s *Server) MountUI(h http.Handler) {
	s.mux.Handle("/ui/", h)
	s.mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusSeeOther))
}

// OpenAPI returns the API's OpenAPI 3.1 description.
func (s *Server) OpenAPI() *huma.OpenAPI { return s.api.OpenAPI() }

func (s *Server) humaConfig() huma.Config {
	c := huma.DefaultConfig("ottr", s.cfg.Version)
	c.Info.Description = "Agentless certificate rotation. The /admin/v1, /api/v1 and /user/v1 endpoints " +
		"keep Ottr's paths, verbs, roles and field names. Send the token POST /user/v1/authenticate returns " +
		"in the Authorization header exactly as returned (\"Bearer …\"); a bare token works too. " +
		"Roles are ordered ADMIN > PRIVILEGED > DEVELOPER."
	c.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		bearerScheme: {Type: "http", Scheme: "bearer", BearerFormat: "JWT"},
	}
	// The docs renderer loads its code from a CDN; /docs is served from
	// here instead. The schema link transformer would add "$schema" to
	// Ottr's response bodies.
	c.DocsPath = ""
	c.SchemasPath = ""
	c.CreateHooks = nil
	c.RejectUnknownQueryParameters = true
	c.Transformers = []huma.Transformer{redactSecretProblems, explainMediaType}
	c.Formats = jsonFormats()
	return c
}

func (s *Server) register() {
	s.registerAuth()
	s.registerUsers()
	s.registerAssets()
	s.registerSearch()
	s.registerRotations()
	s.registerPlan()
	s.registerAudit()
	s.registerHealth()
	s.registerDocs()
}

// ready reports whether the store answers.
func (s *Server) ready(ctx context.Context) error {
	if db, ok := s.store.(interface{ DB() *sql.DB }); ok {
		return db.DB().PingContext(ctx)
	}
	_, err := s.store.GetSecret(ctx, "api/readiness-probe")
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}
