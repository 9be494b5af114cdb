// Package ui is ottr's web UI for the people on call: server-rendered
// html/template pages under /ui/ of `ottr serve`, with our own CSS, SVG
// charts drawn on the server and one vendored script (htmx) for partial
// updates, all embedded in the binary and served under a strict
// Content-Security-Policy. It logs in with the API's users, roles and
// login throttle (api.UISessions) and calls the same code the API and the
// CLI use for every decision it shows or change it makes.
//
// # Adding a screen
//
//  1. Write one file per screen, say plan.go, with its handlers as methods
//     of *UI of type handler: func (u *UI) planPage(w http.ResponseWriter,
//     r *http.Request, s *session) error. A handler reads what it needs,
//     then calls u.render(w, r, s, http.StatusOK, "plan", "Plan", data)
//     (or u.renderPartial for an htmx fragment, u.redirect after a POST).
//     It returns an error instead of writing one: userError(status, msg)
//     for what the user can fix, any other error for a logged 500.
//  2. Write its template, templates/plan.html, defining "content" (and any
//     fragments the screen swaps with htmx). It is parsed with the layout
//     and templates/partials.html; its data is .Data, the session .Session,
//     the form token .CSRF, and .Can "PRIVILEGED" says what the user may do.
//  3. Add its routes to the list in routes() below, each with the least
//     role that may use it: the dispatcher logs the user in, refuses a
//     lower role with 403 and a POST without the session's CSRF token with
//     403, so a handler never checks either itself. Add it to the nav list
//     if it is a screen of its own.
//  4. Forms: parse with newForm(r), record each bad field with f.fail(name,
//     msg) (the API's own checks give the messages), and re-render the page
//     with the form when !f.ok(): the "field" partial shows each error
//     beside its field. Save nothing until every field checks out.
//  5. Add its handler tests (every role) to ui_test.go's page table, which
//     also checks that no page links outside ottr.
package ui

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/ottr-go/ottr/internal/api"
	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/store"
)

//go:embed static
var staticFiles embed.FS

//go:embed templates/*.html
var templateFiles embed.FS

// Roles, for the route list.
const (
	anyone     = ""
	developer  = store.RoleDeveloper
	privileged = store.RolePrivileged
	admin      = store.RoleAdmin
)

// contentSecurityPolicy lets pages load only ottr's own script, style and
// images, and post forms only to ottr: no inline script or style, no
// frames, nothing from elsewhere.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Config sets up the UI. App and Sessions are required.
type Config struct {
	// App gives the store, routing table, renewal policy and DNS settings.
	App *app.App
	// Sessions logs users in and out and checks their sessions.
	Sessions *api.UISessions
	// Enqueuer queues the rotations the UI starts.
	Enqueuer api.Enqueuer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives errors; nil discards.
	Logger *slog.Logger
}

// UI serves the web UI. It is safe for concurrent use.
type UI struct {
	app      *app.App
	store    store.Store
	sessions *api.UISessions
	enqueuer api.Enqueuer
	now      func() time.Time
	log      *slog.Logger
	pages    map[string]*template.Template
	handler  http.Handler
	// fleet indexes the inventory for the overview and the table.
	fleet *fleetIndex
}

// handler is what a route runs once the dispatcher has let the request in.
type handler func(w http.ResponseWriter, r *http.Request, s *session) error

// route is one pattern of the UI's mux and the least role it needs
// (anyone: no session needed).
type route struct {
	pattern string
	role    string
	handle  handler
}

// routes lists every page and action of the UI.
func (u *UI) routes() []route {
	return []route{
		// Sign in and out.
		{"GET /ui/login", anyone, u.loginPage},
		{"POST /ui/login", anyone, u.loginSubmit},
		{"POST /ui/logout", developer, u.logout},

		// Fleet overview, assets, the asset page and the rotation page.
		{"GET /ui/{$}", developer, u.overviewPage},
		{"GET /ui/assets", developer, u.assetsPage},
		{"POST /ui/assets/bulk", privileged, u.assetsBulk},
		{"GET /ui/assets/{name}", developer, u.assetPage},
		{"GET /ui/assets/{name}/dns", developer, u.assetDNS},
		{"GET /ui/assets/{name}/edit", privileged, u.assetEditPage},
		{"POST /ui/assets/{name}/edit", privileged, u.assetEdit},
		{"POST /ui/assets/{name}/rotate", privileged, u.assetRotate},
		{"POST /ui/assets/{name}/pause", privileged, u.assetPause},
		{"POST /ui/assets/{name}/resume", privileged, u.assetResume},
		{"POST /ui/assets/{name}/validation", admin, u.assetValidation},
		{"GET /ui/assets/{name}/delete", privileged, u.assetDeletePage},
		{"POST /ui/assets/{name}/delete", privileged, u.assetDelete},
		{"GET /ui/rotations/{id}", developer, u.rotationPage},
		{"GET /ui/rotations/{id}/live", developer, u.rotationLive},

		// Plan, routes and the route tester, DNS, audit, users,
		// notification channels.
		{"GET /ui/plan", developer, newPlanScreen(u).page},
		{"GET /ui/routes", developer, u.routesPage},
		{"GET /ui/dns", developer, newDNSScreen(u).page},
		{"GET /ui/audit", admin, u.auditPage},
		{"GET /ui/users", admin, u.usersPage},
		{"POST /ui/users", admin, u.usersPost},
		{"GET /ui/notifications", developer, u.notificationsPage},
		{"POST /ui/notifications", privileged, u.notificationsTest},
	}
}

// navItem is one link of the layout's navigation.
type navItem struct {
	Path, Label, Role string
}

// nav lists the screens in the navigation, each shown to the roles that
// may open it.
var nav = []navItem{
	{"/ui/", "Fleet", developer},
	{"/ui/assets", "Assets", developer},
	{"/ui/plan", "Plan", developer},
	{"/ui/routes", "Routes", developer},
	{"/ui/dns", "DNS", developer},
	{"/ui/audit", "Audit", admin},
	{"/ui/users", "Users", admin},
	{"/ui/notifications", "Notifications", developer},
}

// New builds the UI: it parses every template, so a broken one fails the
// start rather than a request.
func New(cfg Config) (*UI, error) {
	if cfg.App == nil || cfg.Sessions == nil {
		return nil, errors.New("ui: an app and sessions are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	u := &UI{
		app:      cfg.App,
		store:    cfg.App.Store,
		sessions: cfg.Sessions,
		enqueuer: cfg.Enqueuer,
		now:      cfg.Now,
		log:      cfg.Logger,
	}
	u.fleet = &fleetIndex{store: u.store, routes: cfg.App.Routes, now: cfg.Now}
	var err error
	if u.pages, err = u.parseTemplates(); err != nil {
		return nil, err
	}
	static, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, fmt.Errorf("ui: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", staticHandler(static)))
	for _, rt := range u.routes() {
		mux.Handle(rt.pattern, u.dispatch(rt))
	}
	mux.Handle("/ui/", u.dispatch(route{"", developer, u.notFoundPage}))
	u.handler = securityHeaders(mux)
	return u, nil
}

// Mount builds the UI for srv and serves it under /ui/ of srv, with /
// redirecting there. cfg.Sessions defaults to srv's.
func Mount(srv *api.Server, cfg Config) error {
	if cfg.Sessions == nil {
		cfg.Sessions = srv.UISessions()
	}
	u, err := New(cfg)
	if err != nil {
		return err
	}
	srv.MountUI(u.Handler())
	return nil
}

// Handler returns the handler serving /ui/.
func (u *UI) Handler() http.Handler { return u.handler }

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// staticHandler serves the embedded files; they change only with the
// binary, so browsers may keep them a while.
func staticHandler(files fs.FS) http.Handler {
	fileServer := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		fileServer.ServeHTTP(w, r)
	})
}
