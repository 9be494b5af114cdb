package panos

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
)

// Certificate names: ottr-<slug>-<YYYYMMDD-hhmmss>-<4 hex>. PAN-OS allows
// 63 characters on a firewall; the slug gets what the rest leaves.
const (
	certPrefix    = "ottr-"
	maxCertName   = 63
	stampLayout   = "20060102-150405"
	suffixHex     = 4
	maxSlugLength = maxCertName - len(certPrefix) - 1 - len(stampLayout) - 1 - suffixHex
)

// managedSuffix matches what follows ottr-<slug>- in a name ottr made.
var managedSuffix = regexp.MustCompile(`^[0-9]{8}-[0-9]{6}-[0-9a-f]{4}$`)

// slug turns a common name into the part of certificate names that says
// whose they are: lower case, dots to dashes, "*" to "wildcard". A name too
// long for the limit is cut and ends with a hash of the whole name, so two
// long names that share a beginning keep apart.
func slug(cn string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(cn) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '*':
			b.WriteString("wildcard")
		default:
			if s := b.String(); s != "" && !strings.HasSuffix(s, "-") {
				b.WriteByte('-')
			}
		}
	}
	s := strings.Trim(b.String(), "-")
	if s == "" {
		s = "cert"
	}
	if len(s) > maxSlugLength {
		sum := sha256.Sum256([]byte(cn))
		s = strings.TrimRight(s[:maxSlugLength-7], "-") + "-" + hex.EncodeToString(sum[:3])
	}
	return s
}

// newCertificateName names a new certificate for cn. The random suffix
// keeps two CSRs made in the same second apart.
func newCertificateName(cn string, now time.Time) string {
	suffix := make([]byte, suffixHex/2)
	_, _ = rand.Read(suffix)
	return certPrefix + slug(cn) + "-" + now.UTC().Format(stampLayout) + "-" + hex.EncodeToString(suffix)
}

// managedStamp returns the time stamp of a name ottr made for slug s, and
// whether name is one.
func managedStamp(name, s string) (string, bool) {
	rest, ok := strings.CutPrefix(name, certPrefix+s+"-")
	if !ok || !managedSuffix.MatchString(rest) {
		return "", false
	}
	return rest[:len(stampLayout)], true
}

// algorithm is the <algorithm> and default digest for a key type.
func algorithm(keyType string) (xmlAlgorithm, digest string, err error) {
	switch keyType {
	case asset.KeyRSA2048, "":
		return "<RSA><rsa-nbits>2048</rsa-nbits></RSA>", "sha256", nil
	case asset.KeyRSA3072:
		return "<RSA><rsa-nbits>3072</rsa-nbits></RSA>", "sha256", nil
	case asset.KeyRSA4096:
		return "<RSA><rsa-nbits>4096</rsa-nbits></RSA>", "sha256", nil
	case asset.KeyECDSA256:
		return "<ECDSA><ecdsa-nbits>256</ecdsa-nbits></ECDSA>", "sha256", nil
	case asset.KeyECDSA384:
		return "<ECDSA><ecdsa-nbits>384</ecdsa-nbits></ECDSA>", "sha384", nil
	default:
		return "", "", fmt.Errorf("key type %q is not one PAN-OS generates (rsa2048, rsa3072, rsa4096, ecdsa256, ecdsa384)", keyType)
	}
}

// generateCommand is the op command that has the firewall make the key and
// a CSR for an external CA.
func generateCommand(name string, r driver.CSRRequest, xmlAlgorithm, digest string) string {
	var b strings.Builder
	b.WriteString("<request><certificate><generate>")
	b.WriteString("<certificate-name>" + escape(name) + "</certificate-name>")
	b.WriteString("<name>" + escape(r.CommonName) + "</name>")
	b.WriteString("<algorithm>" + xmlAlgorithm + "</algorithm>")
	b.WriteString("<digest>" + digest + "</digest>")
	b.WriteString("<ca>no</ca>")
	names := r.DNSNames
	if len(names) == 0 {
		names = []string{r.CommonName}
	}
	b.WriteString("<hostname>")
	for _, n := range names {
		b.WriteString("<member>" + escape(n) + "</member>")
	}
	b.WriteString("</hostname>")
	b.WriteString("<signed-by>external</signed-by>")
	b.WriteString("</generate></certificate></request>")
	return b.String()
}

// GenerateCSR has the firewall generate a key pair and a CSR in a new
// certificate entry, and exports the CSR (never the key).
func (s *session) GenerateCSR(ctx context.Context, r driver.CSRRequest) (*x509.CertificateRequest, error) {
	if r.CommonName == "" {
		return nil, errorf("generate CSR", "the request has no common name")
	}
	xmlAlgorithm, digest, err := algorithm(r.KeyType)
	if err != nil {
		return nil, wrapf("generate CSR", err)
	}
	if s.opts.Digest != "" {
		digest = s.opts.Digest
	}
	name := newCertificateName(r.CommonName, s.drv.cfg.Now())
	s.log.Debug("generating key and CSR on the device", "certificate", name, "key_type", r.KeyType)
	if _, err := s.c.op(ctx, generateCommand(name, r, xmlAlgorithm, digest)); err != nil {
		return nil, wrapf(fmt.Sprintf("generate key and CSR %s on the device", name), err)
	}
	raw, err := s.c.exportCSR(ctx, name)
	if err != nil {
		return nil, wrapf(fmt.Sprintf("export the CSR of %s", name), err)
	}
	csr, err := parseCSR(raw)
	if err != nil {
		return nil, wrapf(fmt.Sprintf("export the CSR of %s", name), err)
	}
	if csr.Subject.CommonName != r.CommonName {
		return nil, errorf("generate CSR", "the device's CSR %s is for %q, not %q", name, csr.Subject.CommonName, r.CommonName)
	}
	return csr, nil
}

// parseCSR reads the exported file: one PEM CSR. Anything holding a private
// key is refused without echoing it.
func parseCSR(raw []byte) (*x509.CertificateRequest, error) {
	if strings.Contains(string(raw), "PRIVATE KEY") {
		return nil, fmt.Errorf("the device sent a private key along with the CSR; refusing it")
	}
	block, _ := pem.Decode(raw)
	if block == nil || (block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST") {
		return nil, fmt.Errorf("the device's answer is not a PEM CSR: %s", snippet(raw))
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse CSR: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("CSR signature: %w", err)
	}
	return csr, nil
}
