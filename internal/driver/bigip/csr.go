package bigip

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
)

// objectPrefix starts the name of every object ottr creates.
const objectPrefix = "ottr_"

// keySpecs maps ottr key types to sys crypto key properties.
var keySpecs = map[string]keyCreate{
	asset.KeyRSA2048:  {KeyType: "rsa-private", KeySize: 2048},
	asset.KeyRSA3072:  {KeyType: "rsa-private", KeySize: 3072},
	asset.KeyRSA4096:  {KeyType: "rsa-private", KeySize: 4096},
	asset.KeyECDSA256: {KeyType: "ec-private", CurveName: "prime256v1"},
	asset.KeyECDSA384: {KeyType: "ec-private", CurveName: "secp384r1"},
}

// dnsNamePattern is what may go into subject-alternative-name: a DNS name,
// possibly a wildcard. Anything else could break the DNS:a, DNS:b list.
var dnsNamePattern = regexp.MustCompile(`^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$`)

// GenerateCSR has the device generate a key, then a CSR signed by it with
// the common name and every DNS name as SANs; then it reads the CSR back
// and checks it carries what was asked: no published F5 client sends the
// SAN property of a CSR through REST, so the device's CSR is the proof.
func (s *session) GenerateCSR(ctx context.Context, r driver.CSRRequest) (*x509.CertificateRequest, error) {
	spec, ok := keySpecs[r.KeyType]
	if !ok {
		return nil, errorf("csr", "key type %q is not one of %v", r.KeyType, asset.KeyTypes())
	}
	names := r.DNSNames
	if !slices.Contains(names, r.CommonName) {
		names = append([]string{r.CommonName}, names...)
	}
	for _, n := range names {
		if !dnsNamePattern.MatchString(n) {
			return nil, errorf("csr", "%q is not a DNS name BIG-IP can put in a CSR", n)
		}
	}
	base, err := s.newBaseName(r.CommonName)
	if err != nil {
		return nil, wrapf("csr", err)
	}
	keyPath := s.opts.fullPath(base + ".key")

	// The ledger learns of the key before the device makes it, so no key
	// ottr creates is ever unknown to the cleanup.
	l, err := s.readLedger(ctx)
	if err != nil {
		return nil, wrapf("csr", err)
	}
	l.put(entry{Name: base, Generated: s.drv.cfg.Now(), Key: keyPath})
	if err := s.writeLedger(ctx, l, 0); err != nil {
		return nil, wrapf("csr", err)
	}

	spec.Name, spec.Partition = base+".key", s.opts.Partition
	s.log.Debug("bigip: generating key and CSR on the device", "key", keyPath, "key_type", r.KeyType)
	if err := s.c.createKey(ctx, spec); err != nil {
		return nil, errorf("csr", "generate key %s: %w", keyPath, err)
	}
	// The CSR is named after its key, as tmsh's gen-csr names it, so the
	// ledger's key names it too.
	if err := s.c.createCSR(ctx, csrCreate{
		Name: spec.Name, Partition: s.opts.Partition, Key: keyPath, CommonName: r.CommonName,
		SubjectAlternativeName: "DNS:" + strings.Join(names, ", DNS:"),
	}); err != nil {
		return nil, errorf("csr", "generate the CSR of key %s: %w", keyPath, err)
	}
	der, err := s.c.csrPEM(ctx, keyPath)
	if err != nil {
		return nil, errorf("csr", "read CSR %s: %w", keyPath, err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, errorf("csr", "CSR %s: %w", keyPath, err)
	}
	if err := checkCSR(csr, r.CommonName, names, r.KeyType); err != nil {
		return nil, errorf("csr", "CSR %s: %w", keyPath, err)
	}
	s.mu.Lock()
	s.generated[spkiID(csr.RawSubjectPublicKeyInfo)] = base
	s.mu.Unlock()
	return csr, nil
}

// newBaseName names a rotation's objects: ottr_<common name>_<UTC
// time>_<random>. The random part keeps names unique when several keys are
// generated within a second.
func (s *session) newBaseName(commonName string) (string, error) {
	random := make([]byte, 3)
	if _, err := rand.Read(random); err != nil {
		return "", err
	}
	cn := strings.ReplaceAll(commonName, "*", "wildcard")
	return objectPrefix + cn + "_" + s.drv.cfg.Now().UTC().Format("20060102T150405Z") + "_" + hex.EncodeToString(random), nil
}

// checkCSR refuses a CSR that lacks what was asked: Ottr's F5 CSRs lost
// their SANs without anyone noticing.
func checkCSR(csr *x509.CertificateRequest, commonName string, names []string, keyType string) error {
	if err := csr.CheckSignature(); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	if csr.Subject.CommonName != commonName {
		return fmt.Errorf("common name is %q, want %q", csr.Subject.CommonName, commonName)
	}
	var missing []string
	for _, n := range names {
		if !slices.Contains(csr.DNSNames, n) {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the device left out the subject alternative names %s (the CSR has %v)",
			strings.Join(missing, ", "), csr.DNSNames)
	}
	if got := keyTypeOf(csr.PublicKey); got != keyType {
		return fmt.Errorf("holds a %s key, want %s", got, keyType)
	}
	return nil
}

// keyTypeOf names a public key in asset key type terms.
func keyTypeOf(pub any) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("rsa%d", k.N.BitLen())
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return asset.KeyECDSA256
		case elliptic.P384():
			return asset.KeyECDSA384
		}
		return "ecdsa-" + k.Curve.Params().Name
	}
	return fmt.Sprintf("%T", pub)
}

// spkiID identifies a public key.
func spkiID(spki []byte) string {
	sum := sha256.Sum256(spki)
	return hex.EncodeToString(sum[:])
}
