package acme

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/ottr-go/ottr/internal/issuer"
)

// BenchmarkObtainForCSR issues single-name certificates in parallel from
// one Issuer against the embedded Pebble and the lab DNS server: a full
// order with a DNS-01 challenge each. Most of an issuance is waiting on
// the CA, so it runs 8 goroutines per CPU.
//
//	go test -run '^$' -bench ObtainForCSR -benchtime 100x ./internal/issuer/acme/
func BenchmarkObtainForCSR(b *testing.B) {
	iss := newLabIssuer(b)
	var seq atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			name := fmt.Sprintf("bench%d.lab.ottr.test", seq.Add(1))
			if err := testDNS.AddRecord(fmt.Sprintf("_acme-challenge.%s. 60 IN CNAME %s", name, delegateName(name))); err != nil {
				b.Error(err)
				return
			}
			key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				b.Error(err)
				return
			}
			der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
				Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
			}, key)
			if err != nil {
				b.Error(err)
				return
			}
			csr, err := x509.ParseCertificateRequest(der)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := iss.Issue(context.Background(), csr, issuer.IssueOptions{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "certs/s")
}
