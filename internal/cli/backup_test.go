package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/lab"
	"github.com/ottr-go/ottr/internal/store/sqlite"
	"github.com/ottr-go/ottr/internal/testenv/output"
	"github.com/ottr-go/ottr/internal/verify"
)

// startLab runs `ottr lab --keep` with one Linux host in a child process,
// with its files in dir, and returns once the lab's first wave is done and
// it keeps running. Its CA, DNS server and host stay up until the test
// ends; its own ottr keeps using the database in dir meanwhile.
func startLab(t *testing.T, dir string) {
	t.Helper()
	for _, tool := range []string{"openssl", "ssh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the lab needs %s (Debian packages openssl and openssh-client; 'make test' installs them as root)", tool)
		}
	}
	cmd := childCommand(t, testBinary(t), "lab", "--keep", "--devices", "1", "--data", dir, "--ca-validation-time", "0")
	var out, errOut output.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		// The lab stops on SIGTERM as on Ctrl-C.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	for deadline := time.Now().Add(3 * time.Minute); !strings.Contains(out.String(), "the lab keeps running"); {
		select {
		case err := <-exited:
			t.Fatalf("ottr lab exited (%v):\n%s\n%s", err, out.String(), errOut.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("ottr lab did not finish its wave:\n%s\n%s", out.String(), errOut.String())
		}
	}
	if !strings.Contains(out.String(), "1 rotated, 0 failed") {
		t.Fatalf("the lab's wave failed:\n%s\n%s", out.String(), errOut.String())
	}
}

// getAsset returns an asset as `ottr asset get` shows it.
func getAsset(t *testing.T, cfg, name string) asset.Asset {
	t.Helper()
	var a asset.Asset
	if err := json.Unmarshal([]byte(mustRun(t, "-c", cfg, "asset", "get", name, "-o", "json")), &a); err != nil {
		t.Fatal(err)
	}
	return a
}

// secrets returns every sealed value in the database at path, as stored.
func secrets(t *testing.T, path string) map[string]string {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	names, err := st.SecretNames(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, name := range names {
		v, err := st.GetSecret(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = string(v)
	}
	return out
}

// servedSerial returns the serial of the certificate the device of a
// serves.
func servedSerial(t *testing.T, a asset.Asset) string {
	t.Helper()
	port := a.Port
	if port == 0 {
		port = 443
	}
	certs, err := verify.Fetch(context.Background(), net.JoinHostPort(a.IPAddress, strconv.Itoa(port)), a.CommonName, 30*time.Second)
	if err != nil {
		t.Fatalf("fetch %s's certificate: %v", a.SystemName, err)
	}
	return verify.SerialHex(certs[0])
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, mode); err != nil {
		t.Fatal(err)
	}
}

// rotateSerials runs `ottr rotate NAME --force` and returns the serials it
// reports, before and after.
func rotateSerials(t *testing.T, cfg, name string) (before, after string) {
	t.Helper()
	out := mustRun(t, "-c", cfg, "rotate", name, "--force")
	m := regexp.MustCompile(regexp.QuoteMeta(name) + `: serial (\S+) -> (\S+),`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("rotate does not report the serials:\n%s", out)
	}
	return m[1], m[2]
}

// TestBackupWhileServingThenRestoreAndRotate follows the restore steps of
// docs/deployment.md: a backup taken while ottr runs, restored with the
// master key into a fresh data directory, rotates the device with the
// ACME account it holds, also after the master key is rotated.
func TestBackupWhileServingThenRestoreAndRotate(t *testing.T) {
	labDir := filepath.Join(t.TempDir(), "lab")
	startLab(t, labDir)
	labCfg := filepath.Join(labDir, "ottr.yaml")
	device := lab.DeviceName(lab.PlatformLinux, 0)
	served := getAsset(t, labCfg, device)
	if served.CertificateSerial == "" {
		t.Fatalf("the lab's wave recorded no serial for %s", device)
	}

	// The backup, while the lab's ottr has the database open.
	backups := t.TempDir()
	backup := filepath.Join(backups, "ottr-backup.db")
	out := mustRun(t, "-c", labCfg, "backup", backup)
	if !strings.Contains(out, "backed up "+filepath.Join(labDir, "ottr.db")+" to "+backup) || !strings.Contains(out, "master.key") {
		t.Errorf("backup output:\n%s", out)
	}
	if info, err := os.Stat(backup); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, %v; want mode 0600", info, err)
	}
	_, errOut, code := run(t, "", "-c", labCfg, "backup", backup)
	if code == 0 || !strings.Contains(errOut, backup+" exists") || !strings.Contains(errOut, "--force") {
		t.Errorf("a second backup to the same file: exit %d, %q", code, errOut)
	}
	mustRun(t, "-c", labCfg, "backup", "--force", backup)

	// The restore, into a fresh data directory: the database, the master
	// key and the host keys, and a config naming the new directory.
	restored := filepath.Join(t.TempDir(), "restored")
	if err := os.Mkdir(restored, 0o700); err != nil {
		t.Fatal(err)
	}
	copyFile(t, backup, filepath.Join(restored, "ottr.db"), 0o600)
	copyFile(t, filepath.Join(labDir, "master.key"), filepath.Join(restored, "master.key"), 0o600)
	copyFile(t, filepath.Join(labDir, "known_hosts"), filepath.Join(restored, "known_hosts"), 0o644)
	labYAML, err := os.ReadFile(labCfg)
	if err != nil {
		t.Fatal(err)
	}
	dataDirLine := "data_dir: " + strconv.Quote(labDir)
	if !bytes.Contains(labYAML, []byte(dataDirLine)) {
		t.Fatalf("the lab's config has no line %s", dataDirLine)
	}
	cfg := filepath.Join(restored, "ottr.yaml")
	if err := os.WriteFile(cfg, bytes.Replace(labYAML, []byte(dataDirLine), []byte("data_dir: "+strconv.Quote(restored)), 1), 0o600); err != nil {
		t.Fatal(err)
	}

	if got := getAsset(t, cfg, device); got.CertificateSerial != served.CertificateSerial {
		t.Fatalf("the restored inventory records serial %s, the lab's %s", got.CertificateSerial, served.CertificateSerial)
	}
	sealed := secrets(t, filepath.Join(restored, "ottr.db"))
	if len(sealed) == 0 {
		t.Fatal("the backup holds no sealed secret: the lab registered no ACME account")
	}
	before, after := rotateSerials(t, cfg, device)
	if before != served.CertificateSerial || after == before {
		t.Errorf("rotation from the restored database: serial %s -> %s, want %s -> a new one", before, after, served.CertificateSerial)
	}
	if got := servedSerial(t, getAsset(t, cfg, device)); got != after {
		t.Errorf("the device serves serial %s, the restored inventory records %s", got, after)
	}
	// The ACME account came from the backup: none was registered again.
	if now := secrets(t, filepath.Join(restored, "ottr.db")); !maps.Equal(now, sealed) {
		t.Errorf("the sealed secrets changed during the rotation (a new ACME account?): %d before, %d after", len(sealed), len(now))
	}

	// The account still opens once the restored data's key is rotated.
	mustRun(t, "-c", cfg, "master-key", "rotate")
	again, newest := rotateSerials(t, cfg, device)
	if again != after || newest == after {
		t.Errorf("rotation after the master key rotation: serial %s -> %s, want %s -> a new one", again, newest, after)
	}
	if got := servedSerial(t, getAsset(t, cfg, device)); got != newest {
		t.Errorf("the device serves serial %s, the inventory records %s", got, newest)
	}
}
