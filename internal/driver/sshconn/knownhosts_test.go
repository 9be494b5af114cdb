package sshconn

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func newKey(t *testing.T) (ssh.PublicKey, ssh.Signer) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s.PublicKey(), s
}

func line(marker, hosts string, k ssh.PublicKey) string {
	l := hosts + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
	if marker != "" {
		l = marker + " " + l
	}
	return l
}

// TestKnownHostsIndexGivesTheLibrarysVerdicts checks every kind of
// known_hosts line against knownhosts.New over the same file: the same
// acceptance, the same error, the same keys listed with their lines.
func TestKnownHostsIndexGivesTheLibrarysVerdicts(t *testing.T) {
	a, _ := newKey(t)
	a2, _ := newKey(t)
	b, _ := newKey(t)
	c, _ := newKey(t)
	hashedKey, _ := newKey(t)
	wild, _ := newKey(t)
	revoked, _ := newKey(t)
	caKey, caSigner := newKey(t)
	hostKey, _ := newKey(t)
	stranger, _ := newKey(t)
	revokedCAKey, revokedCASigner := newKey(t)

	cert := func(signer ssh.Signer, principals ...string) *ssh.Certificate {
		cert := &ssh.Certificate{Key: hostKey, CertType: ssh.HostCert, ValidPrincipals: principals, ValidBefore: ssh.CertTimeInfinity}
		if err := cert.SignCert(rand.Reader, signer); err != nil {
			t.Fatal(err)
		}
		return cert
	}

	file := filepath.Join(t.TempDir(), "known_hosts")
	content := strings.Join([]string{
		"# fleet",
		"",
		line("", "a.example", a),
		"  " + line("", "a.example", a2) + "\t",
		line("", "[b.example]:2222,10.0.0.2", b),
		line("", "c.example:2200", c) + "\r",
		line("", knownhosts.HashHostname("hashed.example"), hashedKey),
		line("", knownhosts.HashHostname("[hashed.example]:2022"), hashedKey),
		line("", "x.wild.example", b),
		line("", "*.wild.example,!bad.wild.example,w?.example", wild),
		line("", "!a.example", wild),
		line("", "::1,[fe80::1]:2222", c),
		line("@cert-authority", "*.ca.example,[10.0.0.9]:2222", caKey),
		line("@cert-authority", "revoked-ca.example", revokedCAKey),
		line("@revoked", "*", revoked),
		line("@revoked", "whatever", revokedCAKey),
		line("", "r.example", revoked),
	}, "\n") + "\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	lib, err := knownhosts.New(file)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := indexKnownHosts(file)
	if err != nil {
		t.Fatal(err)
	}

	addrs := []string{
		"a.example:22", "a.example:2222", "b.example:2222", "b.example:22", "10.0.0.2:22",
		"c.example:2200", "c.example:22", "hashed.example:22", "hashed.example:2022", "hashed.example:23",
		"x.wild.example:22", "bad.wild.example:22", "wx.example:22", "wxy.example:22",
		"[::1]:22", "[fe80::1]:2222", "h.ca.example:22", "10.0.0.9:2222", "10.0.0.9:22",
		"revoked-ca.example:22", "r.example:22", "unknown.example:22",
	}
	keys := map[string]ssh.PublicKey{
		"a": a, "a2": a2, "b": b, "c": c, "hashed": hashedKey, "wild": wild, "revoked": revoked,
		"stranger": stranger, "ca": caKey,
		"cert for h.ca.example":       cert(caSigner, "h.ca.example"),
		"cert for 10.0.0.9":           cert(caSigner, "10.0.0.9"),
		"cert of a stranger CA":       cert(revokedCASigner, "h.ca.example"),
		"cert for revoked-ca.example": cert(revokedCASigner, "revoked-ca.example"),
	}
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 22}
	for _, address := range addrs {
		ours, err := idx.callback(address)
		if err != nil {
			t.Fatalf("callback(%s): %v", address, err)
		}
		for name, key := range keys {
			want := describe(lib(address, remote, key))
			if got := describe(ours(address, remote, key)); got != want {
				t.Errorf("%s presenting %s: got %s, want %s (knownhosts.New)", address, name, got, want)
			}
		}
	}
}

// describe spells out a verdict with the keys and lines it lists.
func describe(err error) string {
	var keyErr *knownhosts.KeyError
	var revoked *knownhosts.RevokedError
	switch {
	case err == nil:
		return "accepted"
	case errors.As(err, &revoked):
		return "revoked " + revoked.Revoked.String()
	case errors.As(err, &keyErr):
		var want []string
		for _, k := range keyErr.Want {
			want = append(want, k.String())
		}
		return fmt.Sprintf("%s %v", err, want)
	default:
		return err.Error()
	}
}

func TestKnownHostsIndexRefusesWhatTheLibraryRefuses(t *testing.T) {
	k, _ := newKey(t)
	for _, tt := range []struct{ name, line string }{
		{"a marker in place of the host", "@bogus " + line("", "h", k)},
		{"no key", "h ssh-ed25519"},
		{"a key of another type", "h ssh-rsa " + strings.Fields(line("", "h", k))[2]},
		{"a negation alone", line("", "!", k)},
		{"a hash of another kind", line("", "|2|c2FsdA==|aGFzaA==", k)},
		{"a bracket left open", line("", "[h:22", k)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "known_hosts")
			if err := os.WriteFile(file, []byte(line("", "ok", k)+"\n"+tt.line+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			_, libErr := knownhosts.New(file)
			_, err := indexKnownHosts(file)
			if libErr == nil || err == nil || err.Error() != libErr.Error() {
				t.Errorf("index error %v, want the library's %v", err, libErr)
			}
		})
	}
}

func TestDialerReadsAnEditedKnownHostsFileAgain(t *testing.T) {
	old, _ := newKey(t)
	replaced, _ := newKey(t)
	file := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(file, []byte(line("", "h.example", old)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var d Dialer
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 22}
	cb, err := d.hostKeyCallback(file, "h.example:22")
	if err != nil {
		t.Fatal(err)
	}
	if err := cb("h.example:22", remote, old); err != nil {
		t.Fatalf("the recorded key: %v", err)
	}
	// A longer file: its size tells it apart even within the clock's
	// granularity.
	if err := os.WriteFile(file, []byte("# replaced\n"+line("", "h.example", replaced)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if cb, err = d.hostKeyCallback(file, "h.example:22"); err != nil {
		t.Fatal(err)
	}
	if err := cb("h.example:22", remote, replaced); err != nil {
		t.Errorf("the key written since: %v", err)
	}
	var keyErr *knownhosts.KeyError
	if err := cb("h.example:22", remote, old); !errors.As(err, &keyErr) || len(keyErr.Want) != 1 || keyErr.Want[0].Line != 2 {
		t.Errorf("the key removed since: %v, want a mismatch listing line 2", err)
	}
}

// BenchmarkKnownHosts100k measures a dial's host key lookup in a fleet's
// file of 100,000 lines, and the heap the index keeps (index-B/line).
func BenchmarkKnownHosts100k(b *testing.B) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, _ := ssh.NewSignerFromKey(priv)
	var sb strings.Builder
	for i := range 100_000 {
		sb.WriteString(knownhosts.Line([]string{fmt.Sprintf("10.%d.%d.%d:2222", i>>16, (i>>8)&255, i&255)}, s.PublicKey()) + "\n")
	}
	file := filepath.Join(b.TempDir(), "known_hosts")
	if err := os.WriteFile(file, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var d Dialer
	if _, err := d.hostKeyCallback(file, "10.0.0.1:2222"); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	indexed := float64(after.HeapAlloc-before.HeapAlloc) / 100_000
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 22}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		addr := fmt.Sprintf("10.%d.%d.%d:2222", 0, (i>>8)&255, i&255)
		cb, err := d.hostKeyCallback(file, addr)
		if err != nil {
			b.Fatal(err)
		}
		if err := cb(addr, remote, s.PublicKey()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(indexed, "index-B/line")
	runtime.KeepAlive(&d)
}
