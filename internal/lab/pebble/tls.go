package pebble

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"time"
)

// tlsValidity is how long the throwaway TLS certificates last; a lab
// restarted makes new ones.
const tlsValidity = 90 * 24 * time.Hour

// tlsIdentity is the throwaway root and server certificate the ACME
// endpoint is served with. It has nothing to do with the roots Pebble
// issues from.
type tlsIdentity struct {
	root *x509.Certificate
	leaf tls.Certificate
}

// newTLSIdentity makes a root and a server certificate for
// host, 127.0.0.1, ::1 and localhost.
func newTLSIdentity(host string) (*tlsIdentity, error) {
	now := time.Now()
	rootSerial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	leafSerial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pebble: TLS root key: %w", err)
	}
	rootTemplate := &x509.Certificate{
		SerialNumber:          rootSerial,
		Subject:               pkix.Name{CommonName: "ottr lab ACME TLS root", Organization: []string{"ottr lab"}},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(tlsValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTemplate, rootTemplate, rootKey.Public(), rootKey)
	if err != nil {
		return nil, fmt.Errorf("pebble: TLS root: %w", err)
	}
	root, err := x509.ParseCertificate(rootDER)
	if err != nil {
		return nil, fmt.Errorf("pebble: TLS root: %w", err)
	}

	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pebble: TLS server key: %w", err)
	}
	leafTemplate := &x509.Certificate{
		SerialNumber: leafSerial,
		Subject:      pkix.Name{CommonName: "ottr lab ACME server"},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(tlsValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		leafTemplate.IPAddresses = append(leafTemplate.IPAddresses, ip)
	} else if ip == nil && host != "" {
		leafTemplate.DNSNames = append(leafTemplate.DNSNames, host)
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTemplate, root, leafKey.Public(), rootKey)
	if err != nil {
		return nil, fmt.Errorf("pebble: TLS server certificate: %w", err)
	}
	return &tlsIdentity{
		root: root,
		leaf: tls.Certificate{Certificate: [][]byte{leafDER, rootDER}, PrivateKey: leafKey},
	}, nil
}

func (t *tlsIdentity) serverConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{t.leaf},
		MinVersion:   tls.VersionTLS12,
	}
}

func randomSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("pebble: TLS serial: %w", err)
	}
	return serial, nil
}
