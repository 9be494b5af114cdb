package rotation

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

// CheckCSR checks that a CSR a device returned is what was asked for: a
// valid self-signature, the common name, every DNS name and the key type.
// Ottr sent whatever came back to the CA; a device that drops SANs or makes
// a weak key is caught here, before anything is ordered.
func CheckCSR(csr *x509.CertificateRequest, req driver.CSRRequest) error {
	if err := csr.CheckSignature(); err != nil {
		return fmt.Errorf("CSR signature does not verify: %w", err)
	}
	if !strings.EqualFold(csr.Subject.CommonName, req.CommonName) {
		return fmt.Errorf("CSR common name is %q, want %q", csr.Subject.CommonName, req.CommonName)
	}
	for _, name := range req.DNSNames {
		if !slices.ContainsFunc(csr.DNSNames, func(n string) bool { return strings.EqualFold(n, name) }) {
			return fmt.Errorf("CSR lacks the subject alternative name %s (it has %s)", name, strings.Join(csr.DNSNames, ", "))
		}
	}
	if got := KeyType(csr.PublicKey); got != req.KeyType {
		if got == "" {
			got = fmt.Sprintf("%T", csr.PublicKey)
		}
		return fmt.Errorf("CSR key is %s, want %s (a weaker or different key than asked for)", got, req.KeyType)
	}
	return nil
}

// KeyType names a public key in asset.KeyTypes terms, or "" if it is none
// of them.
func KeyType(pub any) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch k.N.BitLen() {
		case 2048:
			return asset.KeyRSA2048
		case 3072:
			return asset.KeyRSA3072
		case 4096:
			return asset.KeyRSA4096
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return asset.KeyECDSA256
		case elliptic.P384():
			return asset.KeyECDSA384
		}
	}
	return ""
}

func parseCSR(text string) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode([]byte(text))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("journaled CSR is not PEM")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("journaled CSR: %w", err)
	}
	return csr, nil
}

func encodeChain(chain []*x509.Certificate) string {
	var b strings.Builder
	for _, c := range chain {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.String()
}

func parseChain(text string) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	rest := []byte(text)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("journaled chain: %w", err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, errors.New("journaled chain is empty")
	}
	return chain, nil
}
