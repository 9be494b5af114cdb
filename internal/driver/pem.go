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
