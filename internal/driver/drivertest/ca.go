package drivertest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// TestCA is a throwaway in-memory CA: a root and an intermediate that signs
// leaves. Its chains look like a public CA's: leaf, then intermediate.
type TestCA struct {
	root            *x509.Certificate
	intermediate    *x509.Certificate
	intermediateKey *ecdsa.PrivateKey
	leafLifetime    time.Duration
	now             func() time.Time
}

// NewTestCA makes a CA whose leaves live 90 days from now.
func NewTestCA() (*TestCA, error) {
	now := time.Now
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("drivertest: CA key: %w", err)
	}
	root, err := createCertificate(&x509.Certificate{
		Subject:               pkix.Name{CommonName: "ottr test root", Organization: []string{"ottr test CA"}},
		NotBefore:             now().Add(-time.Hour),
		NotAfter:              now().Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, nil, &rootKey.PublicKey, rootKey)
	if err != nil {
		return nil, fmt.Errorf("drivertest: root: %w", err)
	}
	intermediateKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("drivertest: CA key: %w", err)
	}
	intermediate, err := createCertificate(&x509.Certificate{
		Subject:               pkix.Name{CommonName: "ottr test intermediate", Organization: []string{"ottr test CA"}},
		NotBefore:             now().Add(-time.Hour),
		NotAfter:              now().Add(5 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, root, &intermediateKey.PublicKey, rootKey)
	if err != nil {
		return nil, fmt.Errorf("drivertest: intermediate: %w", err)
	}
	return &TestCA{
		root:            root,
		intermediate:    intermediate,
		intermediateKey: intermediateKey,
		leafLifetime:    90 * 24 * time.Hour,
		now:             now,
	}, nil
}

// Sign checks the CSR's signature and returns a chain for it, leaf first:
// the leaf carries the CSR's common name, DNS names, IP addresses and
// public key.
func (ca *TestCA) Sign(_ context.Context, csr *x509.CertificateRequest) ([]*x509.Certificate, error) {
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("drivertest: CSR signature: %w", err)
	}
	leaf, err := createCertificate(&x509.Certificate{
		Subject:     pkix.Name{CommonName: csr.Subject.CommonName},
		DNSNames:    csr.DNSNames,
		IPAddresses: csr.IPAddresses,
		NotBefore:   ca.now().Add(-time.Minute),
		NotAfter:    ca.now().Add(ca.leafLifetime),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca.intermediate, csr.PublicKey, ca.intermediateKey)
	if err != nil {
		return nil, fmt.Errorf("drivertest: sign: %w", err)
	}
	return []*x509.Certificate{leaf, ca.intermediate}, nil
}

// Certificate returns a certificate for names, the first its common name,
// with its chain and a new ECDSA P-256 key: what a device serves before any
// rotation. Names that are IP addresses become IP SANs.
func (ca *TestCA) Certificate(ctx context.Context, names ...string) (*tls.Certificate, error) {
	if len(names) == 0 {
		return nil, errors.New("drivertest: a certificate needs a name")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("drivertest: key: %w", err)
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: names[0]}}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, fmt.Errorf("drivertest: CSR: %w", err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("drivertest: CSR: %w", err)
	}
	chain, err := ca.Sign(ctx, csr)
	if err != nil {
		return nil, err
	}
	cert := &tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, c := range chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	return cert, nil
}

// Roots returns a pool holding the CA's root, to verify its chains.
func (ca *TestCA) Roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.root)
	return pool
}

// Root returns the CA's root certificate.
func (ca *TestCA) Root() *x509.Certificate { return ca.root }

// createCertificate signs tmpl with a random serial; a nil parent makes it
// self-signed.
func createCertificate(tmpl, parent *x509.Certificate, pub, signer any) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// ServedChain completes a TLS handshake with addr, sending serverName as
// SNI, and returns the chain the server presented, leaf first. It checks
// nothing: it reports what is served, for the caller to compare with what
// it expects.
func ServedChain(ctx context.Context, addr, serverName string) ([]*x509.Certificate, error) {
	dialer := &tls.Dialer{Config: &tls.Config{
		ServerName: serverName,
		// The suite compares the served certificates byte for byte;
		// chain validation would only stop it from seeing a wrong one.
		InsecureSkipVerify: true, //nolint:gosec // test support: observes, does not trust.
	}}
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("drivertest: TLS dial %s: %w", addr, err)
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates, nil
}
