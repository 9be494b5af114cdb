package linux

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"os"
	"reflect"
	"testing"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/linux/linuxlab"
)

// csrOutcome is what a host's key-and-CSR command leaves behind that a user
// of the key or of the CSR could tell apart.
type csrOutcome struct {
	Subject        string
	DNSNames       []string
	KeyAlgorithm   string
	SignatureAlg   x509.SignatureAlgorithm
	ExtensionOIDs  []string
	KeyFileMode    os.FileMode
	KeyFileBlocks  []string
	CSRFileBlocks  []string
	KeyMatchesCSR  bool
	CSRFileMatches bool
}

// TestLabBuiltinOpenSSLMatchesOpenSSL generates a key and CSR through the
// driver on a lab host whose in-process shell makes them itself and on one
// that runs the real openssl, for every key type, and compares what each
// left: the CSR's subject, names, key, signature and extensions, and the
// staged key and CSR files with their modes.
func TestLabBuiltinOpenSSLMatchesOpenSSL(t *testing.T) {
	for _, keyType := range asset.KeyTypes() {
		t.Run(keyType, func(t *testing.T) {
			builtin := newFixture(t, linuxlab.Config{InProcessShell: true})
			real := newFixture(t, linuxlab.Config{InProcessShell: true, OpenSSLProcesses: true})
			got := csrOutcomeOf(t, builtin, keyType)
			want := csrOutcomeOf(t, real, keyType)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("in-process openssl left\n%+v\nthe real openssl\n%+v", got, want)
			}
			if !got.KeyMatchesCSR || !got.CSRFileMatches {
				t.Errorf("outcome %+v: the staged files do not belong to the CSR", got)
			}
			if n := builtin.host.KeysMadeInProcess(); n != 1 {
				t.Errorf("the in-process shell made %d keys itself, want 1 (the driver's command fell through to openssl)", n)
			}
			if n := real.host.KeysMadeInProcess(); n != 0 {
				t.Errorf("the host told to run openssl made %d keys itself", n)
			}
		})
	}
}

func csrOutcomeOf(t *testing.T, f *fixture, keyType string) csrOutcome {
	t.Helper()
	sess := f.open(t, f.driver())
	csr, err := sess.GenerateCSR(context.Background(), driver.CSRRequest{
		CommonName: f.target.Asset.CommonName, DNSNames: f.target.Asset.Names(), KeyType: keyType,
	})
	if err != nil {
		t.Fatalf("GenerateCSR: %v", err)
	}
	opts, err := parseOptions(f.target.Options)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := f.host.LocalPath(opts.StagedKeyPath())
	info, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	csrFile, err := os.ReadFile(f.host.LocalPath(opts.StagedCSRPath()))
	if err != nil {
		t.Fatal(err)
	}
	out := csrOutcome{
		Subject:       fmt.Sprintf("%x", csr.RawSubject),
		DNSNames:      csr.DNSNames,
		SignatureAlg:  csr.SignatureAlgorithm,
		KeyFileMode:   info.Mode().Perm(),
		KeyFileBlocks: pemTypes(keyPEM),
		CSRFileBlocks: pemTypes(csrFile),
	}
	switch pub := csr.PublicKey.(type) {
	case *ecdsa.PublicKey:
		out.KeyAlgorithm = "ECDSA " + pub.Curve.Params().Name
	case *rsa.PublicKey:
		out.KeyAlgorithm = fmt.Sprintf("RSA %d", pub.N.BitLen())
	}
	for _, e := range csr.Extensions {
		out.ExtensionOIDs = append(out.ExtensionOIDs, asn1.ObjectIdentifier(e.Id).String())
	}
	if block, _ := pem.Decode(keyPEM); block != nil {
		if key, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
			if k, ok := key.(crypto.Signer); ok {
				out.KeyMatchesCSR = reflect.DeepEqual(publicDER(t, k.Public()), csr.RawSubjectPublicKeyInfo)
			}
		}
	}
	for rest := csrFile; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		if block.Type == "CERTIFICATE REQUEST" {
			out.CSRFileMatches = reflect.DeepEqual(block.Bytes, csr.Raw)
		}
	}
	return out
}

func pemTypes(data []byte) []string {
	var types []string
	for rest := data; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			return types
		}
		types = append(types, block.Type)
	}
}

func publicDER(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
