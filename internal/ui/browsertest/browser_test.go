package browsertest

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/ottr-go/ottr/internal/api"
	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/lab"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/ui"
	"github.com/ottr-go/ottr/internal/verify"
)

var screenshots = flag.String("ui.screenshots", "", "save screenshots of the main screens as PNG files in this directory")

// chromiumPath is Debian's chromium; `make test` installs it.
const chromiumPath = "/usr/bin/chromium"

// The lab's devices and what the test makes of each before the browser
// opens.
const (
	hostFailing = 0 // its _acme-challenge CNAME is removed, and a rotation fails on it
	hostDue     = 1 // never rotated: due
	hostOK      = 2 // rotated once: ok
	labDevices  = 3
)

const password = "Browser-test-1!"

// One lab per test binary: Pebble cannot be started twice in a process.
var theLab *lab.Lab

func TestMain(m *testing.M) {
	flag.Parse()
	if _, err := os.Stat(chromiumPath); err != nil {
		fmt.Fprintf(os.Stderr, "the web UI's browser tests need Chromium at %s (Debian package chromium; 'make test' installs it as root): %v\n", chromiumPath, err)
		os.Exit(1)
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		fmt.Fprintln(os.Stderr, "the lab needs openssl on PATH (Debian package openssl; 'make test' installs it as root)")
		os.Exit(1)
	}
	var err error
	if theLab, err = lab.Start(context.Background(), lab.Options{Devices: labDevices}); err != nil {
		fmt.Fprintln(os.Stderr, "start lab:", err)
		os.Exit(1)
	}
	code := m.Run()
	theLab.Close()
	os.Exit(code)
}

// server is ottr serve on the lab: the API with the UI mounted, and the
// workers, but no periodic scan, so the due device waits for the button.
type server struct {
	app *app.App
	url string
}

func startServer(t *testing.T) *server {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.Load(theLab.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = filepath.Join(t.TempDir(), "ottr.db")
	ap, err := app.New(ctx, cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ap.Close() })
	for _, a := range theLab.Assets {
		if err := ap.Store.CreateAsset(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	// The failing device: no delegation, so its rotation fails in
	// preflight. The ok device: rotated once.
	failing := theLab.Assets[hostFailing].SystemName
	theLab.DNS.RemoveRecords("_acme-challenge."+failing+".", 5 /* CNAME */)
	for i, wantErr := range map[int]bool{hostFailing: true, hostOK: false} {
		rot, err := ap.Runner.Create(ctx, theLab.Assets[i].SystemName, store.TriggerManual, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ap.Runner.Run(ctx, rot.ID); (err != nil) != wantErr {
			t.Fatalf("setting up %s: rotation error %v", theLab.Assets[i].SystemName, err)
		}
	}
	q, _, err := ap.Queue(ctx, app.QueueRole{Work: true})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(ctx, api.Config{App: ap, Enqueuer: q, BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	if err := ui.Mount(srv, ui.Config{App: ap, Enqueuer: q}); err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = q.Stop(stop)
	})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	for user, role := range map[string]string{"oncall": store.RolePrivileged, "dev": store.RoleDeveloper} {
		if err := api.CreateUser(ctx, ap.Store, user, password, role); err != nil {
			t.Fatal(err)
		}
	}
	return &server{app: ap, url: hs.URL}
}

// newBrowser starts a headless Chromium with a fresh profile.
func newBrowser(t *testing.T, width, height int) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	}
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no deadline
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// step runs actions with a generous deadline: the machine may be busy.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func read[T any](t *testing.T, ctx context.Context, what string, action chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, action)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// screenshot saves the page as name.png when -ui.screenshots is given.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if *screenshots == "" {
		return
	}
	png := read(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.MkdirAll(*screenshots, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*screenshots, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func login(t *testing.T, ctx context.Context, base, user string) {
	t.Helper()
	step(t, ctx, "log in as "+user,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#f-username")),
		chromedp.SendKeys(chromedp.CSS("#f-username"), user),
		chromedp.SendKeys(chromedp.CSS("#f-password"), password),
		chromedp.Click(chromedp.CSS(`.login button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".counts")),
	)
}

// post sends a form POST from the page, as a forged form would, and
// returns the status; csrf is sent when not empty.
func post(t *testing.T, ctx context.Context, path, csrf string) int {
	t.Helper()
	body := ""
	if csrf != "" {
		body = "csrf=" + csrf
	}
	js := fmt.Sprintf(`fetch(%q, {method: "POST", redirect: "manual",
		headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: %q}).then(r => r.status)`, path, body)
	return read(t, ctx, "POST "+path, chromedp.Evaluate[int](js, chromedp.EvalAwaitPromise))
}

// pageToken is the CSRF token of the page's forms.
func pageToken(t *testing.T, ctx context.Context) string {
	t.Helper()
	return read(t, ctx, "read the form token", chromedp.Evaluate[string](`document.querySelector('input[name="csrf"]').value`))
}

func TestOnCallWorkInABrowser(t *testing.T) {
	srv := startServer(t)
	ctx := newBrowser(t, 1280, 900)
	failing := theLab.Assets[hostFailing].SystemName
	due := theLab.Assets[hostDue].SystemName

	login(t, ctx, srv.url, "oncall")

	t.Run("the overview shows the lab fleet by state", func(t *testing.T) {
		counts := read(t, ctx, "read the counts", chromedp.Text(chromedp.CSS(".counts")))
		for _, want := range []string{"1 ok", "1 due", "1 failing", "0 unrouted"} {
			if !strings.Contains(strings.Join(strings.Fields(counts), " "), want) {
				t.Errorf("the counts %q lack %q", counts, want)
			}
		}
		screenshot(t, ctx, "overview")
		step(t, ctx, "open the assets", chromedp.Navigate(srv.url+"/ui/assets"), chromedp.WaitVisible(chromedp.CSS("table")))
		table := read(t, ctx, "read the table", chromedp.Text(chromedp.CSS("table")))
		for _, a := range theLab.Assets {
			if !strings.Contains(table, a.SystemName) {
				t.Errorf("the assets table lacks %s", a.SystemName)
			}
		}
		screenshot(t, ctx, "assets")
	})

	t.Run("a failing device's page names the exact missing CNAME", func(t *testing.T) {
		rec, err := srv.app.Delegations.Record(failing)
		if err != nil {
			t.Fatal(err)
		}
		step(t, ctx, "open the failing device from the overview",
			chromedp.Navigate(srv.url+"/ui/"),
			chromedp.Click(chromedp.CSS(`#failing-h ~ div a[href="/ui/assets/`+failing+`"]`)),
			chromedp.WaitVisible(chromedp.CSS("#dns pre.fix")),
		)
		fix := read(t, ctx, "read the record to add", chromedp.Text(chromedp.CSS("#dns pre.fix")))
		if strings.TrimSpace(fix) != rec.ZoneLine() {
			t.Errorf("the page says to add %q, want %q", fix, rec.ZoneLine())
		}
		screenshot(t, ctx, "asset-failing")
	})

	t.Run("rotate now on a due device ends in succeeded with the new serial", func(t *testing.T) {
		step(t, ctx, "press Rotate now",
			chromedp.Navigate(srv.url+"/ui/assets/"+due),
			chromedp.Click(chromedp.CSS(`form[action$="/rotate"] button`)),
			chromedp.WaitVisible(chromedp.CSS("#live")),
		)
		where := read(t, ctx, "read the location", chromedp.Location())
		if !strings.Contains(where, "/ui/rotations/") {
			t.Fatalf("the button led to %s, want the rotation page", where)
		}
		step(t, ctx, "wait for the rotation to succeed", chromedp.WaitVisible(chromedp.CSS("#live .state-succeeded")))
		shown := strings.TrimSpace(read(t, ctx, "read the new serial", chromedp.Text(chromedp.CSS("#live .new-serial"))))
		h := theLab.Hosts[hostDue]
		certs, err := verify.Fetch(context.Background(), h.TLSAddr(), h.Name(), 0)
		if err != nil {
			t.Fatal(err)
		}
		if served := verify.SerialHex(certs[0]); shown != served {
			t.Errorf("the page shows serial %q, the device serves %q", shown, served)
		}
		screenshot(t, ctx, "rotation")
	})

	t.Run("a form posted without its token is refused", func(t *testing.T) {
		step(t, ctx, "open an asset", chromedp.Navigate(srv.url+"/ui/assets/"+due), chromedp.WaitVisible(chromedp.CSS("h1")))
		if status := post(t, ctx, "/ui/assets/"+due+"/pause", ""); status != http.StatusForbidden {
			t.Errorf("a pause without the token: status %d, want 403", status)
		}
		a, err := srv.app.Store.GetAsset(context.Background(), due)
		if err != nil || a.Paused {
			t.Errorf("the refused pause paused the asset (%v)", err)
		}
	})

	t.Run("logout ends the session for good", func(t *testing.T) {
		cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{srv.url + "/ui/"}})
		if err != nil {
			t.Fatal(err)
		}
		var session string
		for _, c := range cookies.Cookies {
			if c.Name == "ottr_session" {
				session = c.Value
				if !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict {
					t.Errorf("the session cookie is not HttpOnly and SameSite=Strict: %+v", c)
				}
			}
		}
		if session == "" {
			t.Fatal("no session cookie")
		}
		step(t, ctx, "log out",
			chromedp.Click(chromedp.CSS(`form.logout button`)),
			chromedp.WaitVisible(chromedp.CSS("#f-username")),
			chromedp.Navigate(srv.url+"/ui/assets"),
			chromedp.WaitVisible(chromedp.CSS("#f-username")),
		)
		// The cookie kept from before, sent again.
		req, err := http.NewRequest(http.MethodGet, srv.url+"/ui/assets", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.AddCookie(&http.Cookie{Name: "ottr_session", Value: session})
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/ui/login") {
			t.Errorf("the old cookie after logout: status %d, Location %q; want the login page", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

func TestADeveloperSeesNoActionsAndAForgedPostIsRefused(t *testing.T) {
	srv := startServer(t)
	ctx := newBrowser(t, 1280, 900)
	due := theLab.Assets[hostDue].SystemName
	login(t, ctx, srv.url, "dev")
	step(t, ctx, "open a due device", chromedp.Navigate(srv.url+"/ui/assets/"+due), chromedp.WaitVisible(chromedp.CSS("#cert-h")))
	buttons := read(t, ctx, "count the action forms", chromedp.Evaluate[int](
		`document.querySelectorAll('main form[method="post"], main a[href$="/edit"], main a[href$="/delete"]').length`))
	if buttons != 0 {
		t.Errorf("a developer sees %d action forms or links on the asset page", buttons)
	}
	step(t, ctx, "open the assets", chromedp.Navigate(srv.url+"/ui/assets"), chromedp.WaitVisible(chromedp.CSS("table")))
	if n := read(t, ctx, "count the checkboxes", chromedp.Evaluate[int](`document.querySelectorAll('input[name="asset"]').length`)); n != 0 {
		t.Errorf("a developer sees %d bulk checkboxes", n)
	}
	if status := post(t, ctx, "/ui/assets/"+due+"/rotate", pageToken(t, ctx)); status != http.StatusForbidden {
		t.Errorf("a developer's forged rotate: status %d, want 403", status)
	}
	rots, err := srv.app.Store.ListRotations(context.Background(), store.RotationFilter{Asset: due})
	if err != nil {
		t.Fatal(err)
	}
	if len(rots) != 0 {
		t.Errorf("the forged rotate started %d rotations", len(rots))
	}
	if *screenshots != "" {
		phone := newBrowser(t, 390, 844)
		login(t, phone, srv.url, "dev")
		screenshot(t, phone, "overview-phone")
	}
}
