package ui

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
)

// BenchmarkUIPages100k renders every page of the UI over 100,000 assets
// in SQLite, through a real HTTP server on loopback, each request checked
// as a logged-in ADMIN's (session cookie verified, user read from the
// store). The fleet mixes every state: 1% failing, 1% paused, 0.5% that
// no route takes, 20 rotations under way, expiries spread over 90 days
// and 1% unknown. Run it with
//
//	go test -run '^$' -bench UIPages100k -benchtime 20x ./internal/ui
//
// BENCHMARKS.md has the figures; the target is under 100 ms a page.
func BenchmarkUIPages100k(b *testing.B) {
	e := newEnv(b)
	assets, rotationID := e.fleet100k()
	browser := e.loggedIn("admin")
	name := assets[len(assets)/2].SystemName
	pages := []string{
		"/ui/",
		"/ui/assets",
		"/ui/assets?state=failing",
		"/ui/assets?state=ok&sort=expiry&dir=desc&page=100",
		"/ui/assets?name=host-0999&dc=dc3",
		"/ui/assets?labels=team%3Dt3&days=30&sort=state",
		"/ui/assets?per=200&page=400",
		"/ui/assets/" + name,
		"/ui/assets/" + name + "/edit",
		"/ui/assets/" + name + "/delete",
		fmt.Sprintf("/ui/rotations/%d", rotationID),
		fmt.Sprintf("/ui/rotations/%d/live", rotationID),
		"/ui/plan", "/ui/routes", "/ui/dns", "/ui/audit", "/ui/users", "/ui/notifications",
		"/ui/plan?data_center=dc3&due=true&page=20",
		"/ui/routes?system_name=new.lab.ottr.test&host_platform=junos&data_center=dc3",
		"/ui/audit?actor=admin&since=2026-01-01",
		"/ui/users?user=admin",
	}
	for _, path := range pages {
		// The page's path, without the slashes that would nest benchmarks.
		name := strings.ReplaceAll(strings.TrimPrefix(path, "/ui/"), "/", "_")
		if name == "" {
			name = "overview"
		}
		b.Run(name, func(b *testing.B) {
			if p := browser.get(path); p.status != http.StatusOK {
				b.Fatalf("status %d", p.status)
			}
			b.ResetTimer()
			for range b.N {
				browser.get(path)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
		})
	}
}

// fleet100k imports the benchmark's 100,000 assets and starts 20
// rotations; it returns the assets and the last rotation's ID.
func (e *env) fleet100k() ([]asset.Asset, int64) {
	b := e.t
	ctx := context.Background()
	const n = 100_000
	now := time.Now().UTC().Truncate(time.Second)
	assets := make([]asset.Asset, n)
	for i := range assets {
		name := fmt.Sprintf("host-%06d.lab.ottr.test", i)
		a := asset.Asset{
			SystemName: name, CommonName: name, CertificateAuthority: "lab", DataCenter: fmt.Sprintf("dc%d", i%8),
			DeviceModel: "emulated", HostPlatform: "linux", IPAddress: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255),
			Origin: "API", OSVersion: "12", CertificateValidation: true, Labels: map[string]string{"team": fmt.Sprintf("t%d", i%10)},
		}
		if i%100 != 0 {
			exp := now.Add(time.Duration(i%90)*24*time.Hour + time.Duration(i%24)*time.Hour)
			nb := exp.Add(-90 * 24 * time.Hour)
			a.CertificateExpiration, a.CertificateNotBefore, a.CertificateSerial = &exp, &nb, fmt.Sprintf("%x", i+1)
		}
		p, err := e.app.Prepare(a)
		if err != nil {
			b.Fatal(err)
		}
		switch {
		case i%100 == 1:
			p.FailureCount = 1 + i%3
		case i%100 == 2:
			p.Paused = true
		case i%200 == 3:
			p.HostPlatform = "junos" // taken out of the routing table
		}
		assets[i] = p
	}
	if err := e.app.Store.ImportAssets(ctx, assets); err != nil {
		b.Fatal(err)
	}
	var rotationID int64
	for i := range 20 {
		rot, err := e.app.Store.CreateRotation(ctx, store.Rotation{Asset: assets[i*1000+5].SystemName, Trigger: store.TriggerSchedule, State: store.StateRunning})
		if err != nil {
			b.Fatal(err)
		}
		rotationID = rot.ID
	}
	return assets, rotationID
}
