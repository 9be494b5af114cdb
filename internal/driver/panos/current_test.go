package panos

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

// threeLevels returns a leaf, its intermediate and their root.
func threeLevels(t *testing.T) (leaf, intermediate, root *x509.Certificate) {
	t.Helper()
	issue := func(cn string, ca bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IsCA: ca, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		}
		if parent == nil {
			parent, parentKey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c, key
	}
	root, rootKey := issue("root", true, nil, nil)
	intermediate, intermediateKey := issue("intermediate", true, root, rootKey)
	leaf, _ = issue("fw1.example.test", false, intermediate, intermediateKey)
	return leaf, intermediate, root
}

func TestTheLeafIsFoundWhateverThePublicKeyFieldHolds(t *testing.T) {
	leaf, intermediate, root := threeLevels(t)
	for _, tc := range []struct {
		name   string
		bundle []*x509.Certificate
	}{
		{"the leaf alone", []*x509.Certificate{leaf}},
		{"the leaf and its chain, as imported", []*x509.Certificate{leaf, intermediate, root}},
		{"the chain before the leaf", []*x509.Certificate{root, intermediate, leaf}},
		{"the intermediate first", []*x509.Certificate{intermediate, leaf, root}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := leafFirst(tc.bundle)
			if len(got) != len(tc.bundle) || !got[0].Equal(leaf) {
				t.Errorf("leafFirst put %q first of %d, want the leaf first of %d", got[0].Subject.CommonName, len(got), len(tc.bundle))
			}
		})
	}
}
