package script

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"

	"github.com/ottr-go/ottr/internal/driver"
)

// parseCSR finds the PEM CSR in a script's output and parses it.
func parseCSR(out []byte) (*x509.CertificateRequest, error) {
	for rest := out; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("it printed no PEM certificate request")
		}
		if block.Type == "CERTIFICATE REQUEST" || block.Type == "NEW CERTIFICATE REQUEST" {
			csr, err := x509.ParseCertificateRequest(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse its CSR: %w", err)
			}
			return csr, nil
		}
	}
}

// checkCSR verifies that csr is self-signed by its key and asks for exactly
// the requested names and key type: a CSR is what the CA will certify, so a
// script that got anything wrong must not get it signed. It is stricter than
// driver.CheckCSR, since a script is arbitrary code: IP, e-mail and URI SANs
// are refused too, and its errors read on from "the CSR generate_csr
// printed: ".
func checkCSR(csr *x509.CertificateRequest, cn string, names []string, keyType string) error {
	if err := csr.CheckSignature(); err != nil {
		return fmt.Errorf("its signature does not verify: %w", err)
	}
	if csr.Subject.CommonName != cn {
		return fmt.Errorf("its common name is %q, want %q", csr.Subject.CommonName, cn)
	}
	for _, n := range names {
		if !slices.Contains(csr.DNSNames, n) {
			return fmt.Errorf("it lacks SAN %s (it has %v)", n, csr.DNSNames)
		}
	}
	for _, n := range csr.DNSNames {
		if !slices.Contains(names, n) {
			return fmt.Errorf("it has SAN %s, which was not requested", n)
		}
	}
	if len(csr.IPAddresses) > 0 || len(csr.EmailAddresses) > 0 || len(csr.URIs) > 0 {
		return errors.New("it has IP, e-mail or URI SANs, which were not requested")
	}
	if got, want := driver.DescribeKey(csr.PublicKey), driver.DescribeKeyType(keyType); got != want {
		return fmt.Errorf("its key is %s, %s was requested", got, want)
	}
	return nil
}
