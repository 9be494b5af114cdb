package cluster_test

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/lab"
	"github.com/ottr-go/ottr/internal/secret"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/testenv"
	"github.com/ottr-go/ottr/internal/testenv/output"
	"github.com/ottr-go/ottr/internal/testenv/pgtest"
	"github.com/ottr-go/ottr/internal/verify"
)

// ottrBinary is cmd/ottr, built once for the test binary.
var ottrBinary string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		// Every test skips; building ottr would only cost.
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "ottr-cluster-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ottrBinary = filepath.Join(dir, "ottr")
	build := exec.Command("go", "build", "-o", ottrBinary, "github.com/ottr-go/ottr/cmd/ottr")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build ottr: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// process is one running ottr command.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *output.Buffer
	// exited is closed when the process has ended.
	exited chan struct{}
}

// start runs ottr with args, the database URL in its environment only.
func start(t testing.TB, name, databaseURL string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(ottrBinary, args...)
	cmd.Env = append(os.Environ(), "OTTR_DATABASE_URL="+databaseURL)
	out := &output.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &process{name: name, cmd: cmd, out: out, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("output of %s (pid %d):\n%s", name, cmd.Process.Pid, lastLines(out.String(), 40))
		}
	})
	return p
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) output() string { return p.out.String() }

// stop ends p with SIGTERM, as systemd would, and waits.
func (p *process) stop(t testing.TB) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(time.Minute):
		t.Errorf("%s did not stop within a minute of SIGTERM", p.name)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestAWaveSurvivesAKilledWorkerAndAPostgresRestart runs the issue's
// cluster scenario: three ottr processes (serve, and a worker per data
// center) on one PostgreSQL, 500 lab devices over two queues; mid-wave,
// while rotations are in their issue step, one worker is killed with
// SIGKILL and another started, and PostgreSQL restarts. Counted at the CA,
// each fault may cost at most one extra order and one certificate issued
// and never installed.
func TestAWaveSurvivesAKilledWorkerAndAPostgresRestart(t *testing.T) {
	testenv.SkipInShort(t, testenv.Cluster)
	const devices = 500
	ctx := context.Background()
	pg := pgtest.Start(t)
	databaseURL := pg.NewDatabase(t)

	l, err := lab.Start(ctx, lab.Options{Devices: devices, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// A short job timeout, so jobs of the killed worker are rescued
	// (after the timeout and the drivers' restore margin) within the test.
	raw, err := os.ReadFile(l.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	clusterConfig := filepath.Join(l.Dir, "cluster.yaml")
	// On a loaded machine (CI runs other test binaries beside this one)
	// an order can outlast its job: a failed rotation is retried after
	// a short backoff by a scan every 15 s, within the test.
	text := strings.Replace(string(raw), "job_timeout: 2m", "job_timeout: 1m", 1)
	text = strings.Replace(text, "scheduler:\n  interval: 1m", "scheduler:\n  interval: 15s", 1)
	text += "policy:\n  backoff_base: 10s\n  backoff_max: 30s\n"
	if err := os.WriteFile(clusterConfig, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}

	// The master key every process shares is made once, as an operator
	// does; then the inventory goes in, through the code the API uses.
	cfg, err := config.Load(clusterConfig)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := secret.LoadOrCreateKey(cfg.MasterKeyFile); err != nil {
		t.Fatal(err)
	}
	cfg.Database = databaseURL
	seed, err := app.New(ctx, cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range l.Assets {
		if err := seed.Store.CreateAsset(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	st := seed.Store
	defer seed.Close()

	common := []string{"-c", clusterConfig, "--database", "env:OTTR_DATABASE_URL"}
	serve := start(t, "serve", databaseURL, append(common, "serve", "--listen", freeAddr(t))...)
	workerA := start(t, "worker lab1", databaseURL, append(common, "worker", "--queue", "lab1")...)
	workerB := start(t, "worker lab2", databaseURL, append(common, "worker", "--queue", "lab2")...)

	counter, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { counter.Close(context.WithoutCancel(ctx)) }()
	rotated := func() int {
		var n int
		// The count may fail while PostgreSQL restarts: reconnect.
		if err := counter.QueryRow(ctx, `SELECT count(*) FROM assets WHERE last_rotation IS NOT NULL`).Scan(&n); err != nil {
			counter.Close(ctx)
			if c, err := pgx.Connect(ctx, databaseURL); err == nil {
				counter = c
			}
			return -1
		}
		return n
	}
	unfinishedJobs := func() int {
		n := -1
		if err := counter.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'rotation' AND state NOT IN ('completed', 'cancelled', 'discarded')`).Scan(&n); err != nil {
			t.Logf("counting unfinished jobs: %v", err)
		}
		return n
	}
	waitUntil := func(what string, limit time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %s waiting for %s (%d of %d rotated)", limit, what, rotated(), devices)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	started := func(p *process) func() bool {
		return func() bool { return strings.Contains(p.output(), "ottr worker on queues") }
	}
	// Both faults strike while rotations are in their issue step: orders
	// the CA created and no one has finalized yet, among those created
	// since the CA's order number since (older ones may have been
	// abandoned by an earlier fault).
	dataCenterOf := map[string]string{}
	for _, a := range l.Assets {
		dataCenterOf[a.SystemName] = a.DataCenter
	}
	issuing := func(dataCenter string, since int) int {
		n := 0
		for _, o := range l.CA.Counts().Orders[since:] {
			if !o.Finalized && len(o.Names) > 0 && (dataCenter == "" || dataCenterOf[o.Names[0]] == dataCenter) {
				n++
			}
		}
		return n
	}
	// midIssue waits until at least from devices have rotated and ten
	// rotations (of dataCenter, or any) are issuing; a wave that gets a
	// fifth of the fleet further without that settles for one.
	midIssue := func(dataCenter string, since, from int) func() bool {
		return func() bool {
			done := rotated()
			if done < from {
				return false
			}
			n := issuing(dataCenter, since)
			return n >= 10 || (n > 0 && done >= from+devices/5)
		}
	}
	atTheCA := func() string {
		c := l.CA.Counts()
		return fmt.Sprintf("the CA has %d new orders, %d finalized, %d issued", c.NewOrders, c.FinalizedOrders, c.CertificatesIssued)
	}

	waitUntil("a fifth of the fleet, lab1 mid-issue", 5*time.Minute, midIssue("lab1", 0, devices/5))
	if err := workerA.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-workerA.exited
	killedAt, ordersAtKill := rotated(), l.CA.Counts().NewOrders
	t.Logf("killed worker lab1 (pid %d) with %d of %d rotated, %d of lab1 issuing; %s", workerA.pid(), killedAt, devices, issuing("lab1", 0), atTheCA())
	workerA2 := start(t, "second worker lab1", databaseURL, append(common, "worker", "--queue", "lab1")...)
	waitUntil("the second lab1 worker", time.Minute, started(workerA2))

	waitUntil("more of the fleet, mid-issue", 5*time.Minute, midIssue("", ordersAtKill, killedAt+devices/10))
	t.Logf("restarting PostgreSQL with %d of %d rotated, %d issuing; %s", rotated(), devices, issuing("", ordersAtKill), atTheCA())
	pg.Restart(t)

	waitUntil("the whole fleet", 10*time.Minute, func() bool { return rotated() == devices })
	// River writes a job's completion after the job's own work, in the
	// background: one that finished just before the restart may have lost
	// that write and stays running until it is rescued (its timeout and the
	// rescue margin after it started) and run again, which finds the
	// rotation done.
	waitUntil("every rotation job to end", 4*time.Minute, func() bool { return unfinishedJobs() == 0 })
	for _, p := range []*process{serve, workerB, workerA2} {
		p.stop(t)
	}

	t.Run("every device serves exactly one new certificate, the one ottr recorded", func(t *testing.T) {
		for i, h := range l.Hosts {
			a, err := st.GetAsset(ctx, l.Assets[i].SystemName)
			if err != nil {
				t.Fatal(err)
			}
			served := h.Served()
			if !strings.Contains(served.Issuer.CommonName, "Pebble") || verify.SerialHex(served) != a.CertificateSerial {
				t.Errorf("%s serves serial %s from %q; ottr recorded %s", h.Name(), verify.SerialHex(served), served.Issuer.CommonName, a.CertificateSerial)
			}
		}
	})

	totalRotations := 0
	t.Run("no rotation is lost and none runs twice", func(t *testing.T) {
		retried := 0
		for _, a := range l.Assets {
			rots, err := st.ListRotations(ctx, store.RotationFilter{Asset: a.SystemName})
			if err != nil {
				t.Fatal(err)
			}
			totalRotations += len(rots)
			// Newest first: the last rotation succeeded, and any earlier
			// one ended with its failure recorded (a device that timed
			// out under load is retried after its backoff), none left
			// pending or running.
			ok := len(rots) > 0 && rots[0].State == store.StateSucceeded
			for _, r := range rots[min(1, len(rots)):] {
				ok = ok && store.Final(r.State) && r.Error != ""
			}
			if len(rots) > 1 && ok {
				retried++
				t.Logf("%s was rotated again after: %s", a.SystemName, rots[1].Error)
			}
			if !ok {
				var states []string
				for _, r := range rots {
					states = append(states, fmt.Sprintf("%d %s (attempts %d, error %q)", r.ID, r.State, r.Attempts, r.Error))
				}
				t.Errorf("%s has rotations %v, want the last one succeeded and none unfinished", a.SystemName, states)
			}
		}
		t.Logf("%d of %d devices needed a second rotation", retried, devices)
		for _, h := range l.Hosts {
			if n := h.PeakConnections(); n > 1 {
				t.Errorf("%s had %d ottr connections at once: two rotations ran on it together", h.Name(), n)
			}
		}
	})

	t.Run("the CA issued at most one extra order and one unused certificate per fault", func(t *testing.T) {
		// The faults: a worker killed, PostgreSQL restarted. A rotation that
		// failed under load (a device timed out) is retried as a new
		// rotation with an order of its own, and may have left the
		// certificate it was installing unused.
		const faults = 2
		counts := l.CA.Counts()
		serving := map[string]bool{}
		for _, h := range l.Hosts {
			serving[verify.SerialHex(h.Served())] = true
		}
		unused := counts.IssuedExcept(serving)
		var reorderedNames []string
		for name, n := range counts.OrdersPerName() {
			if n > 1 {
				reorderedNames = append(reorderedNames, fmt.Sprintf("%s (%d)", name, n))
			}
		}
		slices.Sort(reorderedNames)
		reordered := len(reorderedNames)
		retried := totalRotations - devices
		t.Logf("%d rotations (%d retried after a failure), %d faults: the CA saw %d new orders (%d devices ordered for more than once), %d finalized, %d issued, %d issued and served by no device",
			totalRotations, retried, faults, counts.NewOrders, reordered, counts.FinalizedOrders, counts.CertificatesIssued, len(unused))
		if limit := totalRotations + faults; counts.NewOrders > limit {
			t.Errorf("the CA saw %d new orders for %d rotations (%d devices ordered for more than once), want at most %d (one per rotation, one more per fault): %s",
				counts.NewOrders, totalRotations, reordered, limit, strings.Join(reorderedNames, ", "))
		}
		if limit := faults + retried; len(unused) > limit {
			t.Errorf("%d certificates issued and served by no device, want at most %d (one per fault, one per failed rotation): %v",
				len(unused), limit, unused)
		}
	})

	t.Run("each worker took only its own queue, serve none", func(t *testing.T) {
		conn, err := pgx.Connect(ctx, databaseURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		rows, err := conn.Query(ctx, `SELECT queue, state, attempted_by FROM river_job WHERE kind = 'rotation'`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		queueOf := map[int]string{workerA.pid(): "lab1", workerA2.pid(): "lab1", workerB.pid(): "lab2", serve.pid(): "none"}
		jobs, rescued := 0, 0
		for rows.Next() {
			var queue, state string
			var attemptedBy []string
			if err := rows.Scan(&queue, &state, &attemptedBy); err != nil {
				t.Fatal(err)
			}
			jobs++
			if state != "completed" {
				t.Errorf("a rotation job of queue %s ended %s", queue, state)
			}
			if len(attemptedBy) > 1 {
				rescued++
			}
			for _, client := range attemptedBy {
				// ottr-<host>-<pid>-<random>
				fields := strings.Split(client, "-")
				if len(fields) < 3 {
					t.Fatalf("client id %q is not ottr-<host>-<pid>-<random>", client)
				}
				pid, err := strconv.Atoi(fields[len(fields)-2])
				if err != nil {
					t.Fatalf("client id %q does not name a process id", client)
				}
				if want, ok := queueOf[pid]; !ok || want != queue {
					t.Errorf("a job of queue %s was worked by %s (process for queue %q)", queue, client, want)
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if jobs != totalRotations {
			t.Errorf("%d rotation jobs, want one per rotation (%d)", jobs, totalRotations)
		}
		t.Logf("%d jobs; %d worked by more than one process (resumed after the kill or the restart)", jobs, rescued)
	})
}
