package bigip

import (
	"context"
	"crypto/x509"
	"testing"

	"github.com/ottr-go/ottr/internal/driver/drivertest"
	labbigip "github.com/ottr-go/ottr/internal/lab/devices/bigip"
)

func TestConformance(t *testing.T) {
	for _, target := range []string{labbigip.TargetClientSSL, labbigip.TargetHTTPD} {
		t.Run(target, func(t *testing.T) {
			ca := newCA(t)
			drivertest.Run(t, drivertest.Harness{
				Driver: New(Config{}),
				Sign:   ca.Sign,
				AimAt:  drivertest.AimByAPIPort,
				NewDevice: func(t *testing.T) *drivertest.Device {
					f := newFixture(t, ca, labbigip.Config{Target: target})
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
		})
	}
}
