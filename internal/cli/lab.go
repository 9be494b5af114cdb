package cli

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	rtmetrics "runtime/metrics"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ottr-go/ottr/internal/api"
	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/issuer"
	"github.com/ottr-go/ottr/internal/lab"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/scheduler"
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
	// memoryLimitMiB is workers.memory_limit_mib in the lab's config.
	memoryLimitMiB   int
	opensslProcesses bool
	caValidationTime time.Duration
	// devicesProcess runs the CA, DNS server and devices in a child
	// process and ottr in this one; readyFile is what such a child
	// writes once its devices are registered.
	devicesProcess bool
	readyFile      string
	// ceiling is how many bare issuances --bench measures the CA with;
	// 0: as many as the wave rotated.
	ceiling int
	// waveTime stops the wave after this long; 0: when every due asset
	// is rotated.
	waveTime time.Duration
	// memProfile is where the wave's end (or interruption) writes a heap
	// profile, with its rotations still in flight.
	memProfile string
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
rotation history, and the table shows this run's rotations only.

--devices-process runs the CA, the DNS server and the devices in a child
process ('ottr lab --no-rotate') and ottr in this one, so that --bench
measures ottr's own memory and CPU apart from the emulated fleet's.`,
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
	cmd.Flags().IntVar(&f.memoryLimitMiB, "memory-limit-mib", 0, "workers.memory_limit_mib in the lab's ottr.yaml: a soft memory limit for ottr (0: none)")
	cmd.Flags().StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof reads it)")
	cmd.Flags().BoolVar(&f.devicesProcess, "devices-process", false, "run the CA, DNS server and devices in a child process, and only ottr in this one (its memory and CPU then are ottr's own)")
	cmd.Flags().StringVar(&f.memProfile, "memprofile", "", "write a heap profile of this process at the wave's end or interruption, with its last rotations in flight (go tool pprof reads it)")
	cmd.Flags().DurationVar(&f.waveTime, "wave-time", 0, "stop the wave after this long and report what it did (0: when every device is rotated)")
	cmd.Flags().IntVar(&f.ceiling, "ceiling", 0, "with --bench, how many bare issuances measure the CA's ceiling (0: as many as the wave rotated)")
	cmd.Flags().StringVar(&f.readyFile, "ready-file", "", "with --no-rotate, write this file once the devices are registered as assets")
	_ = cmd.Flags().MarkHidden("ready-file")
	return cmd
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
	if f.devicesProcess && (f.noRotate || f.keep) {
		return usageErrorf(nil, "--devices-process runs one wave with the devices in a child process: it takes neither --no-rotate nor --keep")
	}
	if f.waveTime < 0 {
		return usageErrorf(nil, "--wave-time %s: want 0 (until every device is rotated) or more", f.waveTime)
	}
	if f.ceiling < 0 {
		return usageErrorf(nil, "--ceiling %d: want 0 (as many as the wave rotated) or more", f.ceiling)
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
	if f.devicesProcess {
		return runLabApart(ctx, g, f)
	}
	log := g.logger()
	started := time.Now()
	fmt.Fprintf(g.stdout, "starting the lab: CA, DNS server and %d devices%s ...\n", f.devices, platformsNote(f.platforms))
	l, err := lab.Start(ctx, lab.Options{
		Devices: f.devices, Platforms: f.platforms, DataDir: f.data, Profile: f.profile,
		Concurrency: f.concurrency, MemoryLimitMiB: f.memoryLimitMiB, CAValidationTime: f.caValidationTime, OpenSSLProcesses: f.opensslProcesses,
		RotatesElsewhere: f.noRotate, Logger: log,
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
		return hostDevices(ctx, g, l, log, f.readyFile)
	}

	w := newWave(f)
	ap, err := app.New(ctx, l.Config, app.Options{Logger: log, Observer: w.observe})
	if err != nil {
		return err
	}
	defer ap.Close()
	if err := ap.Store.ImportAssets(ctx, l.Assets); err != nil {
		return err
	}
	for _, d := range l.Devices {
		chain, err := d.ServedChain(ctx)
		if err != nil {
			return err
		}
		if len(chain) > 0 {
			w.before[d.Name()] = serialOf(chain[0])
		}
	}
	stopQueue, err := w.run(ctx, g, ap)
	if err != nil {
		return err
	}
	defer stopQueue()
	if f.bench {
		if err := w.bench(ctx, g, ap, nil); err != nil {
			return err
		}
	}
	if f.keep {
		stopUI, err := serveLabUI(ctx, g, ap, w.queue)
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
	return w.err()
}

func platformsNote(platforms []string) string {
	if len(platforms) > 1 || platforms[0] != lab.PlatformLinux {
		return " (" + strings.Join(platforms, ", ") + ")"
	}
	return ""
}

// runLabApart runs the lab's CA, DNS server and devices in a child
// process, 'ottr lab --no-rotate', and the wave in this one: what this
// process uses is ottr's own.
func runLabApart(ctx context.Context, g *globals, f labFlags) error {
	dir := f.data
	if dir == "" {
		tmp, err := os.MkdirTemp("", "ottr-lab-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	if err := lab.EnsureOpenFiles(lab.OpenFilesForRotations(f.concurrency), g.logger()); err != nil {
		return err
	}
	started := time.Now()
	fmt.Fprintf(g.stdout, "starting the lab in a child process: CA, DNS server and %d devices%s ...\n", f.devices, platformsNote(f.platforms))
	devices, err := startDevicesProcess(ctx, f, dir)
	if err != nil {
		return err
	}
	defer devices.stop()
	fmt.Fprintf(g.stdout, "lab ready in %s (process %d, log %s), data %s\n", time.Since(started).Round(time.Millisecond), devices.cmd.Process.Pid, devices.logPath, dir)

	cfg, err := config.Load(filepath.Join(dir, "ottr.yaml"))
	if err != nil {
		return fmt.Errorf("the lab's configuration: %w", err)
	}
	w := newWave(f)
	ap, err := app.New(ctx, cfg, app.Options{Logger: g.logger(), Observer: w.observe})
	if err != nil {
		return err
	}
	defer ap.Close()
	stopQueue, err := w.run(ctx, g, ap)
	if err != nil {
		return err
	}
	defer stopQueue()
	if f.bench {
		if err := w.bench(ctx, g, ap, devices); err != nil {
			return err
		}
	}
	return w.err()
}

// devicesProcess is a child 'ottr lab --no-rotate' that hosts the lab.
type devicesProcess struct {
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	waitErr error
}

// startDevicesProcess starts the child and waits until it has registered
// its devices as assets in dir's database.
func startDevicesProcess(ctx context.Context, f labFlags, dir string) (*devicesProcess, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("the lab's child process: %w", err)
	}
	ready := filepath.Join(dir, "devices.ready")
	_ = os.Remove(ready)
	args := []string{"lab", "--no-rotate", "--data", dir, "--ready-file", ready,
		"--devices", strconv.Itoa(f.devices), "--platforms", strings.Join(f.platforms, ","),
		"--concurrency", strconv.Itoa(f.concurrency), "--profile", f.profile,
		"--ca-validation-time", f.caValidationTime.String(),
		"--memory-limit-mib", strconv.Itoa(f.memoryLimitMiB)}
	if f.reuse {
		args = append(args, "--reuse")
	}
	if f.opensslProcesses {
		args = append(args, "--openssl-processes")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := &devicesProcess{logPath: filepath.Join(dir, "devices.log"), exited: make(chan struct{})}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		return nil, fmt.Errorf("the lab's child process: %w", err)
	}
	defer logFile.Close()
	p.cmd = exec.Command(exe, args...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.Env = childGCEnv(os.Environ())
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("the lab's child process: %w", err)
	}
	go func() { p.waitErr = p.cmd.Wait(); close(p.exited) }()
	for {
		if _, err := os.Stat(ready); err == nil {
			return p, nil
		}
		select {
		case <-p.exited:
			out, _ := os.ReadFile(p.logPath)
			return nil, fmt.Errorf("the lab's child process (%s) ended before its devices were ready: %v\n%s", strings.Join(args, " "), p.waitErr, tail(string(out), 20))
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// childGCEnv returns env with the garbage collector's settings for the
// lab's child process, unless the user gave their own. The child's heap is
// mostly its fleet's state, which lives as long as the lab, while the
// sessions of a wave allocate fast: with the default GOGC=100 a tenth of
// its CPU went to collecting. GOGC=400 collects a quarter as often;
// GOMEMLIMIT has a fleet of 100,000 devices, whose live heap is over a
// gigabyte, collect as before rather than grow to five times that.
func childGCEnv(env []string) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "GOGC=") || strings.HasPrefix(kv, "GOMEMLIMIT=") {
			return env
		}
	}
	return append(env, "GOGC=400", "GOMEMLIMIT=2GiB")
}

// stop ends the child as Ctrl-C would, then for good if it lingers.
func (p *devicesProcess) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// hostDevices registers the lab's devices as assets and keeps the lab up,
// rotating nothing, until ctx ends: another process rotates them. It
// writes readyFile, when given, once the assets are registered.
func hostDevices(ctx context.Context, g *globals, l *lab.Lab, log *slog.Logger, readyFile string) error {
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
	if readyFile != "" {
		if err := os.WriteFile(readyFile, nil, 0o600); err != nil {
			return fmt.Errorf("--ready-file: %w", err)
		}
	}
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

// wave is one rotation wave of the lab: what it counts as rotations end,
// and what it measured. It keeps nothing per asset but the serials devices
// served before (before), so that ottr's memory in a wave of 100,000
// devices is its own.
type wave struct {
	f            labFlags
	done, failed atomic.Int64
	steps        stepTimes
	// before are the serials the devices served before the wave, by
	// name; empty when the devices run in another process.
	before map[string]string
	// lastEarlier is the newest rotation of an earlier run on the same
	// directory: the table shows those after it.
	lastEarlier int64
	// queue works the wave's rotations, and those the web UI of a kept
	// lab starts.
	queue api.Enqueuer

	elapsed, cpu time.Duration
	// memory is what the wave's memory watch saw.
	memory memoryPeaks
	// cut says --wave-time stopped the wave before the fleet was done;
	// finished is how many rotations had ended by the wave's end.
	cut      bool
	finished int64
}

func newWave(f labFlags) *wave {
	return &wave{f: f, before: map[string]string{}, steps: stepTimes{counts: map[rotation.Step]map[int]int64{}}}
}

// observe counts a rotation once its final state is recorded, so the
// table read after the wave shows every rotation's outcome, and keeps the
// time each step took.
func (w *wave) observe(e rotation.Event) {
	switch {
	case e.Phase == rotation.PhaseDone:
		w.steps.add(e.Step, e.Duration)
	case e.Phase == rotation.PhaseEnd && e.State == store.StateSucceeded:
		w.done.Add(1)
	case e.Phase == rotation.PhaseEnd:
		w.failed.Add(1)
	}
}

// run scans, works the queue until every due asset has been rotated, and
// prints the table. A scan queues at most the scheduler's batch (10,000),
// so a larger fleet is scanned again whenever the rotations queued run
// low. It returns what stops the queue.
func (w *wave) run(ctx context.Context, g *globals, ap *app.App) (func(), error) {
	earlier, err := ap.Store.ListRotations(ctx, store.RotationFilter{Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(earlier) > 0 {
		w.lastEarlier = earlier[0].ID
	}
	q, sched, err := ap.Queue(ctx, app.QueueRole{Work: true, Scan: true})
	if err != nil {
		return nil, err
	}
	w.queue = q
	heap := watchMemory(100 * time.Millisecond)
	start, cpu := time.Now(), cpuUsed()
	// The queue works the rotations as the scan queues them: a scan of
	// 10,000 assets takes a while.
	if err := q.Start(ctx); err != nil {
		heap.finish()
		return nil, err
	}
	stopQueue := func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = q.Stop(stopCtx)
	}
	res, err := sched.ScanOnce(ctx)
	if err != nil {
		heap.finish()
		stopQueue()
		return nil, err
	}
	progress := newProgress(g.stdout, w.f.devices)
	// Later scans run beside this loop: a scan of 10,000 assets takes a
	// while, and the progress, --wave-time and Ctrl-C must not wait. The
	// queue's own periodic scan queues rotations too, so the wave is
	// over when a scan finds no due asset and none queued or running,
	// not when the rotations this loop queued have ended.
	scanCtx, stopScans := context.WithCancel(ctx)
	defer stopScans()
	type scanned struct {
		res scheduler.Result
		err error
	}
	scans := make(chan scanned, 1)
	scanning := false
	// inFlight is what the last scan found queued or running, or queued
	// itself; atScan is how many rotations had ended when it began.
	inFlight, atScan, lastScan := int64(res.Enqueued+res.Active), int64(0), time.Now()
	for {
		n := w.done.Load() + w.failed.Load()
		progress.show(int(n), int(w.failed.Load()))
		if !scanning && inFlight == 0 {
			break
		}
		// Scanned again while the queue still holds work for a while,
		// so that it never runs dry.
		if !scanning && n-atScan >= inFlight-2*int64(w.f.concurrency) && time.Since(lastScan) >= time.Second {
			scanning, atScan, lastScan = true, n, time.Now()
			go func() {
				res, err := sched.ScanOnce(scanCtx)
				scans <- scanned{res, err}
			}()
		}
		if w.f.waveTime > 0 && time.Since(start) >= w.f.waveTime {
			w.cut = true
			w.writeMemProfile(g)
			stopScans()
			break
		}
		select {
		case s := <-scans:
			scanning = false
			if s.err != nil {
				heap.finish()
				stopQueue()
				return nil, s.err
			}
			inFlight = int64(s.res.Enqueued + s.res.Active)
			if inFlight == 0 {
				// A rotation records the asset's new certificate before
				// its own end: a scan between the two finds the asset
				// not due and nothing queued, while the rotation is
				// still running.
				active, err := anyActiveRotation(ctx, ap.Store)
				if err != nil {
					heap.finish()
					stopQueue()
					return nil, err
				}
				if active {
					inFlight = 1
				}
			}
		case <-ctx.Done():
			w.writeMemProfile(g)
			w.memory = heap.finish()
			fmt.Fprintf(g.stdout, "\ninterrupted after %d rotations in %s; this process: %s\n", n, time.Since(start).Round(time.Second), w.memory)
			stopQueue()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	w.elapsed, w.cpu = time.Since(start), cpuUsed()-cpu
	w.finished = w.done.Load() + w.failed.Load()
	w.memory = heap.finish()
	progress.finish()
	if w.cut {
		// Before the table and the ceiling, which the queue's work
		// would disturb.
		stopQueue()
		fmt.Fprintf(g.stdout, "stopped after --wave-time %s, with rotations of the fleet still queued\n", w.f.waveTime)
	}

	rows, err := w.rows(ctx, ap.Store)
	if err != nil {
		stopQueue()
		return nil, err
	}
	printWave(g, rows, int(w.finished))
	fmt.Fprintf(g.stdout, "%d rotated, %d failed, in %s (%.1f rotations/s)\n",
		w.done.Load(), w.failed.Load(), w.elapsed.Round(time.Millisecond), float64(w.done.Load())/w.elapsed.Seconds())
	return stopQueue, nil
}

// anyActiveRotation reports whether a rotation is pending or running.
func anyActiveRotation(ctx context.Context, st store.Store) (bool, error) {
	for _, state := range []store.State{store.StateRunning, store.StatePending} {
		rots, err := st.ListRotations(ctx, store.RotationFilter{State: state, Limit: 1})
		if err != nil {
			return false, err
		}
		if len(rots) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// writeMemProfile writes --memprofile, if asked for.
func (w *wave) writeMemProfile(g *globals) {
	if w.f.memProfile == "" {
		return
	}
	out, err := os.Create(w.f.memProfile)
	if err == nil {
		err = errors.Join(pprof.Lookup("heap").WriteTo(out, 0), out.Close())
	}
	if err != nil {
		fmt.Fprintln(g.stderr, "--memprofile:", err)
	}
}

// err is the wave's outcome as the command's.
func (w *wave) err() error {
	if n := w.failed.Load(); n > 0 {
		return fmt.Errorf("%d of %d rotations failed", n, n+w.done.Load())
	}
	return nil
}

// rows returns the table's rows: this run's failed rotations first, then
// its newest, up to --rows, by device.
func (w *wave) rows(ctx context.Context, st store.Store) ([]waveRow, error) {
	limit := w.f.tableRows
	if limit <= 0 {
		return nil, nil
	}
	var rots []store.Rotation
	if w.failed.Load() > 0 {
		for _, state := range []store.State{store.StateFailed, store.StateRolledBack} {
			failed, err := st.ListRotations(ctx, store.RotationFilter{State: state, Limit: limit})
			if err != nil {
				return nil, err
			}
			rots = append(rots, failed...)
		}
	}
	newest, err := st.ListRotations(ctx, store.RotationFilter{Limit: limit})
	if err != nil {
		return nil, err
	}
	rots = append(rots, newest...)
	rows := make([]waveRow, 0, limit)
	seen := map[int64]bool{}
	for _, r := range rots {
		if len(rows) == limit {
			break
		}
		if r.ID <= w.lastEarlier || seen[r.ID] {
			continue
		}
		seen[r.ID] = true
		rows = append(rows, newWaveRow(r, w.before[r.Asset]))
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Device < rows[j].Device })
	return rows, nil
}

func newWaveRow(r store.Rotation, oldSerial string) waveRow {
	row := waveRow{Device: r.Asset, OldSerial: oldSerial, Result: string(r.State), Error: r.Error, Steps: map[rotation.Step]time.Duration{}}
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
	return row
}

// stepTimes counts, for each step, how many took each duration, in
// buckets 1 % apart: medians of any number of rotations in a few
// kilobytes.
type stepTimes struct {
	mu     sync.Mutex
	counts map[rotation.Step]map[int]int64
}

const stepBucketGrowth = 1.01

func (s *stepTimes) add(step rotation.Step, d time.Duration) {
	b := 0
	if d > time.Microsecond {
		b = int(math.Log(float64(d)/float64(time.Microsecond)) / math.Log(stepBucketGrowth))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counts[step] == nil {
		s.counts[step] = map[int]int64{}
	}
	s.counts[step][b]++
}

// median returns the median time of step, within 1 %; 0 when no
// rotation ran it.
func (s *stepTimes) median(step rotation.Step) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	buckets := make([]int, 0, len(s.counts[step]))
	for b, c := range s.counts[step] {
		buckets = append(buckets, b)
		n += c
	}
	slices.Sort(buckets)
	var seen int64
	for _, b := range buckets {
		if seen += s.counts[step][b]; seen > n/2 {
			return time.Duration(float64(time.Microsecond) * math.Pow(stepBucketGrowth, float64(b)+0.5))
		}
	}
	return 0
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

// printWave prints rows, and how many of the total it leaves out.
func printWave(g *globals, rows []waveRow, total int) {
	if len(rows) == 0 {
		return
	}
	tw := tabwriter.NewWriter(g.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprint(tw, "DEVICE\tOLD SERIAL\tNEW SERIAL\tNEW EXPIRY")
	for _, s := range rotation.Steps()[:5] {
		fmt.Fprint(tw, "\t"+strings.ToUpper(string(s)))
	}
	fmt.Fprintln(tw, "\tRESULT")
	for _, r := range rows {
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
	if total > len(rows) {
		fmt.Fprintf(tw, "… %d more devices\n", total-len(rows))
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
	// Rescans of a reused directory may find more than the fleet.
	p.total = max(p.total, done)
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

// bench reports the wave's throughput against the CA's own ceiling: bare
// issuances for the fleet's names (each has its _acme-challenge
// delegation), at the same concurrency, on the same CA. devices is the
// child process that runs the lab, nil when it runs in this one.
func (w *wave) bench(ctx context.Context, g *globals, ap *app.App, devices *devicesProcess) error {
	fmt.Fprintln(g.stdout, "\nbench: per-step medians")
	for _, s := range rotation.Steps() {
		fmt.Fprintf(g.stdout, "  %-10s %s\n", s, w.steps.median(s).Round(100*time.Microsecond))
	}
	ca, err := ap.CA(ctx, lab.CAName)
	if err != nil {
		return err
	}
	rotated := int(w.finished)
	n := min(cmp.Or(w.f.ceiling, rotated), w.f.devices)
	fmt.Fprintf(g.stdout, "bench: ceiling, %d bare issuances at concurrency %d ...\n", n, w.f.concurrency)
	ceilStart, ceilCPU := time.Now(), cpuUsed()
	var wg sync.WaitGroup
	var failed atomic.Int64
	sem := make(chan struct{}, w.f.concurrency)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			name := lab.DeviceName(w.f.platforms[i%len(w.f.platforms)], i)
			if err := bareIssue(ctx, ca.Issuer, name, ca.Profile); err != nil {
				if failed.Add(1) == 1 {
					fmt.Fprintln(g.stderr, "bench: issuance failed:", err)
				}
			}
		}()
	}
	wg.Wait()
	ceiling, ceilCPU := time.Since(ceilStart), cpuUsed()-ceilCPU
	fleetRate := float64(rotated) / w.elapsed.Seconds()
	ceilRate := float64(n-int(failed.Load())) / ceiling.Seconds()
	fmt.Fprintf(g.stdout, "bench: fleet %.1f rotations/s, ceiling %.1f issuances/s, fleet/ceiling %.0f%%\n", fleetRate, ceilRate, 100*fleetRate/ceilRate)
	cores := float64(runtime.NumCPU())
	whose := ""
	if devices != nil {
		whose = " of ottr alone"
	}
	fmt.Fprintf(g.stdout, "bench: CPU%s, wave %s (%.0f%% of %d cores, %s per rotation), ceiling %s (%.0f%%, %s per issuance)\n",
		whose, w.cpu.Round(100*time.Millisecond), 100*w.cpu.Seconds()/w.elapsed.Seconds()/cores, runtime.NumCPU(), (w.cpu / time.Duration(max(rotated, 1))).Round(100*time.Microsecond),
		ceilCPU.Round(100*time.Millisecond), 100*ceilCPU.Seconds()/ceiling.Seconds()/cores, (ceilCPU / time.Duration(max(n, 1))).Round(100*time.Microsecond))
	if devices == nil {
		fmt.Fprintf(g.stdout, "bench: the whole lab (ottr, CA, DNS server and devices) during the wave: %s\n", w.memory)
		return nil
	}
	fmt.Fprintf(g.stdout, "bench: ottr during the wave: %s\n", w.memory)
	pid := strconv.Itoa(devices.cmd.Process.Pid)
	fmt.Fprintf(g.stdout, "bench: the lab's process (CA, DNS server, devices), peak RSS %s, CPU %s\n",
		mib(procStatusBytes(pid, "VmHWM")), processCPU(pid).Round(100*time.Millisecond))
	return nil
}

func mib(bytes uint64) string { return fmt.Sprintf("%.1f MiB", float64(bytes)/(1<<20)) }

// memoryPeaks are the peaks of a process's memory over a stretch of time.
type memoryPeaks struct {
	// heap is the heap in use: objects, and the free space between them
	// in spans the heap holds.
	heap uint64
	// anon is the resident memory not backed by a file (RssAnon): the Go
	// heap, stacks and what the runtime and SQLite hold. rss is all of
	// it (VmHWM), with the pages of files mapped (SQLite reads the
	// database through a map), which the system reclaims at need.
	anon, rss uint64
}

func (m memoryPeaks) String() string {
	return fmt.Sprintf("peak RSS %s (of it anonymous, not file pages, %s), peak heap in use %s", mib(m.rss), mib(m.anon), mib(m.heap))
}

// memoryWatch samples this process's memory and keeps the peaks.
type memoryWatch struct {
	peaks memoryPeaks
	stop  chan struct{}
	done  chan struct{}
}

func watchMemory(every time.Duration) *memoryWatch {
	m := &memoryWatch{stop: make(chan struct{}), done: make(chan struct{})}
	samples := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	sample := func() {
		rtmetrics.Read(samples)
		var heap uint64
		for _, s := range samples {
			if s.Value.Kind() == rtmetrics.KindUint64 {
				heap += s.Value.Uint64()
			}
		}
		m.peaks.heap = max(m.peaks.heap, heap)
		m.peaks.anon = max(m.peaks.anon, procStatusBytes("self", "RssAnon"))
	}
	go func() {
		defer close(m.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			sample()
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

// finish stops sampling and returns the peaks; calling it again returns
// the same.
func (m *memoryWatch) finish() memoryPeaks {
	select {
	case <-m.done:
	default:
		close(m.stop)
		<-m.done
	}
	m.peaks.rss = procStatusBytes("self", "VmHWM")
	return m.peaks
}

// procStatusBytes reads a field of /proc/PID/status given in kB, in
// bytes; 0 when it cannot.
func procStatusBytes(pid, field string) uint64 {
	kb, _ := strconv.ParseUint(strings.TrimSuffix(procStatus(pid, field), " kB"), 10, 64)
	return kb << 10
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

// procStatus returns a field of /proc/PID/status (pid "self": this
// process), VmHWM say: "201234 kB".
func procStatus(pid, field string) string {
	data, err := os.ReadFile(filepath.Join("/proc", pid, "status"))
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// processCPU returns the user and system time process pid has used, from
// /proc/PID/stat (in clock ticks, 100 a second on Linux).
func processCPU(pid string) time.Duration {
	data, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after its closing parenthesis, where utime and stime are the 12th
	// and 13th.
	_, rest, ok := strings.Cut(string(data), ") ")
	fields := strings.Fields(rest)
	if !ok || len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
