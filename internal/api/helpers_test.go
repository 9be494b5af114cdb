package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"golang.org/x/crypto/bcrypt"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/store"

	"github.com/ottr-go/ottr/internal/testenv"
)

// testConfig is an ottr.yaml for API tests that never rotate: the CA is
// never contacted, since issuers are made on first use.
const testConfig = `data_dir: %q
certificate_authorities:
  lab:
    directory: https://127.0.0.1:14000/dir
dns:
  zones:
    lab.ottr.test: acme.ottr.test
routes:
  - name: lab-linux
    match: {platform: linux}
    driver: linux
    options: {cert_path: /etc/ottr/cert.pem, key_path: /etc/ottr/key.pem, reload_command: "true"}
  - name: panos-9
    match: {platform: panos, os_version: "9.*", models: [PA-3220]}
    driver: linux
    options: {cert_path: /etc/ottr/cert.pem, key_path: /etc/ottr/key.pem, reload_command: "true"}
`

// enqueuer records what the API queues.
type enqueuer struct {
	mu   sync.Mutex
	rots []store.Rotation
	dcs  []string
	err  error
	// revive is what Revive answers: whether the active rotation's
	// process was gone; revived records the rotations it was asked about.
	revive  bool
	revived []int64
}

func (e *enqueuer) EnqueueFunc(dc string, _ time.Time) rotation.Enqueue {
	return func(_ context.Context, tx any, rot store.Rotation) error {
		e.mu.Lock()
		defer e.mu.Unlock()
		if tx == nil {
			return errors.New("queued outside the rotation's transaction")
		}
		if e.err != nil {
			return e.err
		}
		e.rots = append(e.rots, rot)
		e.dcs = append(e.dcs, dc)
		return nil
	}
}

func (e *enqueuer) Revive(_ context.Context, rot store.Rotation, _ string) (bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.revived = append(e.revived, rot.ID)
	return e.revive, e.err
}

// env is a server on a fresh database, called in-process.
type env struct {
	t     testing.TB
	app   *app.App
	srv   *Server
	clock *testenv.Clock
	enq   *enqueuer
}

type envOption func(*Config)

// newEnv builds the API on the test config with a fresh database. Logins
// are not limited unless an option says so.
func newEnv(t testing.TB, opts ...envOption) *env {
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
	return newEnvWithConfig(t, cfg, nil, opts...)
}

func newEnvWithConfig(t testing.TB, cfg *config.Config, enq Enqueuer, opts ...envOption) *env {
	t.Helper()
	ctx := context.Background()
	ap, err := app.New(ctx, cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ap.Close() })
	e := &env{t: t, app: ap, clock: testenv.NewClock(time.Now().UTC().Truncate(time.Second)), enq: &enqueuer{}}
	if enq == nil {
		enq = e.enq
	}
	c := Config{
		App:      ap,
		Enqueuer: enq,
		Now:      e.clock.Now,
		LoginLimits: LoginLimits{
			Address:     Rate{Burst: 1 << 20},
			UserAddress: Rate{Burst: 1 << 20},
			User:        Rate{Burst: 1 << 20},
		},
		BcryptCost: bcrypt.MinCost,
	}
	for _, o := range opts {
		o(&c)
	}
	if e.srv, err = New(ctx, c); err != nil {
		t.Fatal(err)
	}
	return e
}

// addUser creates a user with a password that follows the rules and
// returns the password.
func (e *env) addUser(name, role string) string {
	e.t.Helper()
	password := "Pw!" + name + "-1a"
	if err := createUser(context.Background(), e.app.Store, name, password, role, bcrypt.MinCost); err != nil {
		e.t.Fatal(err)
	}
	return password
}

// token returns a token for the user as login hands it out, "Bearer"
// included, issued at the given time (zero means now).
func (e *env) token(name string, at time.Time) string {
	e.t.Helper()
	u, err := e.app.Store.GetUser(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	if at.IsZero() {
		at = e.clock.Now()
	}
	tok, _, err := e.srv.tokens.issueAt(u, at)
	if err != nil {
		e.t.Fatal(err)
	}
	return "Bearer " + tok
}

// response is what a call answered.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("answer %d is not JSON (%v): %s", r.status, err, r.body)
	}
}

func (r response) problem(t testing.TB) huma.ErrorModel {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("problem Content-Type %q, want application/problem+json; body %s", ct, r.body)
	}
	var p huma.ErrorModel
	r.json(t, &p)
	return p
}

// call sends a request to the server in-process. body may be nil, a
// string or []byte sent as is, or a value sent as JSON.
func (e *env) call(method, path, authorization string, body any) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(js)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// assetJSON is a valid asset in Ottr's shape for the test config.
func assetJSON(name string) map[string]any {
	fqdn := name + ".lab.ottr.test"
	return map[string]any{
		"system_name":              fqdn,
		"common_name":              fqdn,
		"subject_alternative_name": []string{fqdn},
		"certificate_authority":    "lab",
		"data_center":              "dc1",
		"device_model":             "emulated",
		"host_platform":            "linux",
		"ip_address":               "192.0.2.10",
		"os_version":               "12",
	}
}

// addAsset stores a valid asset through the API and returns its name.
func (e *env) addAsset(admin, name string) string {
	e.t.Helper()
	a := assetJSON(name)
	if r := e.call(http.MethodPost, "/api/v1/assets", admin, a); r.status != http.StatusCreated {
		e.t.Fatalf("add asset %s: %d %s", name, r.status, r.body)
	}
	return a["system_name"].(string)
}
