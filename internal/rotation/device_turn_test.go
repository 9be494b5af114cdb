package rotation_test

import (
	"context"
	"crypto/x509"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/route"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/verify"
)

// gatedDriver's installs wait for the test to let them through, and count
// how many run at once. Each asset has a device of its own.
type gatedDriver struct {
	fakeDriver
	gate    *gate
	devices map[string]*fakeDevice
}

type gate struct {
	entered            chan string // the asset whose install started
	release            chan struct{}
	inside, mostAtOnce atomic.Int32
}

type gatedSession struct {
	*fakeDevice
	gate  *gate
	asset string
}

func (d gatedDriver) Open(_ context.Context, t driver.Target, _ driver.Credentials) (driver.Session, error) {
	return gatedSession{d.devices[t.Asset.SystemName], d.gate, t.Asset.SystemName}, nil
}

func (s gatedSession) Install(ctx context.Context, chain []*x509.Certificate) (driver.Installed, error) {
	n := s.gate.inside.Add(1)
	defer s.gate.inside.Add(-1)
	for most := s.gate.mostAtOnce.Load(); n > most && !s.gate.mostAtOnce.CompareAndSwap(most, n); most = s.gate.mostAtOnce.Load() {
	}
	s.gate.entered <- s.asset
	<-s.gate.release
	return s.fakeDevice.Install(ctx, chain)
}

// hostRoutes sends every asset to the fake driver, on a route with host.
type hostRoutes struct{ host string }

func (r hostRoutes) Match(asset.Asset) (route.Route, int, bool) {
	return route.Route{Name: "test", Driver: "fake", Host: r.host}, 0, true
}

func TestRotationsTakeTheirDeviceInTurns(t *testing.T) {
	cases := []struct {
		name string
		// host is the route's host setting.
		host string
		// secondIP is the second asset's IP address; the first's is
		// 192.0.2.1.
		secondIP string
		// waits: the second rotation waits for the first's install.
		waits bool
		// device is the device key the waiting rotation's log names.
		device string
	}{
		{"two assets of one IP address wait for each other", "", "192.0.2.1", true, "fake 192.0.2.1"},
		{"two assets of a route's host wait for each other, whatever their addresses", "rack-{{label \"rack\"}}", "192.0.2.2", true, "host rack-7"},
		{"two assets of different devices do not wait for each other", "", "192.0.2.2", false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			g := &gate{entered: make(chan string, 2), release: make(chan struct{})}
			devices := map[string]*fakeDevice{"fw1.example.com": {}, "fw2.example.com": {}}
			h := newHarness(t, func(d *rotation.Deps) { d.Routes = hostRoutes{host: c.host} })
			h.deps.Drivers = driver.NewRegistry(gatedDriver{fakeDriver{h.dev}, g, devices})
			h.deps.Verify = func(_ context.Context, e verify.Expectation) (verify.Result, error) {
				dev := devices[e.ServerName]
				dev.mu.Lock()
				defer dev.mu.Unlock()
				if len(dev.installed) == 0 || !dev.installed[0].Equal(e.Issued[0]) {
					return verify.Result{}, &verify.MismatchError{Check: "serial", Want: e.Issued[0].SerialNumber.String(), Got: "old"}
				}
				leaf := dev.installed[0]
				return verify.Result{Leaf: leaf, NotAfter: leaf.NotAfter, Serial: leaf.SerialNumber.Text(16), Issuer: "Fake Root"}, nil
			}
			runner, err := rotation.NewRunner(h.deps)
			if err != nil {
				t.Fatal(err)
			}
			for name, ip := range map[string]string{"fw1.example.com": "192.0.2.1", "fw2.example.com": c.secondIP} {
				a, err := h.store.GetAsset(ctx, "fw1.example.com")
				if name != "fw1.example.com" {
					a = asset.Asset{SystemName: name, CommonName: name, CertificateAuthority: "test", HostPlatform: "fake", Origin: "API"}
					err = h.store.CreateAsset(ctx, a)
				}
				if err != nil {
					t.Fatal(err)
				}
				a.IPAddress, a.Labels = ip, map[string]string{"rack": "7"}
				if err := h.store.UpdateAsset(ctx, a); err != nil {
					t.Fatal(err)
				}
			}
			run := func(name string) (store.Rotation, chan error) {
				rot, err := runner.Create(ctx, name, store.TriggerManual, true, nil)
				if err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() {
					_, err := runner.Run(ctx, rot.ID)
					done <- err
				}()
				return rot, done
			}

			first, firstDone := run("fw1.example.com")
			<-g.entered
			second, secondDone := run("fw2.example.com")
			if c.waits {
				want := "waiting for device " + c.device + ", which rotation " + strconv.FormatInt(first.ID, 10) + " of fw1.example.com is changing"
				waitForLog(ctx, t, h.store, second.ID, want)
				close(g.release)
			} else {
				<-g.entered
				close(g.release)
			}
			for _, done := range []chan error{firstDone, secondDone} {
				if err := <-done; err != nil {
					t.Fatalf("rotation: %v", err)
				}
			}
			most := g.mostAtOnce.Load()
			if c.waits && most != 1 {
				t.Errorf("%d installs ran on the device at once, want one at a time", most)
			}
			if !c.waits && most != 2 {
				t.Errorf("the installs of two devices ran %d at a time, want both at once", most)
			}
		})
	}
}

// waitForLog polls the rotation's log until a line contains want.
func waitForLog(ctx context.Context, t *testing.T, st store.Store, id int64, want string) {
	t.Helper()
	var lines []string
	for ctx.Err() == nil {
		rot, err := st.GetRotation(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		lines = lines[:0]
		for _, l := range rot.Log {
			if strings.Contains(l.Message, want) {
				return
			}
			lines = append(lines, l.Message)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the waiting rotation's log never said %q; it said:\n%s", want, strings.Join(lines, "\n"))
}

func TestARouteHostThatRendersNothingForAnAssetFailsBeforeAnyOrder(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, func(d *rotation.Deps) { d.Routes = hostRoutes{host: `{{label "rack"}}`} })
	a, err := h.store.GetAsset(ctx, "fw1.example.com")
	if err != nil {
		t.Fatal(err)
	}
	a.Labels = map[string]string{"rack": ""}
	if err := h.store.UpdateAsset(ctx, a); err != nil {
		t.Fatal(err)
	}
	rot, err := h.runner.Create(ctx, a.SystemName, store.TriggerManual, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	rot, _ = h.runner.Run(ctx, rot.ID)
	if rot.State != store.StateFailed || !strings.Contains(rot.Error, "renders nothing for asset fw1.example.com") {
		t.Errorf("rotation %s (%q), want failed saying the host renders nothing for the asset", rot.State, rot.Error)
	}
	if n := h.ca.orders.Load(); n != 0 {
		t.Errorf("the CA got %d orders for a device the rotation could not take its turn on", n)
	}
}
