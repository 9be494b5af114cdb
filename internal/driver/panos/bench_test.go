package panos

import (
	"context"
	"testing"

	"github.com/ottr-go/ottr/internal/driver/panos/panoslab"
)

// BenchmarkRotation measures the driver's side of one rotation against the
// emulator: log in, CSR (ECDSA P-256), install with commit, finalize.
func BenchmarkRotation(b *testing.B) {
	f := newFixture(b, newCA(b), panoslab.Config{})
	d := newDriver()
	ctx := context.Background()
	for b.Loop() {
		sess, err := d.Open(ctx, f.target, f.creds)
		if err != nil {
			b.Fatal(err)
		}
		installed, err := sess.Install(ctx, f.issue(b, sess))
		if err != nil {
			b.Fatal(err)
		}
		if err := sess.(*session).Finalize(ctx, installed); err != nil {
			b.Fatal(err)
		}
		_ = sess.Close()
	}
}
