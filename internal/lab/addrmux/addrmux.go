// Package addrmux lets many emulated devices share one listening socket.
// A lab device lives on its own loopback address (127.S.x.y) and listens
// on a fixed port; with one socket per device and protocol a fleet of
// 10,000 needs 20,000 file descriptors before a single connection is
// made. A Mux is one socket that accepts for every loopback address on
// its port and hands each connection to the handler registered for the
// connection's local address, which is the address the client dialled.
//
// The socket is bound to the wildcard address but only to the loopback
// interface (SO_BINDTODEVICE "lo"), so it never accepts from the network:
// the emulated Linux hosts run real commands. A connection to an address
// no device holds is reset at once, as a closed port would refuse it.
package addrmux

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Handler serves one accepted connection and closes it.
type Handler func(net.Conn)

// Mux is one listening socket shared by every address registered on it.
type Mux struct {
	ln   net.Listener
	port int

	mu       sync.RWMutex
	handlers map[netip.Addr]Handler

	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Listen opens a Mux on port (0: a free one, the same for every address)
// and accepts until Close or until ctx ends.
func Listen(ctx context.Context, port int) (*Mux, error) {
	lc := net.ListenConfig{Control: bindToLoopback}
	ln, err := lc.Listen(ctx, "tcp4", net.JoinHostPort("0.0.0.0", strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("addrmux: listen on port %d of the loopback interface: %w", port, err)
	}
	m := &Mux{
		ln:       ln,
		port:     ln.Addr().(*net.TCPAddr).Port,
		handlers: map[netip.Addr]Handler{},
		done:     make(chan struct{}),
	}
	go m.accept()
	context.AfterFunc(ctx, func() { _ = m.Close() })
	return m, nil
}

// bindToLoopback keeps the wildcard socket off every interface but lo.
func bindToLoopback(_, _ string, c syscall.RawConn) error {
	var sockErr error
	err := c.Control(func(fd uintptr) {
		sockErr = syscall.SetsockoptString(int(fd), syscall.SOL_SOCKET, syscall.SO_BINDTODEVICE, "lo")
	})
	if err != nil {
		return err
	}
	if sockErr != nil {
		return fmt.Errorf("bind to the loopback interface: %w", sockErr)
	}
	return nil
}

// Port returns the port every address of the Mux is reached on.
func (m *Mux) Port() int { return m.port }

// Addr returns ip's address on the Mux, ip:port.
func (m *Mux) Addr(ip netip.Addr) string { return netip.AddrPortFrom(ip, uint16(m.port)).String() }

// Handle routes connections to ip to h, each in its own goroutine. ip must
// be an IPv4 loopback address that no other handler holds.
func (m *Mux) Handle(ip netip.Addr, h Handler) error {
	ip = ip.Unmap()
	if !ip.Is4() || !ip.IsLoopback() {
		return fmt.Errorf("addrmux: %s is not an IPv4 loopback address", ip)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, taken := m.handlers[ip]; taken {
		return fmt.Errorf("addrmux: %s: %w", m.Addr(ip), syscall.EADDRINUSE)
	}
	m.handlers[ip] = h
	return nil
}

// Remove stops routing connections to ip: new ones are refused.
func (m *Mux) Remove(ip netip.Addr) {
	m.mu.Lock()
	delete(m.handlers, ip.Unmap())
	m.mu.Unlock()
}

// Close stops accepting; connections already handed to a handler are the
// handler's. It is safe to call twice.
func (m *Mux) Close() error {
	m.closeOnce.Do(func() {
		m.closeErr = m.ln.Close()
		<-m.done
	})
	return m.closeErr
}

func (m *Mux) accept() {
	defer close(m.done)
	for {
		conn, err := m.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off a little
			// rather than spin.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		h := m.handlerFor(conn)
		if h == nil {
			refuse(conn)
			continue
		}
		go h(conn)
	}
}

func (m *Mux) handlerFor(conn net.Conn) Handler {
	local, ok := conn.LocalAddr().(*net.TCPAddr)
	if !ok {
		return nil
	}
	ip, ok := netip.AddrFromSlice(local.IP)
	if !ok {
		return nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.handlers[ip.Unmap()]
}

// refuse resets the connection rather than closing it politely, so the
// client sees "connection reset" at once, as from a port nothing serves.
func refuse(conn net.Conn) {
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

// Listener returns a net.Listener for ip on the Mux, for a server that
// takes a listener (http.Server.Serve, say): its Accept returns the
// connections to ip, and its Close removes ip from the Mux. It costs the
// server's accept goroutine; Handle costs nothing while no one connects.
func (m *Mux) Listener(ip netip.Addr) (net.Listener, error) {
	l := &listener{mux: m, ip: ip.Unmap(), conns: make(chan net.Conn), closed: make(chan struct{})}
	err := m.Handle(ip, func(c net.Conn) {
		select {
		case l.conns <- c:
		case <-l.closed:
			refuse(c)
		}
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

type listener struct {
	mux       *Mux
	ip        netip.Addr
	conns     chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-l.mux.done:
		return nil, net.ErrClosed
	}
}

func (l *listener) Close() error {
	l.closeOnce.Do(func() {
		l.mux.Remove(l.ip)
		close(l.closed)
	})
	return nil
}

func (l *listener) Addr() net.Addr {
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(l.ip, uint16(l.mux.port)))
}
