package linuxlab

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// testHost starts a host that accepts the returned client signer.
func testHost(t *testing.T, cfg Config) (*Host, ssh.Signer) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name == "" {
		cfg.Name = "web1.example.test"
	}
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.Password == "" {
		cfg.AuthorizedKey = signer.PublicKey()
	}
	h, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h, signer
}

type result struct {
	stdout, stderr string
	status         int
}

// run executes command on h over SSH, checking the host key.
func run(t *testing.T, h *Host, signer ssh.Signer, command string, stdin []byte) result {
	t.Helper()
	client, err := ssh.Dial("tcp", h.SSHAddr(), &ssh.ClientConfig{
		User:            "ottr",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(h.HostKey()),
	})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	if stdin != nil {
		sess.Stdin = bytes.NewReader(stdin)
	}
	err = sess.Run(command)
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *ssh.ExitError
	switch {
	case errors.As(err, &exitErr):
		res.status = exitErr.ExitStatus()
	case err != nil:
		t.Fatalf("run %q: %v", command, err)
	}
	return res
}

func served(t *testing.T, h *Host) *x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", h.TLSAddr(), &tls.Config{InsecureSkipVerify: true}) // test: observe only
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

// writeKeyPair writes a new self-signed certificate and its key as the
// host's files, returning the certificate.
func writeKeyPair(t *testing.T, h *Host, cn string) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     []string{cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	if err := os.WriteFile(h.KeyPath(), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.CertPath(), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func TestHostServesItsInitialSelfSignedCertificate(t *testing.T) {
	h, _ := testHost(t, Config{Name: "db7.example.test"})
	got := served(t, h)
	if got.Subject.CommonName != "db7.example.test" || !got.Equal(h.Served()) {
		t.Errorf("serves %q, Served() says %q", got.Subject.CommonName, h.Served().Subject.CommonName)
	}
	for _, f := range []string{h.CertPath(), h.KeyPath()} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("initial file missing: %v", err)
		}
	}
}

func TestHostKeepsFilesFromAnEarlierRun(t *testing.T) {
	dir := t.TempDir()
	first, _ := testHost(t, Config{Dir: dir})
	want := first.Served()
	_ = first.Close()
	second, _ := testHost(t, Config{Dir: dir})
	if !second.Served().Equal(want) {
		t.Error("a restarted host made a new certificate instead of loading its files")
	}
}

func TestHostBindsItsOwnLoopbackAddress(t *testing.T) {
	h, _ := testHost(t, Config{TLSAddr: "127.0.0.2:0", SSHAddr: "127.0.0.2:0"})
	if !strings.HasPrefix(h.TLSAddr(), "127.0.0.2:") || !strings.HasPrefix(h.SSHAddr(), "127.0.0.2:") {
		t.Fatalf("listening on %s and %s", h.TLSAddr(), h.SSHAddr())
	}
	served(t, h)
}

func TestStartRefusesUnsafeConfigs(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"a host that would accept anyone", Config{Name: "a", Dir: t.TempDir()}, "neither AuthorizedKey nor Password"},
		{"an SSH server reachable from the network", Config{Name: "a", Dir: t.TempDir(), Password: "x", SSHAddr: "0.0.0.0:0"}, "not a loopback"},
		{"a relative directory", Config{Name: "a", Dir: "lab/a", Password: "x"}, "absolute"},
		{"a directory that would break shell quoting", Config{Name: "a", Dir: "/tmp/it's", Password: "x"}, "quotes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Start(context.Background(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Start error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestCommandsRunInTheHostDirectoryThroughThePrefix(t *testing.T) {
	h, signer := testHost(t, Config{})
	res := run(t, h, signer, "sh -c 'cat > /ottr-lab/note.txt && cat /ottr-lab/note.txt; echo oops >&2; exit 3'", []byte("hello"))
	if res.stdout != "hello" || strings.TrimSpace(res.stderr) != "oops" || res.status != 3 {
		t.Errorf("got %+v", res)
	}
	if b, err := os.ReadFile(filepath.Join(h.cfg.Dir, "note.txt")); err != nil || string(b) != "hello" {
		t.Errorf("file in the host directory: %q, %v", b, err)
	}
}

func TestAShellWrappedCommandRunsInOneShell(t *testing.T) {
	h, signer := testHost(t, Config{})
	// The script's shell is the host process's child, as when a login
	// shell execs "sh -c": no second shell in between.
	for _, command := range []string{`sh -c 'echo $PPID'`, `sudo -n sh -c 'echo $PPID'`, `echo $PPID`} {
		res := run(t, h, signer, command, nil)
		if res.status != 0 || strings.TrimSpace(res.stdout) != strconv.Itoa(os.Getpid()) {
			t.Errorf("%s printed %+v, want this process's pid %d", command, res, os.Getpid())
		}
	}
	// Anything else still goes to the shell as it is.
	if res := run(t, h, signer, `sh -c "exit 7"`, nil); res.status != 7 {
		t.Errorf(`sh -c "exit 7" = %+v`, res)
	}
	if h.Commands() != 4 {
		t.Errorf("Commands() = %d, want 4", h.Commands())
	}
}

func TestReloadLoadsTheFilesIntoTheTLSService(t *testing.T) {
	h, signer := testHost(t, Config{})
	want := writeKeyPair(t, h, "new.example.test")
	for _, command := range []string{"systemctl reload nginx", "sudo -n sh -c 'systemctl reload nginx'"} {
		if res := run(t, h, signer, command, nil); res.status != 0 {
			t.Fatalf("%q: %+v", command, res)
		}
	}
	if got := served(t, h); !got.Equal(want) {
		t.Errorf("serves %q after reload, want the new certificate", got.Subject.CommonName)
	}
	if h.Reloads() != 2 {
		t.Errorf("Reloads() = %d, want 2", h.Reloads())
	}
}

func TestReloadFailureKeepsTheOldCertificate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		breakIt func(t *testing.T, h *Host)
		want    string
	}{
		{"a key that does not match the certificate", func(t *testing.T, h *Host) {
			writeKeyPair(t, h, "a.example.test")
			keyPEM, _ := os.ReadFile(h.KeyPath())
			writeKeyPair(t, h, "b.example.test")
			_ = os.WriteFile(h.KeyPath(), keyPEM, 0o600)
		}, "key values mismatch"},
		{"a certificate file that holds no certificate", func(t *testing.T, h *Host) {
			_ = os.WriteFile(h.CertPath(), []byte("garbage"), 0o644)
		}, "cannot load certificate"},
		{"the fault knob", func(t *testing.T, h *Host) { h.FailReloads(true) }, "FailReloads"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, signer := testHost(t, Config{})
			old := h.Served()
			tc.breakIt(t, h)
			res := run(t, h, signer, "systemctl reload nginx", nil)
			if res.status != 1 || !strings.Contains(res.stderr, "nginx: [emerg]") || !strings.Contains(res.stderr, tc.want) {
				t.Errorf("reload = %+v, want exit 1 and nginx's %q", res, tc.want)
			}
			if !served(t, h).Equal(old) {
				t.Error("a failed reload changed the served certificate")
			}
		})
	}
}

func TestRequireSudoRefusesPlainCommands(t *testing.T) {
	h, signer := testHost(t, Config{RequireSudo: true})
	if res := run(t, h, signer, "true", nil); res.status == 0 || !strings.Contains(res.stderr, "Permission denied") {
		t.Errorf("plain command: %+v", res)
	}
	if res := run(t, h, signer, "sudo -n true", nil); res.status != 0 {
		t.Errorf("sudo command: %+v", res)
	}
}

func TestHostNoticesAPrivateKeyInItsOutput(t *testing.T) {
	h, signer := testHost(t, Config{})
	run(t, h, signer, "openssl x509 -in /ottr-lab/"+DefaultCertPath, nil)
	if h.PrivateKeyExported() {
		t.Fatal("a certificate was taken for a private key")
	}
	run(t, h, signer, "cat /ottr-lab/"+DefaultKeyPath+" >&2", nil)
	if !h.PrivateKeyExported() {
		t.Error("a private key written to stderr went unnoticed")
	}
}

func TestKeyScannerFindsAMarkerSplitAcrossWrites(t *testing.T) {
	var found atomic.Bool
	var out bytes.Buffer
	k := &keyScanner{w: &out, found: &found}
	for _, part := range []string{"-----BEGIN PRIV", "ATE K", "EY-----\n"} {
		if _, err := k.Write([]byte(part)); err != nil {
			t.Fatal(err)
		}
	}
	if !found.Load() || out.String() != "-----BEGIN PRIVATE KEY-----\n" {
		t.Errorf("found=%v out=%q", found.Load(), out.String())
	}
}

func TestMapPathsRewritesOnlyWholePrefixes(t *testing.T) {
	h := &Host{cfg: Config{PathPrefix: "/ottr-lab", Dir: "/srv/h1"}}
	for _, tc := range []struct{ in, want string }{
		{"cat /ottr-lab/a.pem", "cat /srv/h1/a.pem"},
		{"sh -c 'cp -- '\\''/ottr-lab/a'\\'' /ottr-lab/b'", "sh -c 'cp -- '\\''/srv/h1/a'\\'' /srv/h1/b'"},
		{"/ottr-lab/x", "/srv/h1/x"},
		{"cat /usr/ottr-lab/a /ottr-labs/b", "cat /usr/ottr-lab/a /ottr-labs/b"},
	} {
		if got := h.mapPaths(tc.in); got != tc.want {
			t.Errorf("mapPaths(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestUnquoteReadsTheDriversQuoting(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"'systemctl reload nginx'", "systemctl reload nginx", true},
		{`'it'\''s'`, "it's", true},
		{"systemctl", "", false},
		{"'open", "", false},
	} {
		got, ok := unquote(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("unquote(%q) = %q, %v", tc.in, got, ok)
		}
	}
}

func TestHostCountsConnectionsOpenAtOnce(t *testing.T) {
	h, signer := testHost(t, Config{})
	dial := func() *ssh.Client {
		c, err := ssh.Dial("tcp", h.SSHAddr(), &ssh.ClientConfig{User: "ottr", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: ssh.FixedHostKey(h.HostKey())})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	first := dial()
	first.Close()
	for deadline := time.Now().Add(10 * time.Second); h.connections.Load() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the host never saw the first connection close")
		}
	}
	second := dial()
	third := dial()
	defer second.Close()
	defer third.Close()
	if got := h.PeakConnections(); got != 2 {
		t.Errorf("PeakConnections = %d, want 2 (one before, then two at once)", got)
	}
}

func TestCallsNameEachCommandAsTheDriversTableDoes(t *testing.T) {
	h, signer := testHost(t, Config{RecordCalls: true})
	for _, command := range []string{
		`sh -c 'set -e; [ -d /ottr-lab/d ] || mkdir -p -- /ottr-lab/d; v=$(openssl version); exec rm -f -- /ottr-lab/x'`,
		`sudo -n sh -c 'cp -p -- /ottr-lab/etc/ssl/ottr/fullchain.pem /ottr-lab/copy'`,
		`sh -c 'systemctl reload nginx'`,
		`echo plain`,
	} {
		if res := run(t, h, signer, command, nil); res.status != 0 {
			t.Fatalf("%s: %+v", command, res)
		}
	}
	want := []string{
		"ssh sh -c", "ssh mkdir", "ssh openssl version", "ssh rm",
		"ssh sudo -n sh -c", "ssh cp",
		"ssh sh -c", "ssh reload_command",
		"ssh echo plain",
	}
	if got := h.Calls(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Calls() = %q\nwant      %q", got, want)
	}
}

func TestScriptsFindTheReloadProgramButCannotRunIt(t *testing.T) {
	for _, inProcess := range []bool{false, true} {
		h, signer := testHost(t, Config{ReloadCommand: "ottrlabctl reload web", InProcessShell: inProcess})
		if res := run(t, h, signer, `sh -c 'command -v ottrlabctl'`, nil); res.status != 0 || strings.TrimSpace(res.stdout) != "ottrlabctl" {
			t.Errorf("in-process %v: command -v ottrlabctl = %+v, want the reload program found", inProcess, res)
		}
		res := run(t, h, signer, `sh -c 'ottrlabctl reload web'`, []byte{})
		if res.status != 0 {
			t.Errorf("in-process %v: the reload command sent on its own failed: %+v", inProcess, res)
		}
		res = run(t, h, signer, `sh -c 'ottrlabctl reload web && echo done'`, nil)
		if res.status == 0 || !strings.Contains(res.stderr, "sent on its own") {
			t.Errorf("in-process %v: the reload program called from a script = %+v, want it to fail saying why", inProcess, res)
		}
	}
}
