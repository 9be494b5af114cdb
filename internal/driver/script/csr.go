package script

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
)

// csrNames returns the names the CSR must carry, the CN first, without
// duplicates, after checking each is a DNS name: they reach scripts in
// OTTR_SANS, where a comma or a space would change the list.
func csrNames(r driver.CSRRequest) ([]string, error) {
	if r.CommonName == "" {
		return nil, errors.New("request has no common name")
	}
	names := []string{r.CommonName}
	for _, n := range r.DNSNames {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, n := range names {
		if !isDNSName(n) {
			return nil, fmt.Errorf("%q is not a DNS name", n)
		}
	}
	return names, nil
}

// isDNSName reports whether name is a host name, optionally with a leading
// "*." wildcard label.
func isDNSName(name string) bool {
	name = strings.TrimPrefix(name, "*.")
	if name == "" || len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

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
// script that got anything wrong must not get it signed.
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
	want := map[string]string{
		asset.KeyRSA2048: "RSA-2048", asset.KeyRSA3072: "RSA-3072", asset.KeyRSA4096: "RSA-4096",
		asset.KeyECDSA256: "ECDSA-P-256", asset.KeyECDSA384: "ECDSA-P-384",
	}[keyType]
	if got := describeKey(csr.PublicKey); got != want {
		return fmt.Errorf("its key is %s, %s was requested", got, want)
	}
	return nil
}

func describeKey(pub any) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA-%d", k.N.BitLen())
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ECDSA-P-256"
		case elliptic.P384():
			return "ECDSA-P-384"
		case elliptic.P521():
			return "ECDSA-P-521"
		}
		return "ECDSA"
	default:
		return fmt.Sprintf("%T", pub)
	}
}

// parseCertificates returns every CERTIFICATE block in b, in order.
func parseCertificates(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for rest := b; ; {
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
