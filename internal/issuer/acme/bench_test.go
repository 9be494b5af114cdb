package acme

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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

// BenchmarkIssueTwoNames times the issue step of one two-name order at a
// time (order, DNS-01 for both names, finalize, download) against the
// embedded Pebble, with and without the Retry-After it sends by default:
// validating at once (the challenge answer already says valid) and taking
// 100ms (the answer says processing, as Debian's pebble's does, and the
// issuer polls). It reports the median and the slowest.
//
//	go test -run '^$' -bench IssueTwoNames -benchtime 20x ./internal/issuer/acme/
func BenchmarkIssueTwoNames(b *testing.B) {
	for _, bc := range []struct {
		name         string
		validation   time.Duration
		noRetryAfter bool
	}{
		{"at-once/retry-after", 0, false},
		{"at-once/no-retry-after", 0, true},
		{"100ms/retry-after", 100 * time.Millisecond, false},
		{"100ms/no-retry-after", 100 * time.Millisecond, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			testCA.SetNoRetryAfter(bc.noRetryAfter)
			testCA.SetValidationTime(bc.validation)
			b.Cleanup(func() {
				testCA.SetNoRetryAfter(false)
				testCA.SetValidationTime(0)
			})
			iss := newLabIssuer(b)
			var took []time.Duration
			for n := 0; b.Loop(); n++ {
				b.StopTimer()
				cn := fmt.Sprintf("two%d-%s.lab.ottr.test", n, strings.ReplaceAll(bc.name, "/", "-"))
				delegate(b, cn, "www."+cn)
				csr := newCSR(b, cn, "www."+cn)
				b.StartTimer()
				started := time.Now()
				if _, err := iss.Issue(context.Background(), csr, issuer.IssueOptions{}); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(started))
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "median-ms")
			b.ReportMetric(float64(took[len(took)-1].Microseconds())/1000, "max-ms")
		})
	}
}
