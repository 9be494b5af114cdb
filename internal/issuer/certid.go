package issuer

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// CertID returns leaf's ACME Renewal Information certificate identifier
// (RFC 9773 §4.1): the base64url of its authority key identifier, a dot,
// and the base64url of its serial number's DER encoding without the tag
// and length. The CA answers renewal-window questions by it, and an order
// names the certificate it replaces by it.
func CertID(leaf *x509.Certificate) (string, error) {
	if leaf == nil || leaf.SerialNumber == nil {
		return "", errors.New("issuer: certificate ID: no certificate")
	}
	if len(leaf.AuthorityKeyId) == 0 {
		return "", fmt.Errorf("issuer: certificate ID of serial %s: the certificate has no authority key identifier", leaf.SerialNumber.Text(16))
	}
	der, err := asn1.Marshal(leaf.SerialNumber)
	if err != nil {
		return "", fmt.Errorf("issuer: certificate ID of serial %s: %w", leaf.SerialNumber.Text(16), err)
	}
	var value asn1.RawValue
	if _, err := asn1.Unmarshal(der, &value); err != nil {
		return "", fmt.Errorf("issuer: certificate ID of serial %s: %w", leaf.SerialNumber.Text(16), err)
	}
	return base64.RawURLEncoding.EncodeToString(leaf.AuthorityKeyId) + "." + base64.RawURLEncoding.EncodeToString(value.Bytes), nil
}

// ParseCertID takes a certificate identifier made by CertID apart into the
// authority key identifier and the serial number it names.
func ParseCertID(id string) (authorityKeyID []byte, serial *big.Int, err error) {
	akiPart, serialPart, ok := strings.Cut(id, ".")
	if !ok || akiPart == "" || serialPart == "" || strings.Contains(serialPart, ".") {
		return nil, nil, fmt.Errorf("issuer: certificate ID %q: want two base64url parts joined by a dot", id)
	}
	aki, err := base64.RawURLEncoding.DecodeString(akiPart)
	if err != nil {
		return nil, nil, fmt.Errorf("issuer: certificate ID %q: authority key identifier: %w", id, err)
	}
	serialBytes, err := base64.RawURLEncoding.DecodeString(serialPart)
	if err != nil {
		return nil, nil, fmt.Errorf("issuer: certificate ID %q: serial number: %w", id, err)
	}
	// Put the tag and length back and let encoding/asn1 check the integer
	// is minimally encoded, as DER requires.
	der, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagInteger, Bytes: serialBytes})
	if err != nil {
		return nil, nil, fmt.Errorf("issuer: certificate ID %q: serial number: %w", id, err)
	}
	serial = new(big.Int)
	if rest, err := asn1.Unmarshal(der, &serial); err != nil || len(rest) > 0 {
		return nil, nil, fmt.Errorf("issuer: certificate ID %q: the serial number is not a DER integer", id)
	}
	return aki, serial, nil
}
