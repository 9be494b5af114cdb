package lab_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/issuer"
	"github.com/ottr-go/ottr/internal/lab"
	"github.com/ottr-go/ottr/internal/policy"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/verify"
)

// One lab per test binary: Pebble cannot be started twice in a process.
// Each test takes its own hosts, by index, so tests do not disturb each
// other.
var theLab *lab.Lab

const (
	waveHosts       = 4 // hosts 0..3
	hostNoCNAME     = 4
	hostUnreachable = 5
	hostBadReload   = 6
	hostResume      = 7
	hostWrongKey    = 8
	hostARI         = 9
	hostCounted     = 10
	labDevices      = 11
)

func TestMain(m *testing.M) {
	if _, err := exec.LookPath("openssl"); err != nil {
		fmt.Fprintln(os.Stderr, "lab tests need openssl on PATH (Debian package openssl; 'make test' installs it as root)")
		os.Exit(1)
	}
	var err error
	theLab, err = lab.Start(context.Background(), lab.Options{Devices: labDevices})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start lab:", err)
		os.Exit(1)
	}
	code := m.Run()
	theLab.Close()
	os.Exit(code)
}

// newApp assembles ottr on the lab with a fresh database, holding only the
// given hosts as assets.
func newApp(t *testing.T, observer func(rotation.Event), hosts ...int) *app.App {
	t.Helper()
	return newAppWithConfig(t, labConfig(t), observer, hosts...)
}

func labConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Load(theLab.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = filepath.Join(t.TempDir(), "ottr.db")
	return cfg
}

func newAppWithConfig(t *testing.T, cfg *config.Config, observer func(rotation.Event), hosts ...int) *app.App {
	t.Helper()
	ctx := context.Background()
	ap, err := app.New(ctx, cfg, app.Options{Observer: observer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ap.Close() })
	for _, i := range hosts {
		if err := ap.Store.CreateAsset(ctx, theLab.Assets[i]); err != nil {
			t.Fatal(err)
		}
	}
	return ap
}

func rotate(t *testing.T, ap *app.App, i int) (store.Rotation, error) {
	t.Helper()
	ctx := context.Background()
	rot, err := ap.Runner.Create(ctx, theLab.Assets[i].SystemName, store.TriggerManual, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ap.Runner.Run(ctx, rot.ID)
}

func served(t *testing.T, i int) *x509.Certificate {
	t.Helper()
	h := theLab.Hosts[i]
	certs, err := verify.Fetch(context.Background(), h.TLSAddr(), h.Name(), 0)
	if err != nil {
		t.Fatalf("fetch %s: %v", h.Name(), err)
	}
	return certs[0]
}

func TestWaveRotatesEveryDevice(t *testing.T) {
	ctx := context.Background()
	hosts := []int{0, 1, 2, 3}
	var finished atomic.Int32
	ap := newApp(t, func(e rotation.Event) {
		if e.Phase == "end" {
			finished.Add(1)
		}
	}, hosts...)
	old := map[int]string{}
	for _, i := range hosts {
		old[i] = verify.SerialHex(served(t, i))
	}
	q, sched, err := ap.Queue(ctx, app.QueueRole{Work: true, Scan: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := sched.ScanOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Enqueued != waveHosts {
		t.Fatalf("scan enqueued %d rotations, want %d (%+v)", res.Enqueued, waveHosts, res)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for finished.Load() < waveHosts && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := q.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}

	roots := x509.NewCertPool()
	pemRoots, err := theLab.CA.IssuanceRootsPEM(ctx)
	if err != nil {
		t.Fatal(err)
	}
	roots.AppendCertsFromPEM(pemRoots)
	for _, i := range hosts {
		name := theLab.Assets[i].SystemName
		a, err := ap.Store.GetAsset(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		leaf := served(t, i)
		if got := verify.SerialHex(leaf); got == old[i] || got != a.CertificateSerial {
			t.Errorf("%s serves serial %s; before %s, recorded %s", name, got, old[i], a.CertificateSerial)
		}
		if a.CertificateExpiration == nil || !a.CertificateExpiration.Equal(leaf.NotAfter.UTC().Truncate(time.Second)) {
			t.Errorf("%s: recorded expiry %v, served %v", name, a.CertificateExpiration, leaf.NotAfter)
		}
		if w := a.RenewalWindow; w == nil || !w.Start.After(leaf.NotBefore) || !w.End.Before(leaf.NotAfter.Add(time.Second)) {
			t.Errorf("%s: the CA's renewal window (ARI) %+v is not recorded within the lifetime", name, w)
		}
		if life := leaf.NotAfter.Sub(leaf.NotBefore); life < 89*24*time.Hour {
			t.Errorf("%s: lifetime %s, want Pebble's 90 days", name, life)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates(theLab.Hosts[i].ServedChain()), DNSName: name}); err != nil {
			t.Errorf("%s: served chain does not verify to the CA: %v", name, err)
		}
		if theLab.Hosts[i].PrivateKeyExported() {
			t.Errorf("%s: a private key crossed the SSH channel", name)
		}
		rots, _ := ap.Store.ListRotations(ctx, store.RotationFilter{Asset: name})
		if len(rots) != 1 || rots[0].State != store.StateSucceeded {
			t.Errorf("%s: rotations %+v, want one succeeded", name, rots)
		}
	}
}

func intermediates(chain []*x509.Certificate) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range chain[1:] {
		pool.AddCert(c)
	}
	return pool
}

func TestMissingCNAMEFailsPreflightNamingTheRecord(t *testing.T) {
	name := theLab.Assets[hostNoCNAME].SystemName
	record := "_acme-challenge." + name + "."
	theLab.DNS.RemoveRecords(record, 5 /* CNAME */)
	ap := newApp(t, nil, hostNoCNAME)
	orders := theLab.CA.Orders()
	rot, err := rotate(t, ap, hostNoCNAME)
	if err == nil || rot.State != store.StateFailed {
		t.Fatalf("state %s, err %v: want a failed rotation", rot.State, err)
	}
	want := fmt.Sprintf("%s 300 IN CNAME _acme-challenge.%s.%s.", record, strings.TrimSuffix(name, "."+lab.DeviceZone), lab.DelegateZone)
	if !strings.Contains(rot.Error, want) || !strings.HasPrefix(rot.Error, "preflight") {
		t.Errorf("error %q should be a preflight error naming the record %q", rot.Error, want)
	}
	if theLab.CA.Orders() != orders {
		t.Error("an order was placed for a device without delegation")
	}
}

func TestUnreachableDeviceFailsAndBacksOff(t *testing.T) {
	h := theLab.Hosts[hostUnreachable]
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	ap := newApp(t, nil, hostUnreachable)
	rot, err := rotate(t, ap, hostUnreachable)
	var failure *rotation.Failure
	if !errors.As(err, &failure) || rot.State != store.StateFailed {
		t.Fatalf("state %s, err %v: want a recorded failure", rot.State, err)
	}
	ip := theLab.Assets[hostUnreachable].IPAddress
	if !strings.Contains(rot.Error, "preflight") || !strings.Contains(rot.Error, ip) {
		t.Errorf("error %q should say preflight could not reach %s", rot.Error, ip)
	}
	a, _ := ap.Store.GetAsset(context.Background(), theLab.Assets[hostUnreachable].SystemName)
	if a.FailureCount != 1 || a.NextAttemptAt == nil {
		t.Errorf("failure count %d, next attempt %v: want a backoff recorded", a.FailureCount, a.NextAttemptAt)
	}
}

func TestFailingReloadLeavesTheOldCertificateServed(t *testing.T) {
	h := theLab.Hosts[hostBadReload]
	before := verify.SerialHex(served(t, hostBadReload))
	h.FailReloads(true)
	defer h.FailReloads(false)
	ap := newApp(t, nil, hostBadReload)
	rot, err := rotate(t, ap, hostBadReload)
	if err == nil || store.Final(rot.State) == false || rot.State == store.StateSucceeded {
		t.Fatalf("state %s, err %v: want the rotation to fail", rot.State, err)
	}
	if !strings.Contains(rot.Error, "install") || !strings.Contains(rot.Error, "nginx") {
		t.Errorf("error %q should say the install's reload failed, with the server's message", rot.Error)
	}
	if after := verify.SerialHex(served(t, hostBadReload)); after != before {
		t.Errorf("the device serves %s after a failed reload, want the old %s", after, before)
	}
	// The files on the host are the old ones again, so the next reload
	// (say, at boot) still serves a working certificate.
	h.FailReloads(false)
	ssh := exec.Command("openssl", "x509", "-noout", "-serial", "-in", h.CertPath())
	out, err := ssh.Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(string(out)), "serial=")); strings.TrimLeft(got, "0") != strings.TrimLeft(before, "0") {
		t.Errorf("the certificate file holds serial %s, want the restored %s", got, before)
	}
}

func TestKilledAfterIssueResumesWithoutASecondOrder(t *testing.T) {
	ctx := context.Background()
	name := theLab.Assets[hostResume].SystemName
	dying, die := context.WithCancel(ctx)
	defer die()
	first := newApp(t, func(e rotation.Event) {
		if e.Step == rotation.StepIssue && e.Phase == "done" {
			die()
		}
	}, hostResume)
	rot, err := first.Runner.Create(ctx, name, store.TriggerManual, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	ordersBefore := theLab.CA.Orders()
	if _, err := first.Runner.Run(dying, rot.ID); err == nil {
		t.Fatal("the run that died reported success")
	}
	if got := theLab.CA.Orders() - ordersBefore; got != 1 {
		t.Fatalf("%d orders before the crash, want 1", got)
	}

	// A new process on the same database picks the rotation up.
	cfg := first.Config
	first.Close()
	second, err := app.New(ctx, cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	done, err := second.Runner.Run(ctx, rot.ID)
	if err != nil || done.State != store.StateSucceeded {
		t.Fatalf("resume: state %s, err %v", done.State, err)
	}
	if got := theLab.CA.Orders() - ordersBefore; got != 1 {
		t.Errorf("the CA saw %d orders in all, want 1: the resumed rotation ordered again", got)
	}
	a, _ := second.Store.GetAsset(ctx, name)
	if got := verify.SerialHex(served(t, hostResume)); got != a.CertificateSerial {
		t.Errorf("device serves %s, recorded %s", got, a.CertificateSerial)
	}
}

func TestWrongSSHHostKeyIsRefused(t *testing.T) {
	cfg := labConfig(t)
	// A known_hosts file that pins another key for the device.
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	addr := theLab.Hosts[hostWrongKey].SSHAddr()
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, signer.PublicKey())
	cfg.KnownHostsFile = filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(cfg.KnownHostsFile, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ap := newAppWithConfig(t, cfg, nil, hostWrongKey)
	rot, err := rotate(t, ap, hostWrongKey)
	if err == nil || rot.State != store.StateFailed {
		t.Fatalf("state %s, err %v: want the connection refused", rot.State, err)
	}
	if !strings.Contains(strings.ToLower(rot.Error), "host key") {
		t.Errorf("error %q should say the host key did not match", rot.Error)
	}
	if _, ok := rot.Step(string(rotation.StepCSR)); ok {
		t.Error("a CSR was generated over a connection whose host key did not match")
	}
}

// The lab's assets pass the same validation an operator's do.
func TestLabAssetsAreValid(t *testing.T) {
	ap := newApp(t, nil)
	for _, a := range theLab.Assets {
		n := a
		asset.Normalize(&n)
		if err := asset.Validate(n, ap.Rules()); err != nil {
			t.Errorf("%s: %v", a.SystemName, err)
		}
	}
}

// Two labs in one process pick the same default subnet; each must still
// serve its own hosts (their shared sockets are on ports of their own), so
// parallel test binaries can run.
func TestSecondLabServesBesideTheFirst(t *testing.T) {
	ctx := context.Background()
	second, err := lab.Start(ctx, lab.Options{Devices: 2, CA: theLab.CA, DNS: theLab.DNS, TSIGSecret: theLab.TSIGSecret})
	if err != nil {
		t.Fatalf("a second lab did not start: %v", err)
	}
	defer second.Close()
	if a, b := second.Devices[0].TLSAddr(), theLab.Devices[0].TLSAddr(); a == b {
		t.Fatalf("both labs serve their first host on %s", a)
	}
	for _, l := range []*lab.Lab{theLab, second} {
		chain, err := verify.Fetch(ctx, l.Devices[0].TLSAddr(), l.Devices[0].Name(), 30*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", l.Devices[0].TLSAddr(), err)
		}
		if want := l.Hosts[0].Served(); !chain[0].Equal(want) {
			t.Errorf("%s serves serial %s; its host holds %s", l.Devices[0].TLSAddr(), verify.SerialHex(chain[0]), verify.SerialHex(want))
		}
	}
}

// The CA moves a certificate's renewal window to now, as it does ahead of
// a revocation: the first scan after the CA's Retry-After asks about it
// again, queues the rotation, and the new order names the old certificate
// in "replaces".
func TestACAMovingTheRenewalWindowToNowStartsAReplacement(t *testing.T) {
	ctx := context.Background()
	name := theLab.Assets[hostARI].SystemName
	// Pebble tells clients to ask again in six hours; a second keeps the
	// test short.
	theLab.CA.SetRenewalInfoRetryAfter(time.Second)
	defer theLab.CA.SetRenewalInfoRetryAfter(0)
	var recorded atomic.Int32
	ap := newApp(t, func(e rotation.Event) {
		if e.Step == rotation.StepRecord && e.Phase == "done" {
			recorded.Add(1)
		}
	}, hostARI)
	if rot, err := rotate(t, ap, hostARI); err != nil || rot.State != store.StateSucceeded {
		t.Fatalf("first rotation: state %s, err %v", rot.State, err)
	}
	leaf := theLab.Hosts[hostARI].Served()
	oldID, err := issuer.CertID(leaf)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ap.Store.GetAsset(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if a.RenewalCertID != oldID || a.RenewalCertCA != lab.CAName {
		t.Fatalf("recorded certificate ID %q of CA %q, want %q of %s", a.RenewalCertID, a.RenewalCertCA, oldID, lab.CAName)
	}
	if w := a.RenewalWindow; w == nil || !w.Start.After(leaf.NotBefore) || w.End.After(leaf.NotAfter) {
		t.Fatalf("recorded window %+v, want the CA's, inside the lifetime", w)
	}
	if a.RenewalCheckAt == nil || a.RenewalCheckAt.After(time.Now().Add(2*time.Second)) {
		t.Fatalf("next check %v, want the CA's Retry-After of a second", a.RenewalCheckAt)
	}
	if d := policy.Decide(policy.Input{Asset: a, Now: time.Now(), Settings: ap.Config.Policy}); d.Due {
		t.Fatalf("the fresh certificate is due already: %s", d.Message)
	}

	now := time.Now()
	if err := theLab.CA.SetRenewalWindow(leaf, now.Add(-time.Hour), now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	// The CA's Retry-After passes.
	time.Sleep(time.Until(a.RenewalCheckAt.Add(time.Second)))

	q, sched, err := ap.Queue(ctx, app.QueueRole{Work: true, Scan: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := sched.ScanOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rechecked != 1 || res.Enqueued != 1 {
		t.Fatalf("scan %+v: want the certificate asked about and its rotation queued", res)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for recorded.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := q.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}

	renewed := theLab.Hosts[hostARI].Served()
	if renewed.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Fatal("the device still serves the certificate whose window moved")
	}
	if replaced := theLab.CA.Replaced(); !slices.Contains(replaced, oldID) {
		t.Errorf("the CA saw orders replacing %q, want one replacing %q", replaced, oldID)
	}
	newID, _ := issuer.CertID(renewed)
	if a, _ = ap.Store.GetAsset(ctx, name); a.RenewalCertID != newID {
		t.Errorf("recorded certificate ID %q after the renewal, want the new certificate's %q", a.RenewalCertID, newID)
	}
	rots, _ := ap.Store.ListRotations(ctx, store.RotationFilter{Asset: name})
	if len(rots) != 2 || rots[0].State != store.StateSucceeded || rots[0].Trigger != store.TriggerSchedule {
		t.Errorf("rotations %+v, want the scheduled one succeeded after the manual one", rots)
	}
}
