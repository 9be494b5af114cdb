package lab_test

import (
	"context"
	"crypto/x509"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/lab"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/verify"
)

// startMixedLab starts a second lab on theLab's CA and DNS server (Pebble
// starts once per process) with one device per platform and one more, so
// the round-robin comes back to the first platform. Its Linux hosts take
// names theLab's hosts have too: only their A records change, which no
// rotation reads (ottr dials ip_address).
func startMixedLab(t *testing.T) *lab.Lab {
	t.Helper()
	platforms := lab.KnownPlatforms()
	mixed, err := lab.Start(context.Background(), lab.Options{
		Devices:    len(platforms) + 1,
		Platforms:  platforms,
		CA:         theLab.CA,
		DNS:        theLab.DNS,
		TSIGSecret: theLab.TSIGSecret,
	})
	if err != nil {
		t.Fatalf("a lab of every platform did not start: %v", err)
	}
	t.Cleanup(mixed.Close)
	return mixed
}

func TestMixedFleetRotatesEveryPlatformEndToEnd(t *testing.T) {
	ctx := context.Background()
	mixed := startMixedLab(t)
	platforms := lab.KnownPlatforms()
	for i, d := range mixed.Devices {
		if want := platforms[i%len(platforms)]; d.Platform != want || mixed.Assets[i].HostPlatform != want {
			t.Errorf("device %d (%s) is a %s with host_platform %q, want %s: devices go round-robin over the platforms",
				i, d.Name(), d.Platform, mixed.Assets[i].HostPlatform, want)
		}
	}

	var finished atomic.Int32
	ap := appOn(t, mixed, &finished)
	for _, a := range mixed.Assets {
		// The same checks an operator's assets pass: the platform has a
		// route, the names are in the managed zone.
		if _, err := ap.Prepare(a); err != nil {
			t.Errorf("%s: %v", a.SystemName, err)
		}
	}
	if err := ap.Store.ImportAssets(ctx, mixed.Assets); err != nil {
		t.Fatal(err)
	}
	old := map[string]string{}
	for _, d := range mixed.Devices {
		old[d.Name()] = verify.SerialHex(servedLeaf(t, d))
	}

	q, sched, err := ap.Queue(ctx, app.QueueRole{Work: true, Scan: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := sched.ScanOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Enqueued != len(mixed.Devices) {
		t.Fatalf("scan enqueued %d rotations, want %d (%+v)", res.Enqueued, len(mixed.Devices), res)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for int(finished.Load()) < len(mixed.Devices) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := q.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}

	roots := x509.NewCertPool()
	pemRoots, err := mixed.CA.IssuanceRootsPEM(ctx)
	if err != nil {
		t.Fatal(err)
	}
	roots.AppendCertsFromPEM(pemRoots)
	for _, d := range mixed.Devices {
		name := d.Name()
		rots, err := ap.Store.ListRotations(ctx, store.RotationFilter{Asset: name})
		if err != nil {
			t.Fatal(err)
		}
		if len(rots) != 1 || rots[0].State != store.StateSucceeded {
			for _, r := range rots {
				t.Errorf("%s (%s): rotation %s: %s", name, d.Platform, r.State, r.Error)
			}
			if len(rots) == 0 {
				t.Errorf("%s (%s): no rotation", name, d.Platform)
			}
			continue
		}
		a, err := ap.Store.GetAsset(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		chain, err := d.ServedChain(ctx)
		if err != nil {
			t.Fatal(err)
		}
		leaf := chain[0]
		if got := verify.SerialHex(leaf); got == old[name] || got != a.CertificateSerial {
			t.Errorf("%s (%s) serves serial %s; before %s, recorded %s", name, d.Platform, got, old[name], a.CertificateSerial)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates(chain), DNSName: name}); err != nil {
			t.Errorf("%s (%s): the served chain does not verify to the lab's ACME CA: %v", name, d.Platform, err)
		}
		if d.PrivateKeyExported() {
			t.Errorf("%s (%s): a private key left the device", name, d.Platform)
		}
	}
}

// servedLeaf fetches what the device serves on its asset's address and
// port, with its name as SNI: what verification sees.
func servedLeaf(t *testing.T, d *lab.Device) *x509.Certificate {
	t.Helper()
	certs, err := verify.Fetch(context.Background(), d.TLSAddr(), d.Name(), 0)
	if err != nil {
		t.Fatalf("fetch %s: %v", d.Name(), err)
	}
	return certs[0]
}

// The lab's config is an example operators copy: secrets stay in files,
// and each API route trusts the roots that sign what its devices serve.
func TestMixedLabConfigKeepsSecretsInFiles(t *testing.T) {
	mixed := startMixedLab(t)
	yaml, err := os.ReadFile(mixed.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range mixed.Config.Credentials {
		for _, ref := range []string{c.Password, c.PrivateKey} {
			if ref != "" && !strings.HasPrefix(ref, "file:") {
				t.Errorf("credentials.%s holds a literal secret, want a file: reference", name)
			}
			path, ok := strings.CutPrefix(ref, "file:")
			if !ok {
				continue
			}
			secret, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("credentials.%s: %v", name, err)
			}
			if s := strings.TrimSpace(string(secret)); strings.Contains(string(yaml), s) {
				t.Errorf("ottr.yaml contains the secret of credentials.%s", name)
			}
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode().Perm()&0o077 != 0 {
				t.Errorf("credentials.%s: %s has mode %v, readable by others", name, path, info.Mode().Perm())
			}
		}
	}
	for _, r := range mixed.Config.Routes {
		caFile, has := r.Options["ca_file"]
		switch r.Driver {
		case "panos", "bigip", "lighthouse", "linux-ssm":
			if !has {
				t.Errorf("route %s: no ca_file, so the driver cannot verify the device's API", r.Name)
			}
		default:
			if has {
				t.Errorf("route %s: ca_file %v given to the %s driver, which does not take it", r.Name, caFile, r.Driver)
			}
		}
	}
}

func TestUnknownPlatformIsAClearError(t *testing.T) {
	tests := []struct {
		name      string
		platforms []string
		want      []string
	}{
		{
			name:      "an unknown platform is named, with the known ones",
			platforms: []string{"linux", "cisco-ios"},
			want:      append([]string{`unknown platform "cisco-ios"`}, lab.KnownPlatforms()...),
		},
		{
			name:      "a platform listed twice is named",
			platforms: []string{"panos", "linux", "panos"},
			want:      []string{`"panos" is listed twice`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := lab.Start(context.Background(), lab.Options{
				Devices: 2, Platforms: tc.platforms, CA: theLab.CA, DNS: theLab.DNS, TSIGSecret: theLab.TSIGSecret,
			})
			if err == nil {
				l.Close()
				t.Fatalf("a lab of %v started", tc.platforms)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if vErr := lab.ValidatePlatforms(tc.platforms); vErr == nil || vErr.Error() != err.Error() {
				t.Errorf("ValidatePlatforms says %v, Start says %v: the CLI checks with the first", vErr, err)
			}
		})
	}
}
