package linux

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/linux/linuxlab"
)

// TestABundleSwitchesKeyAndCertificateTogether installs into a bundle
// (key_path is cert_path) again and again while a reader, as a reload of
// another vhost would, reads the file over and over: every read holds a key
// that matches its certificate. Then a rollback restores the first pair,
// which the host serves again.
func TestABundleSwitchesKeyAndCertificateTogether(t *testing.T) {
	for _, shell := range []struct {
		name      string
		inProcess bool
	}{{"in /bin/sh", false}, {"in the in-process shell", true}} {
		t.Run(shell.name, func(t *testing.T) {
			f := newFixture(t, linuxlab.Config{
				CertPath: "etc/ssl/ottr/site.pem", KeyPath: "etc/ssl/ottr/site.pem", InProcessShell: shell.inProcess,
			})
			if f.target.Options["cert_path"] != f.target.Options["key_path"] {
				t.Fatalf("the route names two files: %v and %v", f.target.Options["cert_path"], f.target.Options["key_path"])
			}
			// Every backup stays, the first install's among them.
			f.target.Options["keep_backups"] = 10
			first := f.host.Served()
			bundle := f.host.LocalPath(linuxlab.DefaultPathPrefix + "/etc/ssl/ottr/site.pem")

			var mismatches []string
			reads := 0
			done := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			read := func() {
				data, err := os.ReadFile(bundle)
				if err != nil {
					mismatches = append(mismatches, "read: "+err.Error())
					return
				}
				reads++
				if _, err := tls.X509KeyPair(data, data); err != nil {
					mismatches = append(mismatches, err.Error())
				}
			}
			go func() {
				defer wg.Done()
				for {
					select {
					case <-done:
						return
					default:
						read()
					}
				}
			}()

			ctx := context.Background()
			var handle map[string]string
			var last []*x509.Certificate
			for i := range 5 {
				sess := f.open(t, f.driver())
				last = f.issue(t, sess, newCA(t))
				h, err := sess.Install(ctx, last)
				if err != nil {
					t.Fatalf("install %d: %v", i+1, err)
				}
				if i == 0 {
					handle = h
				}
				_ = sess.Close()
			}
			close(done)
			wg.Wait()
			read()
			if len(mismatches) > 0 {
				t.Errorf("%d of %d reads of the bundle during the installs held no matching pair, first: %s", len(mismatches), reads, mismatches[0])
			}
			if !f.host.Served().Equal(last[0]) {
				t.Fatalf("after the installs the host serves serial %s, want the last certificate's", f.host.Served().SerialNumber)
			}

			sess := f.open(t, f.driver())
			if err := sess.Rollback(ctx, handle); err != nil {
				t.Fatalf("Rollback: %v", err)
			}
			if !f.host.Served().Equal(first) {
				t.Errorf("after the rollback the host serves serial %s, want the first certificate's", f.host.Served().SerialNumber)
			}
			read()
			if len(mismatches) > 0 {
				t.Errorf("after the rollback the bundle holds no matching pair: %s", mismatches[len(mismatches)-1])
			}
		})
	}
}

// TestABundleWhoseReloadFailsIsRestoredAndTheKeyStagedAgain fails the
// reload after a bundle install: the host serves the previous pair from
// the restored bundle, and installing the same chain again works, because
// the new key was staged again from the bundle.
func TestABundleWhoseReloadFailsIsRestoredAndTheKeyStagedAgain(t *testing.T) {
	f := newFixture(t, linuxlab.Config{CertPath: "etc/ssl/ottr/site.pem", KeyPath: "etc/ssl/ottr/site.pem"})
	first := f.host.Served()
	bundle := f.host.LocalPath(linuxlab.DefaultPathPrefix + "/etc/ssl/ottr/site.pem")
	before, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	sess := f.open(t, f.driver())
	chain := f.issue(t, sess, newCA(t))

	f.host.FailReloads(true)
	if _, err := sess.Install(context.Background(), chain); err == nil || !strings.Contains(err.Error(), "the previous files were restored") {
		t.Fatalf("Install with a failing reload: %v, want the error saying the previous files were restored", err)
	}
	f.host.FailReloads(false)
	if after, err := os.ReadFile(bundle); err != nil || !bytes.Equal(after, before) {
		t.Errorf("after the failed reload the bundle is not the previous one (%v)", err)
	}
	if !f.host.Served().Equal(first) {
		t.Errorf("after the failed reload the host serves serial %s, want the previous certificate's", f.host.Served().SerialNumber)
	}

	if _, err := sess.Install(context.Background(), chain); err != nil {
		t.Fatalf("installing the same chain again: %v", err)
	}
	if !f.host.Served().Equal(chain[0]) {
		t.Errorf("after the second install the host serves serial %s, want the new certificate's", f.host.Served().SerialNumber)
	}
	requireGone(t, f.stagedFilesList(linuxlab.DefaultPathPrefix+"/etc/ssl/ottr")...)

	report, err := sess.(driver.Checker).Check(context.Background())
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if report.Failed() {
		t.Errorf("the device check of a bundle fails: %+v", report.Checks)
	}
}
