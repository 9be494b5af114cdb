package linux

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/linux/linuxlab"
)

// stagedFiles returns the on-disk paths of the staged key and its CSR for
// a host whose work_dir is workDir (as the route names it).
func (f *fixture) stagedFiles(workDir string) (key, csr string) {
	key = f.host.LocalPath(workDir + "/" + filepath.Base(linuxlab.DefaultKeyPath) + ".ottr-new")
	return key, key + ".csr"
}

func (f *fixture) stagedFilesList(workDir string) []string {
	key, csr := f.stagedFiles(workDir)
	return []string{key, csr}
}

func requireGone(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there: %v", filepath.Base(p), err)
		}
	}
}

func TestARotationRunsOneCommandPerStep(t *testing.T) {
	f := newFixture(t, linuxlab.Config{})
	sess := f.open(t, f.driver())
	ctx := context.Background()
	commandsOf := func(step string, do func() error) {
		t.Helper()
		before := f.host.Commands()
		if err := do(); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if got := f.host.Commands() - before; got != 1 {
			t.Errorf("%s ran %d commands on the host, want 1", step, got)
		}
	}

	commandsOf("CurrentCertificate", func() error { _, err := sess.CurrentCertificate(ctx); return err })
	var chain []*x509.Certificate
	commandsOf("GenerateCSR", func() error { chain = f.issue(t, sess, newCA(t)); return nil })
	// One script, no inspection with openssl; the reload runs in-process
	// and is not a command.
	commandsOf("Install", func() error { _, err := sess.Install(ctx, chain); return err })
	if f.host.Reloads() != 1 || !f.host.Served().Equal(chain[0]) {
		t.Errorf("after %d reloads the host serves %q, want 1 reload and the new certificate", f.host.Reloads(), f.host.Served().Subject.CommonName)
	}
	requireGone(t, f.stagedFilesList(linuxlab.DefaultPathPrefix+"/etc/ssl/ottr")...)
}

func TestInstallWithAWorkDirElsewhereCopiesTheKeyAndCleansUp(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, linuxlab.Config{})
	workDir := linuxlab.DefaultPathPrefix + "/var/lib/ottr"
	f.target.Options["work_dir"] = workDir
	f.target.Options["mode"] = "0640"
	f.target.Options["owner"] = me.Username
	sess := f.open(t, f.driver())
	chain := f.issue(t, sess, newCA(t))
	key, csr := f.stagedFiles(workDir)
	if info, err := os.Stat(key); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("staged key after GenerateCSR: %v, %v; want mode 0600", info, err)
	}

	if _, err := sess.Install(context.Background(), chain); err != nil {
		t.Fatalf("Install: %v", err)
	}
	if !f.host.Served().Equal(chain[0]) {
		t.Error("the host does not serve the new certificate")
	}
	if info, err := os.Stat(f.host.KeyPath()); err != nil || info.Mode().Perm() != 0o640 {
		t.Errorf("key file: %v, %v; want mode 0640", info, err)
	}
	requireGone(t, key, csr, f.host.KeyPath()+".ottr-tmp", f.host.CertPath()+".ottr-tmp")
}

func TestInstallChecksTheStagedKeyWithOpensslWhenItsSavedPublicKeyDiffers(t *testing.T) {
	f := newFixture(t, linuxlab.Config{})
	sess := f.open(t, f.driver())
	chain := f.issue(t, sess, newCA(t))
	key, csr := f.stagedFiles(linuxlab.DefaultPathPrefix + "/etc/ssl/ottr")
	// Another key's public key where the CSR's was saved.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&other.PublicKey)
	if err := os.WriteFile(csr, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}

	before := f.host.Commands()
	if _, err := sess.Install(context.Background(), chain); err != nil {
		t.Fatalf("Install: %v", err)
	}
	if f.host.Commands()-before < 2 {
		t.Error("Install did not inspect the keys after the saved public key disagreed")
	}
	if !f.host.Served().Equal(chain[0]) {
		t.Error("the host does not serve the new certificate")
	}
	requireGone(t, key, csr)
}

func TestAFailedReloadStagesTheNewKeyAgain(t *testing.T) {
	for _, tc := range []struct {
		name    string
		workDir string // empty: key_path's directory
	}{
		{"with the key staged next to key_path", ""},
		{"with the key staged in another directory", linuxlab.DefaultPathPrefix + "/var/lib/ottr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, linuxlab.Config{})
			workDir := linuxlab.DefaultPathPrefix + "/etc/ssl/ottr"
			if tc.workDir != "" {
				workDir = tc.workDir
				f.target.Options["work_dir"] = workDir
			}
			sess := f.open(t, f.driver())
			old := f.host.Served()
			oldKey, _ := os.ReadFile(f.host.KeyPath())
			chain := f.issue(t, sess, newCA(t))
			key, _ := f.stagedFiles(workDir)
			newKey, err := os.ReadFile(key)
			if err != nil {
				t.Fatal(err)
			}

			f.host.FailReloads(true)
			if _, err := sess.Install(context.Background(), chain); err == nil {
				t.Fatal("Install succeeded with failing reloads")
			}
			f.host.FailReloads(false)
			if got, _ := os.ReadFile(f.host.KeyPath()); !bytes.Equal(got, oldKey) {
				t.Error("the key file was not restored")
			}
			if got, err := os.ReadFile(key); err != nil || !bytes.Equal(got, newKey) {
				t.Fatalf("the new key is not staged again: %v", err)
			}
			if info, _ := os.Stat(key); info.Mode().Perm() != 0o600 {
				t.Errorf("the staged key's mode is %v, want 0600", info.Mode().Perm())
			}
			requireGone(t, f.host.KeyPath()+".ottr-tmp", f.host.CertPath()+".ottr-tmp")
			if !f.host.Served().Equal(old) {
				t.Error("the host does not serve its old certificate")
			}

			if _, err := sess.Install(context.Background(), chain); err != nil {
				t.Fatalf("Install once reloads work again: %v", err)
			}
			if !f.host.Served().Equal(chain[0]) {
				t.Error("the host does not serve the new certificate")
			}
			requireGone(t, f.stagedFilesList(workDir)...)
		})
	}
}

func TestCurrentCertificateNeverPrintsAKeyKeptInTheCertificateFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(b []byte) []byte
	}{
		{"a key after the certificate", func(b []byte) []byte { return b }},
		{"CRLF line ends without a final one", func(b []byte) []byte {
			return bytes.TrimSuffix(bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")), []byte("\r\n"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, linuxlab.Config{})
			certPEM, _ := os.ReadFile(f.host.CertPath())
			keyPEM, _ := os.ReadFile(f.host.KeyPath())
			// A key before and after: it must be skipped wherever it is.
			combined := tc.edit(bytes.Join([][]byte{keyPEM, certPEM, keyPEM}, nil))
			if err := os.WriteFile(f.host.CertPath(), combined, 0o600); err != nil {
				t.Fatal(err)
			}
			sess := f.open(t, f.driver())
			chain, err := sess.CurrentCertificate(context.Background())
			if err != nil {
				t.Fatalf("CurrentCertificate: %v", err)
			}
			if len(chain) != 1 || !chain[0].Equal(f.host.Served()) {
				t.Errorf("CurrentCertificate = %d certificates, want the served one", len(chain))
			}
			if f.host.PrivateKeyExported() {
				t.Error("the key in the certificate file left the host")
			}
		})
	}
}

func TestCurrentCertificateOfAHostWithoutOneIsEmpty(t *testing.T) {
	f := newFixture(t, linuxlab.Config{})
	if err := os.Remove(f.host.CertPath()); err != nil {
		t.Fatal(err)
	}
	chain, err := f.open(t, f.driver()).CurrentCertificate(context.Background())
	if err != nil || len(chain) != 0 {
		t.Errorf("CurrentCertificate = %d certificates, %v; want none and no error", len(chain), err)
	}
}

func TestGenerateCSRMakesEveryKeyTypeWithOneOpensslRun(t *testing.T) {
	f := newFixture(t, linuxlab.Config{})
	sess := f.open(t, f.driver())
	key, csrFile := f.stagedFiles(linuxlab.DefaultPathPrefix + "/etc/ssl/ottr")
	for _, kt := range []string{asset.KeyRSA2048, asset.KeyECDSA384} {
		before := f.host.Commands()
		csr, err := sess.GenerateCSR(context.Background(), driver.CSRRequest{CommonName: "web1.example.test", KeyType: kt})
		if err != nil {
			t.Fatalf("GenerateCSR(%s): %v", kt, err)
		}
		if f.host.Commands()-before != 1 {
			t.Errorf("GenerateCSR(%s) ran %d commands, want 1", kt, f.host.Commands()-before)
		}
		keyPEM, err := os.ReadFile(key)
		if err != nil || !bytes.Contains(keyPEM, []byte("-----BEGIN PRIVATE KEY-----")) {
			t.Errorf("staged key for %s is not a PKCS#8 PEM key: %v", kt, err)
		}
		saved, err := os.ReadFile(csrFile)
		if err != nil {
			t.Fatal(err)
		}
		block, rest := pem.Decode(saved)
		if block == nil || block.Type != "PUBLIC KEY" {
			t.Fatalf("the saved CSR file does not start with the public key")
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil || !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(csr.PublicKey) {
			t.Errorf("the saved public key is not the CSR's: %v", err)
		}
		if saved, _ := pem.Decode(rest); saved == nil || !bytes.Equal(saved.Bytes, csr.Raw) {
			t.Error("the saved CSR is not the one returned")
		}
	}
}

func TestAFailedWritePutsTheFilesBackAndKeepsTheKeyStaged(t *testing.T) {
	f := newFixture(t, linuxlab.Config{})
	// chain_path's directory cannot be created: a file has its name.
	f.target.Options["chain_path"] = linuxlab.DefaultPathPrefix + "/etc/ssl/blocked/chain.pem"
	blocker := f.host.LocalPath(linuxlab.DefaultPathPrefix + "/etc/ssl/blocked")
	if err := os.WriteFile(blocker, []byte("not a directory\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sess := f.open(t, f.driver())
	oldCert, _ := os.ReadFile(f.host.CertPath())
	oldKey, _ := os.ReadFile(f.host.KeyPath())
	chain := f.issue(t, sess, newCA(t))

	_, err := sess.Install(context.Background(), chain)
	t.Log(err)
	var cmdErr *CommandError
	if !errors.As(err, &cmdErr) || !strings.Contains(err.Error(), "restored") {
		t.Fatalf("Install error = %v, want a command error saying the files were restored", err)
	}
	if got, _ := os.ReadFile(f.host.CertPath()); !bytes.Equal(got, oldCert) {
		t.Error("the certificate file was not restored")
	}
	if got, _ := os.ReadFile(f.host.KeyPath()); !bytes.Equal(got, oldKey) {
		t.Error("the key file changed")
	}
	key, _ := f.stagedFiles(linuxlab.DefaultPathPrefix + "/etc/ssl/ottr")
	if _, err := os.Stat(key); err != nil {
		t.Errorf("the new key is no longer staged: %v", err)
	}
	requireGone(t, f.host.CertPath()+".ottr-tmp")

	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Install(context.Background(), chain); err != nil {
		t.Fatalf("Install once the directory can be made: %v", err)
	}
	if !f.host.Served().Equal(chain[0]) {
		t.Error("the host does not serve the new certificate")
	}
}

func TestInstallKeepsOnlyTheNewestBackups(t *testing.T) {
	f := newFixture(t, linuxlab.Config{})
	f.target.Options["keep_backups"] = 2
	d := f.driver()
	ca := newCA(t)
	for range 4 {
		sess := f.open(t, d)
		if _, err := sess.Install(context.Background(), f.issue(t, sess, ca)); err != nil {
			t.Fatalf("Install: %v", err)
		}
	}
	dir := filepath.Dir(f.host.CertPath())
	for _, name := range []string{filepath.Base(f.host.CertPath()), filepath.Base(f.host.KeyPath())} {
		backups, _ := filepath.Glob(filepath.Join(dir, "."+name+".ottr-backup-*"))
		if len(backups) != 2 {
			t.Errorf("%d backups of %s after 4 installs, want keep_backups (2): %q", len(backups), name, backups)
		}
	}
}
