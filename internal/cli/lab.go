package cli

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/issuer"
	"github.com/ottr-go/ottr/internal/lab"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/store"
)

type labFlags struct {
	devices, concurrency int
	keep, bench          bool
	noRotate, reuse      bool
	data, profile        string
	countsListen         string
	platforms            []string
	tableRows            int
	cpuProfile           string
	opensslProcesses     bool
	caValidationTime     time.Duration
}

func newLabCmd(g *globals) *cobra.Command {
	var f labFlags
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Rotate a fleet of emulated devices against an embedded ACME CA and DNS server",
		Long: `lab starts, in this process, an embedded ACME CA (Pebble), an authoritative DNS
server with a delegated challenge zone, and --devices emulated devices, each on its own
127.x.y.z address, registers them as assets, runs one rotation wave and prints what every
device got.

--platforms picks the kinds of device, spread round-robin over the fleet: linux (a real
SSH server and an nginx-like TLS endpoint), panos (PAN-OS XML API), bigip (F5 iControl
REST), lighthouse (Opengear REST API), junos (NETCONF over SSH), script (the shipped
example scripts of the script driver against a Linux host) and ssm (EC2 instances behind
an emulated AWS Systems Manager endpoint, for the linux-ssm driver). Each platform gets
its own route, credentials and driver in the lab's ottr.yaml.

--no-rotate hosts the CA, the DNS server and the devices, registers the devices as
assets in the data directory's database and rotates nothing: 'ottr serve --config
DIR/ottr.yaml' rotates them, and may be stopped, killed and restarted while the lab
keeps running. A lab that stays up (--keep, --no-rotate) serves what its CA did — new
orders, finalized orders, certificates issued and their serials — as JSON on
--counts-listen, at the address it prints.

--data DIR keeps the lab's files in DIR. A directory an earlier lab used (it
holds that lab's ottr.yaml or database) is refused, so a run never mixes with
the last one unasked; --reuse runs on it anyway, keeping its assets and
rotation history, and the table shows this run's rotations only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runLab(cmd.Context(), g, f) },
	}
	cmd.Flags().IntVar(&f.devices, "devices", 20, "how many emulated devices")
	cmd.Flags().IntVar(&f.concurrency, "concurrency", 50, "rotations at once (workers.concurrency in the lab's ottr.yaml)")
	cmd.Flags().BoolVar(&f.keep, "keep", false, "leave the lab running after the wave, until interrupted")
	cmd.Flags().BoolVar(&f.noRotate, "no-rotate", false, "host the CA, DNS server and devices and register the assets, but run no wave and no workers: 'ottr serve' rotates them; runs until interrupted")
	cmd.Flags().StringVar(&f.countsListen, "counts-listen", "127.0.0.1:0", "where a lab that stays up serves its CA's counts as JSON (port 0: a free one, printed)")
	cmd.Flags().BoolVar(&f.bench, "bench", false, "measure throughput, per-step medians, peak memory and the CA's ceiling")
	cmd.Flags().StringVar(&f.data, "data", "", "keep the lab's database and files in this directory (default: a temporary one); one an earlier lab used needs --reuse")
	cmd.Flags().BoolVar(&f.reuse, "reuse", false, "run on the --data directory of an earlier lab, keeping its assets and rotation history")
	cmd.Flags().StringVar(&f.profile, "profile", "default", "ACME profile to order: default (90 days) or shortlived (6 days)")
	cmd.Flags().StringSliceVar(&f.platforms, "platforms", []string{lab.PlatformLinux},
		"kinds of device, spread round-robin over the fleet: "+strings.Join(lab.KnownPlatforms(), ","))
	_ = cmd.RegisterFlagCompletionFunc("platforms", cobra.FixedCompletions(lab.KnownPlatforms(), cobra.ShellCompDirectiveNoFileComp))
	cmd.Flags().IntVar(&f.tableRows, "rows", 50, "print at most this many device rows")
	cmd.Flags().DurationVar(&f.caValidationTime, "ca-validation-time", 500*time.Millisecond,
		"how long the lab CA takes to find a challenge valid, as a public CA takes a moment (0: at once)")
	cmd.Flags().BoolVar(&f.opensslProcesses, "openssl-processes", false, "Linux hosts run the openssl program for every key, instead of making keys in the lab process")
	cmd.Flags().StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof reads it)")
	return cmd
}

// waveStats counts finished rotations as they finish.
type waveStats struct {
	done, failed atomic.Int64
}

func runLab(ctx context.Context, g *globals, f labFlags) error {
	if f.devices < 1 {
		return usageErrorf(nil, "--devices %d: want at least 1", f.devices)
	}
	if f.concurrency < 1 {
		return usageErrorf(nil, "--concurrency %d: want at least 1", f.concurrency)
	}
	if f.profile != "default" && f.profile != "shortlived" {
		return usageErrorf(nil, "--profile %q: want default or shortlived", f.profile)
	}
	if f.noRotate && f.bench {
		return usageErrorf(nil, "--bench measures the lab's own wave, and --no-rotate runs none: drop one of them")
	}
	if len(f.platforms) == 0 {
		f.platforms = []string{lab.PlatformLinux}
	}
	if err := lab.ValidatePlatforms(f.platforms); err != nil {
		return usageErrorf(nil, "--platforms: %w", err)
	}
	if f.reuse && f.data == "" {
		return usageErrorf(nil, "--reuse runs on the directory of an earlier lab: name it with --data")
	}
	if f.data != "" && !f.reuse {
		earlier, err := lab.EarlierRun(f.data)
		if err != nil {
			return err
		}
		if earlier {
			return fmt.Errorf("--data %s holds an earlier lab (its ottr.yaml or database): pass --reuse to run on it again, keeping its assets and rotation history, or give --data a new or empty directory", f.data)
		}
	}
	if slices.ContainsFunc(f.platforms, func(p string) bool {
		return p == lab.PlatformLinux || p == lab.PlatformScript || p == lab.PlatformSSM
	}) {
		if _, err := exec.LookPath("openssl"); err != nil {
			return fmt.Errorf("the emulated hosts run openssl, which is not installed (apt-get install openssl)")
		}
	}
	if slices.Contains(f.platforms, lab.PlatformScript) {
		if _, err := exec.LookPath("ssh"); err != nil {
			return fmt.Errorf("the script driver's example scripts log in with OpenSSH's ssh, which is not installed (apt-get install openssh-client)")
		}
	}
	if f.cpuProfile != "" {
		out, err := os.Create(f.cpuProfile)
		if err != nil {
			return err
		}
		defer out.Close()
		if err := pprof.StartCPUProfile(out); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	log := g.logger()
	started := time.Now()
	kinds := ""
	if len(f.platforms) > 1 || f.platforms[0] != lab.PlatformLinux {
		kinds = " (" + strings.Join(f.platforms, ", ") + ")"
	}
	fmt.Fprintf(g.stdout, "starting the lab: CA, DNS server and %d devices%s ...\n", f.devices, kinds)
	l, err := lab.Start(ctx, lab.Options{
		Devices: f.devices, Platforms: f.platforms, DataDir: f.data, Profile: f.profile,
		Concurrency: f.concurrency, CAValidationTime: f.caValidationTime, OpenSSLProcesses: f.opensslProcesses, Logger: log,
	})
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Fprintf(g.stdout, "lab ready in %s: ACME %s, DNS %s, data %s\n", time.Since(started).Round(time.Millisecond), l.CA.DirectoryURL(), l.DNS.Addr(), l.Dir)
	if f.keep || f.noRotate {
		counts, err := l.ServeCounts(ctx, f.countsListen)
		if err != nil {
			return fmt.Errorf("--counts-listen %s: %w", f.countsListen, err)
		}
		defer counts.Close()
		fmt.Fprintf(g.stdout, "CA counts (new orders, finalized orders, certificates issued): %s\n", counts.URL)
	}
	if f.noRotate {
		return hostDevices(ctx, g, l, log)
	}

	var stats waveStats
	ap, err := app.New(ctx, l.Config, app.Options{Logger: log, Observer: func(e rotation.Event) {
		switch {
		// Counted once the final state is recorded, so the table read
		// after the wave shows every rotation's outcome.
		case e.Phase == "end" && e.State == store.StateSucceeded:
			stats.done.Add(1)
		case e.Phase == "end":
			stats.failed.Add(1)
		}
	}})
	if err != nil {
		return err
	}
	defer ap.Close()
	if err := ap.Store.ImportAssets(ctx, l.Assets); err != nil {
		return err
	}
	// A reused directory holds the rotations of earlier runs: the table
	// shows those after the newest of them.
	earlier, err := ap.Store.ListRotations(ctx, store.RotationFilter{Limit: 1})
	if err != nil {
		return err
	}
	var lastEarlier int64
	if len(earlier) > 0 {
		lastEarlier = earlier[0].ID
	}
	before := map[string]string{}
	for _, d := range l.Devices {
		chain, err := d.ServedChain(ctx)
		if err != nil {
			return err
		}
		if len(chain) > 0 {
			before[d.Name()] = serialOf(chain[0])
		}
	}

	q, sched, err := ap.Queue(ctx, app.QueueRole{Work: true, Scan: true})
	if err != nil {
		return err
	}
	waveStart, waveCPU := time.Now(), cpuUsed()
	res, err := sched.ScanOnce(ctx)
	if err != nil {
		return err
	}
	if err := q.Start(ctx); err != nil {
		return err
	}
	stopQueue := func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = q.Stop(stopCtx)
	}
	total := int64(res.Enqueued)
	progress := newProgress(g.stdout, int(total))
	for {
		n := stats.done.Load() + stats.failed.Load()
		progress.show(int(n), int(stats.failed.Load()))
		if n >= total {
			break
		}
		select {
		case <-ctx.Done():
			stopQueue()
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	wave, waveCPU := time.Since(waveStart), cpuUsed()-waveCPU
	progress.finish()

	rows, err := waveRows(ctx, ap.Store, lastEarlier, before)
	if err != nil {
		stopQueue()
		return err
	}
	printWave(g, rows, f.tableRows)
	fmt.Fprintf(g.stdout, "%d rotated, %d failed, in %s (%.1f rotations/s)\n",
		stats.done.Load(), stats.failed.Load(), wave.Round(time.Millisecond), float64(stats.done.Load())/wave.Seconds())

	if f.bench {
		if err := labBench(ctx, g, ap, rows, wave, waveCPU, f); err != nil {
			stopQueue()
			return err
		}
	}
	if f.keep {
		stopUI, err := serveLabUI(ctx, g, ap, q)
		if err != nil {
			stopQueue()
			return err
		}
		defer stopUI()
		ottr, config := ottrCommand(), shellQuote(l.ConfigPath)
		fmt.Fprintf(g.stdout, "\nthe lab keeps running; press Ctrl-C to stop. Try, in another terminal:\n  %s --config %s plan\n  %s --config %s rotate %s --force\n",
			ottr, config, ottr, config, l.Assets[0].SystemName)
		<-ctx.Done()
	}
	stopQueue()
	if n := stats.failed.Load(); n > 0 {
		return fmt.Errorf("%d of %d rotations failed", n, total)
	}
	return nil
}

// hostDevices registers the lab's devices as assets and keeps the lab up,
// rotating nothing, until ctx ends: another process rotates them.
func hostDevices(ctx context.Context, g *globals, l *lab.Lab, log *slog.Logger) error {
	ap, err := app.New(ctx, l.Config, app.Options{Logger: log})
	if err != nil {
		return err
	}
	err = ap.Store.ImportAssets(ctx, l.Assets)
	// Closed at once: the database is the rotating process's from now on.
	if closeErr := ap.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("register the devices as assets in %s: %w", l.Config.Database, err)
	}
	fmt.Fprintf(g.stdout, "%d devices registered as assets in %s; the lab rotates nothing itself\n", len(l.Assets), l.Config.Database)
	ottr, config := ottrCommand(), shellQuote(l.ConfigPath)
	fmt.Fprintf(g.stdout, "\nthe lab keeps running; press Ctrl-C to stop. Rotate its fleet, in another terminal, with:\n  %s serve --config %s\nor look first:\n  %s --config %s plan\n",
		ottr, config, ottr, config)
	<-ctx.Done()
	return nil
}

// ottrCommand is what the operator types to run this ottr again. A
// binary the go command built for one run (go run, go test) sits in a
// go-build directory of the temporary directory and is gone when it
// exits: then "go run ./cmd/ottr" from the module's root, or the
// module's package path from anywhere else in it. Otherwise "ottr" when
// that is the command the shell finds, else the executable's path.
func ottrCommand() string {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	if builtForOneRun(exe) {
		if _, err := os.Stat(filepath.Join("cmd", "ottr")); err == nil {
			return "go run ./cmd/ottr"
		}
		return "go run github.com/ottr-go/ottr/cmd/ottr"
	}
	if onPath, err := exec.LookPath("ottr"); err == nil && sameFile(onPath, exe) {
		return "ottr"
	}
	if abs, err := filepath.Abs(exe); err == nil {
		exe = abs
	}
	return shellQuote(exe)
}

// builtForOneRun reports whether exe is in a go-buildNNN directory, where
// go run and go test put what they build (in GOTMPDIR, which the go
// command may have from go env alone).
func builtForOneRun(exe string) bool {
	for _, dir := range strings.Split(filepath.ToSlash(filepath.Dir(exe)), "/") {
		if n, ok := strings.CutPrefix(dir, "go-build"); ok && n != "" && strings.Trim(n, "0123456789") == "" {
			return true
		}
	}
	return false
}

func sameFile(a, b string) bool {
	ai, err := os.Stat(a)
	if err != nil {
		return false
	}
	bi, err := os.Stat(b)
	return err == nil && os.SameFile(ai, bi)
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=:@,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func serialOf(c *x509.Certificate) string {
	if c == nil {
		return ""
	}
	return c.SerialNumber.Text(16)
}

// waveRow is one device's line in the lab's table.
type waveRow struct {
	Device, OldSerial, NewSerial, Result, Error string
	Expiry                                      time.Time
	Steps                                       map[rotation.Step]time.Duration
}

// waveRows returns a row for each rotation after rotation lastEarlier,
// with the serial each device served before the wave.
func waveRows(ctx context.Context, st store.Store, lastEarlier int64, before map[string]string) ([]waveRow, error) {
	rots, err := st.ListRotations(ctx, store.RotationFilter{})
	if err != nil {
		return nil, err
	}
	rows := make([]waveRow, 0, len(rots))
	for _, r := range rots {
		if r.ID <= lastEarlier {
			continue
		}
		row := waveRow{Device: r.Asset, OldSerial: before[r.Asset], Result: string(r.State), Error: r.Error, Steps: map[rotation.Step]time.Duration{}}
		for _, e := range r.Journal {
			step := rotation.Step(e.Step)
			row.Steps[step] = e.FinishedAt.Sub(e.StartedAt)
			if step == rotation.StepVerify {
				var out struct {
					Serial   string    `json:"serial"`
					NotAfter time.Time `json:"not_after"`
				}
				if json.Unmarshal(e.Output, &out) == nil {
					row.NewSerial, row.Expiry = out.Serial, out.NotAfter
				}
			}
		}
		rows = append(rows, row)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Device < rows[j].Device })
	return rows, nil
}

func short(serial string) string {
	if len(serial) > 12 {
		return serial[:12] + "…"
	}
	if serial == "" {
		return "-"
	}
	return serial
}

func printWave(g *globals, rows []waveRow, limit int) {
	tw := tabwriter.NewWriter(g.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprint(tw, "DEVICE\tOLD SERIAL\tNEW SERIAL\tNEW EXPIRY")
	for _, s := range rotation.Steps()[:5] {
		fmt.Fprint(tw, "\t"+strings.ToUpper(string(s)))
	}
	fmt.Fprintln(tw, "\tRESULT")
	for i, r := range rows {
		if i == limit {
			fmt.Fprintf(tw, "… %d more devices\n", len(rows)-limit)
			break
		}
		expiry := "-"
		if !r.Expiry.IsZero() {
			expiry = r.Expiry.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s", r.Device, short(r.OldSerial), short(r.NewSerial), expiry)
		for _, s := range rotation.Steps()[:5] {
			d, ok := r.Steps[s]
			if ok {
				fmt.Fprintf(tw, "\t%s", d.Round(time.Millisecond))
			} else {
				fmt.Fprint(tw, "\t-")
			}
		}
		result := r.Result
		if r.Error != "" {
			result += ": " + firstLine(fmt.Errorf("%s", r.Error))
		}
		fmt.Fprintf(tw, "\t%s\n", result)
	}
	_ = tw.Flush()
}

// progress draws a progress bar, redrawn in place on a terminal and as
// occasional lines otherwise.
type progress struct {
	w        *os.File
	out      interface{ Write([]byte) (int, error) }
	total    int
	tty      bool
	lastTen  int
	lastDraw string
}

func newProgress(out interface{ Write([]byte) (int, error) }, total int) *progress {
	p := &progress{out: out, total: total, lastTen: -1}
	if f, ok := out.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) show(done, failed int) {
	if p.total == 0 {
		return
	}
	const width = 40
	filled := done * width / p.total
	line := fmt.Sprintf("[%s%s] %d/%d rotated", strings.Repeat("#", filled), strings.Repeat(" ", width-filled), done, p.total)
	if failed > 0 {
		line += fmt.Sprintf(", %d failed", failed)
	}
	if p.tty {
		if line != p.lastDraw {
			fmt.Fprint(p.out, "\r"+line)
			p.lastDraw = line
		}
		return
	}
	if tenth := done * 10 / p.total; tenth != p.lastTen {
		p.lastTen = tenth
		fmt.Fprintln(p.out, line)
	}
}

func (p *progress) finish() {
	if p.tty {
		fmt.Fprintln(p.out)
	}
}

// labBench reports the wave's throughput against the CA's own ceiling: the
// same number of bare issuances, at the same concurrency, on the same CA.
func labBench(ctx context.Context, g *globals, ap *app.App, rows []waveRow, wave, waveCPU time.Duration, f labFlags) error {
	fmt.Fprintln(g.stdout, "\nbench: per-step medians")
	for _, s := range rotation.Steps() {
		var ds []time.Duration
		for _, r := range rows {
			if d, ok := r.Steps[s]; ok {
				ds = append(ds, d)
			}
		}
		fmt.Fprintf(g.stdout, "  %-10s %s\n", s, median(ds).Round(100*time.Microsecond))
	}
	ca, err := ap.CA(ctx, lab.CAName)
	if err != nil {
		return err
	}
	n := len(rows)
	fmt.Fprintf(g.stdout, "bench: ceiling, %d bare issuances at concurrency %d ...\n", n, f.concurrency)
	ceilStart, ceilCPU := time.Now(), cpuUsed()
	var wg sync.WaitGroup
	var failed atomic.Int64
	sem := make(chan struct{}, f.concurrency)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			// The fleet's own names: each has its _acme-challenge delegation.
			if err := bareIssue(ctx, ca.Issuer, rows[i].Device, ca.Profile); err != nil {
				failed.Add(1)
				if failed.Load() == 1 {
					fmt.Fprintln(g.stderr, "bench: issuance failed:", err)
				}
			}
		}()
	}
	wg.Wait()
	ceiling, ceilCPU := time.Since(ceilStart), cpuUsed()-ceilCPU
	fleetRate := float64(n) / wave.Seconds()
	ceilRate := float64(n-int(failed.Load())) / ceiling.Seconds()
	fmt.Fprintf(g.stdout, "bench: fleet %.1f rotations/s, ceiling %.1f issuances/s, fleet/ceiling %.0f%%\n", fleetRate, ceilRate, 100*fleetRate/ceilRate)
	cores := float64(runtime.NumCPU())
	fmt.Fprintf(g.stdout, "bench: CPU, wave %s (%.0f%% of %d cores, %s per rotation), ceiling %s (%.0f%%, %s per issuance)\n",
		waveCPU.Round(100*time.Millisecond), 100*waveCPU.Seconds()/wave.Seconds()/cores, runtime.NumCPU(), (waveCPU / time.Duration(n)).Round(100*time.Microsecond),
		ceilCPU.Round(100*time.Millisecond), 100*ceilCPU.Seconds()/ceiling.Seconds()/cores, (ceilCPU / time.Duration(n)).Round(100*time.Microsecond))
	fmt.Fprintf(g.stdout, "bench: peak RSS %s\n", peakRSS())
	return nil
}

// cpuUsed is the CPU time (user and system) this process and the programs
// it started and waited for have used so far: the lab's hosts run openssl
// as processes, and their work is part of a rotation's cost.
func cpuUsed() time.Duration {
	var total time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if syscall.Getrusage(who, &ru) == nil {
			total += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return total
}

func bareIssue(ctx context.Context, iss issuer.Issuer, name, profile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}, DNSNames: []string{name}}, key)
	if err != nil {
		return err
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return err
	}
	_, err = iss.Issue(ctx, csr, issuer.IssueOptions{Profile: profile})
	return err
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

// peakRSS reads the process's peak resident set size from /proc.
func peakRSS() string {
	data, err := os.ReadFile(filepath.Join("/proc", "self", "status"))
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
