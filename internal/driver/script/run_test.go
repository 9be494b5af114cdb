package script

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
)

// writeScript writes an executable sh script and returns its path.
func writeScript(t testing.TB, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// scriptSession opens a session whose four scripts are the given bodies
// (an empty body means a script that exits 0).
type scripts struct{ generate, install, rollback, current string }

type harness struct {
	dir    string
	target driver.Target
	creds  driver.Credentials
	logs   *lineLog
	driver *Driver
}

type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineLog) log(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *lineLog) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func newHarness(t *testing.T, s scripts) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{dir: dir, logs: &lineLog{}}
	h.driver = New(Config{Log: h.logs.log, KnownHostsFile: "/etc/ottr/known_hosts"})
	h.target = driver.Target{
		Asset: asset.Asset{
			SystemName: "fw1.example.test", CommonName: "fw1.example.test",
			SubjectAlternativeName: []string{"fw1.example.test", "vpn.example.test"},
			IPAddress:              "192.0.2.10", Port: 8443, DataCenter: "dc1", HostPlatform: "junos",
			OSVersion: "18.2R3", DeviceModel: "SRX5600", KeyType: asset.KeyECDSA256, Credentials: "junos-admin",
		},
		Options: map[string]any{
			"generate_csr":        writeScript(t, dir, "generate_csr", s.generate),
			"install_certificate": writeScript(t, dir, "install_certificate", s.install),
			"rollback":            writeScript(t, dir, "rollback", s.rollback),
			"current_certificate": writeScript(t, dir, "current_certificate", s.current),
			"plain_env":           map[string]any{"RECORD_DIR": dir, "SITE": "ams"},
			// As the rotation hands it over: the reference resolved.
			"env": map[string]any{"API_TOKEN": apiToken},
		},
	}
	h.creds = driver.Credentials{Username: "netops", Password: "s3cret-Pa55word", PrivateKey: testKeyPEM(t)}
	return h
}

func (h *harness) open(t *testing.T) driver.Session {
	t.Helper()
	sess, err := h.driver.Open(context.Background(), h.target, h.creds)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = sess.Close() })
	return sess
}

func (h *harness) read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(h.dir, name))
	if err != nil {
		t.Fatalf("the script left no %s: %v", name, err)
	}
	return string(b)
}

func testKeyPEM(t testing.TB) []byte {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// apiToken is the secret the harness's route gives scripts in env.
const apiToken = "tok-Resolved-7f3a9c"

// recorder is a script body that keeps what it was given.
const recorder = `env | grep '^OTTR_' | sort > "$RECORD_DIR/env"
echo "SITE=$SITE" >> "$RECORD_DIR/env"
echo "API_TOKEN=$API_TOKEN" >> "$RECORD_DIR/env"
echo "$#" > "$RECORD_DIR/args"
pwd > "$RECORD_DIR/pwd"
cat > "$RECORD_DIR/stdin"
if [ -n "${OTTR_PRIVATE_KEY_FILE-}" ]; then
	stat -c %a "$OTTR_PRIVATE_KEY_FILE" > "$RECORD_DIR/keymode"
	cat "$OTTR_PRIVATE_KEY_FILE" > "$RECORD_DIR/key"
fi
`

func TestScriptsGetTheAssetInTheirEnvironmentAndOnStandardInput(t *testing.T) {
	t.Setenv("OTTR_WORKER_SECRET", "not-for-scripts")
	h := newHarness(t, scripts{current: recorder})
	sess := h.open(t)
	if _, err := sess.CurrentCertificate(context.Background()); err != nil {
		t.Fatalf("CurrentCertificate: %v", err)
	}

	env := h.read(t, "env")
	for _, want := range []string{
		"OTTR_STEP=current_certificate", "OTTR_SYSTEM_NAME=fw1.example.test", "OTTR_COMMON_NAME=fw1.example.test",
		"OTTR_SANS=fw1.example.test,vpn.example.test", "OTTR_KEY_TYPE=ecdsa256", "OTTR_IP_ADDRESS=192.0.2.10",
		"OTTR_PORT=8443", "OTTR_DATA_CENTER=dc1", "OTTR_HOST_PLATFORM=junos", "OTTR_OS_VERSION=18.2R3",
		"OTTR_DEVICE_MODEL=SRX5600", "OTTR_KNOWN_HOSTS_FILE=/etc/ottr/known_hosts", "OTTR_USERNAME=netops",
		"OTTR_PASSWORD=s3cret-Pa55word", "OTTR_PRIVATE_KEY_FILE=", "SITE=ams", "API_TOKEN=" + apiToken,
	} {
		if !strings.Contains(env, want) {
			t.Errorf("the script's environment lacks %s:\n%s", want, env)
		}
	}
	if strings.Contains(env, "OTTR_WORKER_SECRET") {
		t.Error("the worker's own variables reached the script")
	}
	if got := strings.TrimSpace(h.read(t, "args")); got != "0" {
		t.Errorf("the script got %s arguments, want none", got)
	}
	if got := strings.TrimSpace(h.read(t, "keymode")); got != "600" {
		t.Errorf("the private key file has mode %s, want 600", got)
	}
	if h.read(t, "key") != string(h.creds.PrivateKey) {
		t.Error("the private key file does not hold the credentials' key")
	}
	keyFile := strings.TrimPrefix(grepLine(env, "OTTR_PRIVATE_KEY_FILE="), "OTTR_PRIVATE_KEY_FILE=")
	if _, err := os.Stat(keyFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the private key file %s is still there after the run: %v", keyFile, err)
	}

	stdin := h.read(t, "stdin")
	var input struct {
		Step  string         `json:"step"`
		Asset map[string]any `json:"asset"`
	}
	if err := json.Unmarshal([]byte(stdin), &input); err != nil {
		t.Fatalf("standard input is not JSON: %v\n%s", err, stdin)
	}
	if input.Step != "current_certificate" || input.Asset["system_name"] != "fw1.example.test" || input.Asset["device_model"] != "SRX5600" {
		t.Errorf("standard input = %s", stdin)
	}
	if _, named := input.Asset["credentials"]; named {
		t.Error("standard input names the asset's credentials")
	}
	for _, secret := range []string{h.creds.Password, "PRIVATE KEY"} {
		if strings.Contains(stdin, secret) {
			t.Errorf("standard input carries %q", secret)
		}
	}
	if pwd := strings.TrimSpace(h.read(t, "pwd")); pwd != sess.(*session).dir {
		t.Errorf("the script ran in %s, want the session's private directory", pwd)
	}
}

func grepLine(text, prefix string) string {
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return ""
}

func TestGenerateCSRGetsTheRequest(t *testing.T) {
	h := newHarness(t, scripts{generate: recorder})
	sess := h.open(t)
	_, err := sess.GenerateCSR(context.Background(), driver.CSRRequest{
		CommonName: "fw1.example.test", DNSNames: []string{"fw1.example.test", "vpn.example.test", "mgmt.example.test"}, KeyType: asset.KeyRSA3072,
	})
	if err == nil || !strings.Contains(err.Error(), "printed no PEM certificate request") {
		t.Errorf("GenerateCSR of a script printing nothing: %v", err)
	}
	env := h.read(t, "env")
	for _, want := range []string{"OTTR_STEP=generate_csr", "OTTR_KEY_TYPE=rsa3072", "OTTR_SANS=fw1.example.test,vpn.example.test,mgmt.example.test"} {
		if !strings.Contains(env, want) {
			t.Errorf("environment lacks %s", want)
		}
	}
	var input struct {
		Request csrInput `json:"request"`
	}
	if err := json.Unmarshal([]byte(h.read(t, "stdin")), &input); err != nil {
		t.Fatal(err)
	}
	if input.Request.KeyType != "rsa3072" || len(input.Request.DNSNames) != 3 || input.Request.CommonName != "fw1.example.test" {
		t.Errorf("request on standard input = %+v", input.Request)
	}
}

func TestInstallGetsTheChainAndReturnsTheHandleItPrints(t *testing.T) {
	for _, tc := range []struct {
		name    string
		install string
		want    driver.Installed
		err     string
	}{
		{"a handle line among other output", `cat > "$RECORD_DIR/chain"; echo "device: applied"; echo 'OTTR_HANDLE {"backup":"/cfg/old.pem","commit":"17"}'`,
			driver.Installed{"backup": "/cfg/old.pem", "commit": "17"}, ""},
		{"no handle line", `cat > "$RECORD_DIR/chain"`, driver.Installed{}, ""},
		{"a handle that is not JSON", `echo 'OTTR_HANDLE backup=/cfg/old.pem'`, nil, "not a JSON object"},
		{"a handle with a number", `echo 'OTTR_HANDLE {"commit":17}'`, nil, `whose "commit" is float64, not a string`},
		{"two handle lines", `echo 'OTTR_HANDLE {}'; echo 'OTTR_HANDLE {}'`, nil, "more than one OTTR_HANDLE line"},
		{"a private key printed", `echo '-----BEGIN PRIVATE KEY-----'; echo 'MIGHAgEAMBMGByqGSM49'; echo '-----END PRIVATE KEY-----'`, nil, "printed a private key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, scripts{install: tc.install})
			sess := h.open(t)
			chain := []*x509.Certificate{testCertificate(t, "fw1.example.test"), testCertificate(t, "intermediate")}
			got, err := sess.Install(context.Background(), chain)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Install error = %v, want %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "MIGHAgEAMBMGByqGSM49") {
					t.Error("the error carries the printed key")
				}
				return
			}
			if err != nil {
				t.Fatalf("Install: %v", err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("handle = %v, want %v", got, tc.want)
			}
			certs, err := driver.ParseCertificates([]byte(h.read(t, "chain")))
			if err != nil || len(certs) != 2 || !certs[0].Equal(chain[0]) || !certs[1].Equal(chain[1]) {
				t.Errorf("the script read %d certificates, not the chain leaf first (%v)", len(certs), err)
			}
		})
	}
}

func TestRollbackGetsTheHandleInItsEnvironmentAndOnStandardInput(t *testing.T) {
	h := newHarness(t, scripts{rollback: recorder})
	sess := h.open(t)
	if err := sess.Rollback(context.Background(), driver.Installed{"backup": "/cfg/old.pem"}); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if !strings.Contains(h.read(t, "env"), `OTTR_HANDLE={"backup":"/cfg/old.pem"}`) {
		t.Error("OTTR_HANDLE is not the handle's JSON")
	}
	if !strings.Contains(h.read(t, "stdin"), `"handle":{"backup":"/cfg/old.pem"}`) {
		t.Error("standard input does not carry the handle")
	}

	delete(h.target.Options, "rollback")
	err := h.open(t).Rollback(context.Background(), driver.Installed{})
	if err == nil || !strings.Contains(err.Error(), `names no rollback executable`) {
		t.Errorf("Rollback without a rollback script: %v", err)
	}
}

func TestAFailedScriptReportsItsStatusAndLastLinesWithSecretsRedacted(t *testing.T) {
	h := newHarness(t, scripts{install: `i=1
while [ $i -le 30 ]; do
	printf 'line-%02d\n' $i >&2
	if [ $i -eq 25 ]; then echo "login with $OTTR_PASSWORD failed" >&2; fi
	if [ $i -eq 26 ]; then echo "token $API_TOKEN refused" >&2; fi
	i=$((i + 1))
done
echo '-----BEGIN PRIVATE KEY-----' >&2
sed -n 2p "$OTTR_PRIVATE_KEY_FILE" >&2
echo '-----END PRIVATE KEY-----' >&2
sed -n 2p "$OTTR_PRIVATE_KEY_FILE" >&2
exit 7
`})
	sess := h.open(t)
	_, err := sess.Install(context.Background(), []*x509.Certificate{testCertificate(t, "fw1.example.test")})
	var scriptErr *ScriptError
	if !errors.As(err, &scriptErr) {
		t.Fatalf("Install error = %v, want a *ScriptError", err)
	}
	t.Log(err)
	if scriptErr.ExitCode != 7 || len(scriptErr.Stderr) != 20 {
		t.Errorf("ScriptError = %d lines, status %d; want 20 lines, status 7", len(scriptErr.Stderr), scriptErr.ExitCode)
	}
	msg := err.Error()
	for _, want := range []string{"script: install: install_certificate (", "exited with status 7", "line-30", "line-15", "login with [redacted] failed", "token [redacted] refused", "[private key redacted]"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error does not contain %q", want)
		}
	}
	keyLine := strings.Split(string(h.creds.PrivateKey), "\n")[1]
	for _, leaked := range []string{"line-14\n", h.creds.Password, keyLine, apiToken} {
		if strings.Contains(msg+"\n", leaked) {
			t.Errorf("the error contains %q", leaked)
		}
	}
	logged := h.logs.all()
	if !strings.Contains(logged, "install_certificate: line-01") || !strings.Contains(logged, "login with [redacted] failed") {
		t.Errorf("the rotation log lacks the script's lines:\n%s", logged)
	}
	if strings.Contains(logged, h.creds.Password) || strings.Contains(logged, keyLine) || strings.Contains(logged, apiToken) {
		t.Error("the rotation log carries a secret")
	}
}

func TestATimedOutScriptIsKilledWithItsWholeProcessGroup(t *testing.T) {
	h := newHarness(t, scripts{install: `sleep 300 &
echo $! > "$RECORD_DIR/child"
echo "waiting for the device" >&2
sleep 300
`})
	// Long enough for the script to start its child and say so before it
	// is killed, however loaded the machine; it would sleep far longer.
	h.target.Options["timeout"] = "5s"
	sess := h.open(t)
	_, err := sess.Install(context.Background(), []*x509.Certificate{testCertificate(t, "fw1.example.test")})
	var scriptErr *ScriptError
	if !errors.As(err, &scriptErr) || !scriptErr.TimedOut {
		t.Fatalf("Install error = %v, want a timed-out *ScriptError", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Error("the error does not wrap context.DeadlineExceeded")
	}
	for _, want := range []string{"timed out after 5s; its process group was killed", "waiting for the device"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(h.read(t, "child")))
	waitGone(t, pid)
}

// waitGone waits until pid has exited (or is a zombie waiting for init).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(stat), ") Z ") {
			return
		}
		if syscall.Kill(pid, 0) != nil {
			return
		}
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	t.Errorf("the script's child %d outlived the script", pid)
}

func TestCancellingTheRotationKillsTheScript(t *testing.T) {
	h := newHarness(t, scripts{generate: `touch "$RECORD_DIR/started"; exec sleep 300`})
	sess := h.open(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := sess.GenerateCSR(ctx, driver.CSRRequest{CommonName: "fw1.example.test", KeyType: asset.KeyECDSA256})
		done <- err
	}()
	for _, err := os.Stat(filepath.Join(h.dir, "started")); err != nil; _, err = os.Stat(filepath.Join(h.dir, "started")) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("GenerateCSR error = %v, want context.Canceled", err)
	}
}

func TestGenerateCSRChecksWhatTheScriptPrinted(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tc := range []struct {
		name string
		csr  *x509.CertificateRequest
		key  crypto.Signer
		want string
	}{
		{"a CSR for the right names and key", &x509.CertificateRequest{Subject: pkix.Name{CommonName: "fw1.example.test"}, DNSNames: []string{"fw1.example.test", "vpn.example.test"}}, key, ""},
		{"another common name", &x509.CertificateRequest{Subject: pkix.Name{CommonName: "fw2.example.test"}, DNSNames: []string{"fw1.example.test", "vpn.example.test"}}, key, `common name is "fw2.example.test"`},
		{"a missing SAN", &x509.CertificateRequest{Subject: pkix.Name{CommonName: "fw1.example.test"}, DNSNames: []string{"fw1.example.test"}}, key, "lacks SAN vpn.example.test"},
		{"an extra SAN", &x509.CertificateRequest{Subject: pkix.Name{CommonName: "fw1.example.test"}, DNSNames: []string{"fw1.example.test", "vpn.example.test", "evil.example.test"}}, key, "SAN evil.example.test, which was not requested"},
		{"another key type", &x509.CertificateRequest{Subject: pkix.Name{CommonName: "fw1.example.test"}, DNSNames: []string{"fw1.example.test", "vpn.example.test"}}, mustP384(t), "its key is ECDSA-P-384, ECDSA-P-256 was requested"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			der, err := x509.CreateCertificateRequest(rand.Reader, tc.csr, tc.key)
			if err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, scripts{generate: `cat "$RECORD_DIR/csr.pem"`})
			if err := os.WriteFile(filepath.Join(h.dir, "csr.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o600); err != nil {
				t.Fatal(err)
			}
			csr, err := h.open(t).GenerateCSR(context.Background(), driver.CSRRequest{
				CommonName: "fw1.example.test", DNSNames: []string{"fw1.example.test", "vpn.example.test"}, KeyType: asset.KeyECDSA256,
			})
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("GenerateCSR: %v", err)
			case tc.want == "" && csr.Subject.CommonName != "fw1.example.test":
				t.Errorf("CSR = %v", csr.Subject)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("GenerateCSR error = %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("a CSR with its key printed is refused without showing the key", func(t *testing.T) {
		h := newHarness(t, scripts{generate: `cat "$OTTR_PRIVATE_KEY_FILE"`})
		_, err := h.open(t).GenerateCSR(context.Background(), driver.CSRRequest{CommonName: "fw1.example.test", KeyType: asset.KeyECDSA256})
		if err == nil || !strings.Contains(err.Error(), "printed a private key") || strings.Contains(err.Error(), "BEGIN") {
			t.Errorf("GenerateCSR error = %v", err)
		}
	})
}

func mustP384(t *testing.T) crypto.Signer {
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testCertificate(t testing.TB, cn string) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func TestOpenNamesTheExecutablesItCannotRun(t *testing.T) {
	h := newHarness(t, scripts{})
	notExecutable := filepath.Join(h.dir, "plain")
	_ = os.WriteFile(notExecutable, []byte("#!/bin/sh\n"), 0o644)
	h.target.Options["generate_csr"] = filepath.Join(h.dir, "missing")
	h.target.Options["install_certificate"] = notExecutable
	h.target.Options["rollback"] = h.dir
	h.target.Options["workdir"] = filepath.Join(h.dir, "nowhere")
	_, err := h.driver.Open(context.Background(), h.target, h.creds)
	if err == nil {
		t.Fatal("Open succeeded")
	}
	for _, want := range []string{
		`option "generate_csr": ` + filepath.Join(h.dir, "missing") + ": no such file or directory",
		`option "install_certificate": ` + notExecutable + " is not executable (chmod +x)",
		`option "rollback": ` + h.dir + " is not a regular file",
		`option "workdir": `,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestCloseRemovesTheSessionsDirectory(t *testing.T) {
	h := newHarness(t, scripts{})
	sess := h.open(t)
	dir := sess.(*session).dir
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("the session's directory is %v, %v; want a 0700 directory", info, err)
	}
	if err := sess.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the session's directory is still there: %v", err)
	}
	if err := sess.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}
