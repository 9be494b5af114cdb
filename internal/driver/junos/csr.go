package junos

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
)

func wrap(step string, err error) error { return fmt.Errorf("junos: %s: %w", step, err) }

func errorf(step, format string, args ...any) error {
	return wrap(step, fmt.Errorf(format, args...))
}

// keySpec is how JunOS names a key type: generate-key-pair's type and size,
// and the CSR digest that matches its strength.
type keySpec struct {
	kind   string
	size   int
	digest string
}

var keySpecs = map[string]keySpec{
	asset.KeyRSA2048:  {"rsa", 2048, "sha-256"},
	asset.KeyRSA4096:  {"rsa", 4096, "sha-256"},
	asset.KeyECDSA256: {"ecdsa", 256, "sha-256"},
	asset.KeyECDSA384: {"ecdsa", 384, "sha-384"},
}

// dnsNamePattern is what a name may look like to reach JunOS's subject and
// domain-name arguments: a DNS name, possibly a wildcard.
var dnsNamePattern = regexp.MustCompile(`^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$`)

var nonLabelChars = regexp.MustCompile(`[^a-z0-9-]+`)

// slotIDs returns the two certificate-ids the certificate for cn uses on
// the device at bindPath: "ottr-<first label>-<hash>-a" and "-b". The hash
// keeps two names with the same first label, or one name bound at two
// places, apart; the whole stays within JunOS's short identifiers.
func slotIDs(cn, bindPath string) [2]string {
	label := strings.ToLower(strings.SplitN(strings.TrimPrefix(cn, "*."), ".", 2)[0])
	label = strings.Trim(nonLabelChars.ReplaceAllString(label, "-"), "-")
	if strings.HasPrefix(cn, "*.") {
		label = "wildcard-" + label
	}
	if len(label) > 12 {
		label = strings.TrimRight(label[:12], "-")
	}
	sum := sha256.Sum256([]byte(strings.ToLower(cn) + "\x00" + bindPath))
	base := "ottr-" + label + "-" + hex.EncodeToString(sum[:3])
	return [2]string{base + "-a", base + "-b"}
}

// csrFile is where the device keeps the CSR of key pair id.
func (s *session) csrFile(id string) string { return s.opts.UploadDir + "/" + id + ".csr" }

// GenerateCSR has the device generate a key pair in the slot that is not in
// service and a CSR for it with every name as a domain-name (DNS SAN).
func (s *session) GenerateCSR(ctx context.Context, r driver.CSRRequest) (*x509.CertificateRequest, error) {
	spec, ok := keySpecs[r.KeyType]
	if !ok {
		return nil, errorf("generate CSR", "key type %q is not one JunOS generates (%s)", r.KeyType,
			strings.Join(s.drv.Capabilities().KeyTypes, ", "))
	}
	names, err := driver.CSRNames(r)
	if err != nil {
		return nil, wrap("generate CSR", err)
	}
	for _, n := range names {
		if !dnsNamePattern.MatchString(n) {
			return nil, errorf("generate CSR", "%q is not a DNS name JunOS can put in a certificate request", n)
		}
	}
	if len(names) > 1 {
		return nil, errorf("generate CSR", "the certificate must also cover %s, but a CSR JunOS generates carries one DNS name: "+
			"generate-pki-certificate-request takes a single domain-name (JunOS's schema, junos-es-rpc-request); "+
			"give the asset no name beyond its common name %s", strings.Join(names[1:], ", "), r.CommonName)
	}
	bound, err := s.readBinding(ctx, s.opts.bindSteps)
	if err != nil {
		return nil, wrap("generate CSR: read the configuration", err)
	}
	slots := slotIDs(r.CommonName, s.opts.BindPath)
	id := slots[0]
	if bound.present && bound.value == slots[0] {
		id = slots[1]
	}
	s.log.Debug("generating a key pair", "certificate_id", id, "key_type", r.KeyType)
	// The slot not in service may hold the key of an earlier rotation;
	// JunOS will not generate over it. A device that complains about
	// clearing an empty slot is no failure: if the slot is still taken,
	// generate-key-pair says so.
	for _, clear := range []func(context.Context, string) error{s.api.clearLocalCertificate, s.api.clearKeyPair} {
		var de *deviceError
		if err := clear(ctx, id); errors.As(err, &de) {
			s.log.Debug("clearing the slot", "certificate_id", id, "error", err)
		} else if err != nil {
			return nil, wrap("generate CSR: clear slot "+id, err)
		}
	}
	if err := s.api.generateKeyPair(ctx, id, spec.kind, spec.size); err != nil {
		return nil, wrap("generate CSR: generate key pair "+id, err)
	}
	csr, err := s.api.generateCertificateRequest(ctx, certificateRequest{
		ID:         id,
		Subject:    "CN=" + r.CommonName,
		DomainName: r.CommonName,
		Digest:     spec.digest,
		Filename:   s.csrFile(id),
	})
	if err != nil {
		return nil, wrap("generate CSR: certificate request for "+id, err)
	}
	if err := checkCSR(csr, r.CommonName, spec); err != nil {
		return nil, errorf("generate CSR", "the device's CSR for %s: %w", id, err)
	}
	return csr, nil
}

// checkCSR verifies that the device's CSR is self-signed and asks for what
// was requested: the common name, it as the one DNS name, and the key. A
// CSR left from an earlier key in the slot fails here.
func checkCSR(csr *x509.CertificateRequest, cn string, spec keySpec) error {
	if err := csr.CheckSignature(); err != nil {
		return fmt.Errorf("its signature does not verify: %w", err)
	}
	if csr.Subject.CommonName != cn {
		return fmt.Errorf("its common name is %q, want %q", csr.Subject.CommonName, cn)
	}
	if len(csr.DNSNames) != 1 || csr.DNSNames[0] != cn {
		return fmt.Errorf("its DNS names are %v, want [%s]", csr.DNSNames, cn)
	}
	kind, size := "", 0
	switch k := csr.PublicKey.(type) {
	case *rsa.PublicKey:
		kind, size = "rsa", k.N.BitLen()
	case *ecdsa.PublicKey:
		kind, size = "ecdsa", k.Curve.Params().BitSize
	}
	if kind != spec.kind || size != spec.size {
		return fmt.Errorf("its key is %s-%d, %s-%d was requested", kind, size, spec.kind, spec.size)
	}
	return nil
}

// CurrentCertificate returns the local certificate the bind path names in
// the committed configuration (J-Web's system-generated certificate when it
// is bound), exported from the device. JunOS exports a local certificate
// alone, so the chain holds the leaf only.
func (s *session) CurrentCertificate(ctx context.Context) ([]*x509.Certificate, error) {
	b, err := s.readBinding(ctx, s.opts.bindSteps)
	if err != nil {
		return nil, wrap("current certificate: read the configuration", err)
	}
	id := b.certificateID()
	if id == "" {
		return nil, nil
	}
	cert, err := s.exportCertificate(ctx, id)
	if err != nil {
		return nil, wrap("current certificate", err)
	}
	return []*x509.Certificate{cert}, nil
}

// exportCertificate reads local certificate id from the device: export to a
// file, show the file, delete it.
func (s *session) exportCertificate(ctx context.Context, id string) (*x509.Certificate, error) {
	path := s.opts.UploadDir + "/ottr-export-" + id + ".pem"
	if err := s.api.exportLocalCertificate(ctx, id, path); err != nil {
		return nil, fmt.Errorf("export local certificate %s: %w", id, err)
	}
	text, err := s.api.showFile(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("read the exported local certificate %s: %w", id, err)
	}
	if err := s.api.deleteFile(ctx, path); err != nil {
		s.log.Warn("could not delete the exported certificate", "path", path, "error", err)
	}
	certs, err := driver.ParseCertificates([]byte(text))
	if err != nil || len(certs) == 0 {
		return nil, fmt.Errorf("local certificate %s: the export holds no certificate (%v)", id, err)
	}
	return certs[0], nil
}

// slotFor finds which of the certificate's two slots holds the key pair
// leaf was issued for, by the public key of the CSR the device saved there.
func (s *session) slotFor(ctx context.Context, leaf *x509.Certificate) (string, error) {
	slots := slotIDs(leaf.Subject.CommonName, s.opts.BindPath)
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return "", fmt.Errorf("the certificate's public key is a %T", leaf.PublicKey)
	}
	var tried []string
	for _, id := range slots {
		text, err := s.api.showFile(ctx, s.csrFile(id))
		var de *deviceError
		if errors.As(err, &de) {
			tried = append(tried, fmt.Sprintf("%s: %v", id, err))
			continue
		}
		if err != nil {
			return "", err
		}
		csr, err := parseCSR(text)
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s: %v", id, err))
			continue
		}
		if pub.Equal(csr.PublicKey) {
			return id, nil
		}
		tried = append(tried, id+": a different key")
	}
	return "", fmt.Errorf("no key pair ottr generated on the device matches the certificate for %q (%s): "+
		"have the device generate a new CSR", leaf.Subject.CommonName, strings.Join(tried, "; "))
}
