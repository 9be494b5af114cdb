package lab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"

	"github.com/ottr-go/ottr/internal/lab/addrmux"
)

// sockets are the listening sockets the lab's devices share: one for each
// port a device is told to listen on (2222 for SSH, 8443 for TLS, ...),
// which accepts for every device's address. A socket listens on a free
// port of its own, so labs side by side do not collide; the devices
// report that port, and the lab's config and assets carry it.
type sockets struct {
	ctx context.Context
	mu  sync.Mutex
	// byPort holds each socket under the port devices are told and under
	// its own, which a device that listens again (a Lighthouse after its
	// restart) asks for.
	byPort map[int]*addrmux.Mux
	all    []*addrmux.Mux
}

func newSockets(ctx context.Context) *sockets {
	return &sockets{ctx: ctx, byPort: map[int]*addrmux.Mux{}}
}

// mux returns the socket for port, opening it the first time.
func (s *sockets) mux(port int) (*addrmux.Mux, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.byPort[port]; ok {
		return m, nil
	}
	m, err := addrmux.Listen(s.ctx, 0)
	if err != nil {
		return nil, fmt.Errorf("lab: the devices' socket for port %d: %w", port, err)
	}
	s.byPort[port], s.byPort[m.Port()] = m, m
	s.all = append(s.all, m)
	return m, nil
}

// listen is the emulators' Listen: addr's IP on the shared socket of its
// port. Port 0 asks for a free port of the device's own, which only a
// socket of its own gives.
func (s *sockets) listen(addr string) (net.Listener, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("lab: listen on %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port == 0 {
		return net.Listen("tcp", addr)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return nil, fmt.Errorf("lab: listen on %q: %w", addr, err)
	}
	m, err := s.mux(port)
	if err != nil {
		return nil, err
	}
	return m.Listener(ip)
}

func (s *sockets) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.all {
		_ = m.Close()
	}
}
