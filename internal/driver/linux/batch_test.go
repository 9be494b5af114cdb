package linux

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"maps"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/devicelock"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/linux/linuxlab"
)

// member is one rotation of a turn on the host: its session, its files
// and the chain it installs.
type member struct {
	sess     driver.Session
	certFile string // on the machine running the test
	before   []byte
	chain    []*x509.Certificate
}

// Three installs into three sites of one host take one turn on it
// together, as the rotations waiting for the host do: each switches its own
// files, and the host reloads once for all of them. When that reload fails,
// every one of them is put back and the host keeps serving what it did.
func TestInstallsOfOneTurnShareTheirReload(t *testing.T) {
	cases := []struct {
		name        string
		failReloads bool
	}{
		{"a reload that works loads every install at once", false},
		{"a reload that fails leaves every site as it was", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, linuxlab.Config{})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			d := f.driver()
			ca := newCA(t)
			members := make([]*member, 3)
			for i := range members {
				target := f.target
				target.Options = maps.Clone(f.target.Options)
				if i > 0 {
					// The other sites of the host: files of their own.
					site := fmt.Sprintf("%s/etc/ssl/site%d", linuxlab.DefaultPathPrefix, i)
					target.Options["cert_path"] = site + "/cert.pem"
					target.Options["key_path"] = site + "/key.pem"
				}
				sess, err := d.Open(ctx, target, f.creds)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = sess.Close() })
				m := &member{sess: sess, certFile: f.host.LocalPath(target.Options["cert_path"].(string)), chain: f.issue(t, sess, ca)}
				m.before, _ = os.ReadFile(m.certFile)
				members[i] = m
			}
			served, reloads := f.host.Served(), f.host.Reloads()

			holds := turnTogether(ctx, t, len(members))
			f.host.FailReloads(c.failReloads)
			errs := make([]error, len(members))
			var wg sync.WaitGroup
			for i, m := range members {
				wg.Go(func() {
					defer holds[i].Unlock()
					_, errs[i] = m.sess.Install(driver.WithBatch(ctx, holds[i]), m.chain)
					holds[i].Settle()
				})
			}
			wg.Wait()
			f.host.FailReloads(false)

			for i, m := range members {
				now, err := os.ReadFile(m.certFile)
				if err != nil && !c.failReloads {
					t.Fatal(err)
				}
				switch {
				case !c.failReloads && errs[i] != nil:
					t.Errorf("install %d: %v", i+1, errs[i])
				case !c.failReloads && !bytes.Equal(now, driver.EncodeCertificates(m.chain)):
					t.Errorf("site %d does not hold its new chain", i+1)
				case c.failReloads && (errs[i] == nil || !strings.Contains(errs[i].Error(), "the previous files were restored")):
					t.Errorf("install %d with a failing reload: %v, want the error saying the previous files were restored", i+1, errs[i])
				case c.failReloads && !bytes.Equal(now, m.before):
					t.Errorf("site %d does not hold its previous file after the failed reload", i+1)
				}
			}
			switch reloaded := f.host.Reloads() - reloads; {
			case !c.failReloads && reloaded != 1:
				t.Errorf("the host reloaded %d times for the turn's three installs, want once", reloaded)
			case !c.failReloads && !f.host.Served().Equal(members[0].chain[0]):
				t.Errorf("the host serves serial %s, want the new certificate", f.host.Served().SerialNumber)
			case c.failReloads && !f.host.Served().Equal(served):
				t.Errorf("after the failed reload the host serves serial %s, want the one it served before", f.host.Served().SerialNumber)
			}
		})
	}
}

// turnTogether returns n holds of one turn on a device: n batch requests
// made while another holds the device, which take the next turn together.
func turnTogether(ctx context.Context, t *testing.T, n int) []*devicelock.Hold {
	t.Helper()
	locker := devicelock.New(nil)
	request := devicelock.Request{Key: "ssh 127.0.0.1:22", Batch: true}
	blocker, err := locker.Lock(ctx, request)
	if err != nil {
		t.Fatal(err)
	}
	var waiting sync.WaitGroup
	waiting.Add(n)
	request.Waiting = func(string) { waiting.Done() }
	holds := make([]*devicelock.Hold, n)
	var locked sync.WaitGroup
	for i := range holds {
		locked.Go(func() {
			var err error
			if holds[i], err = locker.Lock(ctx, request); err != nil {
				t.Error(err)
			}
		})
	}
	waiting.Wait()
	blocker.Unlock()
	locked.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return holds
}
