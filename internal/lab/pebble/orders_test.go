package pebble

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"math/big"
	"path"
	"strings"
	"testing"
	"time"

	legoacme "github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/acme/api"
	"github.com/letsencrypt/pebble/v2/acme"
	"github.com/letsencrypt/pebble/v2/core"
)

// newAccount registers an ACME account with lego's client, which can name
// the certificate an order replaces, and returns the client and the
// account's ID at the CA.
func newAccount(t *testing.T) (*api.Core, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	client, err := api.New(trustingClient(testCA.TLSRoots()), "ottr-test", testCA.DirectoryURL(), "", key)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := client.Accounts.New(context.Background(), legoacme.Account{TermsOfServiceAgreed: true})
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	return client, path.Base(acct.Location)
}

// fileIssued files, as Pebble does once it has issued a certificate, an
// order of accountID for name whose certificate has the given serial and
// is issued by the CA's intermediate.
func fileIssued(t *testing.T, accountID, name string, serial *big.Int) *x509.Certificate {
	t.Helper()
	intermediate := testCA.ca.GetIntermediateCert(0).Cert
	leaf := &x509.Certificate{SerialNumber: serial, AuthorityKeyId: intermediate.SubjectKeyId, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour)}
	order := &core.Order{
		Order:     acme.Order{Status: acme.StatusValid, Identifiers: []acme.Identifier{{Type: acme.IdentifierDNS, Value: name}}},
		ID:        "filed-" + serial.Text(16),
		AccountID: accountID,
		Names:     []string{name},
		// Pebble's own key: the serial's minimal bytes in hex.
		CertificateObject: &core.Certificate{ID: fmt.Sprintf("%x", serial.Bytes()), Cert: leaf, AccountID: accountID},
	}
	testCA.serial.Lock()
	defer testCA.serial.Unlock()
	if err := testCA.db.AddOrderByIssuedSerial(order); err != nil {
		t.Fatal(err)
	}
	return leaf
}

func TestReplacementOrdersFindTheCertificateWhateverItsSerial(t *testing.T) {
	client, accountID := newAccount(t)
	tests := []struct {
		name   string
		serial string
	}{
		{"a serial whose top bit is set", "80000000000001"},
		{"a 56-bit serial of all ones", "ffffffffffffff"},
		{"a one-byte serial whose top bit is set", "c3"},
		{"a serial whose top bit is set in a byte after the first", "7f80"},
		{"a 63-bit serial, whose top bit is clear", "7fffffffffffffff"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("serial%d.lab.ottr.test", i)
			serial, _ := new(big.Int).SetString(tt.serial, 16)
			replaced := fileIssued(t, accountID, name, serial)
			certID := ariCertID(t, replaced)
			if padded := strings.HasPrefix(serialHex(certID), "00"); padded != (tt.serial[0] >= '8') {
				t.Fatalf("certificate ID %s: a leading zero byte is %v, want %v", certID, padded, tt.serial[0] >= '8')
			}
			before := testCA.Orders()

			order, err := client.Orders.New(context.Background(), []string{name}, &api.OrderOptions{ReplacesCertID: certID})
			if err != nil {
				t.Fatalf("the CA refused an order replacing serial %s: %v", tt.serial, err)
			}
			if order.Replaces != certID {
				t.Errorf("the order replaces %q, want %q", order.Replaces, certID)
			}
			if got := testCA.Orders() - before; got != 1 {
				t.Errorf("the CA created %d orders, want 1", got)
			}
			if got := testCA.Replaced(); len(got) == 0 || got[len(got)-1] != certID {
				t.Errorf("the CA's replaced certificates end with %v, want %s", got, certID)
			}
		})
	}
}

func TestAnExpiredOrderIsReportedInvalid(t *testing.T) {
	client, _ := newAccount(t)
	order, err := client.Orders.New(context.Background(), []string{"expire.lab.ottr.test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if order.Status != legoacme.StatusPending {
		t.Fatalf("a new order is %s, want pending", order.Status)
	}
	if err := testCA.ExpireOrder(order.Location); err != nil {
		t.Fatal(err)
	}
	again, err := client.Orders.Get(context.Background(), order.Location)
	if err != nil {
		t.Fatal(err)
	}
	if again.Status != legoacme.StatusInvalid {
		t.Errorf("the expired order is %s, want invalid", again.Status)
	}
	if err := testCA.ExpireOrder(strings.Replace(order.Location, "/my-order/", "/my-order/x", 1)); err == nil {
		t.Error("ExpireOrder of an order the CA does not have succeeded")
	}
}
