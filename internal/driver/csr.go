package driver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ottr-go/ottr/internal/asset"
)

// CSRNames returns the names a CSR for r must carry, the common name first,
// without duplicates, after checking each is a DNS name: drivers pass them
// to device commands and forms (an openssl -subj argument, a script's
// environment), where "/", "=", "," or a space would change their meaning.
func CSRNames(r CSRRequest) ([]string, error) {
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
		if !IsDNSName(n) {
			return nil, fmt.Errorf("%q is not a DNS name", n)
		}
	}
	return names, nil
}

// IsDNSName reports whether name is a host name, optionally with a leading
// "*." wildcard label and a trailing dot.
func IsDNSName(name string) bool {
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

// CheckCSR verifies that csr is self-signed by its key and asks for exactly
// cn, the DNS names in names and a key of keyType: a CSR is what the CA will
// certify, so a device that got anything wrong must not get it signed.
// Names compare exactly, as the device was given them.
func CheckCSR(csr *x509.CertificateRequest, cn string, names []string, keyType string) error {
	if err := csr.CheckSignature(); err != nil {
		return fmt.Errorf("CSR signature does not verify: %w", err)
	}
	if csr.Subject.CommonName != cn {
		return fmt.Errorf("CSR common name is %q, want %q", csr.Subject.CommonName, cn)
	}
	for _, n := range names {
		if !slices.Contains(csr.DNSNames, n) {
			return fmt.Errorf("CSR lacks SAN %s", n)
		}
	}
	for _, n := range csr.DNSNames {
		if !slices.Contains(names, n) {
			return fmt.Errorf("CSR has SAN %s that was not requested", n)
		}
	}
	return checkKeyType(csr.PublicKey, keyType)
}

// DescribeKeyType returns how DescribeKey names a key of keyType, one of
// asset.KeyTypes, or "" for any other key type.
func DescribeKeyType(keyType string) string {
	switch keyType {
	case asset.KeyRSA2048:
		return "RSA-2048"
	case asset.KeyRSA3072:
		return "RSA-3072"
	case asset.KeyRSA4096:
		return "RSA-4096"
	case asset.KeyECDSA256:
		return "ECDSA-P-256"
	case asset.KeyECDSA384:
		return "ECDSA-P-384"
	}
	return ""
}

// checkKeyType verifies that pub is a key of keyType, calling an RSA key
// shorter than requested weak rather than merely wrong.
func checkKeyType(pub any, keyType string) error {
	got := DescribeKey(pub)
	want := DescribeKeyType(keyType)
	if got == want {
		return nil
	}
	if k, ok := pub.(*rsa.PublicKey); ok && strings.HasPrefix(keyType, "rsa") && k.N.BitLen() < rsaBits(keyType) {
		return fmt.Errorf("weak key: the CSR's key is %s, %s was requested", got, want)
	}
	return fmt.Errorf("wrong key type: the CSR's key is %s, %s was requested", got, want)
}

// rsaBits is the modulus length of an RSA key type; any RSA key type it
// does not know counts as the longest.
func rsaBits(keyType string) int {
	switch keyType {
	case asset.KeyRSA2048:
		return 2048
	case asset.KeyRSA3072:
		return 3072
	default:
		return 4096
	}
}

// DescribeKey names a public key for people: "RSA-2048", "ECDSA-P-256",
// or its Go type when it is neither RSA nor ECDSA.
func DescribeKey(pub any) string {
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
