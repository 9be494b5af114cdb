package lighthouse

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
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
		return nil, errorf("csr", "ask the appliance for a new key and CSR: %w%s", err, formHint(err, bits))
	}
	csr, err := s.pendingCSR(ctx)
	if err != nil {
		return nil, wrapf("csr", err)
	}
	if err := checkCSR(csr, r.CommonName, names, r.KeyType, s.opts.SANs); err != nil {
		return nil, errorf("csr", "the appliance's CSR: %w", err)
	}
	return csr, nil
}

// formHint says what to change when the appliance refuses a field of the
// CSR form the v3.7 reference does not confirm: the SAN field, or a key
// length its form does not offer.
func formHint(err error, bits int) string {
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		return ""
	}
	for _, m := range apiErr.Messages {
		switch {
		case m.Code == codeInvalidParameter && strings.Contains(m.Text, "subject_alternative_names"):
			return "; this release's CSR form has no SAN field: set the route option sans: false " +
				"(the asset may then have no name beyond its common name)"
		case m.Code == codeInvalidValue && strings.Contains(m.Text, "key_length"):
			return fmt.Sprintf("; this release does not make RSA-%d keys: give the asset another key_type such as rsa2048", bits)
		}
	}
	return ""
}

// pendingCSR downloads the pending CSR (GET /services/https?zip=true) and
// reads it from the answer.
func (s *session) pendingCSR(ctx context.Context) (*x509.CertificateRequest, error) {
	data, err := s.client.downloadCSR(ctx)
	if err != nil {
		return nil, fmt.Errorf("download the CSR: %w", err)
	}
	defer clear(data)
	csr, err := s.readCSRDownload(data)
	if err != nil {
		return nil, fmt.Errorf("the CSR download (GET /services/https?zip=true): %w", err)
	}
	return csr, nil
}

// Limits of a CSR archive: a request is a few kilobytes.
const (
	maxArchiveFiles = 16
	maxArchiveFile  = 64 << 10
)

// readCSRDownload reads the request out of what ?zip=true answered. The
// v3.7 reference calls it "a CSR file" and names the flag zip, without
// saying which: a zip archive holding the request and the request itself
// (PEM) are both read; anything else is refused, quoted.
func (s *session) readCSRDownload(data []byte) (*x509.CertificateRequest, error) {
	switch {
	case bytes.HasPrefix(data, []byte("PK\x03\x04")) || bytes.HasPrefix(data, []byte("PK\x05\x06")):
		return s.csrFromArchive(data)
	case bytes.Contains(data, []byte("-----BEGIN")):
		csr, err := parseCSR(data)
		if errors.Is(err, errNoCSR) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w; the appliance answered: %s", err, s.client.quote(data))
		}
		return csr, nil
	}
	return nil, fmt.Errorf("the answer is neither a zip archive nor a PEM certificate request; the appliance answered: %s",
		s.client.quote(data))
}

// errNoCSR is parseCSR's answer to data without a request.
var errNoCSR = errors.New("it holds no PEM certificate request")

// csrFromArchive returns the first certificate request (PEM or DER) among
// the files of a zip archive. A file holding a private key is skipped and
// wiped: the driver keeps no key of the appliance's.
func (s *session) csrFromArchive(data []byte) (*x509.CertificateRequest, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("the answer looks like a zip archive but cannot be read: %w", err)
	}
	var seen []string
	for i, f := range zr.File {
		if i == maxArchiveFiles {
			seen = append(seen, fmt.Sprintf("%d more not read", len(zr.File)-i))
			break
		}
		if f.FileInfo().IsDir() {
			continue
		}
		content, err := readArchiveFile(f)
		switch {
		case err != nil:
			seen = append(seen, fmt.Sprintf("%s (%v)", f.Name, err))
			continue
		case bytes.Contains(content, []byte("PRIVATE KEY")):
			clear(content)
			s.log.Warn("lighthouse: the CSR archive held a private key; the driver ignored it", "file", f.Name)
			seen = append(seen, f.Name+" (a private key, ignored)")
			continue
		}
		csr, err := parseCSR(content)
		if err != nil {
			if der, derErr := x509.ParseCertificateRequest(content); derErr == nil {
				return der, nil
			}
			seen = append(seen, fmt.Sprintf("%s (%s)", f.Name, quote(content)))
			continue
		}
		return csr, nil
	}
	return nil, fmt.Errorf("the zip archive holds no certificate request; its files: %s", strings.Join(seen, ", "))
}

// readArchiveFile reads one file of a zip archive, refusing one larger
// than a request can be.
func readArchiveFile(f *zip.File) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	content, err := io.ReadAll(io.LimitReader(rc, maxArchiveFile+1))
	if err != nil {
		return nil, err
	}
	if len(content) > maxArchiveFile {
		return nil, fmt.Errorf("larger than %d bytes", maxArchiveFile)
	}
	return content, nil
}

// parseCSR reads the first PEM certificate request in data.
func parseCSR(data []byte) (*x509.CertificateRequest, error) {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errNoCSR
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
				hint := ""
				if withSANs && len(csr.DNSNames) == 0 {
					hint = "; this release drops subject_alternative_names: set the route option sans: false " +
						"(the asset may then have no name beyond its common name)"
				}
				return fmt.Errorf("it lacks SAN %s (it has %v)%s", n, csr.DNSNames, hint)
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
		return fmt.Errorf("its key is RSA-%d, RSA-%d was requested: this release does not make RSA-%d keys; "+
			"give the asset a key_type the appliance makes (it made RSA-%d)", k.N.BitLen(), want, want, k.N.BitLen())
	}
	return nil
}

// samePublicKey reports whether a and b are the same public key.
func samePublicKey(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}
