package linuxlab

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/lab/addrmux"
)

// Two hosts on one SSH socket and one TLS socket each answer as
// themselves: their own certificate, their own directory, their own host
// key; a host that closes leaves the socket to the other.
func TestHostsOnSharedSocketsAnswerAsThemselves(t *testing.T) {
	ctx := context.Background()
	sshMux, err := addrmux.Listen(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sshMux.Close()
	tlsMux, err := addrmux.Listen(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tlsMux.Close()

	shared := func(name, ip string) Config {
		return Config{Name: name, SSHAddr: ip + ":0", TLSAddr: ip + ":0", SharedSSH: sshMux, SharedTLS: tlsMux}
	}
	a, signerA := testHost(t, shared("a.example.test", "127.78.0.1"))
	b, signerB := testHost(t, shared("b.example.test", "127.78.0.2"))

	for _, tc := range []struct {
		name, cn string
		host     *Host
		wantAddr string
	}{
		{"the first host", "a.example.test", a, tlsMux.Addr(mustAddr("127.78.0.1"))},
		{"the second host", "b.example.test", b, tlsMux.Addr(mustAddr("127.78.0.2"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.host.TLSAddr() != tc.wantAddr {
				t.Errorf("TLSAddr() = %s; want %s", tc.host.TLSAddr(), tc.wantAddr)
			}
			if got := served(t, tc.host); got.Subject.CommonName != tc.cn {
				t.Errorf("%s serves %q; want %q", tc.host.TLSAddr(), got.Subject.CommonName, tc.cn)
			}
		})
	}
	// run checks the host key: each SSH address answers with its host's.
	if got := run(t, a, signerA, "echo a > "+DefaultPathPrefix+"/mark; cat "+DefaultPathPrefix+"/mark", nil); got.stdout != "a\n" {
		t.Errorf("host a ran: %+v", got)
	}
	if got := run(t, b, signerB, "cat "+DefaultPathPrefix+"/mark", nil); got.status == 0 {
		t.Errorf("host b read host a's file: %+v", got)
	}

	_ = a.Close()
	if c, err := net.DialTimeout("tcp", a.TLSAddr(), 30*time.Second); err == nil {
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		if n, _ := c.Read(make([]byte, 1)); n > 0 {
			t.Errorf("a closed host's address still answers")
		}
		c.Close()
	}
	if got := served(t, b); got.Subject.CommonName != "b.example.test" {
		t.Errorf("after the first host closed, the second serves %q", got.Subject.CommonName)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
