package addrmux_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/lab/addrmux"
)

func listen(t *testing.T) *addrmux.Mux {
	t.Helper()
	m, err := addrmux.Listen(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// answerWith is a handler that writes its name and closes.
func answerWith(name string) addrmux.Handler {
	return func(c net.Conn) {
		defer c.Close()
		_, _ = io.WriteString(c, name)
	}
}

// read dials addr and returns everything it is sent.
func read(t *testing.T, addr string) (string, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	got, err := io.ReadAll(c)
	return string(got), err
}

func TestAddressesOnOneSocketAnswerAsThemselves(t *testing.T) {
	m := listen(t)
	a, b := netip.MustParseAddr("127.77.0.1"), netip.MustParseAddr("127.77.0.2")
	for ip, name := range map[netip.Addr]string{a: "device a", b: "device b"} {
		if err := m.Handle(ip, answerWith(name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		ip   netip.Addr
		want string
	}{
		{"the first address answers as the first device", a, "device a"},
		{"the second address answers as the second device", b, "device b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := read(t, m.Addr(tc.ip))
			if err != nil || got != tc.want {
				t.Errorf("%s sent %q, %v; want %q", m.Addr(tc.ip), got, err, tc.want)
			}
		})
	}
}

func TestAnAddressNoDeviceHoldsIsRefused(t *testing.T) {
	m := listen(t)
	held := netip.MustParseAddr("127.77.0.1")
	if err := m.Handle(held, answerWith("device")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		addr string
	}{
		{"an address never registered", m.Addr(netip.MustParseAddr("127.77.0.9"))},
		{"127.0.0.1 on the shared port", m.Addr(netip.MustParseAddr("127.0.0.1"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := read(t, tc.addr)
			if got != "" || !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("%s sent %q, %v; want nothing and a reset connection", tc.addr, got, err)
			}
		})
	}

	m.Remove(held)
	if got, err := read(t, m.Addr(held)); got != "" || !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("after Remove, %s sent %q, %v; want nothing and a reset connection", m.Addr(held), got, err)
	}
}

func TestHandleRefusesAnAddressTakenOrOffLoopback(t *testing.T) {
	m := listen(t)
	taken := netip.MustParseAddr("127.77.0.1")
	if err := m.Handle(taken, answerWith("first")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ip   netip.Addr
	}{
		{"an address already handled", taken},
		{"an address off the loopback range", netip.MustParseAddr("192.0.2.1")},
		{"an IPv6 address", netip.MustParseAddr("::1")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := m.Handle(tc.ip, answerWith("second")); err == nil {
				t.Errorf("Handle(%s) = nil; want an error", tc.ip)
			}
		})
	}
	if got, err := read(t, m.Addr(taken)); got != "first" {
		t.Errorf("%s sent %q, %v; want the first handler's answer", m.Addr(taken), got, err)
	}
}

func TestListenerAcceptsTheConnectionsOfItsAddress(t *testing.T) {
	m := listen(t)
	ip := netip.MustParseAddr("127.77.0.5")
	ln, err := m.Listener(ip)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ln.Addr().String(), m.Addr(ip); got != want {
		t.Errorf("Addr() = %s; want %s", got, want)
	}
	served := make(chan error, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				served <- err
				return
			}
			answerWith("from the listener")(c)
		}
	}()
	if got, err := read(t, ln.Addr().String()); got != "from the listener" {
		t.Errorf("%s sent %q, %v; want the listener's server's answer", ln.Addr(), got, err)
	}
	_ = ln.Close()
	if err := <-served; !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close = %v; want net.ErrClosed", err)
	}
	if got, err := read(t, m.Addr(ip)); got != "" || !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("after Close, %s sent %q, %v; want a reset connection", m.Addr(ip), got, err)
	}
}
