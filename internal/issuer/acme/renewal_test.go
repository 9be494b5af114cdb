package acme

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/issuer"
)

// startCAWithoutARI serves just enough ACME for New: a directory without
// renewalInfo, nonces, and an account endpoint that knows every key.
func startCAWithoutARI(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	var srv *httptest.Server
	mux.HandleFunc("/dir", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{
			"newNonce":   srv.URL + "/nonce",
			"newAccount": srv.URL + "/account",
			"newOrder":   srv.URL + "/order",
		})
	})
	mux.HandleFunc("/nonce", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Replay-Nonce", "nonce")
	})
	mux.HandleFunc("/account", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Replay-Nonce", "nonce")
		w.Header().Set("Location", srv.URL+"/account/1")
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "valid"})
	})
	srv = httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestRenewalWindowWithoutARI(t *testing.T) {
	srv := startCAWithoutARI(t)
	cfg := labConfig(nil)
	cfg.DirectoryURL = srv.URL + "/dir"
	cfg.RootPool = x509.NewCertPool()
	cfg.RootPool.AddCert(srv.Certificate())
	iss, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	_, err = iss.RenewalWindow(context.Background(), srv.Certificate(), nil)
	if !errors.Is(err, issuer.ErrNoRenewalInfo) {
		t.Errorf("RenewalWindow: err = %v, want ErrNoRenewalInfo", err)
	}
}

func TestCertID(t *testing.T) {
	t.Run("is the authority key ID and the serial, base64url", func(t *testing.T) {
		// RFC 9773 §4.1's example.
		leaf := &x509.Certificate{
			AuthorityKeyId: []byte{0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3, 0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4},
		}
		leaf.SerialNumber, _ = new(big.Int).SetString("0087654321", 16)
		id, err := CertID(leaf)
		if err != nil {
			t.Fatal(err)
		}
		if want := "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"; id != want {
			t.Errorf("CertID = %q, want %q", id, want)
		}
	})
	t.Run("needs a certificate", func(t *testing.T) {
		if _, err := CertID(nil); err == nil || !strings.HasPrefix(err.Error(), "acme: ") {
			t.Errorf("err = %v, want an acme: error", err)
		}
	})
}
