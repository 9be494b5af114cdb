package killtest

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/lab/pebble"
	"github.com/ottr-go/ottr/internal/store/sqlite"
	"github.com/ottr-go/ottr/internal/testenv"
)

var (
	flagSeed    = flag.Uint64("killtest.seed", 0, "seed the kill moments are drawn from (0: a new one, printed)")
	flagDevices = flag.Int("killtest.devices", 60, "emulated devices in the fleet")
	flagKills   = flag.Int("killtest.kills", 5, "how many times ottr serve is killed with SIGKILL")
	flagSettle  = flag.Duration("killtest.settle", 2*time.Minute, "how long the fleet may take to settle after the last restart")
)

// ottrBinary is cmd/ottr, built once for the test binary.
var ottrBinary string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		// The kill test skips; building ottr would only cost.
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "ottr-killtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if ottrBinary, err = buildOttr(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	// stallLimit is how long a kill waits for the CA to reach its moment
	// in the wave: a fleet that makes no progress is killed anyway.
	stallLimit = 10 * time.Second
	// maxKillDelay bounds the wait after that moment, about one
	// rotation's time, so a kill lands anywhere in a rotation's steps.
	maxKillDelay = time.Second
	// startLimit bounds how long ottr serve or the lab may take to start
	// on a loaded machine.
	startLimit = 3 * time.Minute
	// waveRounds is how many rotations each of serve's workers runs in
	// an unbroken wave.
	waveRounds = 6
)

// killMoment is when one kill comes: once the CA has issued afterIssued
// certificates in all (or the fleet has stalled for stallLimit), and delay
// after that.
type killMoment struct {
	afterIssued int
	delay       time.Duration
}

// drawKills draws the kill moments from the seed, in the order they come:
// the i-th in the i-th of kills+1 equal parts of the wave, so the kills
// spread over it rather than bunch up early (a restarted serve catches up
// fast, and a kill whose moment has passed comes at once) and the last
// part runs undisturbed.
func drawKills(seed uint64, kills, devices int) []killMoment {
	rng := rand.New(rand.NewPCG(seed, 0x6f747472))
	moments := make([]killMoment, kills)
	part := max(devices/(kills+1), 1)
	for i := range moments {
		moments[i] = killMoment{afterIssued: min(i*part+rng.IntN(part), devices-1), delay: time.Duration(rng.Int64N(int64(maxKillDelay)))}
	}
	slices.SortStableFunc(moments, func(a, b killMoment) int { return a.afterIssued - b.afterIssued })
	return moments
}

// killRecord is what one kill hit.
type killRecord struct {
	n       int
	moment  killMoment
	at      time.Duration // since the first serve started
	upFor   time.Duration // since this serve said it was serving
	stalled bool          // killed without the CA reaching the moment
	counts  pebble.Counts // at the CA, just after the kill
	fleet   fleet         // in the store, just after the kill
}

func (k killRecord) String() string {
	when := fmt.Sprintf("%d issued + %s", k.moment.afterIssued, k.moment.delay.Round(time.Millisecond))
	if k.stalled {
		when = fmt.Sprintf("stalled %s short of %d issued, + %s", stallLimit, k.moment.afterIssued, k.moment.delay.Round(time.Millisecond))
	}
	return fmt.Sprintf("kill %d at %s (serve up %s, moment: %s): CA %d new orders, %d issued; store %s",
		k.n, k.at.Round(100*time.Millisecond), k.upFor.Round(100*time.Millisecond), when,
		k.counts.NewOrders, k.counts.CertificatesIssued, k.fleet)
}

// TestKilledServeFinishesTheFleetWithoutSecondOrders is the kill
// test: ottr serve on the embedded default, SIGKILLed at seeded random
// moments mid-wave and restarted on the same data directory, must leave
// every device rotated and serving what the store records, no rotation
// pending or running, at most one new order per rotation plus one per kill,
// and at most one certificate per kill issued and never installed.
func TestKilledServeFinishesTheFleetWithoutSecondOrders(t *testing.T) {
	testenv.SkipInShort(t, testenv.KillTest)
	devices, kills := *flagDevices, *flagKills
	if devices < 1 || kills < 0 {
		t.Fatalf("-killtest.devices %d, -killtest.kills %d: want at least one device and no negative kills", devices, kills)
	}
	seed := *flagSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	r := &killRun{
		t: t, seed: seed, devices: devices,
		// The waits end early enough to stop serve, count and clean up.
		ctx: testContext(t, 2*time.Minute),
		replay: fmt.Sprintf("replay: go test -count=1 -run %s ./internal/killtest -killtest.seed=%d -killtest.devices=%d -killtest.kills=%d",
			t.Name(), seed, devices, kills),
	}
	t.Logf("seed %d: %d devices, %d kills (%s)", seed, devices, kills, r.replay)
	r.startLab(t.TempDir())

	r.began = time.Now()
	for i, moment := range drawKills(seed, kills, devices) {
		r.killAt(i+1, moment, r.startServe())
	}
	final := r.startServe()
	settled := r.settle(final)
	r.took = time.Since(r.began)

	res := r.count(settled)
	t.Log(res.report(r.records))
	sum := res.summary() + "\n" + r.replay
	f := res.fleet
	if bad := f.unsucceeded(); len(bad) > 0 {
		t.Errorf("%d of %d assets' last rotation did not succeed:\n  %s\n%s", len(bad), len(f.assets), some(bad, 15), sum)
	}
	if stuck := f.stuckRotations(); len(stuck) > 0 {
		t.Errorf("%d rotations left pending or running %s after the last restart (%s), want none:\n  %s\n%s",
			len(stuck), res.settleTook.Round(time.Second), f.stuckKinds(), some(stuck, 15), sum)
	}
	if len(res.mismatched) > 0 {
		t.Errorf("%d of %d devices do not serve the leaf the store records:\n  %s\n%s", len(res.mismatched), len(f.assets), some(res.mismatched, 15), sum)
	}
	if limit := f.total() + res.kills; res.counts.NewOrders > limit {
		t.Errorf("the CA saw %d new orders for %d rotations and %d kills, want at most %d (one per rotation, one more per kill); ordered more than once:\n  %s\n%s",
			res.counts.NewOrders, f.total(), res.kills, limit, some(reordered(res.counts), 15), sum)
	}
	if len(res.wasted) > res.kills {
		t.Errorf("%d certificates issued and served by no device, want at most %d (one per kill):\n  %s\n%s",
			len(res.wasted), res.kills, some(res.wasted, 15), sum)
	}
}

// killRun is one run of the kill test: the lab, the serve processes it
// starts and kills one after the other, and what each kill hit.
type killRun struct {
	t       *testing.T
	ctx     context.Context
	seed    uint64
	devices int
	replay  string

	configPath, countsURL string
	// st reads the lab's database, which every serve shares.
	st *sqlite.Store

	began   time.Time
	serves  int
	records []killRecord
	// settleTook is how long the last serve ran before it was stopped.
	settleTook time.Duration
	took       time.Duration
}

// fatalf ends the test with what the run has seen so far, so a run that
// breaks off still shows its counts and its seed.
func (r *killRun) fatalf(format string, args ...any) {
	r.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, format, args...)
	fmt.Fprintf(&b, "\nseed %d, %d devices, %d kills so far", r.seed, r.devices, len(r.records))
	for _, k := range r.records {
		fmt.Fprintf(&b, "\n  %s", k)
	}
	if r.countsURL != "" {
		if c, err := readCounts(context.WithoutCancel(r.ctx), r.countsURL); err == nil {
			fmt.Fprintf(&b, "\n  now: CA %d new orders, %d finalized, %d issued", c.NewOrders, c.FinalizedOrders, c.CertificatesIssued)
		}
	}
	if r.st != nil {
		if f, err := readFleet(context.WithoutCancel(r.ctx), r.st); err == nil {
			fmt.Fprintf(&b, "; store %s", f)
		}
	}
	r.t.Fatalf("%s\n%s", b.String(), r.replay)
}

// startLab starts `ottr lab --no-rotate` on dir and opens its database.
func (r *killRun) startLab(dir string) {
	r.t.Helper()
	// The fleet rotates in about waveRounds rounds, as 300 devices do at
	// the default concurrency of 50: at any moment some rotations are in
	// each step, so the kills land in all of them.
	concurrency := max(1, r.devices/waveRounds)
	lab := startChild(r.t, "lab", "lab", "--no-rotate", "--devices", strconv.Itoa(r.devices), "--concurrency", strconv.Itoa(concurrency), "--data", dir)
	ctx, cancel := context.WithTimeout(r.ctx, startLimit)
	defer cancel()
	countsLine, err := lab.waitForLine(ctx, "CA counts")
	if err != nil {
		r.fatalf("%v", err)
	}
	at := strings.Index(countsLine, "http://")
	if at < 0 {
		r.fatalf("the lab's counts line names no URL: %q", countsLine)
	}
	r.countsURL = countsLine[at:]
	if _, err := lab.waitForLine(ctx, "registered as assets"); err != nil {
		r.fatalf("%v", err)
	}
	r.configPath = filepath.Join(dir, "ottr.yaml")
	cfg, err := config.Load(r.configPath)
	if err != nil {
		r.fatalf("the lab's config: %v", err)
	}
	if r.st, err = sqlite.Open(r.ctx, cfg.Database); err != nil {
		r.fatalf("the lab's database: %v", err)
	}
	r.t.Cleanup(func() { r.st.Close() })
}

// startServe starts the next `ottr serve` on the lab's config and waits
// until it serves.
func (r *killRun) startServe() *child {
	r.t.Helper()
	r.serves++
	serve := startChild(r.t, fmt.Sprintf("serve #%d", r.serves), "--config", r.configPath, "--log-level", "info", "serve", "--listen", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(r.ctx, startLimit)
	defer cancel()
	if _, err := serve.waitForLine(ctx, "ottr serving the API"); err != nil {
		r.fatalf("start %d of ottr serve: %v", r.serves, err)
	}
	serve.ready = time.Now()
	return serve
}

// killAt kills serve at moment and records what the kill hit.
func (r *killRun) killAt(n int, moment killMoment, serve *child) {
	r.t.Helper()
	reached, err := waitIssued(r.ctx, r.countsURL, moment.afterIssued, stallLimit)
	if err != nil {
		r.fatalf("before kill %d: %v", n, err)
	}
	select {
	case <-time.After(moment.delay):
	case <-r.ctx.Done():
		r.fatalf("before kill %d: %v", n, context.Cause(r.ctx))
	}
	if !serve.running() {
		r.fatalf("%s exited by itself before kill %d (%s):\n%s", serve.name, n, serve.cmd.ProcessState, lastLines(serve.out.String(), 25))
	}
	serve.kill()
	rec := killRecord{n: n, moment: moment, at: time.Since(r.began), upFor: time.Since(serve.ready), stalled: !reached}
	if rec.counts, err = readCounts(r.ctx, r.countsURL); err != nil {
		r.fatalf("after kill %d: %v", n, err)
	}
	if rec.fleet, err = readFleet(r.ctx, r.st); err != nil {
		r.fatalf("after kill %d: %v", n, err)
	}
	r.t.Log(rec)
	r.records = append(r.records, rec)
}

// settle waits, up to -killtest.settle, for the fleet to settle under the
// last serve, then stops it with SIGTERM. It reports whether the fleet
// settled.
func (r *killRun) settle(final *child) bool {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(r.ctx, *flagSettle)
	defer cancel()
	settled, err := waitSettled(ctx, r.st)
	if err != nil {
		r.fatalf("after the last restart: %v", err)
	}
	r.settleTook = time.Since(final.ready)
	if !final.running() {
		r.t.Errorf("%s exited by itself after the last restart (%s):\n%s", final.name, final.cmd.ProcessState, lastLines(final.out.String(), 25))
	}
	if !final.stop(time.Minute) {
		r.t.Logf("%s did not stop within a minute of SIGTERM; killed", final.name)
	}
	return settled
}

// count counts, with serve stopped, at the CA and on the devices, and
// reads what the store says.
func (r *killRun) count(settled bool) result {
	r.t.Helper()
	ctx := context.WithoutCancel(r.ctx)
	f, err := readFleet(ctx, r.st)
	if err != nil {
		r.fatalf("counting: %v", err)
	}
	counts, err := readCounts(ctx, r.countsURL)
	if err != nil {
		r.fatalf("counting: %v", err)
	}
	leaves := servedLeaves(ctx, f.assets)
	return result{
		seed: r.seed, devices: len(f.assets), kills: len(r.records), took: r.took,
		settled: settled, settleTook: r.settleTook, fleet: f, counts: counts,
		mismatched: mismatches(f.assets, leaves), wasted: wasted(counts, leaves),
	}
}

// waitIssued waits until the CA has issued at least n certificates in all,
// or for limit: it reports whether the CA got there.
func waitIssued(ctx context.Context, countsURL string, n int, limit time.Duration) (bool, error) {
	deadline := time.Now().Add(limit)
	for {
		c, err := readCounts(ctx, countsURL)
		if err != nil {
			return false, err
		}
		if c.CertificatesIssued >= n {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, context.Cause(ctx)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitSettled waits until the fleet has settled or ctx ends, and reports
// whether it settled. It fails only when the store cannot be read.
func waitSettled(ctx context.Context, st *sqlite.Store) (bool, error) {
	for {
		f, err := readFleet(context.WithoutCancel(ctx), st)
		if err != nil {
			return false, err
		}
		if f.settled() {
			return true, nil
		}
		select {
		case <-ctx.Done():
			return false, nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// result is what the test counted once serve stopped.
type result struct {
	seed           uint64
	devices, kills int
	took           time.Duration
	settled        bool
	settleTook     time.Duration
	fleet          fleet
	counts         pebble.Counts
	mismatched     []string
	wasted         []string
}

// summary is the line every failure carries: the seed and the counts the
// bounds are about.
func (r result) summary() string {
	return fmt.Sprintf("seed %d, %d devices, %d kills: %d rotations, %d new orders, %d finalized, %d issued, %d wasted, %d stuck, %d not serving the recorded leaf",
		r.seed, r.devices, r.kills, r.fleet.total(), r.counts.NewOrders, r.counts.FinalizedOrders, r.counts.CertificatesIssued,
		len(r.wasted), r.fleet.stuck(), len(r.mismatched))
}

// report is the figures worth writing down, kill by kill and in all.
func (r result) report(records []killRecord) string {
	var b strings.Builder
	fmt.Fprintf(&b, "kill test, seed %d: %d devices, %d kills, %s in all\n", r.seed, r.devices, r.kills, r.took.Round(100*time.Millisecond))
	for _, k := range records {
		fmt.Fprintf(&b, "  %s\n", k)
	}
	if r.settled {
		fmt.Fprintf(&b, "  settled %s after the last restart\n", r.settleTook.Round(100*time.Millisecond))
	} else {
		fmt.Fprintf(&b, "  NOT settled %s after the last restart\n", r.settleTook.Round(100*time.Millisecond))
	}
	fmt.Fprintf(&b, "  store: %s; %d assets never rotated; stuck: %s\n", r.fleet, len(r.fleet.unrotated()), r.fleet.stuckKinds())
	fmt.Fprintf(&b, "  CA: %d new orders (bound %d: rotations + kills), %d finalized, %d issued, %d wasted (bound %d: kills)\n",
		r.counts.NewOrders, r.fleet.total()+r.kills, r.counts.FinalizedOrders, r.counts.CertificatesIssued, len(r.wasted), r.kills)
	fmt.Fprintf(&b, "  devices: %d of %d serve the leaf the store records", r.devices-len(r.mismatched), r.devices)
	return b.String()
}
