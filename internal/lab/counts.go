package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// CountsPath is where a CountsServer answers.
const CountsPath = "/counts"

// CountsServer serves the lab CA's counts (pebble.Counts) as JSON over
// plain HTTP, so a test or an operator in another process can read what
// the CA did while ottr processes come and go.
type CountsServer struct {
	// URL is the counts' address, http://host:port/counts.
	URL    string
	server *http.Server
	served chan error
}

// ServeCounts serves the CA's counts on addr (host:port; port 0 picks a
// free one) until Close. The counts hold order IDs, names and serials,
// nothing secret, but addr should still be a loopback address: nothing
// outside the machine needs them.
func (l *Lab) ServeCounts(ctx context.Context, addr string) (*CountsServer, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("lab: CA counts: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle(CountsPath, l.CA.CountsHandler())
	s := &CountsServer{
		URL:    "http://" + ln.Addr().String() + CountsPath,
		server: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		served: make(chan error, 1),
	}
	go func() { s.served <- s.server.Serve(ln) }()
	return s, nil
}

// Close stops serving.
func (s *CountsServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.server.Shutdown(ctx); err != nil {
		return fmt.Errorf("lab: CA counts: %w", err)
	}
	if err := <-s.served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("lab: CA counts: %w", err)
	}
	return nil
}
