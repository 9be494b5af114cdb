package metrics_test

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/metrics"
	"github.com/ottr-go/ottr/internal/route"
	"github.com/ottr-go/ottr/internal/store/sqlite"
)

// fleet returns n assets spread over data centers, platforms and CAs as a
// real inventory is, with certificates at every age.
func fleet(n int, now time.Time) []asset.Asset {
	platforms := []string{"linux", "panos", "bigip", "lighthouse", "junos"}
	cas := []string{"lets_encrypt", "digicert", "internal"}
	out := make([]asset.Asset, n)
	for i := range out {
		name := fmt.Sprintf("dev%07d.dc%d.example.com", i, i%20)
		notBefore := now.Add(-time.Duration(i%90) * 24 * time.Hour).Truncate(time.Second).UTC()
		notAfter := notBefore.Add(90 * 24 * time.Hour)
		renewal := notAfter.Add(-30 * 24 * time.Hour)
		a := asset.Asset{
			SystemName: name, CommonName: name, SubjectAlternativeName: []string{name},
			CertificateAuthority: cas[i%len(cas)], CertificateExpiration: &notAfter, CertificateNotBefore: &notBefore,
			CertificateValidation: true, DataCenter: fmt.Sprintf("dc%d", i%20), HostPlatform: platforms[i%len(platforms)],
			IPAddress: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), Origin: "API", OSVersion: "9.1",
			RenewalTime: &renewal, CertificateSerial: fmt.Sprintf("%032x", i), CertificateIssuer: "R11",
			Labels: map[string]string{"team": "net"},
		}
		if i%97 == 0 {
			a.FailureCount = 1 + i%4
		}
		if i%1000 == 0 {
			a.Paused = true
		}
		out[i] = a
	}
	return out
}

var inventory100k struct {
	once sync.Once
	path string
	err  error
}

// sqliteInventory100k returns a SQLite database holding 100,000 assets,
// built once per test binary.
func sqliteInventory100k(b *testing.B) string {
	b.Helper()
	inventory100k.once.Do(func() {
		dir, err := os.MkdirTemp("", "ottr-metrics-bench-")
		if err != nil {
			inventory100k.err = err
			return
		}
		inventory100k.path = filepath.Join(dir, "ottr.db")
		ctx := context.Background()
		st, err := sqlite.Open(ctx, inventory100k.path)
		if err != nil {
			inventory100k.err = err
			return
		}
		defer st.Close()
		inventory100k.err = st.ImportAssets(ctx, fleet(100_000, time.Now()))
	})
	if inventory100k.err != nil {
		b.Fatal(inventory100k.err)
	}
	return inventory100k.path
}

// BenchmarkScrape100k scrapes /metrics as Prometheus does (text format,
// gzip) with 100,000 assets in SQLite, then without gzip, and reports the
// scrape's size; and, for comparison, gathers the same metrics through
// client_golang's collectors and encodes them as its handler would.
func BenchmarkScrape100k(b *testing.B) {
	path := sqliteInventory100k(b)
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	// Routes as an operator writes them: junos has none, so a fifth of
	// the fleet is unrouted.
	table, err := route.Compile([]route.Route{
		{Match: route.Match{Platform: "panos", OSVersion: ">=9.0 <12"}, Driver: "panos", Options: map[string]any{"commit": "partial"}},
		{Match: route.Match{Platform: "bigip"}, Driver: "bigip"},
		{Match: route.Match{Platform: "lighthouse", OSVersion: "9.*"}, Driver: "lighthouse"},
		{Match: route.Match{Platform: "linux"}, Driver: "linux", Options: map[string]any{"cert_path": "/etc/ssl/c.pem"}},
	}, nil)
	if err != nil {
		b.Fatal(err)
	}
	m := metrics.New(metrics.Options{})
	m.AddInventory(metrics.Inventory{Store: st, Routed: func(a asset.Asset) bool { _, _, ok := table.Match(a); return ok }})
	for _, gz := range []bool{true, false} {
		b.Run(map[bool]string{true: "gzip", false: "plain"}[gz], func(b *testing.B) {
			h := m.Handler()
			var size int64
			for b.Loop() {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				req.Header.Set("Accept", "text/plain;version=0.0.4")
				if gz {
					req.Header.Set("Accept-Encoding", "gzip")
				}
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("scrape: %d %s", rec.Code, rec.Body.String())
				}
				size, _ = io.Copy(io.Discard, rec.Body)
			}
			b.ReportMetric(float64(size)/1e6, "MB/scrape")
		})
	}
	b.Run("client_golang gather and encode", func(b *testing.B) {
		for b.Loop() {
			families, err := m.Gatherer().Gather()
			if err != nil {
				b.Fatal(err)
			}
			zw := gzip.NewWriter(io.Discard)
			enc := expfmt.NewEncoder(zw, expfmt.NewFormat(expfmt.TypeTextPlain))
			for _, f := range families {
				if err := enc.Encode(f); err != nil {
					b.Fatal(err)
				}
			}
			zw.Close()
		}
	})
}
