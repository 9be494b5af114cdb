package lighthouse

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/ottr-go/ottr/internal/driver"
)

// Keys of the Installed handle.
const (
	handleLeaf             = "leaf_sha256"
	handleAlreadyInstalled = "already_installed"
	handlePrevious         = "previous_leaf_sha256"
	handlePreviousSerial   = "previous_serial"
	handlePreviousNotAfter = "previous_not_after"
)

// Backoff of the wait for the web server.
const (
	firstPoll = 100 * time.Millisecond
	maxPoll   = 5 * time.Second
)

// CurrentCertificate returns the chain the web server is configured with,
// from GET /services/https.
func (s *session) CurrentCertificate(ctx context.Context) ([]*x509.Certificate, error) {
	chain, err := s.configured(ctx)
	if err != nil {
		return nil, wrapf("current certificate", err)
	}
	return chain, nil
}

// configured reads the configured chain, leaf first; nil if none.
func (s *session) configured(ctx context.Context) ([]*x509.Certificate, error) {
	details, err := s.client.https(ctx)
	if err != nil {
		return nil, err
	}
	chain, err := driver.ParseCertificates([]byte(details.Cert))
	if err != nil {
		return nil, fmt.Errorf("the appliance's certificate: %w", err)
	}
	return chain, nil
}

// Install uploads chain for the appliance's pending CSR and waits until the
// restarted web server serves it. Installing a chain that is already in
// service only waits for it to be served.
func (s *session) Install(ctx context.Context, chain []*x509.Certificate) (driver.Installed, error) {
	if len(chain) == 0 {
		return nil, errorf("install", "no certificate to install")
	}
	leaf := chain[0]
	if err := s.trusted(chain); err != nil {
		return nil, errorf("install", "refusing to upload a certificate this driver could not trust afterwards "+
			"(the API is served with it): %w; add the issuing CA's root to the route's ca_file", err)
	}
	current, err := s.configured(ctx)
	if err != nil {
		return nil, wrapf("install", err)
	}
	handle := driver.Installed{handleLeaf: fingerprint(leaf)}
	if len(current) > 0 && current[0].Equal(leaf) {
		// A resumed rotation installs again what an earlier run already
		// uploaded; nothing is left but to see it served.
		handle[handleAlreadyInstalled] = "true"
		if err := s.awaitWebServer(ctx, chain, false); err != nil {
			return nil, wrapf("install", err)
		}
		return handle, nil
	}
	if len(current) > 0 {
		handle[handlePrevious] = fingerprint(current[0])
		handle[handlePreviousSerial] = fmt.Sprintf("%x", current[0].SerialNumber)
		handle[handlePreviousNotAfter] = current[0].NotAfter.UTC().Format(time.RFC3339)
	}
	if err := s.matchesPendingCSR(ctx, leaf); err != nil {
		return nil, wrapf("install", err)
	}
	s.log.Info("lighthouse: uploading the certificate", "serial", fmt.Sprintf("%x", leaf.SerialNumber), "chain", len(chain))
	if err := s.client.uploadCertificate(ctx, string(driver.EncodeCertificates(chain))); err != nil {
		return nil, errorf("install", "upload the certificate: %w", err)
	}
	// The restart drops every connection; do not reuse a dead one.
	s.transport.CloseIdleConnections()
	if err := s.awaitWebServer(ctx, chain, true); err != nil {
		return nil, wrapf("install", err)
	}
	if err := s.readBack(ctx, chain); err != nil {
		return nil, wrapf("install", err)
	}
	return handle, nil
}

// readBack checks that the appliance kept and serves the whole chain
// uploaded: the v3.7 reference shows https.cert holding one certificate,
// and a release that keeps only the leaf leaves clients without the
// intermediate CAs they need.
func (s *session) readBack(ctx context.Context, chain []*x509.Certificate) error {
	configured, err := s.configured(ctx)
	if err != nil {
		return fmt.Errorf("read the certificate back after the upload: %w", err)
	}
	if len(configured) == 0 || !configured[0].Equal(chain[0]) {
		return fmt.Errorf("after the upload the appliance's configuration holds %s, not the uploaded serial %x",
			describeLeaf(configured), chain[0].SerialNumber)
	}
	if len(configured) < len(chain) {
		return fmt.Errorf("the appliance kept %d of the %d certificates uploaded in https.cert (this release takes no chain): "+
			"clients without the issuing CA's intermediate cannot verify it; have the CA issue from a root the clients hold, "+
			"or install the chain by hand", len(configured), len(chain))
	}
	served, err := s.servedChain(ctx)
	if err != nil {
		return fmt.Errorf("read the served chain back after the upload: %w", err)
	}
	if len(served) < len(chain) {
		return fmt.Errorf("the web server serves %d of the %d certificates uploaded in https.cert: "+
			"clients without the issuing CA's intermediate cannot verify it", len(served), len(chain))
	}
	return nil
}

// describeLeaf names the first certificate of chain for an error.
func describeLeaf(chain []*x509.Certificate) string {
	if len(chain) == 0 {
		return "no certificate"
	}
	return fmt.Sprintf("serial %x", chain[0].SerialNumber)
}

// matchesPendingCSR checks that leaf certifies the key of the appliance's
// pending CSR, so an upload cannot fail half-way for a wrong key.
func (s *session) matchesPendingCSR(ctx context.Context, leaf *x509.Certificate) error {
	csr, err := s.pendingCSR(ctx)
	if errors.Is(err, errNoPendingCSR) {
		return errors.New("the appliance has no pending CSR for this certificate (was it cancelled?): generate a new CSR")
	}
	if err != nil {
		return err
	}
	if !samePublicKey(csr.PublicKey, leaf.PublicKey) {
		return errors.New("the certificate is for another key than the appliance's pending CSR (a newer CSR replaced it?): generate a new CSR")
	}
	return nil
}

// trusted verifies chain as the driver's connections will verify the
// appliance once it serves the chain.
func (s *session) trusted(chain []*x509.Certificate) error {
	intermediates := x509.NewCertPool()
	for _, c := range chain[1:] {
		intermediates.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		DNSName:       s.tlsConfig.ServerName,
		Roots:         s.roots,
		Intermediates: intermediates,
		CurrentTime:   s.drv.cfg.Now(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err
}

// awaitWebServer polls, with backoff, verified TLS handshakes with the API
// until the web server serves leaf. After an upload (restarting true) the
// appliance restarts its web server: seeing it away and back with leaf ends
// the wait; if the restart is too quick to be seen, leaf must be served for
// restart_settle. The wait is bounded by restart_timeout.
//
// A web server that serves the new leaf in a chain that does not verify
// ends the wait at once: it will not verify later either.
func (s *session) awaitWebServer(ctx context.Context, chain []*x509.Certificate, restarting bool) error {
	leaf := chain[0]
	waitCtx, cancel := context.WithTimeout(ctx, s.opts.RestartTimeout)
	defer cancel()
	sawDown := !restarting
	var servedSince time.Time
	var last error
	delay := firstPoll
	for attempt := 1; ; attempt++ {
		servedChain, err := s.servedChain(waitCtx)
		var served *x509.Certificate
		if err == nil {
			served = servedChain[0]
		}
		var unverified *tls.CertificateVerificationError
		if errors.As(err, &unverified) && len(unverified.UnverifiedCertificates) > 0 && unverified.UnverifiedCertificates[0].Equal(leaf) {
			return fmt.Errorf("the web server serves the new certificate in %d of the %d certificates uploaded, "+
				"and it does not verify for %s: %w; a release that keeps no chain in https.cert drops the intermediates: "+
				"have the CA issue from a root in ca_file, or install the chain by hand",
				len(unverified.UnverifiedCertificates), len(chain), s.tlsConfig.ServerName, unverified.Err)
		}
		switch {
		case err != nil:
			sawDown, servedSince = true, time.Time{}
			if waitCtx.Err() == nil || last == nil {
				last = err
			}
		case !served.Equal(leaf):
			servedSince = time.Time{}
			last = fmt.Errorf("it serves serial %x, not the new %x", served.SerialNumber, leaf.SerialNumber)
		case sawDown:
			s.log.Info("lighthouse: the web server serves the new certificate", "polls", attempt)
			return nil
		default:
			if servedSince.IsZero() {
				servedSince = time.Now()
			}
			if time.Since(servedSince) >= s.opts.RestartSettle {
				s.log.Info("lighthouse: the web server serves the new certificate; no restart was seen", "polls", attempt)
				return nil
			}
			last = errors.New("it serves the new certificate, but has not restarted yet")
		}
		wait := delay
		if !servedSince.IsZero() {
			wait = max(min(delay, s.opts.RestartSettle-time.Since(servedSince)), 10*time.Millisecond)
		}
		s.log.Debug("lighthouse: waiting for the web server", "poll", attempt, "state", last.Error(), "next", wait)
		select {
		case <-waitCtx.Done():
			if ctx.Err() != nil {
				return fmt.Errorf("waiting for the web server: %w", ctx.Err())
			}
			return fmt.Errorf("the web server did not serve the new certificate within %s (restart_timeout): %v",
				s.opts.RestartTimeout, last)
		case <-time.After(wait):
		}
		delay = min(delay*2, maxPoll)
	}
}

// servedChain completes a verified TLS handshake with the API and returns
// the chain it presents, leaf first.
func (s *session) servedChain(ctx context.Context) ([]*x509.Certificate, error) {
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: s.drv.cfg.DialTimeout}, Config: s.tlsConfig.Clone()}
	conn, err := dialer.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates, nil
}

// Rollback cannot restore the previous certificate (ErrRollbackUnsupported).
// It succeeds only when there is nothing to undo: the appliance still has
// the certificate from before the install.
func (s *session) Rollback(ctx context.Context, i driver.Installed) error {
	current, err := s.configured(ctx)
	if err != nil {
		return wrapf("rollback", err)
	}
	if prev := i[handlePrevious]; prev != "" && len(current) > 0 && fingerprint(current[0]) == prev {
		s.log.Info("lighthouse: the appliance still has its previous certificate; nothing to roll back")
		return nil
	}
	if serial := i[handlePreviousSerial]; serial != "" {
		return fmt.Errorf("lighthouse: rollback: %w; the certificate before the install was serial %s, valid until %s",
			ErrRollbackUnsupported, serial, i[handlePreviousNotAfter])
	}
	return fmt.Errorf("lighthouse: rollback: %w", ErrRollbackUnsupported)
}

// fingerprint is the hex SHA-256 of a certificate.
func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}
