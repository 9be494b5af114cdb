package linux

import (
	"context"
	"os/user"
	"testing"

	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/drivertest"
	"github.com/ottr-go/ottr/internal/driver/linux/linuxlab"
)

// TestRequestsListEveryCommandTheDriverSends runs every step, rollback,
// a failed install and Check, with every option that changes the scripts
// (sudo, chain_path, work_dir elsewhere, owner, mode), and checks the calls
// against Requests both ways.
func TestRequestsListEveryCommandTheDriverSends(t *testing.T) {
	f := newFixture(t, linuxlab.Config{RecordCalls: true, RequireSudo: true})
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{
		"sudo":       true,
		"chain_path": linuxlab.DefaultPathPrefix + "/etc/ssl/ottr/chain.pem",
		"work_dir":   linuxlab.DefaultPathPrefix + "/var/lib/ottr",
		"owner":      me.Username,
		"mode":       "0640",
	} {
		f.target.Options[k] = v
	}
	drivertest.RunEveryStep(t, f.driver(), f.conformanceDevice(), newCA(t).Sign)

	// Without sudo the scripts go as they are.
	plain := newFixture(t, linuxlab.Config{RecordCalls: true})
	if _, err := plain.open(t, plain.driver()).(driver.Checker).Check(context.Background()); err != nil {
		t.Fatalf("Check without sudo: %v", err)
	}

	for _, r := range drivertest.RequireListed(t, Requests(), append(f.host.Calls(), plain.host.Calls()...)) {
		t.Errorf("Requests lists %q, which the driver never sent", r.Call)
	}
}
