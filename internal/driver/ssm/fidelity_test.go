package ssm

import (
	"context"
	"errors"
	"os"
	"os/user"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/drivertest"
	"github.com/ottr-go/ottr/internal/driver/ssm/ssmlab"
)

// TestRequestsListEveryRequestTheDriverSends runs every step, rollback, a
// failed install, an abandoned command and Check, with every option that
// changes the scripts (chain_path, work_dir elsewhere, owner, mode), and
// checks the calls against Requests both ways.
func TestRequestsListEveryRequestTheDriverSends(t *testing.T) {
	f := newFixture(t)
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{
		"chain_path": ssmlab.DefaultPathPrefix + "/etc/ssl/ottr/chain.pem",
		"work_dir":   ssmlab.DefaultPathPrefix + "/var/lib/ottr",
		"owner":      me.Username,
		"mode":       "0640",
	} {
		f.target.Options[k] = v
	}
	drivertest.RunEveryStep(t, newTestDriver(), newConformanceDeviceOf(f), newCA(t).Sign)
	abandonACommand(t, f, f.open(t, newTestDriver()))

	for _, r := range drivertest.RequireListed(t, Requests(), f.svc.Calls()) {
		t.Errorf("Requests lists %q, which the driver never sent", r.Call)
	}
}

// abandonACommand cancels a CSR while its pre hook hangs, so the driver
// cancels the command. The CSR is cancelled once the hook runs and the
// driver polls: cancelled before SendCommand's answer arrives, the driver
// would not know the command to cancel.
func abandonACommand(t *testing.T, f *fixture, sess driver.Session) {
	t.Helper()
	started := f.inst.LocalPath(ssmlab.DefaultPathPrefix + "/hook-started")
	writeHook(t, f, "pre", "10-hang.sh", "touch hook-started; sleep 60", 0o755)
	polls := func() int {
		n := 0
		for _, c := range f.svc.Calls() {
			if c == "ssm:GetCommandInvocation" {
				n++
			}
		}
		return n
	}
	before := polls()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for {
			if _, err := os.Stat(started); err == nil && polls() > before {
				cancel()
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	_, err := sess.GenerateCSR(ctx, driver.CSRRequest{CommonName: f.target.Asset.CommonName, KeyType: asset.KeyECDSA256})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("GenerateCSR with a hanging hook: %v, want it cancelled", err)
	}
	if !strings.Contains(strings.Join(f.svc.Calls(), "|"), "ssm:CancelCommand") {
		t.Error("the abandoned command was not cancelled with CancelCommand")
	}
}
