package issuer_test

import (
	"crypto/x509"
	"math/big"
	"testing"

	"github.com/ottr-go/ottr/internal/issuer"
	"github.com/ottr-go/ottr/internal/issuer/acme"
)

func TestCertID(t *testing.T) {
	aki := []byte{0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3, 0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4}
	serial := func(hex string) *big.Int {
		n, ok := new(big.Int).SetString(hex, 16)
		if !ok {
			t.Fatalf("bad serial %s", hex)
		}
		return n
	}
	tests := []struct {
		name   string
		serial *big.Int
		want   string
	}{
		// RFC 9773 §4.1's example: the DER keeps the leading zero byte
		// that makes the integer positive.
		{"matches RFC 9773's example", serial("0087654321"), "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"},
		{"keeps no zero byte the serial's top bit does not need", serial("7f"), "aYhba4dGQEHhs3uEe6CuLN4ByNQ.fw"},
		{"adds a zero byte when the serial's top bit is set", serial("80"), "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIA"},
		{"encodes a 20-byte serial as a CA issues them", serial("03d1a2b3c4d5e6f708192a3b4c5d6e7f80910203"), ""},
		{"encodes a 20-byte serial with its top bit set", serial("fed1a2b3c4d5e6f708192a3b4c5d6e7f80910203"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leaf := &x509.Certificate{AuthorityKeyId: aki, SerialNumber: tt.serial}
			got, err := issuer.CertID(leaf)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != "" && got != tt.want {
				t.Errorf("CertID = %q, want %q", got, tt.want)
			}
			// lego's own encoding, which the CA's side follows too.
			lego, err := acme.CertID(leaf)
			if err != nil {
				t.Fatal(err)
			}
			if got != lego {
				t.Errorf("CertID = %q, lego makes %q", got, lego)
			}
			gotAKI, gotSerial, err := issuer.ParseCertID(got)
			if err != nil {
				t.Fatalf("ParseCertID(%q): %v", got, err)
			}
			if string(gotAKI) != string(aki) || gotSerial.Cmp(tt.serial) != 0 {
				t.Errorf("ParseCertID(%q) = %x, %x; want %x, %x", got, gotAKI, gotSerial, aki, tt.serial)
			}
		})
	}

	t.Run("needs an authority key identifier", func(t *testing.T) {
		if _, err := issuer.CertID(&x509.Certificate{SerialNumber: big.NewInt(1)}); err == nil {
			t.Error("made an ID for a certificate without an authority key identifier")
		}
	})
	t.Run("needs a certificate", func(t *testing.T) {
		if _, err := issuer.CertID(nil); err == nil {
			t.Error("made an ID for no certificate")
		}
	})
}

func TestParseCertIDRefusesWhatIsNotAnID(t *testing.T) {
	for _, id := range []string{
		"",
		"aYhba4dGQEHhs3uEe6CuLN4ByNQ",          // no serial
		".AIdlQyE",                             // no key identifier
		"aYhba4dGQEHhs3uEe6CuLN4ByNQ.",         // empty serial
		"aYhba4dGQEHhs3uEe6CuLN4ByNQ=.AIdlQyE", // padding
		"a.b.c",
		"aYhba4dGQEHhs3uEe6CuLN4ByNQ.AAE", // a zero byte DER does not allow
		"aYhba4dGQEHhs3uEe6CuLN4ByNQ.!!",
	} {
		if aki, serial, err := issuer.ParseCertID(id); err == nil {
			t.Errorf("ParseCertID(%q) = %x, %v; want an error", id, aki, serial)
		}
	}
}
