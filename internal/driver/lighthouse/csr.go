package lighthouse

import (
	"context"
	"crypto"
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

// keyLengths maps key types to the CSR form's key_length: the appliance
// makes RSA keys only.
var keyLengths = map[string]int{
	asset.KeyRSA2048: 2048,
	asset.KeyRSA3072: 3072,
	asset.KeyRSA4096: 4096,
}

// GenerateCSR has the appliance make a new key and CSR, downloads the CSR
// and checks it carries what was asked before returning it.
func (s *session) GenerateCSR(ctx context.Context, r driver.CSRRequest) (*x509.CertificateRequest, error) {
	names, err := driver.CSRNames(r)
	if err != nil {
		return nil, wrapf("csr", err)
	}
	bits, ok := keyLengths[r.KeyType]
	if !ok {
		return nil, errorf("csr", "unsupported key type %q: Lighthouse makes RSA keys only (rsa2048, rsa3072, rsa4096)", r.KeyType)
	}
	if !s.opts.SANs && len(names) > 1 {
		return nil, errorf("csr", "the route sets sans: false (the appliance's CSR form has no SAN field), "+
			"but the certificate must also cover %s: remove those names from the asset or use a release whose CSR form takes SANs",
			strings.Join(names[1:], ", "))
	}
	req := csrRequest{CommonName: r.CommonName, KeyLength: bits, subjectFields: s.opts.Subject}
	if s.opts.SANs {
		req.SANs = names
	}
	s.log.Info("lighthouse: asking the appliance for a new key and CSR", "key_length", bits, "names", len(names))
	if err := s.client.requestCSR(ctx, req); err != nil {
		return nil, errorf("csr", "ask the appliance for a new key and CSR: %w", err)
	}
	pemData, err := s.client.downloadCSR(ctx)
	if err != nil {
		return nil, errorf("csr", "download the CSR: %w", err)
	}
	csr, err := parseCSR(pemData)
	if err != nil {
		return nil, wrapf("csr", err)
	}
	if err := checkCSR(csr, r.CommonName, names, r.KeyType, s.opts.SANs); err != nil {
		return nil, errorf("csr", "the appliance's CSR: %w", err)
	}
	return csr, nil
}

// parseCSR reads the downloaded CSR file.
func parseCSR(data []byte) (*x509.CertificateRequest, error) {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("the CSR download holds no PEM certificate request")
		}
		if block.Type == "CERTIFICATE REQUEST" || block.Type == "NEW CERTIFICATE REQUEST" {
			csr, err := x509.ParseCertificateRequest(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse the appliance's CSR: %w", err)
			}
			return csr, nil
		}
	}
}

// checkCSR verifies that csr is self-signed by its key and asks for exactly
// the requested names and key. Without the SAN field (withSANs false) the
// CSR may carry no SAN at all; CAs then certify the CN alone.
func checkCSR(csr *x509.CertificateRequest, cn string, names []string, keyType string, withSANs bool) error {
	if err := csr.CheckSignature(); err != nil {
		return fmt.Errorf("its signature does not verify: %w", err)
	}
	if csr.Subject.CommonName != cn {
		return fmt.Errorf("its common name is %q, want %q", csr.Subject.CommonName, cn)
	}
	if withSANs || len(csr.DNSNames) > 0 {
		for _, n := range names {
			if !slices.Contains(csr.DNSNames, n) {
				return fmt.Errorf("it lacks SAN %s (it has %v)", n, csr.DNSNames)
			}
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
	k, ok := csr.PublicKey.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("its key is %T, an RSA key was requested", csr.PublicKey)
	}
	if want := keyLengths[keyType]; k.N.BitLen() != want {
		return fmt.Errorf("its key is RSA-%d, RSA-%d was requested", k.N.BitLen(), want)
	}
	return nil
}

// samePublicKey reports whether a and b are the same public key.
func samePublicKey(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}
