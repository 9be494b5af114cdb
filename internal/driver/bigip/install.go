package bigip

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/driver"
)

// Keys of the Installed handle. Everything Rollback and Finalize need is in
// it, so a rotation resumed in another process can use it.
const (
	handleTarget        = "target"
	handleProfile       = "profile"
	handleEntry         = "cert_key_chain"
	handleLedger        = "ledger"
	handleRecord        = "record"
	handleKeyObject     = "key_object"
	handleCertObject    = "cert_object"
	handleChainObject   = "chain_object"
	handleBoundCert     = "cert"
	handleBoundKey      = "key"
	handleBoundChain    = "chain"
	handlePreviousCert  = "previous_cert"
	handlePreviousKey   = "previous_key"
	handlePreviousChain = "previous_chain"
)

// installed is a decoded handle.
type installed struct {
	target, profile, entry, ledger, record string
	keyObject, certObject, chainObject     string
	bound, previous                        binding
}

func (i installed) handle() driver.Installed {
	h := driver.Installed{
		handleTarget: i.target, handleLedger: i.ledger, handleRecord: i.record,
		handleKeyObject: i.keyObject, handleCertObject: i.certObject,
		handleBoundCert: i.bound.Cert, handleBoundKey: i.bound.Key,
		handlePreviousCert: i.previous.Cert, handlePreviousKey: i.previous.Key,
	}
	for k, v := range map[string]string{
		handleProfile: i.profile, handleEntry: i.entry, handleChainObject: i.chainObject,
		handleBoundChain: i.bound.Chain, handlePreviousChain: i.previous.Chain,
	} {
		if v != "" {
			h[k] = v
		}
	}
	return h
}

// parseHandle decodes h and checks it belongs to this session's target.
func (s *session) parseHandle(h driver.Installed) (installed, error) {
	i := installed{
		target: h[handleTarget], profile: h[handleProfile], entry: h[handleEntry],
		ledger: h[handleLedger], record: h[handleRecord],
		keyObject: h[handleKeyObject], certObject: h[handleCertObject], chainObject: h[handleChainObject],
		bound:    binding{Cert: h[handleBoundCert], Key: h[handleBoundKey], Chain: h[handleBoundChain]},
		previous: binding{Cert: h[handlePreviousCert], Key: h[handlePreviousKey], Chain: h[handlePreviousChain]},
	}
	switch {
	case i.bound.Cert == "" || i.bound.Key == "" || i.previous.Cert == "" || i.previous.Key == "" || i.record == "":
		return installed{}, errors.New("the install handle is incomplete: it lacks the certificate and key bindings")
	case i.target != s.opts.Target:
		return installed{}, fmt.Errorf("the install handle is for target %q, the route now says %q", i.target, s.opts.Target)
	case i.target == targetClientSSL && i.profile != s.opts.profilePath():
		return installed{}, fmt.Errorf("the install handle is for profile %s, the route now says %s", i.profile, s.opts.profilePath())
	case i.ledger != s.ledgerPath():
		return installed{}, fmt.Errorf("the install handle's ledger is %s, the route's is %s", i.ledger, s.ledgerPath())
	}
	return i, nil
}

// Install uploads the leaf and the intermediates, makes two new certificate
// objects of them and, in one transaction, points the target at the key
// the device generated for the leaf, the leaf and the chain, and records
// the change in the ledger. A failed commit changes nothing. Installing a
// chain the target already uses changes nothing and returns the handle of
// the install that put it there.
func (s *session) Install(ctx context.Context, chain []*x509.Certificate) (driver.Installed, error) {
	if len(chain) == 0 {
		return nil, errorf("install", "empty chain")
	}
	leaf := chain[0]
	if s.opts.Target == targetHTTPD {
		// The management API is served with this certificate: one the
		// driver cannot verify would lock it out, rollback included.
		if err := s.verifiable(chain); err != nil {
			return nil, errorf("install", "refusing to serve the management interface with a certificate this driver could not verify "+
				"(it reaches the API through it): %w; add the issuing CA's root to the route's ca_file", err)
		}
	}
	entryName, err := s.rotatedEntry(ctx)
	if err != nil {
		return nil, wrapf("install", err)
	}
	l, err := s.readLedger(ctx)
	if err != nil {
		return nil, wrapf("install", err)
	}
	e, err := s.keyFor(ctx, l, leaf)
	if err != nil {
		return nil, wrapf("install", err)
	}
	fp := sha256.Sum256(leaf.Raw)
	name := e.Name + "_" + hex.EncodeToString(fp[:6])
	e.Cert = s.opts.fullPath(name + ".crt")
	if len(chain) > 1 {
		e.Chain = s.opts.fullPath(name + "_chain.crt")
	}
	if err := s.ensureCertificate(ctx, e.Cert, chain[:1]); err != nil {
		return nil, wrapf("install", err)
	}
	if e.Chain != "" {
		if err := s.ensureCertificate(ctx, e.Chain, chain[1:]); err != nil {
			return nil, wrapf("install", err)
		}
	}
	target, err := s.bindingFor(ctx, e.Key, e.Cert, e.Chain)
	if err != nil {
		return nil, wrapf("install", err)
	}
	current, err := s.currentBinding(ctx, entryName)
	if err != nil {
		return nil, wrapf("install", err)
	}
	h := installed{
		target: s.opts.Target, entry: entryName, ledger: l.path, record: e.Name,
		keyObject: e.Key, certObject: e.Cert, chainObject: e.Chain, bound: target, previous: current,
	}
	if s.opts.Target == targetClientSSL {
		h.profile = s.opts.profilePath()
	}
	if current.same(target) {
		// A repeated Install: the first one's record knows what the
		// target used before it.
		if e.Installed && e.Bound.same(target) {
			h.previous = e.Previous
		} else {
			s.log.Warn("bigip: the target already uses this certificate, but ottr's ledger does not say what it replaced; rollback will keep it",
				"record", e.Name)
		}
		s.log.Debug("bigip: the target already uses this chain", "binding", target.String())
		// The first Install saved it, unless it failed there.
		if err := s.persist(ctx, target); err != nil {
			return nil, wrapf("install", err)
		}
		return h.handle(), nil
	}

	e.Installed, e.Bound, e.Previous = true, target, current
	l.put(e)
	if !l.found {
		if err := s.writeLedger(ctx, l, 0); err != nil {
			return nil, wrapf("install", err)
		}
	}
	if err := s.apply(ctx, "install", target, &current, entryName, l); err != nil {
		return nil, err
	}
	s.log.Debug("bigip: installed", "binding", target.String(), "previous", current.String())
	return h.handle(), nil
}

// rotatedEntry returns the name of the certKeyChain entry the route
// rotates ("" for sys httpd), after checking the profile is one the driver
// can change and roll back (passphraseFree).
func (s *session) rotatedEntry(ctx context.Context) (string, error) {
	if s.opts.Target == targetHTTPD {
		return "", nil
	}
	p, i, err := s.profileEntry(ctx, s.opts.CertKeyChain)
	if err != nil {
		return "", err
	}
	if err := passphraseFree(p, i); err != nil {
		return "", err
	}
	return p.CertKeyChain[i].Name, nil
}

// apply points the target at b (and writes the ledger l, when set) in one
// transaction, saves the configuration and has the target serve it
// (persist). When saving or serving fails after the commit and back is
// set, the target is pointed back at *back and that is persisted, so a
// failed step leaves the device as it was; the error says which.
func (s *session) apply(ctx context.Context, step string, b binding, back *binding, entryName string, l *ledger) error {
	if err := s.change(ctx, step, b, entryName, l); err != nil {
		return err
	}
	err := s.persist(ctx, b)
	if err == nil {
		return nil
	}
	if back == nil {
		return wrapf(step, err)
	}
	s.log.Warn("bigip: pointing the target back after a failed "+step, "binding", back.String(), "error", err)
	if undoErr := s.change(ctx, step, *back, entryName, nil); undoErr != nil {
		return errorf(step, "%w; pointing the target back at %s failed too: %v", err, back, undoErr)
	}
	if undoErr := s.persist(ctx, *back); undoErr != nil {
		return errorf(step, "%w; the target was pointed back at %s, but: %v", err, back, undoErr)
	}
	return errorf(step, "%w; the target was pointed back at %s, so the device is as before", err, back)
}

// persist makes a committed binding last: `save sys config`, as F5's
// modules run after a change, so a reboot does not bring back an older
// configuration (or one naming objects Finalize has deleted since); and
// for sys httpd, the management interface serving it (serveHTTPD).
func (s *session) persist(ctx context.Context, b binding) error {
	if err := s.c.saveConfig(ctx); err != nil {
		return err
	}
	if s.opts.Target == targetHTTPD {
		return s.serveHTTPD(ctx, b)
	}
	return nil
}

// httpdRestartTimeout bounds the wait for the management interface to
// serve a new certificate after httpd's restart.
const httpdRestartTimeout = 2 * time.Minute

// serveHTTPD has the management interface serve the certificate b names.
// Whether httpd serves new files without a restart is not published; F5's
// bigip_device_certificate module always restarts it after changing sys
// httpd. So when the interface does not serve the certificate yet, the
// driver runs the module's command and waits until it does.
func (s *session) serveHTTPD(ctx context.Context, b binding) error {
	chain, err := s.readChain(ctx, b)
	if err != nil {
		return fmt.Errorf("read the certificate sys httpd names: %w", err)
	}
	want := chain[0]
	if leaf, err := s.servedLeaf(ctx); err == nil && leaf.Equal(want) {
		return nil
	}
	s.log.Debug("bigip: restarting httpd to serve the new certificate", "binding", b.String())
	out, err := s.c.restartHTTPD(ctx)
	var refused *apiError
	if errors.As(err, &refused) {
		return fmt.Errorf("%s: %w", restartHTTPDCommand, err)
	}
	if err != nil {
		// httpd answers through itself: the restart may cut the answer.
		s.log.Debug("bigip: no answer to the httpd restart; looking at what it serves", "error", err)
	}
	s.c.http.CloseIdleConnections()
	deadline := time.Now().Add(httpdRestartTimeout)
	for attempt := 1; ; attempt++ {
		leaf, err := s.servedLeaf(ctx)
		if err == nil && leaf.Equal(want) {
			return nil
		}
		if time.Now().After(deadline) {
			var served string
			if err != nil {
				served = "nothing (" + err.Error() + ")"
			} else {
				served = describeCert(leaf)
			}
			return fmt.Errorf("after %s the management interface serves %s, not %s; the command printed %s",
				restartHTTPDCommand, served, describeCert(want), s.c.scrubText(abbreviate(out)))
		}
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return fmt.Errorf("waiting for the management interface to serve %s: %w", describeCert(want), err)
		}
	}
}

// servedLeaf returns the certificate the management interface presents to
// a new handshake, verified as the API is.
func (s *session) servedLeaf(ctx context.Context) (*x509.Certificate, error) {
	dialer := tls.Dialer{NetDialer: &net.Dialer{Timeout: 20 * time.Second}, Config: s.tlsConfig.Clone()}
	conn, err := dialer.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates[0], nil
}

// describeCert names a certificate in messages.
func describeCert(c *x509.Certificate) string {
	return fmt.Sprintf("%q (serial %s)", c.Subject.CommonName, c.SerialNumber.Text(16))
}

// change points the target at b, and writes the ledger l when set, in one
// transaction; then it reads the target back to check the device did it.
func (s *session) change(ctx context.Context, step string, b binding, entryName string, l *ledger) error {
	tx, err := s.c.begin(ctx)
	if err != nil {
		return wrapf(step, err)
	}
	if err := s.bind(ctx, b, entryName, tx); err != nil {
		return wrapf(step, err)
	}
	if l != nil {
		if err := s.writeLedger(ctx, l, tx); err != nil {
			return wrapf(step, err)
		}
	}
	commitErr := s.c.commit(ctx, tx)
	var refused *apiError
	var failed *transactionFailed
	if errors.As(commitErr, &refused) || errors.As(commitErr, &failed) {
		return wrapf(step, commitErr)
	}
	if commitErr != nil {
		// No answer: the connection broke during the commit (httpd
		// restarts when its own certificate changes). What the device
		// did is read back below.
		s.log.Warn("bigip: no answer to the commit; reading the target back", "transaction", tx, "error", commitErr)
	}
	now, err := s.currentBinding(ctx, entryName)
	if err != nil {
		return errorf(step, "check the committed change: %w", errors.Join(commitErr, err))
	}
	if !now.same(b) {
		if commitErr != nil {
			return wrapf(step, commitErr)
		}
		return errorf(step, "the device committed the transaction, but the target uses %s instead of %s", now, b)
	}
	return nil
}

// verifiable checks that chain verifies as the driver verifies the API.
func (s *session) verifiable(chain []*x509.Certificate) error {
	intermediates := x509.NewCertPool()
	for _, c := range chain[1:] {
		intermediates.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots: s.roots, Intermediates: intermediates, DNSName: s.serverName,
		CurrentTime: s.drv.cfg.Now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err
}

// keyFor finds the ledger entry of the key the leaf was issued for: first
// among the keys this session generated, then by reading the CSRs of the
// ledger's keys from the device, newest first.
func (s *session) keyFor(ctx context.Context, l *ledger, leaf *x509.Certificate) (entry, error) {
	id := spkiID(leaf.RawSubjectPublicKeyInfo)
	s.mu.Lock()
	name, known := s.generated[id]
	s.mu.Unlock()
	if known {
		if e, found := l.get(name); found {
			return e, nil
		}
	}
	for i := len(l.entries) - 1; i >= 0; i-- {
		e := l.entries[i]
		der, err := s.c.csrPEM(ctx, e.Key)
		if err != nil {
			s.log.Debug("bigip: ledger key without a readable CSR", "key", e.Key, "error", err)
			continue
		}
		csr, err := x509.ParseCertificateRequest(der)
		if err == nil && bytes.Equal(csr.RawSubjectPublicKeyInfo, leaf.RawSubjectPublicKeyInfo) {
			return e, nil
		}
	}
	return entry{}, fmt.Errorf("no key ottr generated on the device for %s matches the certificate's public key: generate a new CSR and have it signed",
		s.ledgerPath())
}

// ensureCertificate makes the certificate object fullPath hold certs,
// unless it does already. An object of that name holding anything else is
// an error: objects are never overwritten.
func (s *session) ensureCertificate(ctx context.Context, fullPath string, certs []*x509.Certificate) error {
	f, err := s.c.certFile(ctx, fullPath)
	if err != nil {
		return fmt.Errorf("look up certificate %s: %w", fullPath, err)
	}
	if f != nil {
		same, understood := sameFingerprint(f.Fingerprint, certs[0])
		switch {
		case !understood:
			return fmt.Errorf("certificate object %s exists and its fingerprint %q is not in a form ottr knows; not overwriting it", fullPath, f.Fingerprint)
		case !same:
			return fmt.Errorf("certificate object %s exists and holds another certificate (%s); not overwriting it", fullPath, f.Fingerprint)
		}
		return nil
	}
	_, name := splitFullPath(fullPath)
	local, err := s.c.upload(ctx, name+".pem", driver.EncodeCertificates(certs))
	if err != nil {
		return fmt.Errorf("upload certificate %s: %w", fullPath, err)
	}
	if err := s.c.installCert(ctx, fullPath, local); err != nil {
		return fmt.Errorf("install certificate %s: %w", fullPath, err)
	}
	if err := s.c.removeUpload(ctx, local); err != nil {
		s.log.Warn("bigip: could not remove the uploaded file", "file", local, "error", err)
	}
	return nil
}

// sameFingerprint compares BIG-IP's fingerprint of a certificate
// ("SHA256/AB:CD:…", as F5's bigip_device_info documents it) with c's
// SHA-256. understood is false for a fingerprint of another form.
func sameFingerprint(fingerprint string, c *x509.Certificate) (same, understood bool) {
	hexDigits := fingerprint
	if algorithm, digits, found := strings.Cut(fingerprint, "/"); found {
		if !strings.EqualFold(algorithm, "SHA256") {
			return false, false
		}
		hexDigits = digits
	}
	got, err := hex.DecodeString(strings.ReplaceAll(hexDigits, ":", ""))
	if err != nil || len(got) != sha256.Size {
		return false, false
	}
	sum := sha256.Sum256(c.Raw)
	return bytes.Equal(got, sum[:]), true
}

// Rollback points the target back at what it used before the install, in a
// transaction. Rolling back twice is harmless; if the target has changed
// since to something that is neither, Rollback refuses rather than undo a
// change it did not make.
func (s *session) Rollback(ctx context.Context, h driver.Installed) error {
	i, err := s.parseHandle(h)
	if err != nil {
		return wrapf("rollback", err)
	}
	current, err := s.currentBinding(ctx, i.entry)
	if err != nil {
		return wrapf("rollback", err)
	}
	switch {
	case current.same(i.previous):
		// A rollback that failed to save is saved when it runs again.
		s.log.Debug("bigip: the target already uses the previous certificate", "binding", current.String())
		if err := s.persist(ctx, i.previous); err != nil {
			return wrapf("rollback", err)
		}
		return nil
	case !current.same(i.bound):
		return errorf("rollback", "the target now uses %s, neither the installed (%s) nor the previous certificate (%s): "+
			"not undoing a change made since", current, i.bound, i.previous)
	}
	if err := s.apply(ctx, "rollback", i.previous, nil, i.entry, nil); err != nil {
		return err
	}
	s.log.Debug("bigip: rolled back", "binding", i.previous.String())
	return nil
}
