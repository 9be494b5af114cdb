package e2e_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/testenv"
	"github.com/ottr-go/ottr/internal/testenv/pgtest"
	"github.com/ottr-go/ottr/internal/testenv/realserver"
	"github.com/ottr-go/ottr/internal/verify"
)

const (
	// waveCount vhosts of one nginx, wave<N>.<deviceZone>, make a wave of
	// certificates all due on one host.
	waveCount = 50
	// waveWorkers rotations run at once, as workers.concurrency would have
	// them: sshd's default MaxStartups drops unauthenticated connections
	// beyond ten.
	waveWorkers = 8
)

// waveHosts are the names of the wave's vhosts.
func waveHosts() []string {
	hosts := make([]string, waveCount)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("wave%d.%s", i+1, deviceZone)
	}
	return hosts
}

// waveHost is one nginx serving hosts, each from a bundle of key and
// certificate, whose reload command logs on the host when each reload
// starts and ends: the device's own account of its changes.
type waveHost struct {
	nginx *realserver.Nginx
	hosts []string
	// route serves every host: templated bundle paths, the logging reload.
	route linuxRoute
	log   string
}

// startWaveHost starts an nginx for hosts. prelude, shell code, runs in
// each reload before nginx's: a pause, to widen the window in which two
// reloads would meet, or a check that fails the reload with "return 1".
func (e *env) startWaveHost(t testing.TB, hosts []string, prelude string) *waveHost {
	t.Helper()
	ctx := context.Background()
	n, err := realserver.StartNginx(ctx, realserver.NginxConfig{User: e.user, Sites: hosts, Bundle: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	_, reload, ok := strings.Cut(n.ReloadCommand(), " && ")
	if !ok || !strings.Contains(reload, "-s reload") {
		t.Fatalf("nginx's reload command %q has no plain reload", n.ReloadCommand())
	}
	dir, err := os.MkdirTemp("", "ottr-wave-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	w := &waveHost{nginx: n, hosts: hosts, log: filepath.Join(dir, "reloads.log")}
	script := filepath.Join(dir, "reload.sh")
	body := fmt.Sprintf("echo \"start $$\" >> %[1]s\nreload() {\n:\n%[2]s\n%[3]s\n}\nreload\nstatus=$?\necho \"end $$\" >> %[1]s\nexit $status\n",
		w.log, prelude, reload)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// The host's account runs the script and writes its log.
		if err := os.Chown(dir, e.user.UID, e.user.GID); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	first, _ := n.Site(hosts[0])
	bundle := filepath.Dir(filepath.Dir(first.CertPath)) + "/{{.CommonName}}/cert.pem"
	w.route = linuxRoute{certPath: bundle, keyPath: bundle, reloadCommand: "sh " + script}
	return w
}

// addAssets adds every host of w to ap and returns the serial each serves.
func (w *waveHost) addAssets(t testing.TB, e *env, ap *app.App) map[string]string {
	t.Helper()
	served := map[string]string{}
	for _, host := range w.hosts {
		site, _ := w.nginx.Site(host)
		e.addAsset(t, ap, host, site.Port)
		chain, err := verify.Fetch(context.Background(), site.Addr, host, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		served[host] = verify.SerialHex(chain[0])
	}
	return served
}

// reloads reads the host's reload log: how many reloads ran, and the most
// that ran at once.
func (w *waveHost) reloads(t testing.TB) (count, most int) {
	t.Helper()
	f, err := os.Open(w.log)
	if err != nil {
		t.Fatalf("the host logged no reload: %v", err)
	}
	defer f.Close()
	running := 0
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		switch {
		case strings.HasPrefix(lines.Text(), "start "):
			count++
			running++
			most = max(most, running)
		case strings.HasPrefix(lines.Text(), "end "):
			running--
		}
	}
	return count, most
}

// rotateAll rotates every host at once, host i by aps[i mod len(aps)],
// each app running at most workers rotations at a time.
func rotateAll(aps []*app.App, hosts []string, workers int) ([]store.Rotation, []error) {
	results := make([]store.Rotation, len(hosts))
	errs := make([]error, len(hosts))
	slots := make([]chan struct{}, len(aps))
	for i := range slots {
		slots[i] = make(chan struct{}, workers)
	}
	var wg sync.WaitGroup
	for i, host := range hosts {
		wg.Go(func() {
			slot := slots[i%len(aps)]
			slot <- struct{}{}
			defer func() { <-slot }()
			results[i], errs[i] = rotate(aps[i%len(aps)], host)
		})
	}
	wg.Wait()
	return results, errs
}

// checkServesNew checks over TLS that site serves its own page with the
// certificate ap recorded for it, which is not the one it served before
// (serial oldSerial).
func (e *env) checkServesNew(t *testing.T, ap *app.App, site realserver.NginxSite, oldSerial string) {
	t.Helper()
	host := site.Name
	a, err := ap.Store.GetAsset(context.Background(), host)
	if err != nil {
		t.Fatal(err)
	}
	chain, body := servedChain(t, site.Addr, host, e.roots, nil)
	if body != host+"\n" {
		t.Errorf("%s answered %q, want its page", host, body)
	}
	if got := verify.SerialHex(chain[0]); got != a.CertificateSerial || got == oldSerial {
		t.Errorf("%s serves serial %s; ottr recorded %s, the old one was %s", host, got, a.CertificateSerial, oldSerial)
	}
	if err := chain[0].VerifyHostname(host); err != nil {
		t.Errorf("%s serves another vhost's certificate: %v", host, err)
	}
}

// Fifty vhosts of one real nginx, each an asset, rotate at once through
// one templated route, each ending with a plain "nginx -s reload" that
// does not wait for nginx to load the files. Every rotation succeeds and
// each vhost then serves its own new certificate over TLS.
func TestFiftyCertificatesOnOneNginxRotateAtOnce(t *testing.T) {
	e := need(t)
	w := e.startWaveHost(t, waveHosts(), "")
	ap := e.newRouteApp(t, e.sshd.KnownHostsFile, w.route)
	before := w.addAssets(t, e, ap)

	results, errs := rotateAll([]*app.App{ap}, w.hosts, waveWorkers)

	for i, host := range w.hosts {
		rot := results[i]
		if errs[i] != nil || rot.State != store.StateSucceeded {
			t.Errorf("rotation of %s %s: %v\n%s", host, rot.State, errs[i], logOf(rot))
			continue
		}
		site, _ := w.nginx.Site(host)
		e.checkServesNew(t, ap, site, before[host])
	}
	count, most := w.reloads(t)
	if most > 1 {
		t.Errorf("%d reloads ran at once on the host, want one at a time", most)
	}
	t.Logf("%d rotations, %d reloads of nginx", len(w.hosts), count)
	if t.Failed() {
		t.Logf("nginx's log:\n%s", w.nginx.Log())
	}
}

// A vhost whose new files fail nginx's reload, among others rotating at
// once: whether its install shared a reload with others or not, only its
// rotation fails, it serves its previous certificate again, and every
// other vhost serves its new one.
func TestAVhostWhoseFilesFailTheReloadFailsAlone(t *testing.T) {
	e := need(t)
	hosts := waveHosts()[:10]
	bad := hosts[3]
	// Not t.TempDir(): the host's account must reach it.
	dir, err := os.MkdirTemp("", "ottr-bad-vhost-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	original := filepath.Join(dir, "bad-original.pem")
	site := func(w *waveHost, host string) realserver.NginxSite { s, _ := w.nginx.Site(host); return s }
	// The reload fails while the bad vhost's file is not the one it
	// started with.
	w := e.startWaveHost(t, hosts, "cmp -s "+filepath.Join(dir, "bad-live.pem")+" "+original+" || { echo 'the bad vhost changed' >&2; return 1; }")
	live := site(w, bad).CertPath
	if err := os.Symlink(live, filepath.Join(dir, "bad-live.pem")); err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(live)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(original, pem, 0o644); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ap := e.newRouteApp(t, e.sshd.KnownHostsFile, w.route)
	before := w.addAssets(t, e, ap)

	results, errs := rotateAll([]*app.App{ap}, w.hosts, waveWorkers)

	for i, host := range w.hosts {
		rot := results[i]
		if host == bad {
			if rot.State != store.StateFailed || !strings.Contains(rot.Error, "the bad vhost changed") {
				t.Errorf("rotation of %s, whose files fail the reload: %s (%v), want failed by the reload\n%s", host, rot.State, errs[i], logOf(rot))
			}
			chain, err := verify.Fetch(context.Background(), site(w, host).Addr, host, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if got := verify.SerialHex(chain[0]); got != before[host] {
				t.Errorf("%s serves serial %s, want its previous certificate %s back", host, got, before[host])
			}
			continue
		}
		if errs[i] != nil || rot.State != store.StateSucceeded {
			t.Errorf("rotation of %s %s: %v\n%s", host, rot.State, errs[i], logOf(rot))
			continue
		}
		e.checkServesNew(t, ap, site(w, host), before[host])
	}
	if t.Failed() {
		t.Logf("nginx's log:\n%s", w.nginx.Log())
	}
}

// Two ottr processes on one store (here two apps, each with its own device
// locks, as two processes have) rotate certificates of the same host at
// once. The host logs when each reload starts and ends, each reload
// pausing first, so two processes changing it at once would show: none
// ever runs beside another.
func TestTwoProcessesNeverChangeOneHostAtOnce(t *testing.T) {
	e := need(t)
	cases := []struct {
		name     string
		database func(t *testing.T) string
	}{
		{"sharing a SQLite file", func(t *testing.T) string { return "" }},
		{"sharing a PostgreSQL database", func(t *testing.T) string {
			testenv.SkipInShort(t, testenv.PostgreSQL)
			return pgtest.Start(t).NewDatabase(t)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := e.startWaveHost(t, waveHosts()[:8], "sleep 0.2")
			// One data directory: the master key the processes of a
			// cluster share, made as an operator would.
			w.route.dataDir = t.TempDir()
			key := make([]byte, 32)
			if _, err := rand.Read(key); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(w.route.dataDir, "master.key"), []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			w.route.database = c.database(t)
			first := e.newRouteApp(t, e.sshd.KnownHostsFile, w.route)
			w.addAssets(t, e, first)
			second := e.newRouteApp(t, e.sshd.KnownHostsFile, w.route)

			results, errs := rotateAll([]*app.App{first, second}, w.hosts, 4)

			for i, host := range w.hosts {
				if errs[i] != nil || results[i].State != store.StateSucceeded {
					t.Errorf("rotation of %s %s: %v\n%s", host, results[i].State, errs[i], logOf(results[i]))
				}
			}
			count, most := w.reloads(t)
			if most != 1 {
				t.Errorf("%d reloads ran at once on the host, want one at a time", most)
			}
			if count < 2 {
				t.Errorf("the host saw %d reloads, want one from each process at least", count)
			}
		})
	}
}

// BenchmarkCertificatesOnOneHost measures, on one real nginx, one rotation
// alone and then a wave of waveCount rotations of its vhosts started at
// once (waveWorkers at a time, as workers.concurrency would run them).
// It reports both times and their ratio, the target being well under
// waveCount:
//
//	go test -run '^$' -bench CertificatesOnOneHost -benchtime 1x ./internal/e2e/
func BenchmarkCertificatesOnOneHost(b *testing.B) {
	testenv.SkipInShort(b, testenv.RealServers)
	if theEnv.err != nil {
		b.Fatalf("the end-to-end environment did not start: %v", theEnv.err)
	}
	e := theEnv.env
	w := e.startWaveHost(b, waveHosts(), "")
	ap := e.newRouteApp(b, e.sshd.KnownHostsFile, w.route)
	w.addAssets(b, e, ap)
	var one, wave time.Duration
	b.ResetTimer()
	for range b.N {
		started := time.Now()
		if rot, err := rotate(ap, w.hosts[0]); err != nil {
			b.Fatalf("rotation of %s %s: %v\n%s", w.hosts[0], rot.State, err, logOf(rot))
		}
		one += time.Since(started)
		started = time.Now()
		results, errs := rotateAll([]*app.App{ap}, w.hosts, waveWorkers)
		wave += time.Since(started)
		for i, err := range errs {
			if err != nil {
				b.Fatalf("rotation of %s %s: %v\n%s", w.hosts[i], results[i].State, err, logOf(results[i]))
			}
		}
	}
	b.StopTimer()
	reloads, _ := w.reloads(b)
	b.ReportMetric(one.Seconds()/float64(b.N), "s/one")
	b.ReportMetric(wave.Seconds()/float64(b.N), "s/wave")
	b.ReportMetric(float64(wave)/float64(one), "wave/one")
	b.ReportMetric(float64(reloads)/float64(b.N), "reloads/run")
}
