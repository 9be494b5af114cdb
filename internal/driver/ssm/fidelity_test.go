package ssm

import (
	"context"
	"errors"
	"os"
	"os/user"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	labssm "github.com/ottr-go/ottr/internal/lab/devices/ssm"
)

// callLog gathers the calls of every endpoint a test started.
type callLog struct {
	mu       sync.Mutex
	services []*labssm.Service
}

func (l *callLog) add(s *labssm.Service) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.services = append(l.services, s)
}

func (l *callLog) calls() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var calls []string
	for _, s := range l.services {
		calls = append(calls, s.Calls()...)
	}
	return calls
}

// requireListed fails on every call Requests does not list and returns
// the requests no call matched.
func requireListed(t *testing.T, calls []string) []driver.Request {
	t.Helper()
	if len(calls) == 0 {
		t.Fatal("the endpoints recorded no call")
	}
	unknown, unused := driver.UnlistedRequests(Requests(), calls)
	for _, c := range unknown {
		t.Errorf("the driver sent %q, which Requests does not list", c)
	}
	return unused
}

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
		"chain_path": labssm.DefaultPathPrefix + "/etc/ssl/ottr/chain.pem",
		"work_dir":   labssm.DefaultPathPrefix + "/var/lib/ottr",
		"owner":      me.Username,
		"mode":       "0640",
	} {
		f.target.Options[k] = v
	}
	ctx := context.Background()
	sess := f.open(t, newTestDriver())
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
	// key the instance holds.
	if _, err := sess.Install(ctx, chain); err != nil {
		t.Fatalf("second Install: %v", err)
	}
	if err := sess.Rollback(ctx, installed); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	f.inst.FailInstalls(true)
	_, err = sess.Install(ctx, f.issue(t, sess, ca))
	f.inst.FailInstalls(false)
	if err == nil {
		t.Fatal("Install on an instance whose reload fails succeeded")
	}
	abandonACommand(t, f, sess)

	for _, r := range requireListed(t, f.svc.Calls()) {
		t.Errorf("Requests lists %q, which the driver never sent", r.Call)
	}
}

// abandonACommand cancels a CSR while its pre hook hangs, so the driver
// cancels the command.
func abandonACommand(t *testing.T, f *fixture, sess driver.Session) {
	t.Helper()
	started := f.inst.LocalPath(labssm.DefaultPathPrefix + "/hook-started")
	writeHook(t, f, "pre", "10-hang.sh", "touch hook-started; sleep 60", 0o755)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for {
			if _, err := os.Stat(started); err == nil {
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
		t.Error("the abandoned command was not cancelled")
	}
}
