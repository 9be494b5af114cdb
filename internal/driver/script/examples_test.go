package script

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
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

// examplesDir is the shipped example of the contract.
var examplesDir = filepath.Join("..", "..", "..", "examples", "script-driver")

func TestEveryShippedScriptIsValidPOSIXShell(t *testing.T) {
	var scripts []string
	for _, dir := range []string{examplesDir, filepath.Join("testdata", "device")} {
		found, err := filepath.Glob(filepath.Join(dir, "*.sh"))
		if err != nil || len(found) == 0 {
			t.Fatalf("no scripts in %s: %v", dir, err)
		}
		scripts = append(scripts, found...)
	}
	for _, script := range scripts {
		t.Run(script, func(t *testing.T) {
			// sh is dash on Debian: a parser with no bash extensions.
			if out, err := exec.Command("sh", "-n", script).CombinedOutput(); err != nil {
				t.Errorf("sh -n: %v\n%s", err, out)
			}
			info, err := os.Stat(script)
			if err != nil {
				t.Fatal(err)
			}
			sourced := strings.HasSuffix(script, "common.sh") || strings.HasSuffix(script, "login.sh")
			if executable := info.Mode().Perm()&0o111 != 0; executable == sourced {
				t.Errorf("%s has mode %v: scripts a route names must be executable, sourced helpers not", script, info.Mode().Perm())
			}
		})
	}
}

// TestTheExampleScriptsRotateALinuxHostOverSSH runs the conformance suite
// with examples/script-driver against the emulated Linux host, which runs
// what ssh sends it under /ottr-lab.
func TestTheExampleScriptsRotateALinuxHostOverSSH(t *testing.T) {
	for _, tool := range []string{"ssh", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the example scripts need %s on PATH: %v", tool, err)
		}
	}
	examples, err := filepath.Abs(examplesDir)
	if err != nil {
		t.Fatal(err)
	}
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	drivertest.Run(t, drivertest.Harness{
		Driver: New(Config{KnownHostsFile: knownHosts}),
		NewDevice: func(t *testing.T) *drivertest.Device {
			host, target, creds := startLinuxHost(t, examples, knownHosts)
			return &drivertest.Device{
				Target:      target,
				Credentials: creds,
				Served: func(ctx context.Context) ([]*x509.Certificate, error) {
					return drivertest.ServedChain(ctx, host.TLSAddr(), host.Name())
				},
				PrivateKeyExported: host.PrivateKeyExported,
				FailInstalls:       host.FailReloads,
				FailureMessage:     "nginx: [emerg]",
			}
		},
	})
}

// startLinuxHost starts an emulated host the example scripts reach over
// SSH, its host key added to knownHosts.
func startLinuxHost(t *testing.T, examples, knownHosts string) (*linuxlab.Host, driver.Target, driver.Credentials) {
	t.Helper()
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
	const name = "web1.example.test"
	host, err := linuxlab.Start(context.Background(), linuxlab.Config{
		Name: name, Dir: filepath.Join(t.TempDir(), "host"), User: "ottr", AuthorizedKey: signer.PublicKey(),
	})
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
	routeHost := host.RouteOptions()
	target := driver.Target{
		Asset: asset.Asset{
			SystemName:             name,
			CommonName:             name,
			SubjectAlternativeName: []string{name, "www.example.test"},
			IPAddress:              "127.0.0.1",
		},
		Options: map[string]any{
			"generate_csr":        filepath.Join(examples, "generate_csr.sh"),
			"install_certificate": filepath.Join(examples, "install_certificate.sh"),
			"rollback":            filepath.Join(examples, "rollback.sh"),
			"current_certificate": filepath.Join(examples, "current_certificate.sh"),
			"plain_env": map[string]any{
				"CERT_PATH":      routeHost["cert_path"],
				"KEY_PATH":       routeHost["key_path"],
				"RELOAD_COMMAND": routeHost["reload_command"],
				"SSH_PORT":       strings.TrimPrefix(host.SSHAddr(), "127.0.0.1:"),
			},
		},
	}
	creds := driver.Credentials{Username: "ottr", PrivateKey: pem.EncodeToMemory(block)}
	return host, target, creds
}
