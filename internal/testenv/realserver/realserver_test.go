package realserver

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ottr-go/ottr/internal/testenv"
)

// runAs runs a shell script as u, the way ottr's reload commands run on a
// host, and returns its standard error.
func runAs(t *testing.T, u User, script string) (string, error) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	if u.switchTo() {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.UID), Gid: uint32(u.GID), Groups: []uint32{}}}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	return stderr.String(), err
}

// served returns the leaf addr serves, trusting only want.
func served(t *testing.T, addr, name string, want *x509.Certificate) (*x509.Certificate, error) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(want)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{ServerName: name, RootCAs: roots, MinVersion: tls.VersionTLS12})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// eventuallyServes waits for a reload to take effect: both servers apply
// it moments after the reload command returns.
func eventuallyServes(t *testing.T, addr, name string, want *x509.Certificate) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := served(t, addr, name, want)
		if err == nil && got.Equal(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not serve the new certificate after the reload: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMissingProgramNamesTheDebianPackage(t *testing.T) {
	_, err := lookProgram("ottr-no-such-server", "ottr-no-such-package")
	if err == nil {
		t.Fatal("a missing program was found")
	}
	for _, want := range []string{"ottr-no-such-server", "Debian package ottr-no-such-package", "make test"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestStartOnFreePortsLaunchesAgainOnlyWhenThePortWasTaken(t *testing.T) {
	// Each script stands for one launch of a server; the last one started
	// is the one ready finds listening.
	tests := []struct {
		name         string
		scripts      []string
		wantLaunches int
		wantErr      bool
	}{
		{"a server that exits over a taken port is launched again",
			[]string{`echo "bind() to 127.0.0.1:1 failed (98: Address already in use)"; exit 1`, "exec sleep 60"}, 2, false},
		{"a server that runs on without its taken port is stopped and launched again",
			[]string{`echo "creating TCP socket: address in use"; exec sleep 60`, "exec sleep 60"}, 2, false},
		{"a server that fails for another reason is not launched again",
			[]string{`echo "unknown directive"; exit 1`, "exec sleep 60"}, 1, true},
		{"launching gives up after a few taken ports",
			slices.Repeat([]string{`echo "Address already in use"; exit 1`}, bindAttempts+1), bindAttempts, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logPath := filepath.Join(t.TempDir(), "server.log")
			var launched []*process
			launch := func() (*process, error) {
				p, err := startProcess("server", logPath, nil, "/bin/sh", "-c", tt.scripts[len(launched)])
				if err == nil {
					launched = append(launched, p)
				}
				return p, err
			}
			ready := func(context.Context) error {
				if len(launched) < len(tt.scripts) {
					return errors.New("nothing listens yet")
				}
				return nil
			}
			p, err := startOnFreePorts(context.Background(), launch, ready)
			for _, p := range launched {
				defer p.stop()
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want one: %t", err, tt.wantErr)
			}
			if len(launched) != tt.wantLaunches {
				t.Fatalf("launched %d times, want %d", len(launched), tt.wantLaunches)
			}
			if p != launched[len(launched)-1] {
				t.Error("the process returned is not the last one launched")
			}
			for _, earlier := range launched[:len(launched)-1] {
				if !earlier.exited() {
					t.Error("a launch that found its port taken is still running")
				}
			}
		})
	}
}

func TestSSHDAdmitsTheClientKeyOnly(t *testing.T) {
	testenv.SkipInShort(t, testenv.RealServers)
	ctx := context.Background()
	s, err := StartSSHD(ctx, SSHDConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hostKeys, err := knownhosts.New(s.KnownHostsFile)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(s.ClientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	client, err := ssh.ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := ssh.NewSignerFromKey(otherKey)

	tests := []struct {
		name   string
		signer ssh.Signer
		login  bool
	}{
		{"the generated client key logs in", client, true},
		{"another key is refused", other, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := ssh.Dial("tcp", s.Addr, &ssh.ClientConfig{
				User:            s.User.Name,
				Auth:            []ssh.AuthMethod{ssh.PublicKeys(tt.signer)},
				HostKeyCallback: hostKeys,
				Timeout:         5 * time.Second,
			})
			if !tt.login {
				if err == nil {
					conn.Close()
					t.Fatal("logged in")
				}
				return
			}
			if err != nil {
				t.Fatalf("log in: %v\n%s", err, s.Log())
			}
			defer conn.Close()
			sess, err := conn.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			out, err := sess.Output("id -un")
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(string(out)); got != s.User.Name {
				t.Errorf("logged in as %q, want %q", got, s.User.Name)
			}
		})
	}
}

func TestNginxReloadsNewFilesAndRefusesAMismatchedKey(t *testing.T) {
	testenv.SkipInShort(t, testenv.RealServers)
	ctx := context.Background()
	n, err := StartNginx(ctx, NginxConfig{Sites: []string{"one.realserver.test", "two.realserver.test"}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	one, _ := n.Site("one.realserver.test")
	two, _ := n.Site("two.realserver.test")
	if _, err := served(t, two.Addr, two.Name, two.Initial); err != nil {
		t.Fatalf("the second site does not serve its certificate: %v", err)
	}

	// A key that is not the certificate's: the configuration test fails
	// and the running nginx keeps the old certificate.
	spare := filepath.Join(filepath.Dir(one.KeyPath), "spare")
	if _, err := writeSelfSigned(spare+".crt", spare+".key", one.Name, n.User); err != nil {
		t.Fatal(err)
	}
	if stderr, err := runAs(t, n.User, "cp "+spare+".key "+one.KeyPath+" && "+n.ReloadCommand()); err == nil {
		t.Fatal("the reload succeeded with a key that does not match the certificate")
	} else if !strings.Contains(stderr, "key values mismatch") {
		t.Errorf("the failed reload says %q, want nginx's key mismatch error", stderr)
	}
	if got, err := served(t, one.Addr, one.Name, one.Initial); err != nil || !got.Equal(one.Initial) {
		t.Fatalf("after a failed reload the site should serve its old certificate: %v", err)
	}

	fresh, err := writeSelfSigned(one.CertPath, one.KeyPath, one.Name, n.User)
	if err != nil {
		t.Fatal(err)
	}
	if stderr, err := runAs(t, n.User, n.ReloadCommand()); err != nil {
		t.Fatalf("reload: %v: %s\n%s", err, stderr, n.Log())
	}
	eventuallyServes(t, one.Addr, one.Name, fresh)
}

func TestHAProxyReloadsACertificateWithASeparateKeyFile(t *testing.T) {
	testenv.SkipInShort(t, testenv.RealServers)
	ctx := context.Background()
	h, err := StartHAProxy(ctx, HAProxyConfig{Name: "lb.realserver.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	spare := filepath.Join(filepath.Dir(h.KeyPath), "spare")
	if _, err := writeSelfSigned(spare+".crt", spare+".key", h.Name, h.User); err != nil {
		t.Fatal(err)
	}
	if _, err := runAs(t, h.User, "cp "+spare+".key "+h.KeyPath+" && "+h.ReloadCommand()); err == nil {
		t.Fatal("the reload succeeded with a key that does not match the certificate")
	}
	if got, err := served(t, h.Addr, h.Name, h.Initial); err != nil || !got.Equal(h.Initial) {
		t.Fatalf("after a failed reload HAProxy should serve its old certificate: %v", err)
	}

	fresh, err := writeSelfSigned(h.CertPath, h.KeyPath, h.Name, h.User)
	if err != nil {
		t.Fatal(err)
	}
	if stderr, err := runAs(t, h.User, h.ReloadCommand()); err != nil {
		t.Fatalf("reload: %v: %s\n%s", err, stderr, h.Log())
	}
	eventuallyServes(t, h.Addr, h.Name, fresh)
}

func TestBINDServesZonesAndTakesSignedUpdatesWhereAllowed(t *testing.T) {
	testenv.SkipInShort(t, testenv.RealServers)
	ctx := context.Background()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	key := TSIGKey{Name: "realserver-test.", Secret: base64.StdEncoding.EncodeToString(secret)}
	b, err := StartBIND(ctx, BINDConfig{
		Zones: []Zone{
			{Name: "devices.realserver.test", Records: []string{
				"www 60 IN A 127.0.0.1",
				"_acme-challenge.www 60 IN CNAME _acme-challenge.www.delegate.realserver.test.",
			}},
			{Name: "delegate.realserver.test", UpdateKey: key.Name},
		},
		Keys: []TSIGKey{key},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	client := &dns.Client{Net: "tcp", Timeout: 5 * time.Second, TsigSecret: map[string]string{key.Name: key.Secret}}
	update := func(zone, rr string, signed bool) int {
		t.Helper()
		m := new(dns.Msg)
		m.SetUpdate(dns.Fqdn(zone))
		parsed, err := dns.NewRR(rr)
		if err != nil {
			t.Fatal(err)
		}
		m.Insert([]dns.RR{parsed})
		if signed {
			m.SetTsig(key.Name, dns.HmacSHA256, 300, time.Now().Unix())
		}
		in, _, err := client.Exchange(m, b.Addr)
		if err != nil {
			t.Fatalf("update %s: %v", zone, err)
		}
		return in.Rcode
	}
	tests := []struct {
		name   string
		zone   string
		rr     string
		signed bool
		want   int
	}{
		{"the key adds a TXT record to the updatable zone", "delegate.realserver.test", `_acme-challenge.www.delegate.realserver.test. 60 IN TXT "token"`, true, dns.RcodeSuccess},
		{"the key may not add other types", "delegate.realserver.test", "x.delegate.realserver.test. 60 IN A 127.0.0.2", true, dns.RcodeRefused},
		{"an unsigned update is refused", "delegate.realserver.test", `y.delegate.realserver.test. 60 IN TXT "x"`, false, dns.RcodeRefused},
		{"a zone without an update key takes no updates", "devices.realserver.test", `z.devices.realserver.test. 60 IN TXT "x"`, true, dns.RcodeRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := update(tt.zone, tt.rr, tt.signed); got != tt.want {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[got], dns.RcodeToString[tt.want])
			}
		})
	}

	// The validator's view: one TXT query for the device's name answers
	// with the CNAME and the TXT written into the delegate zone.
	q := new(dns.Msg)
	q.SetQuestion("_acme-challenge.www.devices.realserver.test.", dns.TypeTXT)
	in, _, err := client.Exchange(q, b.Addr)
	if err != nil {
		t.Fatal(err)
	}
	var cname, txt bool
	for _, rr := range in.Answer {
		switch rr := rr.(type) {
		case *dns.CNAME:
			cname = rr.Target == "_acme-challenge.www.delegate.realserver.test."
		case *dns.TXT:
			txt = strings.Join(rr.Txt, "") == "token"
		}
	}
	if !cname || !txt {
		t.Errorf("the TXT query for the device's challenge name answered %v; want the CNAME and the delegate's TXT", in.Answer)
	}

	// Names BIND does not serve end in its private root zone, not on the
	// internet.
	q = new(dns.Msg)
	q.SetQuestion("example.com.", dns.TypeA)
	if in, _, err = client.Exchange(q, b.Addr); err != nil || in.Rcode != dns.RcodeNameError || !in.Authoritative {
		t.Errorf("a name outside the zones: %v, %v; want an authoritative NXDOMAIN", in, err)
	}
}
