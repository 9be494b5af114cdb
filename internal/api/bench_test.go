package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/testenv"
)

// BenchmarkSearch100k serves GET /api/v1/search?days_until_expiration=30
// over 100,000 assets from a real HTTP server on loopback, to clients in
// as many goroutines as the sub-benchmark's name says, with the default
// page of 100 assets and with pages of 10, each request
// authenticated (token checked, user read from the store). It reports the
// latency percentiles and the rate the clients saw. Run it with
//
//	go test -run '^$' -bench Search100k -benchtime 20000x ./internal/api
//
// The clients share the machine's cores with the server.
func BenchmarkSearch100k(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	const n = 100_000
	now := e.clock.Now()
	assets := make([]asset.Asset, n)
	for i := range assets {
		name := fmt.Sprintf("host-%06d.lab.ottr.test", i)
		a := asset.Asset{
			SystemName: name, CommonName: name, SubjectAlternativeName: []string{name},
			CertificateAuthority: "lab", DataCenter: fmt.Sprintf("dc%d", i%8), DeviceModel: "emulated",
			HostPlatform: "linux", IPAddress: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255),
			Origin: "API", OSVersion: "12", CertificateValidation: true,
		}
		// Expiries spread over the next 90 days; one in a hundred unknown.
		if i%100 != 0 {
			exp := now.Add(time.Duration(i%90)*24*time.Hour + time.Duration(i%24)*time.Hour)
			a.CertificateExpiration = &exp
		}
		assets[i] = a
	}
	if err := e.app.Store.ImportAssets(ctx, assets); err != nil {
		b.Fatal(err)
	}
	e.addUser("reader", store.RoleDeveloper)
	token := e.token("reader", time.Time{})
	hs := httptest.NewServer(e.srv.Handler())
	defer hs.Close()

	for _, bc := range []struct {
		name, query string
		clients     int
	}{
		{"page=100/clients=4", "days_until_expiration=30", 4},
		{"page=100/clients=16", "days_until_expiration=30", 16},
		{"page=10/clients=16", "days_until_expiration=30&limit=10", 16},
	} {
		b.Run(bc.name, func(b *testing.B) {
			benchmarkSearch(b, hs.URL+"/api/v1/search?"+bc.query, token, bc.clients)
		})
	}
}

func benchmarkSearch(b *testing.B, url, token string, clients int) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}
	defer client.CloseIdleConnections()
	get := func() error {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", token)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	// Warm the connections and the database's cache.
	for range clients {
		if err := get(); err != nil {
			b.Fatal(err)
		}
	}
	latencies := make([]time.Duration, b.N)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	b.ResetTimer()
	cpu0, cpuKnown := testenv.ProcessCPUTime()
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				t0 := time.Now()
				if err := get(); err != nil {
					failed.Store(err)
					return
				}
				latencies[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, _ := testenv.ProcessCPUTime()
	b.StopTimer()
	if err, ok := failed.Load().(error); ok {
		b.Fatal(err)
	}
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[min(len(latencies)-1, int(p*float64(len(latencies))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(runtime.NumCPU()), "cpus")
	if cpuKnown {
		// Server and clients together; what the cores could serve if they
		// were this process's alone is cpus / (cpu-µs/req).
		b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(b.N), "cpu-µs/req")
	}
}
