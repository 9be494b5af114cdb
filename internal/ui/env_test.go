package ui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ottr-go/ottr/internal/api"
	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/store"
)

// testConfig is an ottr.yaml for UI handler tests, which never rotate:
// the CA is never contacted, since issuers are made on first use.
const testConfig = `data_dir: %q
certificate_authorities:
  lab:
    directory: https://127.0.0.1:14000/dir
dns:
  zones:
    lab.ottr.test: acme.ottr.test
  resolvers: ["127.0.0.1:9"] # nothing answers: lookups fail at once
routes:
  - name: lab-linux
    match: {platform: linux}
    driver: linux
    options: {cert_path: /etc/ottr/cert.pem, key_path: /etc/ottr/key.pem, reload_command: "true"}
`

// testPassword is every test user's password.
const testPassword = "Lab-password-1"

// enqueuer records the rotations the UI queues.
type enqueuer struct {
	mu   sync.Mutex
	rots []store.Rotation
}

func (e *enqueuer) EnqueueFunc(string, time.Time) rotation.Enqueue {
	return func(_ context.Context, tx any, rot store.Rotation) error {
		if tx == nil {
			return errors.New("queued outside the rotation's transaction")
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		e.rots = append(e.rots, rot)
		return nil
	}
}

func (e *enqueuer) Revive(context.Context, store.Rotation, string) (bool, error) { return false, nil }

func (e *enqueuer) queued() []store.Rotation {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]store.Rotation(nil), e.rots...)
}

// env is the API with the UI mounted, on a fresh database, served over
// loopback HTTP, with one user of each role.
type env struct {
	t   testing.TB
	app *app.App
	srv *httptest.Server
	enq *enqueuer
}

func newEnv(t testing.TB) *env {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "ottr.yaml")
	if err := os.WriteFile(path, fmt.Appendf(nil, testConfig, dir), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ap, err := app.New(ctx, cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ap.Close() })
	e := &env{t: t, app: ap, enq: &enqueuer{}}
	srv, err := api.New(ctx, api.Config{App: ap, Enqueuer: e.enq, BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	if err := Mount(srv, Config{App: ap, Enqueuer: e.enq}); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(srv.Handler())
	t.Cleanup(e.srv.Close)
	for _, role := range api.Roles() {
		e.addUser(strings.ToLower(role), role)
	}
	return e
}

// addUser stores a user with testPassword, hashed at bcrypt's lowest cost
// to keep tests quick.
func (e *env) addUser(name, role string) {
	e.t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.app.Store.CreateUser(context.Background(), store.User{Username: name, PasswordHash: hash, Role: role}); err != nil {
		e.t.Fatal(err)
	}
}

// addAsset stores a, prepared by the API's rules.
func (e *env) addAsset(a asset.Asset) asset.Asset {
	e.t.Helper()
	p, err := e.app.Prepare(a)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.app.Store.CreateAsset(context.Background(), p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// browser is a client with its own cookies that does not follow
// redirects, so tests see each answer.
type browser struct {
	e      *env
	client *http.Client
}

func (e *env) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &browser{e: e, client: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// page is an answer: its status, headers and body.
type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(method, path string, form url.Values, header http.Header) page {
	b.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.e.srv.URL+path, body)
	if err != nil {
		b.e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		b.e.t.Fatal(err)
	}
	return page{status: resp.StatusCode, header: resp.Header, body: string(data)}
}

func (b *browser) get(path string) page { return b.do(http.MethodGet, path, nil, nil) }

func (b *browser) post(path string, form url.Values) page {
	return b.do(http.MethodPost, path, form, nil)
}

var hiddenCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the form token of a page's first form.
func (p page) csrf(t testing.TB) string {
	t.Helper()
	m := hiddenCSRF.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("the page has no CSRF token:\n%s", p.body)
	}
	return m[1]
}

// login logs the browser in as user through the login form.
func (b *browser) login(user string) {
	b.e.t.Helper()
	form := b.get("/ui/login")
	p := b.post("/ui/login", url.Values{"csrf": {form.csrf(b.e.t)}, "username": {user}, "password": {testPassword}, "next": {"/ui/"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/" {
		b.e.t.Fatalf("login as %s: status %d, Location %q, want 303 to /ui/:\n%s", user, p.status, p.header.Get("Location"), p.body)
	}
}

// loggedIn returns a browser logged in as user.
func (e *env) loggedIn(user string) *browser {
	b := e.browser()
	b.login(user)
	return b
}
