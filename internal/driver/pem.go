package driver

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// ParseCertificates returns every CERTIFICATE block of PEM data, in
// order, skipping other blocks: what a device or host answers when asked
// for the certificate it is configured with.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return certs, nil
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		certs = append(certs, c)
	}
}

// EncodeCertificates returns certs as concatenated PEM blocks, in order:
// the form devices and hosts take a chain in.
func EncodeCertificates(certs []*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}
