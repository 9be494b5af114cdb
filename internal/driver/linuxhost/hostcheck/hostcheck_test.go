package hostcheck

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/drivertest"
)

// hostDir is a host's files: a certificate and its key in etc/ssl, as
// the route in newHost names them.
type hostDir struct {
	root string
	cert *x509.Certificate
}

func newHostDir(t *testing.T) *hostDir {
	t.Helper()
	root := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(0x5eed),
		Subject:      pkix.Name{CommonName: "web1.example.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	if err := os.MkdirAll(filepath.Join(root, "etc/ssl"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The key sits in the certificate file too, as some setups keep it:
	// the check must print only the certificate.
	certFile := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...)
	write(t, filepath.Join(root, "etc/ssl/site.pem"), certFile)
	write(t, filepath.Join(root, "etc/ssl/site.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	return &hostDir{root: root, cert: cert}
}

func write(t *testing.T, file string, b []byte) {
	t.Helper()
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (d *hostDir) host() Host {
	return Host{
		CertPath: d.root + "/etc/ssl/site.pem", KeyPath: d.root + "/etc/ssl/site.key",
		WorkDir: d.root + "/etc/ssl", ReloadCommand: "sh -c true",
	}
}

// run runs h's check script with the machine's /bin/sh in d and returns
// what it printed.
func (d *hostDir) run(t *testing.T, h Host) []byte {
	t.Helper()
	for _, tool := range []string{"openssl", "uname", "id"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the check script needs %s on PATH: %v", tool, err)
		}
	}
	cmd := exec.Command("/bin/sh", "-c", h.Script())
	cmd.Dir = d.root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the check script failed: %v: %s", err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("the check script wrote to standard error: %s", stderr.String())
	}
	return out
}

// state renders every file below root with its content and time.
func state(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		b.WriteString(p + " " + info.Mode().String() + " " + info.ModTime().String())
		if info.Mode().IsRegular() {
			content, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b.Write(content)
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestTheScriptReportsAHostReadyForRotationAndWritesNothing(t *testing.T) {
	d := newHostDir(t)
	h := d.host()
	h.ChainPath = d.root + "/etc/ssl/chain.pem"
	h.WorkDir = d.root + "/var/lib/ottr/staging"
	h.Hooks = []HookDir{{Phase: "pre", Dir: d.root + "/hooks/pre"}, {Phase: "post", Dir: d.root + "/hooks/post"}}
	if err := os.MkdirAll(filepath.Join(d.root, "hooks/pre"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(d.root, "hooks/pre/10-stop.sh"), []byte("#!/bin/sh\ntouch ran\n"))
	if err := os.Chmod(filepath.Join(d.root, "hooks/pre/10-stop.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(d.root, "hooks/pre/20-off.sh"), []byte("#!/bin/sh\ntouch ran\n"))
	before := state(t, d.root)

	out := d.run(t, h)
	if after := state(t, d.root); after != before {
		t.Errorf("the check script changed the host:\n%s\n---\n%s", before, after)
	}
	if strings.Contains(string(out), "PRIVATE KEY") {
		t.Fatalf("the check script printed a private key:\n%s", out)
	}
	report, found, err := h.Report(out)
	if err != nil {
		t.Fatalf("Report: %v\n%s", err, out)
	}
	if !strings.HasPrefix(report.Software, "OpenSSL ") || !strings.Contains(report.Software, " on ") {
		t.Errorf("software = %q, want OpenSSL's version on the system's", report.Software)
	}
	if !strings.Contains(found.User, "(uid ") {
		t.Errorf("user = %q, want the name and uid", found.User)
	}
	for _, c := range report.Checks {
		if c.Status != driver.CheckOK {
			t.Errorf("%s: %s: %s", c.Capability, c.Status, c.Detail)
		}
	}
	for capability, want := range map[string][]string{
		driver.CapabilityKeyGeneration: {"var/lib/ottr/staging (made by mkdir -p)", "pre hooks in", "10-stop.sh", "skipped, not executable: 20-off.sh"},
		driver.CapabilityBinding:       {`"web1.example.test" (serial 5eed`, "chain.pem does not exist yet"},
		driver.CapabilityCommit:        {`reload_command "sh -c true"`, "no post hooks"},
	} {
		detail := drivertest.CheckOf(t, report, capability).Detail
		for _, w := range want {
			if !strings.Contains(detail, w) {
				t.Errorf("%s detail %q does not say %q", capability, detail, w)
			}
		}
	}
}

func TestTheScriptFindsWhatIsWrongOnTheHost(t *testing.T) {
	for _, tc := range []struct {
		name       string
		change     func(t *testing.T, d *hostDir, h *Host)
		capability string
		status     string
		want       string
	}{
		{"a reload program that is not there fails the commit", func(t *testing.T, d *hostDir, h *Host) {
			h.ReloadCommand = "LANG=C ottr-no-such-program -s reload"
		}, driver.CapabilityCommit, driver.CheckFailed, "ottr-no-such-program is not found"},
		{"a missing certificate leaves the binding unknown", func(t *testing.T, d *hostDir, h *Host) {
			h.CertPath = d.root + "/etc/ssl/none.pem"
		}, driver.CapabilityBinding, driver.CheckUnknown, "no file at cert_path"},
		{"a missing certificate leaves nothing to roll back to", func(t *testing.T, d *hostDir, h *Host) {
			h.CertPath = d.root + "/etc/ssl/none.pem"
		}, driver.CapabilityRollback, driver.CheckUnsupported, "nothing at cert_path"},
		{"a certificate file without a certificate fails the binding", func(t *testing.T, d *hostDir, h *Host) {
			write(t, filepath.Join(d.root, "etc/ssl/site.pem"), []byte("not PEM\n"))
		}, driver.CapabilityBinding, driver.CheckFailed, "holds no PEM certificate"},
		{"a key file that is not a key fails the binding", func(t *testing.T, d *hostDir, h *Host) {
			write(t, filepath.Join(d.root, "etc/ssl/site.key"), []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
		}, driver.CapabilityBinding, driver.CheckFailed, "openssl pkey cannot read key_path"},
		{"a missing key fails the binding", func(t *testing.T, d *hostDir, h *Host) {
			h.KeyPath = d.root + "/etc/ssl/none.key"
		}, driver.CapabilityBinding, driver.CheckFailed, "no file at key_path"},
		{"a directory under a file fails the import", func(t *testing.T, d *hostDir, h *Host) {
			h.ChainPath = d.root + "/etc/ssl/site.pem/chain.pem"
		}, driver.CapabilityImport, driver.CheckFailed, "site.pem is not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newHostDir(t)
			h := d.host()
			tc.change(t, d, &h)
			report, _, err := h.Report(d.run(t, h))
			if err != nil {
				t.Fatal(err)
			}
			drivertest.RequireCheck(t, report, tc.capability, tc.status, tc.want)
		})
	}
}

// answer is a check script's output from a host that cannot be set up
// here (another user, another OpenSSL), with lines replaced or added.
func answer(t *testing.T, replace map[string]string) []byte {
	t.Helper()
	d := newHostDir(t)
	out := string(d.run(t, d.host()))
	var lines []string
	for _, line := range strings.Split(out, "\n") {
		for prefix, with := range replace {
			if strings.HasPrefix(line, prefix) {
				line = with
			}
		}
		lines = append(lines, line)
	}
	return []byte(strings.Join(lines, "\n"))
}

func TestReportJudgesAnswersFromOtherHosts(t *testing.T) {
	for _, tc := range []struct {
		name       string
		host       func(h *Host)
		replace    map[string]string
		capability string
		status     string
		want       string
	}{
		{"an OpenSSL older than 1.1.1 cannot add the names", nil,
			map[string]string{markOpenSSL: markOpenSSL + "OpenSSL 1.0.2k-fips  26 Jan 2017"},
			driver.CapabilityCSRExport, driver.CheckFailed, "older than 1.1.1"},
		{"LibreSSL is not known to take -addext", nil,
			map[string]string{markOpenSSL: markOpenSSL + "LibreSSL 3.3.6"},
			driver.CapabilityKeyGeneration, driver.CheckUnknown, "is not OpenSSL"},
		{"no openssl at all", nil,
			map[string]string{markOpenSSL: ""},
			driver.CapabilityKeyGeneration, driver.CheckFailed, "install OpenSSL 1.1.1 or later"},
		{"a directory the user cannot write fails the import with the fix", nil,
			map[string]string{markDir + roleCert: markDir + roleCert + " " + dirReadOnly + " /etc/nginx/ssl", markUser: markUser + "1000 deploy"},
			driver.CapabilityImport, driver.CheckFailed, "/etc/nginx/ssl is not writable by deploy (uid 1000): make it writable for that user, or have the commands run as root (sudo: true)"},
		{"an unreadable key fails the binding", nil,
			map[string]string{markFile + roleKey: markFile + roleKey + " " + fileUnreadable},
			driver.CapabilityBinding, driver.CheckFailed, "is not readable by"},
		{"an owner only root could give files to fails the import", func(h *Host) { h.Owner = "www-data:www-data" },
			map[string]string{markUser: markUser + "1000 deploy"},
			driver.CapabilityImport, driver.CheckFailed, "only root can give files to www-data"},
		{"an owner that is the user itself is fine", func(h *Host) { h.Owner = "deploy" },
			map[string]string{markUser: markUser + "1000 deploy"},
			driver.CapabilityImport, driver.CheckOK, "writable by deploy (uid 1000)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := answer(t, tc.replace)
			h := Host{CertPath: "/etc/ssl/site.pem", KeyPath: "/etc/ssl/site.key", WorkDir: "/etc/ssl", ReloadCommand: "sh -c true"}
			if tc.host != nil {
				tc.host(&h)
			}
			report, _, err := h.Report(out)
			if err != nil {
				t.Fatal(err)
			}
			drivertest.RequireCheck(t, report, tc.capability, tc.status, tc.want)
		})
	}
}

func TestAnAnswerThatIsNotTheScriptsIsRefused(t *testing.T) {
	h := Host{CertPath: "/c.pem", KeyPath: "/k.pem", WorkDir: "/", ReloadCommand: "true"}
	for _, out := range []string{"", "Welcome to the appliance shell\n% unknown command\n", markSystem + "Linux 6.1\n"} {
		if _, _, err := h.Report([]byte(out)); err != ErrUnreadable {
			t.Errorf("Report(%q) error = %v, want ErrUnreadable", out, err)
		}
	}
}
