package lab_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/lab"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/verify"
)

// appOn starts ottr on l's config with a database of its own, counting
// in finished the rotations that end.
func appOn(t *testing.T, l *lab.Lab, finished *atomic.Int32) *app.App {
	t.Helper()
	cfg, err := config.Load(l.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = filepath.Join(t.TempDir(), "ottr.db")
	ap, err := app.New(context.Background(), cfg, app.Options{Observer: func(e rotation.Event) {
		if e.Phase == rotation.PhaseEnd {
			finished.Add(1)
		}
	}})
	if err != nil {
		t.Fatalf("ottr does not start on the lab's config: %v", err)
	}
	t.Cleanup(func() { ap.Close() })
	return ap
}

// openFiles counts this process's open file descriptors.
func openFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open files: %v", err)
	}
	return len(fds)
}

// A fleet of 200 Linux hosts shares one SSH and one TLS socket, and a wave
// over it still rotates every host: the CA issued one certificate for each,
// and each host's own address serves it.
func TestAFleetOnSharedSocketsRotatesEveryHost(t *testing.T) {
	const hosts = 200
	ctx := context.Background()
	before := openFiles(t)
	fleet, err := lab.Start(ctx, lab.Options{Devices: hosts, CA: theLab.CA, DNS: theLab.DNS, TSIGSecret: theLab.TSIGSecret})
	if err != nil {
		t.Fatalf("a lab of %d hosts did not start: %v", hosts, err)
	}
	defer fleet.Close()
	// Two sockets and a few files of the lab's own, not two per host.
	if opened := openFiles(t) - before; opened >= hosts {
		t.Errorf("starting %d hosts opened %d files; want the shared sockets only", hosts, opened)
	}
	ports := map[int]bool{}
	for _, a := range fleet.Assets {
		ports[a.Port] = true
	}
	if len(ports) != 1 {
		t.Errorf("the hosts serve TLS on ports %v; want one port for all", ports)
	}

	var finished atomic.Int32
	ap := appOn(t, fleet, &finished)
	if err := ap.Store.ImportAssets(ctx, fleet.Assets); err != nil {
		t.Fatal(err)
	}
	old := map[string]string{}
	for _, d := range fleet.Devices {
		old[d.Name()] = verify.SerialHex(servedLeaf(t, d))
	}
	ordersBefore := len(theLab.CA.Counts().Orders)

	q, sched, err := ap.Queue(ctx, app.QueueRole{Work: true, Scan: true})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := sched.ScanOnce(ctx); err != nil || res.Enqueued != hosts {
		t.Fatalf("scan: %+v, %v; want %d enqueued", res, err, hosts)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Minute)
	for finished.Load() < hosts && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := q.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}

	issued := map[string][]string{}
	for _, o := range theLab.CA.Counts().Orders[ordersBefore:] {
		if o.CertificateSerial != "" {
			for _, n := range o.Names {
				issued[n] = append(issued[n], o.CertificateSerial)
			}
		}
	}
	for _, d := range fleet.Devices {
		name := d.Name()
		a, err := ap.Store.GetAsset(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		got := verify.SerialHex(servedLeaf(t, d))
		switch {
		case len(issued[name]) != 1:
			t.Errorf("%s: the CA issued %v; want one certificate", name, issued[name])
		case got != issued[name][0] || got != a.CertificateSerial || got == old[name]:
			t.Errorf("%s serves serial %s; the CA issued %s, ottr recorded %s, before %s", name, got, issued[name][0], a.CertificateSerial, old[name])
		}
	}
}

// Devices of every platform share the lab's sockets too: one per port,
// whatever the size of the fleet.
func TestEveryPlatformSharesTheLabsSockets(t *testing.T) {
	platforms := lab.KnownPlatforms()
	devices := 10 * len(platforms)
	before := openFiles(t)
	mixed, err := lab.Start(context.Background(), lab.Options{
		Devices: devices, Platforms: platforms, CA: theLab.CA, DNS: theLab.DNS, TSIGSecret: theLab.TSIGSecret,
	})
	if err != nil {
		t.Fatalf("a lab of every platform did not start: %v", err)
	}
	defer mixed.Close()
	if opened := openFiles(t) - before; opened >= devices {
		t.Errorf("starting %d devices of %d platforms opened %d files; want the shared sockets only", devices, len(platforms), opened)
	}
	ports := map[int]bool{}
	for _, a := range mixed.Assets {
		ports[a.Port] = true
	}
	if len(ports) != 1 {
		t.Errorf("the devices serve the rotated certificate on ports %v; want one port for all", ports)
	}
	for _, d := range mixed.Devices {
		if got := servedLeaf(t, d); !slices.Contains(got.DNSNames, d.Name()) {
			t.Errorf("%s (%s) on %s serves a certificate for %v", d.Name(), d.Platform, d.TLSAddr(), got.DNSNames)
		}
	}
}
