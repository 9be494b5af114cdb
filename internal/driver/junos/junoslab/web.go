package junoslab

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// connTimeout bounds one TLS connection, so a client that connects and
// says nothing does not hold a goroutine.
const connTimeout = 10 * time.Second

// maxChainDepth bounds the CA certificates J-Web appends to its leaf.
const maxChainDepth = 4

// servedCertificate returns what J-Web presents now: the local certificate
// the committed configuration binds, followed by the CA certificates of the
// configured CA profiles that issue it, up to (not including) a
// self-signed root. A new handshake sees a new commit at once.
func (d *Device) servedCertificate() (*tls.Certificate, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := boundCertificateID(d.running)
	if id == "" {
		return nil, errors.New("web-management https has no certificate")
	}
	leaf, okCert := d.localCerts[id]
	kp, okKey := d.keyPairs[id]
	if !okCert || !okKey {
		return nil, fmt.Errorf("local certificate %s is missing", id)
	}
	out := &tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: kp.key, Leaf: leaf}
	profiles := caProfiles(d.running)
	for cur := leaf; len(out.Certificate) <= maxChainDepth; {
		issuer := d.issuerOf(cur, profiles)
		if issuer == nil {
			break
		}
		out.Certificate = append(out.Certificate, issuer.Raw)
		cur = issuer
	}
	return out, nil
}

// boundCertificateID names the local certificate J-Web uses in cfg.
func boundCertificateID(cfg *node) string {
	https := cfg.lookup(webHTTPSPath)
	switch {
	case https == nil:
		return ""
	case https.child("pki-local-certificate") != nil:
		return https.childText("pki-local-certificate")
	case https.child("system-generated-certificate") != nil:
		return SystemGeneratedID
	}
	return ""
}

// issuerOf finds, among the CA certificates of profiles, the one that signed
// c; self-signed roots are left out, as servers leave them out of chains.
func (d *Device) issuerOf(c *x509.Certificate, profiles []string) *x509.Certificate {
	if bytes.Equal(c.RawIssuer, c.RawSubject) {
		return nil
	}
	for _, p := range profiles {
		ca, ok := d.caCerts[p]
		if !ok || bytes.Equal(ca.RawIssuer, ca.RawSubject) {
			continue
		}
		if bytes.Equal(ca.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(ca) == nil {
			return ca
		}
	}
	return nil
}

// serveTLS accepts J-Web connections until the listener closes.
func (d *Device) serveTLS() {
	for {
		conn, err := d.tlsListener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off a little.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go d.serveConn(conn)
	}
}

// serveConn completes the handshake and answers one HTTP request with the
// device's name, as a J-Web login page would identify it.
func (d *Device) serveConn(raw net.Conn) {
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(connTimeout))
	conn := tls.Server(raw, d.tlsConfig)
	if err := conn.Handshake(); err != nil {
		return
	}
	req, err := http.ReadRequest(bufio.NewReader(conn))
	if err != nil {
		// Verifiers close after the handshake; nothing to answer.
		return
	}
	_ = req.Body.Close()
	body := "J-Web " + d.cfg.Name + "\n"
	_, _ = fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		len(body), body)
	_ = conn.Close()
}
