package app_test

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/lab/dnsserver"
	"github.com/ottr-go/ottr/internal/lab/pebble"
	"github.com/ottr-go/ottr/internal/rotation"
)

// labCA is the lab's CA (with the DNS server its validation asks), which
// the tests of the package share: Pebble is started once per process.
var labCA struct {
	once sync.Once
	dns  *dnsserver.Server
	ca   *pebble.CA
	err  error
}

// sharedCA starts the lab's CA on first use.
func sharedCA(t *testing.T) (*pebble.CA, *dnsserver.Server) {
	t.Helper()
	labCA.once.Do(func() {
		ctx := context.Background()
		if labCA.dns, labCA.err = dnsserver.Start(ctx, dnsserver.Config{Zones: []string{"acme.ottr.test."}, UpdatableZones: []string{"acme.ottr.test."}}); labCA.err != nil {
			return
		}
		labCA.ca, labCA.err = pebble.Start(ctx, pebble.Config{DNSResolver: labCA.dns.Addr()})
	})
	if labCA.err != nil {
		t.Fatal(labCA.err)
	}
	return labCA.ca, labCA.dns
}

// caProxy stands between ottr and the lab's CA, as a CA's own front end
// would, and can make the CA slow or failing where an issuer starts: at
// the directory, the first request it makes.
type caProxy struct {
	srv *httptest.Server
	// directoryReads counts the requests for the directory that reached
	// the proxy: one per issuer built.
	directoryReads atomic.Int32
	// refuse is how many directory requests are yet to be answered 503.
	refuse atomic.Int32
	// stalled, when set, holds every directory answer until release is
	// closed, telling of each on held.
	stalled bool
	held    chan struct{}
	release chan struct{}
}

// newCAProxy starts a proxy to ca for t; stalled makes it hold the
// directory until the proxy's release is closed.
func newCAProxy(t *testing.T, ca *pebble.CA, stalled bool) *caProxy {
	t.Helper()
	target, err := url.Parse(ca.DirectoryURL())
	if err != nil {
		t.Fatal(err)
	}
	target.Path = ""
	forward := httputil.NewSingleHostReverseProxy(target)
	forward.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.TLSRoots(), MinVersion: tls.VersionTLS12}}
	p := &caProxy{stalled: stalled, held: make(chan struct{}, 16), release: make(chan struct{})}
	p.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/dir" {
			// The CA names its endpoints by the host it was asked at, so
			// everything after the directory comes this way too.
			forward.ServeHTTP(w, r)
			return
		}
		p.directoryReads.Add(1)
		if p.refuse.Add(-1) >= 0 {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"type":"urn:ietf:params:acme:error:serverInternal","detail":"the CA is down for maintenance"}`)
			return
		}
		if !p.stalled {
			forward.ServeHTTP(w, r)
			return
		}
		// The answer's headers go out at once and its body waits: the
		// issuer's client then waits for the body as long as its overall
		// timeout (minutes), not only its header timeout.
		answer := httptest.NewRecorder()
		forward.ServeHTTP(answer, r)
		for name, values := range answer.Header() {
			w.Header()[name] = values
		}
		w.WriteHeader(answer.Code)
		w.(http.Flusher).Flush()
		p.held <- struct{}{}
		select {
		case <-p.release:
			w.Write(answer.Body.Bytes())
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() {
		p.unstall()
		p.srv.Close()
	})
	return p
}

// unstall lets the held directory answers, and those after, through.
func (p *caProxy) unstall() {
	select {
	case <-p.release:
	default:
		close(p.release)
	}
}

// directory is the CA's directory URL through the proxy.
func (p *caProxy) directory() string { return p.srv.URL + "/dir" }

// rootsFile writes the roots a client of both the proxies and the CA
// needs, and returns its path.
func rootsFile(t *testing.T, dir string, ca *pebble.CA, proxies ...*caProxy) string {
	t.Helper()
	bundle := ca.TLSRootPEM()
	for _, p := range proxies {
		bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})...)
	}
	path := filepath.Join(dir, "roots.pem")
	if err := os.WriteFile(path, bundle, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// caConfig is a configuration naming each CA profile of directories, all
// trusting roots, with lifetime as their min_lifetime.
func caConfig(directories map[string]string, roots, nameserver, lifetime string) string {
	var b strings.Builder
	b.WriteString("data_dir: data\ncertificate_authorities:\n")
	for name, directory := range directories {
		fmt.Fprintf(&b, "  %s:\n    directory: %s\n    roots_file: %s\n    min_lifetime: %s\n", name, directory, roots, lifetime)
	}
	fmt.Fprintf(&b, "dns:\n  rfc2136:\n    nameserver: %s\n", nameserver)
	return b.String()
}

// caResult is what one App.CA call returned.
type caResult struct {
	profile *rotation.CAProfile
	err     error
}

// lookUp calls ap.CA in the background and returns where its result
// arrives.
func lookUp(ctx context.Context, ap *app.App, name string) <-chan caResult {
	out := make(chan caResult, 1)
	go func() {
		p, err := ap.CA(ctx, name)
		out <- caResult{p, err}
	}()
	return out
}

// caTestApp builds an app whose CA profiles "slow" and "quick" reach the
// lab's CA through a proxy each, slow's holding its directory.
func caTestApp(t *testing.T) (*app.App, *caProxy, *caProxy, string) {
	t.Helper()
	ca, dns := sharedCA(t)
	slow, quick := newCAProxy(t, ca, true), newCAProxy(t, ca, false)
	dir := t.TempDir()
	path := filepath.Join(dir, "ottr.yaml")
	text := caConfig(map[string]string{"slow": slow.directory(), "quick": quick.directory()},
		rootsFile(t, dir, ca, slow, quick), dns.Addr(), "24h")
	ap, err := app.New(context.Background(), parse(t, path, text), app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ap.Close() })
	return ap, slow, quick, path
}

func TestACAThatStallsHoldsUpOnlyTheCallersThatNeedIt(t *testing.T) {
	ap, slow, quick, _ := caTestApp(t)
	ctx := context.Background()

	waiting := lookUp(ctx, ap, "slow")
	<-slow.held
	p, err := ap.CA(ctx, "quick")
	if err != nil {
		t.Fatalf("the quick CA, while the slow one stalls: %v", err)
	}
	if p.Name != "quick" || p.Issuer == nil {
		t.Errorf("the quick CA's profile is %q with issuer %v", p.Name, p.Issuer)
	}
	if _, err := ap.Vault.Get(ctx, "acme-account/quick"); err != nil {
		t.Errorf("the quick CA's account is not in the vault: %v", err)
	}
	select {
	case r := <-waiting:
		t.Fatalf("the slow CA's caller returned (%v) while its CA still held the directory", r.err)
	default:
	}

	slow.unstall()
	r := <-waiting
	if r.err != nil || r.profile.Name != "slow" {
		t.Fatalf("the slow CA once it answered: %v", r.err)
	}
	if n := quick.directoryReads.Load(); n != 1 {
		t.Errorf("the quick CA was asked for its directory %d times, want once", n)
	}
}

func TestACallerThatGivesUpReturnsWhileTheBuildGoesOn(t *testing.T) {
	tests := []struct {
		name string
		// anotherWaits has a second caller wait for the profile beside
		// the one that gives up.
		anotherWaits bool
	}{
		{name: "the caller still waiting gets the profile", anotherWaits: true},
		{name: "with every caller gone the next one gets the profile built meanwhile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ap, slow, _, _ := caTestApp(t)
			ctx, giveUp := context.WithCancel(context.Background())
			defer giveUp()

			waiting := lookUp(ctx, ap, "slow")
			<-slow.held
			var alsoWaiting <-chan caResult
			if tt.anotherWaits {
				alsoWaiting = lookUp(context.Background(), ap, "slow")
			}
			giveUp()
			r := <-waiting
			if !errors.Is(r.err, context.Canceled) || r.profile != nil {
				t.Fatalf("the caller that gave up got %v, %v; want its context's error", r.profile, r.err)
			}
			if !strings.Contains(r.err.Error(), "certificate authority slow") {
				t.Errorf("its error %q does not name the CA", r.err)
			}

			slow.unstall()
			var waitedFor *rotation.CAProfile
			if alsoWaiting != nil {
				r := <-alsoWaiting
				if r.err != nil || r.profile.Issuer == nil {
					t.Fatalf("the caller that kept waiting: %v", r.err)
				}
				waitedFor = r.profile
			}
			p, err := ap.CA(context.Background(), "slow")
			if err != nil || p.Issuer == nil {
				t.Fatalf("the next caller: %v", err)
			}
			if waitedFor != nil && p != waitedFor {
				t.Error("the next caller got another profile than the one waited for: it was not kept")
			}
			if n := slow.directoryReads.Load(); n != 1 {
				t.Errorf("the CA was asked for its directory %d times, want once: one build served every caller", n)
			}
		})
	}
}

func TestAFailedBuildIsTriedAgainByTheNextCall(t *testing.T) {
	ap, _, quick, _ := caTestApp(t)
	ctx := context.Background()
	quick.refuse.Store(1)

	_, err := ap.CA(ctx, "quick")
	if err == nil || !strings.Contains(err.Error(), "certificate authority quick") || !strings.Contains(err.Error(), "down for maintenance") {
		t.Fatalf("the first call, with the CA down: %v; want the CA's own words, naming the profile", err)
	}
	p, err := ap.CA(ctx, "quick")
	if err != nil || p.Issuer == nil {
		t.Fatalf("the second call, with the CA back: %v", err)
	}
	if n := quick.directoryReads.Load(); n != 2 {
		t.Errorf("the CA was asked for its directory %d times, want twice", n)
	}
}

func TestAProfileBeingBuiltDuringAReloadServesOnlyItsCallers(t *testing.T) {
	ap, slow, quick, path := caTestApp(t)
	ctx := context.Background()

	waiting := lookUp(ctx, ap, "slow")
	<-slow.held
	ca, dns := sharedCA(t)
	next := caConfig(map[string]string{"slow": slow.directory(), "quick": quick.directory()},
		rootsFile(t, filepath.Dir(path), ca, slow, quick), dns.Addr(), "48h")
	if _, err := ap.Reload(parse(t, path, next)); err != nil {
		t.Fatal(err)
	}
	slow.unstall()
	r := <-waiting
	if r.err != nil || r.profile.MinLifetime != 24*time.Hour {
		t.Fatalf("the caller from before the reload: %v, %v; want the profile it asked for, min_lifetime 24h", r.profile, r.err)
	}
	p, err := ap.CA(ctx, "slow")
	if err != nil {
		t.Fatal(err)
	}
	if p.MinLifetime != 48*time.Hour {
		t.Errorf("after the reload the profile's min_lifetime is %v, want the reloaded 48h", p.MinLifetime)
	}
	if n := slow.directoryReads.Load(); n != 2 {
		t.Errorf("the CA was asked for its directory %d times, want twice: once before the reload, once after", n)
	}
}
