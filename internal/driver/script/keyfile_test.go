package script

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// sshKeygenScript fails unless ssh-keygen can read the key file, and keeps
// the public key it derives and the file's content.
const sshKeygenScript = `set -e
ssh-keygen -y -f "$OTTR_PRIVATE_KEY_FILE" > "$RECORD_DIR/pub"
cat "$OTTR_PRIVATE_KEY_FILE" > "$RECORD_DIR/key"
`

func TestThePrivateKeyFileIsOneOpenSSHAccepts(t *testing.T) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Fatalf("the test needs ssh-keygen on PATH: %v", err)
	}
	openSSHKey := func(t *testing.T) ([]byte, crypto.PublicKey) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		block, err := ssh.MarshalPrivateKey(priv, "")
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(block), priv.Public()
	}
	pkcs8Key := func(t *testing.T) ([]byte, crypto.PublicKey) {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), priv.Public()
	}
	for _, tc := range []struct {
		name string
		key  func(*testing.T) ([]byte, crypto.PublicKey)
		// trim drops the key's final newline, as reading a file:
		// secret can.
		trim bool
	}{
		{name: "an OpenSSH key without its final newline", key: openSSHKey, trim: true},
		{name: "an OpenSSH key with its final newline", key: openSSHKey},
		{name: "a PKCS#8 key without its final newline", key: pkcs8Key, trim: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pemKey, pub := tc.key(t)
			if tc.trim {
				pemKey = bytes.TrimSuffix(pemKey, []byte("\n"))
			}
			h := newHarness(t, scripts{current: sshKeygenScript})
			h.creds.PrivateKey = pemKey
			if _, err := h.open(t).CurrentCertificate(context.Background()); err != nil {
				t.Fatalf("ssh-keygen could not read the key file: %v", err)
			}
			sshPub, err := ssh.NewPublicKey(pub)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))
			// ssh-keygen adds the key's comment, if any, after the key.
			if fields := strings.Fields(h.read(t, "pub")); len(fields) < 2 || fields[0]+" "+fields[1] != want {
				t.Errorf("ssh-keygen derived %q, want %q", fields, want)
			}
			wantFile := strings.TrimSuffix(string(pemKey), "\n") + "\n"
			if h.read(t, "key") != wantFile {
				t.Error("the key file is not the key followed by exactly one newline")
			}
		})
	}
}
