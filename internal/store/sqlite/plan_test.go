package sqlite

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
)

// queryPlan returns the detail lines of EXPLAIN QUERY PLAN for query.
func queryPlan(t *testing.T, s *Store, query string, args ...any) []string {
	t.Helper()
	rows, err := s.DB().QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	must(t, err)
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		must(t, rows.Scan(&id, &parent, &unused, &detail))
		plan = append(plan, detail)
	}
	must(t, rows.Err())
	return plan
}

// planNow is the instant the plan and listing fixtures are built around.
var planNow = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

// listingInventory returns n assets spread over five data centers, three
// platforms and two origins, with expiries one hour apart from an hour
// before planNow onwards, every 97th unknown, and names in no particular
// order of creation.
func listingInventory(n int) []asset.Asset {
	platforms := []string{"panos", "bigip", "linux"}
	var assets []asset.Asset
	for i := range n {
		j := (i * 7919) % n // a permutation of 0…n-1, since 7919 is prime
		exp := planNow.Add(time.Duration(j-1) * time.Hour)
		rt := exp.Add(-30 * 24 * time.Hour)
		a := asset.Asset{
			SystemName:            fmt.Sprintf("dev%05d", j),
			DataCenter:            fmt.Sprintf("dc%d", j%5),
			HostPlatform:          platforms[j%3],
			Origin:                []string{"netbox", "manual"}[j%2],
			IPAddress:             fmt.Sprintf("192.0.%d.%d", j/250, j%250),
			CertificateExpiration: &exp,
			RenewalTime:           &rt,
			Paused:                j%50 == 0,
		}
		if j%97 == 0 {
			a.CertificateExpiration, a.RenewalTime = nil, nil
		}
		// Most certificates came from a CA with ARI: ask it again a few
		// hours apart, some never yet.
		if j%10 != 0 {
			check := planNow.Add(time.Duration(j%12-2) * time.Hour)
			a.RenewalCertID, a.RenewalCheckAt = fmt.Sprintf("aki.%05d", j), &check
			if j%13 == 0 {
				a.RenewalCheckAt = nil
			}
		}
		assets = append(assets, a)
	}
	return assets
}

// assertPlan fails t unless plan uses index (empty: any), reads no table
// without an index and sorts in a temporary b-tree only if sortOK.
func assertPlan(t *testing.T, plan []string, index string, sortOK bool) {
	t.Helper()
	joined := strings.Join(plan, "\n")
	for _, line := range plan {
		// "SCAN (subquery-1)" reads a subquery's rows as it makes them.
		if strings.HasPrefix(line, "SCAN ") && !strings.Contains(line, "USING ") && !strings.HasPrefix(line, "SCAN (") {
			t.Errorf("plan scans a table:\n%s", joined)
		}
		if strings.Contains(line, "TEMP B-TREE") && !sortOK {
			t.Errorf("plan sorts in a temporary b-tree:\n%s", joined)
		}
	}
	if index != "" && !strings.Contains(joined, "INDEX "+index+" ") && !strings.HasSuffix(joined, "INDEX "+index) {
		t.Errorf("plan does not use index %s:\n%s", index, joined)
	}
}

// assertSearches fails t unless plan seeks a range of a table or an index
// rather than walking one from its start.
func assertSearches(t *testing.T, plan []string) {
	t.Helper()
	if !slices.ContainsFunc(plan, func(l string) bool { return strings.HasPrefix(l, "SEARCH ") }) {
		t.Errorf("plan does not search a range:\n%s", strings.Join(plan, "\n"))
	}
}

func TestQueryPlans(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	// Some rows and fresh statistics, so the planner decides as it would on
	// a real inventory rather than on an empty table.
	must(t, s.ImportAssets(ctx, listingInventory(500)))
	_, err := s.DB().ExecContext(ctx, "ANALYZE")
	must(t, err)

	tests := []struct {
		name  string
		query string
		args  []any
		index string
	}{
		{"finds due assets through the due index without sorting", dueAssetsSQL,
			[]any{planNow.Unix(), 10000}, "assets_due"},
		{"finds certificates to ask the CA about through the recheck index without sorting", assetsToRecheckSQL,
			[]any{planNow.Unix(), 1000}, "assets_recheck"},
		{"finds an asset's active rotation through the one-active index", `SELECT ` + rotationColumns +
			` FROM rotations WHERE asset = ? AND state IN ('pending', 'running')`,
			[]any{"dev00001"}, "rotations_one_active_per_asset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := queryPlan(t, s, tt.query, tt.args...)
			assertPlan(t, plan, tt.index, false)
			assertSearches(t, plan)
		})
	}

	t.Run("finds where few expiring assets end within the expiry index, reading no row and sorting nothing", func(t *testing.T) {
		plan := queryPlan(t, s, expiringThresholdSQL, fewExpiring-1)
		assertPlan(t, plan, "assets_expiring", false)
		if !strings.Contains(strings.Join(plan, "\n"), "COVERING INDEX assets_expiring") {
			t.Errorf("plan reads rows:\n%s", strings.Join(plan, "\n"))
		}
	})

	t.Run("lists audit events newest first", func(t *testing.T) {
		// The first page without a filter walks the table backwards from
		// its end, which SQLite calls a scan; every other page searches.
		filters := []struct {
			filter store.AuditFilter
			index  string
		}{
			{store.AuditFilter{BeforeID: 100, Limit: 50}, ""},
			{store.AuditFilter{Target: "asset/dev00001", Limit: 50}, "audit_events_target"},
			{store.AuditFilter{Target: "asset/dev00001", BeforeID: 100, Limit: 50}, "audit_events_target"},
			{store.AuditFilter{Actor: "alice", BeforeID: 100, Limit: 50}, "audit_events_actor"},
			{store.AuditFilter{Action: "asset.update", BeforeID: 100, Limit: 50}, "audit_events_action"},
		}
		for _, f := range filters {
			query, args := auditQuery(f.filter)
			plan := queryPlan(t, s, query, args...)
			assertPlan(t, plan, f.index, false)
			assertSearches(t, plan)
		}
	})

	soon := planNow.Add(24 * time.Hour)
	filters := []struct {
		name   string
		filter store.AssetFilter
	}{
		{"no filter", store.AssetFilter{}},
		{"a system name", store.AssetFilter{SystemName: "dev00001"}},
		{"an IP address", store.AssetFilter{IPAddress: "192.0.0.1"}},
		{"a data center", store.AssetFilter{DataCenter: "dc1"}},
		{"a host platform", store.AssetFilter{HostPlatform: "panos"}},
		{"an origin", store.AssetFilter{Origin: "netbox"}},
		{"a data center, platform and origin", store.AssetFilter{DataCenter: "dc1", HostPlatform: "panos", Origin: "netbox"}},
		{"a platform and origin", store.AssetFilter{HostPlatform: "panos", Origin: "netbox"}},
	}
	for _, tt := range filters {
		for _, expiry := range []struct {
			name  string
			few   bool
			until *time.Time
		}{
			{"", false, nil},
			{" expiring soon, few of all assets", true, &soon},
			{" expiring soon, many of all assets", false, &soon},
		} {
			f := tt.filter
			f.ExpiresBefore = expiry.until
			ix := indexFor(f, expiry.few)
			t.Run("lists assets by "+tt.name+expiry.name+" page by page", func(t *testing.T) {
				f := f
				f.After, f.Limit = "dev00100", 50
				query, args := listAssetsQuery(f, ix)
				plan := queryPlan(t, s, query, args...)
				// Collecting the expiring assets sorts their names, at most
				// fewExpiring of them, then reads the page's rows by key.
				assertPlan(t, plan, ix.name, ix.fewExpiring)
				assertSearches(t, plan)
				if ix.fewExpiring && !slices.ContainsFunc(plan, func(l string) bool {
					return strings.Contains(l, "COVERING INDEX assets_expiring")
				}) {
					t.Errorf("plan reads rows to collect expiring assets:\n%s", strings.Join(plan, "\n"))
				}
			})
			if ix.name == "" {
				continue
			}
			t.Run("counts assets by "+tt.name+expiry.name+" within the index", func(t *testing.T) {
				query, args := countAssetsQuery(f, ix)
				plan := queryPlan(t, s, query, args...)
				assertPlan(t, plan, "", false)
				// A covering count proves the index holds every filtered
				// column, so a listing walking it tests them on the index
				// entry and reads only the rows that match.
				if ix.name != "assets_ip_address" && !strings.Contains(strings.Join(plan, "\n"), "COVERING INDEX") {
					t.Errorf("plan reads rows to test the filters:\n%s", strings.Join(plan, "\n"))
				}
			})
		}
	}
}

// TestListingAgreesWithAFullScan checks both ways of serving an expiry
// cutoff — collecting the few matches, walking names past the many
// non-matches — against the same filter applied in Go, with enough assets
// that both ways are taken.
func TestListingAgreesWithAFullScan(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	all := listingInventory(3 * fewExpiring / 2)
	must(t, s.ImportAssets(ctx, all))
	slices.SortFunc(all, func(a, b asset.Asset) int { return strings.Compare(a.SystemName, b.SystemName) })

	matches := func(f store.AssetFilter, a asset.Asset) bool {
		return (f.SystemName == "" || a.SystemName == f.SystemName) &&
			(f.IPAddress == "" || a.IPAddress == f.IPAddress) &&
			(f.DataCenter == "" || a.DataCenter == f.DataCenter) &&
			(f.HostPlatform == "" || a.HostPlatform == f.HostPlatform) &&
			(f.Origin == "" || a.Origin == f.Origin) &&
			(f.ExpiresBefore == nil || a.CertificateExpiration == nil || a.CertificateExpiration.Before(*f.ExpiresBefore))
	}
	at := func(hours int) *time.Time {
		t := planNow.Add(time.Duration(hours) * time.Hour)
		return &t
	}
	cutoffs := []struct {
		name        string
		until       *time.Time
		fewExpiring bool
	}{
		{"none expire before it but the unknown", at(-24), true},
		{"few expire before it", at(fewExpiring / 2), true},
		{"just too many expire before it to collect", at(fewExpiring), false},
		{"most expire before it", at(5 * fewExpiring / 4), false},
		{"every asset expires before it", at(2 * fewExpiring), false},
	}
	others := []struct {
		name   string
		filter store.AssetFilter
	}{
		{"alone", store.AssetFilter{}},
		{"in one data center", store.AssetFilter{DataCenter: "dc3"}},
		{"on one platform", store.AssetFilter{HostPlatform: "bigip"}},
		{"from one origin", store.AssetFilter{Origin: "manual"}},
		{"in one data center, on one platform, from one origin", store.AssetFilter{DataCenter: "dc3", HostPlatform: "bigip", Origin: "manual"}},
		{"in a data center without assets", store.AssetFilter{DataCenter: "dc9"}},
		{"at one IP address", store.AssetFilter{IPAddress: all[1234].IPAddress}},
		{"for one system", store.AssetFilter{SystemName: all[2345].SystemName}},
		{"for a system that does not exist", store.AssetFilter{SystemName: "absent"}},
	}
	for _, c := range cutoffs {
		ix, err := s.chooseIndex(ctx, store.AssetFilter{ExpiresBefore: c.until})
		must(t, err)
		if ix.fewExpiring != c.fewExpiring {
			t.Fatalf("%s: collecting from assets_expiring is %v, want %v", c.name, ix.fewExpiring, c.fewExpiring)
		}
		for _, other := range others {
			f := other.filter
			f.ExpiresBefore = c.until
			var want []string
			for _, a := range all {
				if matches(f, a) {
					want = append(want, a.SystemName)
				}
			}
			t.Run(c.name+", "+other.name, func(t *testing.T) {
				n, err := s.CountAssets(ctx, f)
				must(t, err)
				if n != len(want) {
					t.Errorf("CountAssets = %d, want %d", n, len(want))
				}
				// Pages from several cursors — the start, names that may or
				// may not match, the last few — and the rest of the names
				// after one cursor without a limit.
				cursors := []string{"", all[len(all)/3].SystemName, all[2*len(all)/3].SystemName, all[len(all)-120].SystemName}
				for i, after := range cursors {
					page := f
					page.After, page.Limit = after, 100
					if i == len(cursors)-1 {
						page.Limit = 0
					}
					assets, err := s.ListAssets(ctx, page)
					must(t, err)
					var got, wantPage []string
					for _, a := range assets {
						got = append(got, a.SystemName)
					}
					for _, name := range want {
						if name > after && (page.Limit == 0 || len(wantPage) < page.Limit) {
							wantPage = append(wantPage, name)
						}
					}
					assertSameNames(t, fmt.Sprintf("page after %q", after), got, wantPage)
				}
			})
		}
	}
}

func assertSameNames(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: got %d assets, want %d; first difference at %d", what, len(got), len(want), firstDifference(got, want))
	}
}

func firstDifference(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
