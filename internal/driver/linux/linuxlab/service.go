package linuxlab

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// connTimeout bounds one TLS connection, so a client that connects and
// says nothing does not hold a goroutine.
const connTimeout = 10 * time.Second

// serveTLS accepts connections until ln closes. Each connection gets the
// handshake and, if it sends an HTTP request, a one-line answer.
func (h *Host) serveTLS(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off a little.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go h.serveConn(conn)
	}
}

func (h *Host) serveConn(raw net.Conn) {
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(connTimeout))
	conn := tls.Server(raw, h.tlsConfig)
	if err := conn.Handshake(); err != nil {
		return
	}
	req, err := http.ReadRequest(bufio.NewReader(conn))
	if err != nil {
		// Verifiers close after the handshake; nothing to answer.
		return
	}
	_ = req.Body.Close()
	body := h.cfg.Name + "\n"
	_, _ = fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		len(body), body)
	_ = conn.Close()
}

// reload is the in-process reload command: it loads the certificate and key
// files into the TLS listener and returns the exit status. On failure it
// writes nginx's kind of message to stderr and keeps serving the old
// certificate, as nginx does when a reload's configuration test fails.
func (h *Host) reload(stderr io.Writer) int {
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	if h.failReloads.Load() {
		fmt.Fprintln(stderr, `nginx: [emerg] SSL_CTX_use_certificate() failed: reload refused by the lab's FailReloads fault`)
		fmt.Fprintln(stderr, "nginx: configuration file /etc/nginx/nginx.conf test failed")
		return 1
	}
	cert, err := h.loadKeyPair()
	if err != nil {
		fmt.Fprintln(stderr, err)
		fmt.Fprintln(stderr, "nginx: configuration file /etc/nginx/nginx.conf test failed")
		return 1
	}
	h.served.Store(cert)
	h.reloads.Add(1)
	return 0
}

// loadKeyPair loads the host's files, describing failures as nginx would.
func (h *Host) loadKeyPair() (*tls.Certificate, error) {
	virtualCert := h.cfg.PathPrefix + "/" + h.cfg.CertPath
	virtualKey := h.cfg.PathPrefix + "/" + h.cfg.KeyPath
	certPEM, err := os.ReadFile(h.certFile)
	if err != nil {
		return nil, fmt.Errorf("nginx: [emerg] cannot load certificate %q: BIO_new_file() failed (%v)", virtualCert, unwrapPathError(err))
	}
	keyPEM, err := os.ReadFile(h.keyFile)
	if err != nil {
		return nil, fmt.Errorf("nginx: [emerg] cannot load certificate key %q: BIO_new_file() failed (%v)", virtualKey, unwrapPathError(err))
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	switch {
	case err == nil:
		return &cert, nil
	case strings.Contains(err.Error(), "does not match"):
		return nil, fmt.Errorf("nginx: [emerg] SSL_CTX_use_PrivateKey(%q) failed (SSL: error:05800074:x509 certificate routines::key values mismatch)", virtualKey)
	case strings.Contains(err.Error(), "certificate input"):
		return nil, fmt.Errorf("nginx: [emerg] cannot load certificate %q: PEM_read_bio_X509_AUX() failed (SSL: error:0480006C:PEM routines::no start line)", virtualCert)
	default:
		return nil, fmt.Errorf("nginx: [emerg] cannot load certificate key %q: PEM_read_bio_PrivateKey() failed (%v)", virtualKey, err)
	}
}

func unwrapPathError(err error) error {
	var pathErr *os.PathError
	if errors.As(err, &pathErr) {
		return pathErr.Err
	}
	return err
}

// writeSelfSigned writes a new ECDSA key and a 30-day self-signed
// certificate for name, the host's "old" certificate before any rotation,
// and returns them as the TLS service would load them from the files: a
// fleet of 100,000 hosts starting spent a seventh of its start reading
// back and checking what it had just written.
func writeSelfSigned(certFile, keyFile, name string, now time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name, Organization: []string{"ottr lab"}},
		DNSNames:     []string{name},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	for _, dir := range []string{filepath.Dir(certFile), filepath.Dir(keyFile)} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if certFile == keyFile {
		// A bundle: the key, then the certificate.
		err = os.WriteFile(certFile, append(keyPEM, certPEM...), 0o600)
	} else if err = os.WriteFile(keyFile, keyPEM, 0o600); err == nil {
		err = os.WriteFile(certFile, certPEM, 0o644)
	}
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
