package driver_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"slices"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
)

// newCSR signs a CSR for cn and names with key.
func newCSR(t *testing.T, key any, cn string, names ...string) *x509.CertificateRequest {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: cn}, DNSNames: names,
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	return csr
}

func TestCheckCSR(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"a.example.test", "b.example.test"}
	forged := newCSR(t, ec, "a.example.test", names...)
	forged.Signature[len(forged.Signature)-1] ^= 0xff
	for _, tc := range []struct {
		name    string
		csr     *x509.CertificateRequest
		keyType string
		want    string // substring of the error; empty means accepted
	}{
		{"accepts a CSR with every name and the key type", newCSR(t, ec, "a.example.test", names...), asset.KeyECDSA256, ""},
		{"refuses a CSR whose signature does not verify", forged, asset.KeyECDSA256, "CSR signature does not verify"},
		{"refuses a CSR missing a SAN", newCSR(t, ec, "a.example.test", "a.example.test"), asset.KeyECDSA256, "CSR lacks SAN b.example.test"},
		{"refuses a CSR with an extra SAN", newCSR(t, ec, "a.example.test", append(names, "c.example.test")...), asset.KeyECDSA256, "CSR has SAN c.example.test that was not requested"},
		{"refuses another common name", newCSR(t, ec, "b.example.test", names...), asset.KeyECDSA256, `CSR common name is "b.example.test", want "a.example.test"`},
		{"calls a shorter RSA key weak", newCSR(t, rsa1024, "a.example.test", names...), asset.KeyRSA2048, "weak key: the CSR's key is RSA-1024, RSA-2048 was requested"},
		{"calls another key type wrong", newCSR(t, ec, "a.example.test", names...), asset.KeyECDSA384, "wrong key type: the CSR's key is ECDSA-P-256, ECDSA-P-384 was requested"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := driver.CheckCSR(tc.csr, "a.example.test", names, tc.keyType)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("CheckCSR: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("CheckCSR error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCSRNames(t *testing.T) {
	for _, tc := range []struct {
		name    string
		request driver.CSRRequest
		want    []string
		wantErr string
	}{
		{"puts the common name first and drops repeats",
			driver.CSRRequest{CommonName: "a.example.test", DNSNames: []string{"b.example.test", "a.example.test", "b.example.test"}},
			[]string{"a.example.test", "b.example.test"}, ""},
		{"accepts a wildcard", driver.CSRRequest{CommonName: "*.example.test"}, []string{"*.example.test"}, ""},
		{"refuses a request without a common name", driver.CSRRequest{DNSNames: []string{"a.example.test"}}, nil, "request has no common name"},
		{"refuses a name that would change an openssl subject",
			driver.CSRRequest{CommonName: "a.example.test", DNSNames: []string{"x/CN=evil"}}, nil, `"x/CN=evil" is not a DNS name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := driver.CSRNames(tc.request)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("CSRNames error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("CSRNames: %v", err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("CSRNames = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestIsDNSName(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"www.example.test", true},
		{"*.example.test", true},
		{"example.test.", true},
		{"xn--bcher-kva.example", true},
		{"", false},
		{"*.", false},
		{"a..example.test", false},
		{"-a.example.test", false},
		{"a-.example.test", false},
		{"a_b.example.test", false},
		{"a.*.example.test", false},
		{"two words.example.test", false},
		{"a,b.example.test", false},
		{strings.Repeat("a", 64) + ".example.test", false},
		{strings.Repeat("a.", 127) + "test", false},
	} {
		if got := driver.IsDNSName(tc.name); got != tc.want {
			t.Errorf("IsDNSName(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestDescribeKey(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edKey, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		key  any
		want string
	}{
		{"names an RSA key by its length", &rsaKey.PublicKey, "RSA-1024"},
		{"names an ECDSA key by its curve", &p384.PublicKey, "ECDSA-P-384"},
		{"names any other key by its Go type", edKey, "ed25519.PublicKey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := driver.DescribeKey(tc.key); got != tc.want {
				t.Errorf("DescribeKey = %q, want %q", got, tc.want)
			}
		})
	}
	for _, keyType := range asset.KeyTypes() {
		if driver.DescribeKeyType(keyType) == "" {
			t.Errorf("DescribeKeyType(%q) is empty", keyType)
		}
	}
}
