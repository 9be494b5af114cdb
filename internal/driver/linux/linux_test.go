package linux

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/drivertest"
	"github.com/ottr-go/ottr/internal/driver/linux/linuxlab"
)

// fixture is one emulated host and everything needed to open a session on
// it.
type fixture struct {
	host   *linuxlab.Host
	target driver.Target
	creds  driver.Credentials
	// knownHosts is the known_hosts file that holds the host's key.
	knownHosts string
}

// newFixture starts an emulated host that accepts a fresh SSH key (and the
// password, when cfg sets one) and writes its host key to a known_hosts file.
func newFixture(t testing.TB, cfg linuxlab.Config) *fixture {
	t.Helper()
	return newFixtureIn(t, cfg, filepath.Join(t.TempDir(), "known_hosts"))
}

// newFixtureIn is newFixture adding the host key to knownHosts, which may
// hold other hosts' keys already, as the file of a fleet does.
func newFixtureIn(t testing.TB, cfg linuxlab.Config, knownHosts string) *fixture {
	t.Helper()
	requireTools(t)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	creds := driver.Credentials{Username: "ottr", Password: cfg.Password}
	if cfg.Password == "" {
		cfg.AuthorizedKey = signer.PublicKey()
		creds.PrivateKey = pem.EncodeToMemory(block)
	}
	if cfg.Name == "" {
		cfg.Name = "web1.example.test"
	}
	cfg.Dir = filepath.Join(t.TempDir(), "host")
	cfg.User = "ottr"
	host, err := linuxlab.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = host.Close() })

	line := knownhosts.Line([]string{knownhosts.Normalize(host.SSHAddr())}, host.HostKey())
	file, err := os.OpenFile(knownHosts, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := file.WriteString(line + "\n"); err != nil {
		t.Fatal(err)
	}
	if err := file.Close(); err != nil {
		t.Fatal(err)
	}
	return &fixture{
		host: host,
		target: driver.Target{
			Asset: asset.Asset{
				SystemName:             cfg.Name,
				CommonName:             cfg.Name,
				SubjectAlternativeName: []string{cfg.Name, "www.example.test"},
				IPAddress:              "127.0.0.1",
			},
			Options: host.RouteOptions(),
		},
		creds:      creds,
		knownHosts: knownHosts,
	}
}

// driver returns a driver that verifies host keys against f's known_hosts
// file.
func (f *fixture) driver() *Driver {
	return New(Config{KnownHostsFile: f.knownHosts})
}

// requireTools fails (never skips) when the emulated host cannot run what
// the driver sends it.
func requireTools(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"openssl", "cp", "mv", "rm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the emulated Linux host needs %s on PATH: %v", tool, err)
		}
	}
}

func (f *fixture) open(t testing.TB, d *Driver) driver.Session {
	t.Helper()
	sess, err := d.Open(context.Background(), f.target, f.creds)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = sess.Close() })
	return sess
}

// issue has the host make a CSR and signs it with ca.
func (f *fixture) issue(t testing.TB, sess driver.Session, ca *drivertest.TestCA) []*x509.Certificate {
	t.Helper()
	ctx := context.Background()
	csr, err := sess.GenerateCSR(ctx, driver.CSRRequest{
		CommonName: f.target.Asset.CommonName, DNSNames: f.target.Asset.Names(), KeyType: asset.KeyECDSA256,
	})
	if err != nil {
		t.Fatalf("GenerateCSR: %v", err)
	}
	chain, err := ca.Sign(ctx, csr)
	if err != nil {
		t.Fatal(err)
	}
	return chain
}

func newCA(t testing.TB) *drivertest.TestCA {
	t.Helper()
	ca, err := drivertest.NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// TestConformance runs the suite on hosts whose scripts run in /bin/sh, as
// on a real host, and on hosts with the lab fleet's in-process shell.
func TestConformance(t *testing.T) {
	for _, shell := range []struct {
		name      string
		inProcess bool
	}{{"with /bin/sh", false}, {"with the in-process shell", true}} {
		t.Run(shell.name, func(t *testing.T) {
			log := &drivertest.CallLog{}
			knownHosts := filepath.Join(t.TempDir(), "known_hosts")
			drivertest.Run(t, drivertest.Harness{
				Driver: New(Config{KnownHostsFile: knownHosts}),
				NewDevice: func(t *testing.T) *drivertest.Device {
					f := newFixtureIn(t, linuxlab.Config{InProcessShell: shell.inProcess, RecordCalls: true}, knownHosts)
					log.Add(f.host.Calls)
					return f.conformanceDevice()
				},
			})
			drivertest.RequireListed(t, Requests(), log.Calls())
		})
	}
}

func TestHostKeyVerification(t *testing.T) {
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	otherKey, _ := ssh.NewSignerFromKey(otherPriv)

	for _, tc := range []struct {
		name       string
		knownHosts func(f *fixture, dir string) string
		want       []string
	}{
		{
			name: "refuses a host whose key differs from the one in known_hosts",
			knownHosts: func(f *fixture, dir string) string {
				return writeFile(dir, knownhosts.Line([]string{knownhosts.Normalize(f.host.SSHAddr())}, otherKey.PublicKey()))
			},
			want: []string{"does not match", "refusing to connect", "ssh-keygen -R", "ssh-keyscan -p"},
		},
		{
			name: "refuses a host that is not in known_hosts",
			knownHosts: func(f *fixture, dir string) string {
				return writeFile(dir, knownhosts.Line([]string{"other.example.test"}, otherKey.PublicKey()))
			},
			want: []string{"is unknown", "refusing to connect", "ssh-keyscan -p"},
		},
		{
			name:       "refuses when the known_hosts file does not exist",
			knownHosts: func(_ *fixture, dir string) string { return filepath.Join(dir, "missing") },
			want:       []string{"does not exist", "ssh-keyscan -p"},
		},
		{
			name:       "refuses when no known_hosts file is configured",
			knownHosts: func(*fixture, string) string { return "" },
			want:       []string{"no known_hosts file is configured", "ssh-keyscan -p"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, linuxlab.Config{})
			f.knownHosts = tc.knownHosts(f, t.TempDir())
			_, err := f.driver().Open(context.Background(), f.target, f.creds)
			if err == nil {
				t.Fatal("Open succeeded")
			}
			t.Log(err)
			msg := err.Error()
			_, port, _ := strings.Cut(f.host.SSHAddr(), ":")
			for _, want := range append(tc.want, "127.0.0.1", port) {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
			if f.host.Reloads() != 0 {
				t.Error("the host ran commands")
			}
		})
	}
}

func writeFile(dir, line string) string {
	p := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(p, []byte(line+"\n"), 0o600); err != nil {
		panic(err)
	}
	return p
}

func TestPasswordLogin(t *testing.T) {
	f := newFixture(t, linuxlab.Config{Password: "s3cret-Pa55"})
	sess := f.open(t, f.driver())
	chain, err := sess.CurrentCertificate(context.Background())
	if err != nil {
		t.Fatalf("CurrentCertificate: %v", err)
	}
	if len(chain) != 1 || !chain[0].Equal(f.host.Served()) {
		t.Errorf("CurrentCertificate = %d certificates, want the served one", len(chain))
	}

	f.creds.Password = "wrong-Pa55"
	_, err = f.driver().Open(context.Background(), f.target, f.creds)
	if err == nil || strings.Contains(err.Error(), "Pa55") {
		t.Errorf("Open with a wrong password: %v", err)
	}
}

func TestOpenRefusesUnusableCredentials(t *testing.T) {
	f := newFixture(t, linuxlab.Config{})
	for _, tc := range []struct {
		name  string
		creds driver.Credentials
		want  string
	}{
		{"no key and no password", driver.Credentials{Username: "ottr"}, "neither a private key nor a password"},
		{"no username", driver.Credentials{Password: "x"}, "no username"},
		{"a key that is not a key", driver.Credentials{Username: "ottr", PrivateKey: []byte("not a key")}, "cannot be parsed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.driver().Open(context.Background(), f.target, tc.creds)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "linux: open: ") {
				t.Errorf("Open error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestOpenFailsOnAStoppedHost(t *testing.T) {
	f := newFixture(t, linuxlab.Config{})
	_ = f.host.Close()
	_, err := f.driver().Open(context.Background(), f.target, f.creds)
	if err == nil || !strings.Contains(err.Error(), "connect to 127.0.0.1:") {
		t.Errorf("Open error = %v, want a connect error naming the address", err)
	}
}

func TestOpenHonoursACancelledContext(t *testing.T) {
	f := newFixture(t, linuxlab.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.driver().Open(ctx, f.target, f.creds); !errors.Is(err, context.Canceled) {
		t.Errorf("Open error = %v, want context.Canceled", err)
	}
}

func TestReloadFailureRestoresThePreviousFiles(t *testing.T) {
	f := newFixture(t, linuxlab.Config{})
	sess := f.open(t, f.driver())
	oldServed := f.host.Served()
	oldFile, _ := os.ReadFile(f.host.CertPath())
	chain := f.issue(t, sess, newCA(t))

	f.host.FailReloads(true)
	_, err := sess.Install(context.Background(), chain)
	f.host.FailReloads(false)

	t.Log(err)
	var cmdErr *CommandError
	if !errors.As(err, &cmdErr) {
		t.Fatalf("Install error = %v, want a *CommandError", err)
	}
	if cmdErr.ExitStatus != 1 || !strings.Contains(cmdErr.Stderr, "nginx: [emerg]") {
		t.Errorf("CommandError = %+v, want exit status 1 and nginx's message", cmdErr)
	}
	for _, want := range []string{"linux: reload: exit status 1", "nginx: [emerg]", "restored"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if !f.host.Served().Equal(oldServed) {
		t.Error("the host serves the new certificate after a failed reload")
	}
	if got, _ := os.ReadFile(f.host.CertPath()); string(got) != string(oldFile) {
		t.Error("the certificate file was not restored")
	}
}

func TestInstallWritesEveryFileAndRollbackWorksFromAnotherProcess(t *testing.T) {
	f := newFixture(t, linuxlab.Config{})
	chainPath := linuxlab.DefaultPathPrefix + "/etc/ssl/ottr/chain.pem"
	f.target.Options["chain_path"] = chainPath
	f.target.Options["mode"] = "0640"
	sess := f.open(t, f.driver())
	old := f.host.Served()
	chain := f.issue(t, sess, newCA(t))

	installed, err := sess.Install(context.Background(), chain)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	if installed["had_previous"] != "true" || !strings.HasPrefix(installed["backup_suffix"], ".ottr-backup-") {
		t.Errorf("Installed = %v", installed)
	}
	certs := readCerts(t, f.host.LocalPath(chainPath))
	if len(certs) != 1 || !certs[0].Equal(chain[1]) {
		t.Errorf("chain_path holds %d certificates, want the intermediate alone", len(certs))
	}
	if info, err := os.Stat(f.host.KeyPath()); err != nil || info.Mode().Perm() != 0o640 {
		t.Errorf("key file mode = %v, %v; want 0640", info.Mode().Perm(), err)
	}
	staged := f.host.LocalPath(linuxlab.DefaultPathPrefix + "/" + linuxlab.DefaultKeyPath + ".ottr-new")
	if _, err := os.Stat(staged); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the staged key is still there: %v", err)
	}
	// Backups are hidden files, so a service loading a whole directory
	// (HAProxy's crt DIR) never loads one.
	backup := filepath.Join(filepath.Dir(f.host.CertPath()), "."+filepath.Base(f.host.CertPath())+installed["backup_suffix"])
	if len(readCerts(t, backup)) != 1 {
		t.Errorf("no backup of the old certificate at %s", backup)
	}
	if visible, _ := filepath.Glob(f.host.CertPath() + ".ottr-backup-*"); len(visible) != 0 {
		t.Errorf("backups beside the live file: %q", visible)
	}

	// A resumed rotation rolls back with only the journaled handle.
	sess.Close()
	other := f.open(t, f.driver())
	if err := other.Rollback(context.Background(), installed); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if !f.host.Served().Equal(old) {
		t.Error("after Rollback the host does not serve its old certificate")
	}
	if _, err := os.Stat(f.host.LocalPath(chainPath)); !errors.Is(err, os.ErrNotExist) {
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

func TestInstallRefusesAChainForAKeyTheHostDoesNotHave(t *testing.T) {
	f := newFixture(t, linuxlab.Config{})
	sess := f.open(t, f.driver())
	// A CSR from another host: its key is not on this one.
	other := newFixture(t, linuxlab.Config{Name: "web2.example.test"})
	chain := other.issue(t, other.open(t, other.driver()), newCA(t))
	_, err := sess.Install(context.Background(), chain)
	if err == nil || !strings.Contains(err.Error(), "no key on the host matches") {
		t.Errorf("Install error = %v", err)
	}
}

func TestSudoWrapsEveryCommand(t *testing.T) {
	f := newFixture(t, linuxlab.Config{RequireSudo: true})
	sess := f.open(t, f.driver())
	if _, err := sess.CurrentCertificate(context.Background()); err == nil || !strings.Contains(err.Error(), "Permission denied") {
		t.Fatalf("without sudo: %v", err)
	}

	f.target.Options["sudo"] = true
	sess = f.open(t, f.driver())
	installed, err := sess.Install(context.Background(), f.issue(t, sess, newCA(t)))
	if err != nil {
		t.Fatalf("Install with sudo: %v", err)
	}
	if err := sess.Rollback(context.Background(), installed); err != nil {
		t.Fatalf("Rollback with sudo: %v", err)
	}
}

func TestOutputHoldingAPrivateKeyIsRefused(t *testing.T) {
	f := newFixture(t, linuxlab.Config{})
	// A misconfigured reload command that prints the key.
	f.target.Options["reload_command"] = "cat " + linuxlab.DefaultPathPrefix + "/" + linuxlab.DefaultKeyPath
	sess := f.open(t, f.driver())
	_, err := sess.Install(context.Background(), f.issue(t, sess, newCA(t)))
	if err == nil || !strings.Contains(err.Error(), "wrote a private key") || strings.Contains(err.Error(), "BEGIN") {
		t.Errorf("Install error = %v", err)
	}
	if !f.host.PrivateKeyExported() {
		t.Error("the emulated host did not notice the key it sent")
	}
}

func TestGenerateCSRRefusesBadRequestsBeforeRunningAnything(t *testing.T) {
	f := newFixture(t, linuxlab.Config{})
	sess := f.open(t, f.driver())
	for _, tc := range []struct {
		name string
		req  driver.CSRRequest
		want string
	}{
		{"a name that is not a DNS name", driver.CSRRequest{CommonName: "a.example.test", DNSNames: []string{"x/CN=evil"}, KeyType: asset.KeyRSA2048}, "not a DNS name"},
		{"a key type the driver does not know", driver.CSRRequest{CommonName: "a.example.test", KeyType: "dsa1024"}, "unsupported key type"},
		{"no common name", driver.CSRRequest{KeyType: asset.KeyRSA2048}, "no common name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sess.GenerateCSR(context.Background(), tc.req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("GenerateCSR error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestAResumedInstallHandsBackTheFirstBackup(t *testing.T) {
	f := newFixture(t, linuxlab.Config{})
	sess := f.open(t, f.driver())
	old := f.host.Served()
	chain := f.issue(t, sess, newCA(t))
	staged := f.host.LocalPath(linuxlab.DefaultPathPrefix + "/" + linuxlab.DefaultKeyPath + ".ottr-new")
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
	if !f.host.Served().Equal(old) {
		t.Error("Rollback with the resumed handle does not bring back the original certificate")
	}
}
