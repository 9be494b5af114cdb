package ssm

import (
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/ssm/ssmlab"
)

func TestARotationSendsTwoCommands(t *testing.T) {
	f := newFixture(t)
	sess := f.open(t, newTestDriver())
	before := f.svc.SendCommandCalls()
	if _, err := sess.Install(context.Background(), f.issue(t, sess, newCA(t))); err != nil {
		t.Fatalf("Install: %v", err)
	}
	if got := f.svc.SendCommandCalls() - before; got != 2 {
		t.Errorf("GenerateCSR and Install sent %d SSM commands, want 2 (one each)", got)
	}
	if got := f.inst.Reloads(); got != 1 {
		t.Errorf("the service was reloaded %d times, want once", got)
	}
}

func TestAFailedReloadReportsTheServiceMessageAndRestores(t *testing.T) {
	f := newFixture(t)
	sess := f.open(t, newTestDriver())
	old := f.served(t)
	oldFile, _ := os.ReadFile(f.inst.CertPath())
	chain := f.issue(t, sess, newCA(t))

	f.inst.FailInstalls(true)
	_, err := sess.Install(context.Background(), chain)
	f.inst.FailInstalls(false)

	t.Log(err)
	var cmdErr *CommandError
	if !errors.As(err, &cmdErr) {
		t.Fatalf("Install error = %v, want a *CommandError", err)
	}
	if cmdErr.Status != "Failed" || cmdErr.ResponseCode != 1 || cmdErr.InstanceID != f.inst.ID() || cmdErr.CommandID == "" {
		t.Errorf("CommandError = %+v, want status Failed, exit code 1, the instance and the command", cmdErr)
	}
	for _, want := range []string{
		"ssm: install: the reload command failed: " + f.inst.FailureMessage(),
		"nginx: configuration file /etc/nginx/nginx.conf test failed",
		"the previous files were restored, but reloading them failed too",
		"Failed, exit code 1",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "failed to run commands") {
		t.Errorf("error %q repeats the agent's exit-status line", err)
	}
	if served := f.served(t); !served[0].Equal(old[0]) {
		t.Error("the instance serves the new certificate after a failed reload")
	}
	if got, _ := os.ReadFile(f.inst.CertPath()); string(got) != string(oldFile) {
		t.Error("the certificate file was not restored")
	}
}

func TestInstallWritesEveryFileAndRollbackWorksFromAnotherProcess(t *testing.T) {
	f := newFixture(t)
	chainPath := ssmlab.DefaultPathPrefix + "/etc/ssl/ottr/chain.pem"
	f.target.Options["chain_path"] = chainPath
	f.target.Options["mode"] = "0640"
	sess := f.open(t, newTestDriver())
	old := f.served(t)
	chain := f.issue(t, sess, newCA(t))

	installed, err := sess.Install(context.Background(), chain)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	if installed["had_previous"] != "true" || !strings.HasPrefix(installed["backup_suffix"], ".ottr-backup-") ||
		installed["instance_id"] != f.inst.ID() {
		t.Errorf("Installed = %v", installed)
	}
	certs := readCerts(t, f.inst.LocalPath(chainPath))
	if len(certs) != 1 || !certs[0].Equal(chain[1]) {
		t.Errorf("chain_path holds %d certificates, want the intermediate alone", len(certs))
	}
	if info, err := os.Stat(f.inst.KeyPath()); err != nil || info.Mode().Perm() != 0o640 {
		t.Errorf("key file: %v, %v; want mode 0640", info, err)
	}
	staged := f.inst.LocalPath(ssmlab.DefaultPathPrefix + "/" + ssmlab.DefaultKeyPath + ".ottr-new")
	for _, p := range []string{staged, staged + ".csr"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there: %v", p, err)
		}
	}
	// Backups are hidden files, so a service loading a whole directory
	// (HAProxy's crt DIR) never loads one.
	backup := filepath.Join(filepath.Dir(f.inst.CertPath()), "."+filepath.Base(f.inst.CertPath())+installed["backup_suffix"])
	if len(readCerts(t, backup)) != 1 {
		t.Errorf("no backup of the old certificate at %s", backup)
	}
	if visible, _ := filepath.Glob(f.inst.CertPath() + ".ottr-backup-*"); len(visible) != 0 {
		t.Errorf("backups beside the live file: %q", visible)
	}

	// A resumed rotation rolls back with only the journaled handle.
	other := f.open(t, newTestDriver())
	if err := other.Rollback(context.Background(), installed); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if served := f.served(t); !served[0].Equal(old[0]) {
		t.Error("after Rollback the instance does not serve its old certificate")
	}
	if _, err := os.Stat(f.inst.LocalPath(chainPath)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Rollback left the chain file that did not exist before: %v", err)
	}
}

func readCerts(t *testing.T, file string) []*x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := driver.ParseCertificates(b)
	if err != nil {
		t.Fatal(err)
	}
	return certs
}

func TestAResumedInstallHandsBackTheFirstBackup(t *testing.T) {
	f := newFixture(t)
	sess := f.open(t, newTestDriver())
	old := f.served(t)
	chain := f.issue(t, sess, newCA(t))
	staged := f.inst.LocalPath(ssmlab.DefaultPathPrefix + "/" + ssmlab.DefaultKeyPath + ".ottr-new")
	stagedKey, err := os.ReadFile(staged)
	if err != nil {
		t.Fatal(err)
	}
	first, err := sess.Install(context.Background(), chain)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	// As if the first run stopped after moving the files into place but
	// before removing the staged key.
	if err := os.WriteFile(staged, stagedKey, 0o600); err != nil {
		t.Fatal(err)
	}

	again, err := sess.Install(context.Background(), chain)
	if err != nil {
		t.Fatalf("resumed Install: %v", err)
	}
	if again["backup_suffix"] != first["backup_suffix"] {
		t.Errorf("the resumed Install points at backup %q, the first made %q", again["backup_suffix"], first["backup_suffix"])
	}
	if _, err := os.Stat(staged); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the staged key is still there: %v", err)
	}
	if err := sess.Rollback(context.Background(), again); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if served := f.served(t); !served[0].Equal(old[0]) {
		t.Error("Rollback with the resumed handle does not bring back the original certificate")
	}
}

func TestInstallRefusesAChainForAKeyTheInstanceDoesNotHave(t *testing.T) {
	f := newFixture(t)
	sess := f.open(t, newTestDriver())
	// A CSR from another endpoint's instance: its key is not on this one.
	other := newFixture(t)
	chain := other.issue(t, other.open(t, newTestDriver()), newCA(t))
	_, err := sess.Install(context.Background(), chain)
	if err == nil || !strings.Contains(err.Error(), "no key on the instance matches") {
		t.Errorf("Install error = %v", err)
	}
}

func TestOutputHoldingAPrivateKeyIsRefused(t *testing.T) {
	f := newFixture(t)
	// A misconfigured reload command that prints the key and fails.
	f.target.Options["reload_command"] = "cat " + ssmlab.DefaultPathPrefix + "/" + ssmlab.DefaultKeyPath + "; false"
	sess := f.open(t, newTestDriver())
	_, err := sess.Install(context.Background(), f.issue(t, sess, newCA(t)))
	if err == nil || !strings.Contains(err.Error(), "wrote a private key") || strings.Contains(err.Error(), "BEGIN") {
		t.Errorf("Install error = %v", err)
	}
	if !f.inst.PrivateKeyExported() {
		t.Error("the emulated instance did not notice the key it sent")
	}
}

func TestRollbackRefusesAHandleFromAnotherInstance(t *testing.T) {
	f := newFixture(t)
	sess := f.open(t, newTestDriver())
	installed, err := sess.Install(context.Background(), f.issue(t, sess, newCA(t)))
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	installed["instance_id"] = "i-0123456789abcdef0"
	err = sess.Rollback(context.Background(), installed)
	if err == nil || !strings.Contains(err.Error(), "the install was on instance i-0123456789abcdef0") {
		t.Errorf("Rollback error = %v", err)
	}
}

func TestInstallKeepsOnlyTheNewestBackupsAsHiddenFiles(t *testing.T) {
	f := newFixture(t)
	f.target.Options["keep_backups"] = 2
	d := newTestDriver()
	ca := newCA(t)
	for range 4 {
		sess := f.open(t, d)
		if _, err := sess.Install(context.Background(), f.issue(t, sess, ca)); err != nil {
			t.Fatalf("Install: %v", err)
		}
	}
	dir := filepath.Dir(f.inst.CertPath())
	for _, name := range []string{filepath.Base(f.inst.CertPath()), filepath.Base(f.inst.KeyPath())} {
		backups, _ := filepath.Glob(filepath.Join(dir, "."+name+".ottr-backup-*"))
		if len(backups) != 2 {
			t.Errorf("%d backups of %s after 4 installs, want keep_backups (2): %q", len(backups), name, backups)
		}
		if visible, _ := filepath.Glob(filepath.Join(dir, name+".ottr-backup-*")); len(visible) != 0 {
			t.Errorf("backups of %s beside it: %q", name, visible)
		}
	}
}

func TestAHandleFromBeforeBackupsWereHiddenStillRollsBack(t *testing.T) {
	f := newFixture(t)
	sess := f.open(t, newTestDriver())
	old := f.served(t)
	oldCert, _ := os.ReadFile(f.inst.CertPath())
	oldKey, _ := os.ReadFile(f.inst.KeyPath())
	installed, err := sess.Install(context.Background(), f.issue(t, sess, newCA(t)))
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	// As an install of the driver before backups were hidden left them:
	// beside the files, and a handle without backup_layout.
	suffix := ".ottr-backup-20250101T000000.000000000Z"
	for file, content := range map[string][]byte{f.inst.CertPath(): oldCert, f.inst.KeyPath(): oldKey} {
		if err := os.WriteFile(file+suffix, content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	installed["backup_suffix"] = suffix
	delete(installed, "backup_layout")

	if err := f.open(t, newTestDriver()).Rollback(context.Background(), installed); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if served := f.served(t); !served[0].Equal(old[0]) {
		t.Error("after Rollback the instance does not serve its old certificate")
	}
}
