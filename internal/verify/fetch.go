package verify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"
)

// DefaultTimeout bounds a connection and handshake when none is given.
const DefaultTimeout = 10 * time.Second

// Fetch returns the certificates the TLS server at address serves for
// serverName (SNI), leaf first, without judging them. Plan and preflight use
// it to show what a device serves today. A zero timeout means DefaultTimeout.
func Fetch(ctx context.Context, address, serverName string, timeout time.Duration) ([]*x509.Certificate, error) {
	return fetch(ctx, address, serverName, nil, timeout)
}

// fetch performs a TLS handshake only to capture the served chain.
//
// It skips the handshake's own verification on purpose: a failed handshake
// says only "bad certificate", while ottr must report what is wrong — the
// old certificate still served, a missing intermediate, a missing name — and
// record what was served. Nothing is sent over the connection; Check then
// verifies the captured chain itself, against the CA profile's roots.
func fetch(ctx context.Context, address, serverName string, dialer *net.Dialer, timeout time.Duration) ([]*x509.Certificate, error) {
	if _, _, err := net.SplitHostPort(address); err != nil {
		return nil, fmt.Errorf("verify: address %q must be host:port, an IPv6 address in brackets: %w", address, err)
	}
	if dialer == nil {
		dialer = &net.Dialer{}
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	d := &tls.Dialer{
		NetDialer: dialer,
		Config: &tls.Config{
			ServerName:         serverName,
			InsecureSkipVerify: true, // the chain is verified by Check; see above.
		},
	}
	conn, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		return nil, fmt.Errorf("verify: connect to %s: %w", address, err)
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, fmt.Errorf("verify: connect to %s: %w", address, errors.New("the server sent no certificate"))
	}
	return certs, nil
}
