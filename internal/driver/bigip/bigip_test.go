package bigip

import (
	"context"
	"crypto/x509"
	"sync"
	"testing"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/bigip/bigiplab"
	"github.com/ottr-go/ottr/internal/driver/drivertest"
)

// TestConformance runs the conformance suite and the driver's own flows
// (Check, cleanup of older rotations, a commit the device finishes later)
// on both targets, and fails on any request the emulators saw that the
// driver's request table does not list, and on any row no request used.
func TestConformance(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	collect := func(t *testing.T, f *fixture) {
		t.Cleanup(func() {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, f.dev.Calls()...)
		})
	}
	for _, target := range []string{bigiplab.TargetClientSSL, bigiplab.TargetHTTPD} {
		t.Run(target, func(t *testing.T) {
			ca := newCA(t)
			drivertest.Run(t, drivertest.Harness{
				Driver: New(Config{}),
				Sign:   ca.Sign,
				AimAt:  drivertest.AimByAPIPort,
				NewDevice: func(t *testing.T) *drivertest.Device {
					f := newFixture(t, ca, bigiplab.Config{Target: target})
					collect(t, f)
					return &drivertest.Device{
						Target:      f.target,
						Credentials: f.creds,
						Served: func(ctx context.Context) ([]*x509.Certificate, error) {
							return drivertest.ServedChain(ctx, f.dev.TLSAddr(), testName)
						},
						PrivateKeyExported: f.dev.PrivateKeyExported,
						FailInstalls:       f.dev.FailInstalls,
						FailureMessage:     f.dev.FailureMessage(),
					}
				},
			})
			t.Run("checks, cleans up and polls a late commit", func(t *testing.T) {
				f := newFixture(t, ca, bigiplab.Config{Target: target})
				collect(t, f)
				f.dev.AsyncCommits(true)
				sess := f.open(t, New(Config{}))
				check(t, sess)
				// The third rotation's Finalize deletes the first one's
				// objects and the abandoned key.
				f.rotate(t, sess)
				f.issue(t, sess, asset.KeyECDSA256)
				f.rotate(t, sess)
				_, h := f.rotate(t, sess)
				if err := sess.Rollback(context.Background(), h); err != nil {
					t.Fatalf("Rollback: %v", err)
				}
			})
		})
	}
	if t.Failed() {
		return
	}
	unknown, unused := driver.UnlistedRequests(Requests(), calls)
	for _, c := range unknown {
		t.Errorf("the driver sent %q, which its request table (fidelity.go) does not list with a source", c)
	}
	for _, r := range unused {
		t.Errorf("no request matched the table's row %q: the row is stale or the tests do not exercise it", r.Call)
	}
}
