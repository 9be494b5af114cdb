package linux

import (
	"context"
	"os/user"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/drivertest"
	labhost "github.com/ottr-go/ottr/internal/lab/devices/linux"
)

// TestRequestsListEveryCommandTheDriverSends runs every step, rollback,
// a failed install and Check, with every option that changes the scripts
// (sudo, chain_path, work_dir elsewhere, owner, mode), and checks the calls
// against Requests both ways.
func TestRequestsListEveryCommandTheDriverSends(t *testing.T) {
	f := newFixture(t, labhost.Config{RecordCalls: true, RequireSudo: true})
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{
		"sudo":       true,
		"chain_path": labhost.DefaultPathPrefix + "/etc/ssl/ottr/chain.pem",
		"work_dir":   labhost.DefaultPathPrefix + "/var/lib/ottr",
		"owner":      me.Username,
		"mode":       "0640",
	} {
		f.target.Options[k] = v
	}
	ctx := context.Background()
	sess := f.open(t, New(Config{}))
	if _, err := sess.(driver.Checker).Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if _, err := sess.CurrentCertificate(ctx); err != nil {
		t.Fatalf("CurrentCertificate: %v", err)
	}
	ca := newCA(t)
	chain := f.issue(t, sess, ca)
	installed, err := sess.Install(ctx, chain)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	// The same chain again: a resumed rotation, which asks openssl which
	// key the host holds.
	if _, err := sess.Install(ctx, chain); err != nil {
		t.Fatalf("second Install: %v", err)
	}
	if err := sess.Rollback(ctx, installed); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	f.host.FailReloads(true)
	_, err = sess.Install(ctx, f.issue(t, sess, ca))
	f.host.FailReloads(false)
	if err == nil || !strings.Contains(err.Error(), "restored") {
		t.Fatalf("Install on a host whose reload fails: %v, want the previous files restored", err)
	}

	// Without sudo the scripts go as they are.
	plain := newFixture(t, labhost.Config{RecordCalls: true})
	if _, err := plain.open(t, New(Config{})).(driver.Checker).Check(ctx); err != nil {
		t.Fatalf("Check without sudo: %v", err)
	}

	for _, r := range drivertest.RequireListed(t, Requests(), append(f.host.Calls(), plain.host.Calls()...)) {
		t.Errorf("Requests lists %q, which the driver never sent", r.Call)
	}
}
