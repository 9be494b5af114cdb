package panos

import (
	"context"
	"testing"

	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/panos/panoslab"
)

// TestEveryRequestIsInTheTable runs every flow of the driver against the
// emulator (Check, CurrentCertificate, a CSR, Install, a failed Install
// put back, Finalize, Rollback, and the GlobalProtect binds) and fails on
// any request Requests does not list and on any row no flow sent.
func TestEveryRequestIsInTheTable(t *testing.T) {
	ca := newCA(t)
	ctx := context.Background()
	var calls []string
	collect := func(f *fixture) { calls = append(calls, f.dev.Calls()...) }

	t.Run("management: check, install, a failed install, finalize and rollback", func(t *testing.T) {
		f := newFixture(t, ca, panoslab.Config{})
		defer collect(f)
		if err := f.dev.AddCertificate("ottr-fw1-example-test-20200101-000000-aaaa", signedCertificate(t, ca, deviceName)); err != nil {
			t.Fatal(err)
		}
		if err := f.dev.SetRunning("/config/shared/admin-role", `<entry name="certs"><role><device><xmlapi><config>enable</config>`+
			`<op>enable</op><export>enable</export><import>enable</import><commit>enable</commit></xmlapi></device></role></entry>`); err != nil {
			t.Fatal(err)
		}
		if err := f.dev.SetPermissions(testUser, "<custom><profile>certs</profile></custom>"); err != nil {
			t.Fatal(err)
		}
		sess := f.open(t, newDriver(), f.target)
		if _, err := sess.Check(ctx); err != nil {
			t.Fatalf("Check: %v", err)
		}
		if _, err := sess.CurrentCertificate(ctx); err != nil {
			t.Fatalf("CurrentCertificate: %v", err)
		}
		installed, err := sess.Install(ctx, f.issue(t, sess))
		if err != nil {
			t.Fatalf("Install: %v", err)
		}
		f.dev.FailInstalls(true)
		if _, err := sess.Install(ctx, f.issue(t, sess)); err == nil {
			t.Fatal("an Install whose commit fails succeeded")
		}
		f.dev.FailInstalls(false)
		if err := sess.Finalize(ctx, installed); err != nil {
			t.Fatalf("Finalize: %v", err)
		}
		if err := sess.Rollback(ctx, installed); err != nil {
			t.Fatalf("Rollback: %v", err)
		}
	})
	for _, tc := range []struct{ bind, name string }{
		{"globalprotect-portal", panoslab.GlobalProtectPortal},
		{"globalprotect-gateway", panoslab.GlobalProtectGateway},
	} {
		t.Run(tc.bind+": check, install", func(t *testing.T) {
			f := newFixture(t, ca, panoslab.Config{})
			defer collect(f)
			target := f.withOptions(map[string]any{"bind": tc.bind, "globalprotect_name": tc.name})
			sess := f.open(t, newDriver(), target)
			if _, err := sess.Check(ctx); err != nil {
				t.Fatalf("Check: %v", err)
			}
			if _, err := sess.Install(ctx, f.issue(t, sess)); err != nil {
				t.Fatalf("Install: %v", err)
			}
		})
	}

	unknown, unused := driver.UnlistedRequests(Requests(), calls)
	for _, c := range unknown {
		t.Errorf("the driver sent %q, which Requests does not list: add it with its source", c)
	}
	for _, r := range unused {
		t.Errorf("Requests lists %q, which no flow sent: a flow is missing from this test, or the row is stale", r.Call)
	}
}
