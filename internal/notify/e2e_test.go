package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/lab"
	"github.com/ottr-go/ottr/internal/notify"
	"github.com/ottr-go/ottr/internal/queue"
	"github.com/ottr-go/ottr/internal/secret"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/testenv/pgtest"
)

// receiver is a webhook-like HTTP endpoint: it takes events posted as JSON
// to /CHANNEL and keeps their bodies. It answers its very first request
// 429 with Retry-After, as a busy service does.
type receiver struct {
	mu     sync.Mutex
	bodies map[string][]string
	seen   int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil || req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "want a JSON POST", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen++; r.seen == 1 {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "slow down", http.StatusTooManyRequests)
		return
	}
	r.bodies[strings.TrimPrefix(req.URL.Path, "/")] = append(r.bodies[strings.TrimPrefix(req.URL.Path, "/")], string(body))
	w.WriteHeader(http.StatusAccepted)
}

func (r *receiver) received() map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]string{}
	for ch, bodies := range r.bodies {
		out[ch] = append([]string(nil), bodies...)
	}
	return out
}

// postingChannel posts each event as JSON to its URL: the plain form of a
// webhook, without the signature, for this test of what is decided and
// delivered.
type postingChannel struct{ name, url string }

func (c postingChannel) Name() string { return c.name }
func (c postingChannel) Kind() string { return "webhook" }

func (c postingChannel) Send(ctx context.Context, e notify.Event) (notify.Receipt, error) {
	body, err := json.Marshal(e)
	if err != nil {
		return notify.Receipt{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return notify.Receipt{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return notify.Receipt{}, &notify.RetryableError{Err: err}
	}
	res.Body.Close()
	switch {
	case res.StatusCode == http.StatusTooManyRequests:
		after, _ := strconv.Atoi(res.Header.Get("Retry-After"))
		return notify.Receipt{}, &notify.RetryableError{After: time.Duration(after) * time.Second, Err: fmt.Errorf("%s", res.Status)}
	case res.StatusCode >= 500:
		return notify.Receipt{}, &notify.RetryableError{Err: fmt.Errorf("%s", res.Status)}
	case res.StatusCode >= 300:
		return notify.Receipt{}, fmt.Errorf("%s", res.Status)
	}
	return notify.Receipt{Status: res.Status}, nil
}

// TestTwoServeProcessesTellAStreakOnce runs the scenario on the
// lab: a device fails three rotations in a row, then recovers, while two
// ottr processes of the serve role share one PostgreSQL database, each
// running rotations, deciding notifications and delivering them. Each of
// the two channels gets exactly one failure, one escalation and one
// recovery.
func TestTwoServeProcessesTellAStreakOnce(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.Start(t)
	databaseURL := pg.NewDatabase(t)
	l, err := lab.Start(ctx, lab.Options{Devices: 1, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	hooks := &receiver{bodies: map[string][]string{}}
	srv := httptest.NewServer(hooks)
	defer srv.Close()
	raw, err := os.ReadFile(l.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	configPath := filepath.Join(l.Dir, "notify.yaml")
	text := string(raw) + fmt.Sprintf(`notifications:
  external_url: https://ottr.example.com
  channels:
    audit: {kind: webhook, url: %q, secret: env:OTTR_E2E_HOOK_SECRET}
    pager: {kind: webhook, url: %q, secret: env:OTTR_E2E_HOOK_SECRET}
`, srv.URL+"/audit", srv.URL+"/pager")
	if err := os.WriteFile(configPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(configPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = databaseURL
	if _, err := secret.LoadOrCreateKey(cfg.MasterKeyFile); err != nil {
		t.Fatal(err)
	}
	const hookSecret = "e2e-hook-signing-secret"
	env := func(name string) (string, bool) {
		if name == "OTTR_E2E_HOOK_SECRET" {
			return hookSecret, true
		}
		return os.LookupEnv(name)
	}
	build := func(name string, c config.NotifyChannel, o notify.ChannelOptions) (notify.Channel, error) {
		if _, err := o.Resolve(c.Secret); err != nil {
			return nil, err
		}
		return postingChannel{name: name, url: c.URL}, nil
	}

	// The device is held back from the scheduler, so the four rotations
	// are the ones this test asks for, as the API would.
	device := l.Assets[0]
	heldBack := time.Now().Add(time.Hour)
	device.NextAttemptAt = &heldBack
	var processes []*app.App
	var queues []*queue.Queue
	for i := range 2 {
		ap, err := app.New(ctx, cfg, app.Options{Env: env, NewChannel: build})
		if err != nil {
			t.Fatal(err)
		}
		defer ap.Close()
		if i == 0 {
			if err := ap.Store.CreateAsset(ctx, device); err != nil {
				t.Fatal(err)
			}
		}
		q, _, err := ap.Queue(ctx, app.QueueRole{Work: true, Scan: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer q.Stop(context.WithoutCancel(ctx))
		processes, queues = append(processes, ap), append(queues, q)
	}

	db, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	jobsNotDone := func(kind string) int {
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = $1 AND state <> 'completed'`, kind).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Minute); !cond(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; received %v", what, hooks.received())
			}
		}
	}

	host := l.Hosts[0]
	host.FailReloads(true)
	for i, wantState := range []string{store.StateFailed, store.StateFailed, store.StateFailed, store.StateSucceeded} {
		if wantState == store.StateSucceeded {
			host.FailReloads(false)
		}
		// Each process creates a rotation in turn; either may run it.
		ap, q := processes[i%2], queues[i%2]
		rot, err := ap.Runner.Create(ctx, device.SystemName, store.TriggerAPI, true, q.EnqueueFunc(device.DataCenter, time.Time{}))
		if err != nil {
			t.Fatal(err)
		}
		// The job ends after the rotation has told what it is news for.
		waitFor(fmt.Sprintf("rotation %d's job", i+1), func() bool { return jobsNotDone("rotation") == 0 })
		got, err := ap.Store.GetRotation(ctx, rot.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != wantState {
			t.Fatalf("rotation %d ended %s (%s), want %s", i+1, got.State, got.Error, wantState)
		}
	}
	waitFor("every delivery", func() bool { return jobsNotDone("notification") == 0 && len(hooks.received()["pager"]) > 0 })

	privateKey, err := os.ReadFile(filepath.Join(l.Dir, "id_ed25519"))
	if err != nil {
		t.Fatal(err)
	}
	for _, channel := range []string{"audit", "pager"} {
		bodies := hooks.received()[channel]
		var told []string
		for _, body := range bodies {
			var e notify.Event
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatal(err)
			}
			told = append(told, fmt.Sprintf("%s escalated=%v failures=%d", e.Kind, e.Escalated, e.FailureCount))
			if e.Asset == nil || e.Asset.SystemName != device.SystemName || e.Asset.IPAddress != device.IPAddress ||
				e.Asset.Platform != device.HostPlatform || e.Asset.DataCenter != device.DataCenter || e.Asset.CA != lab.CAName ||
				e.Rotation == nil || !strings.HasPrefix(e.Link, "https://ottr.example.com/api/v1/rotations/") {
				t.Errorf("%s: %s lacks what a message shows: %s", channel, e.Kind, body)
			}
			if e.Kind == notify.RotationFailed && (e.Rotation.Step != "install" || !strings.Contains(e.Rotation.Error, "nginx")) {
				t.Errorf("%s: the failure says step %q, error %q; want the install's reload failure", channel, e.Rotation.Step, e.Rotation.Error)
			}
			for _, s := range append(strings.Fields(string(privateKey)), l.TSIGSecret, hookSecret) {
				if len(s) >= 16 && strings.Contains(body, s) {
					t.Errorf("%s: a message holds a secret: %s", channel, body)
				}
			}
		}
		// Deliveries are independent jobs: a retried one arrives late.
		slices.Sort(told)
		want := []string{
			"rotation.failed escalated=false failures=1",
			"rotation.failed escalated=true failures=3",
			"rotation.recovered escalated=false failures=3",
		}
		if strings.Join(told, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s was told:\n  %s\nwant exactly:\n  %s", channel, strings.Join(told, "\n  "), strings.Join(want, "\n  "))
		}
	}
}
