package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
)

// The web UI's table filters on any column and sorts on several, so its
// queries scan the assets (a few milliseconds per 100,000 for the columns
// they test) and leave the plan to SQLite; a page's rows are then read by
// primary key. BenchmarkUIPages (internal/ui) measures them.

// routeKeySQL builds store.RouteKey of a row.
const routeKeySQL = `host_platform || char(31) || os_version || char(31) || certificate_authority || char(31) || device_model || char(31) || data_center`

// fleetStateSQL decides a row's fleet state in store.FleetStates order.
// Its two parameters are the unrouted route keys (a JSON array) and now.
const fleetStateSQL = `CASE
	WHEN paused <> 0 THEN 'paused'
	WHEN (` + routeKeySQL + `) IN (SELECT value FROM json_each(?)) THEN 'unrouted'
	WHEN system_name IN (SELECT asset FROM rotations WHERE state IN ('pending', 'running')) THEN 'rotating'
	WHEN failure_count > 0 THEN 'failing'
	WHEN certificate_expiration IS NULL OR renewal_time IS NULL OR renewal_time <= ? THEN 'due'
	ELSE 'ok' END`

// sortColumns are the columns the sorts need from the query that decides
// the states.
const sortColumns = `system_name, certificate_expiration, renewal_time, data_center, host_platform, certificate_authority`

// assetSortSQL is the ORDER BY expression of each store.AssetSorts.
var assetSortSQL = map[string]string{
	"":            "system_name",
	"name":        "system_name",
	"expiry":      "coalesce(certificate_expiration, -9223372036854775808)",
	"renewal":     "coalesce(renewal_time, -9223372036854775808)",
	"data_center": "data_center",
	"platform":    "host_platform",
	"ca":          "certificate_authority",
	"state":       "state",
}

// uiWhere returns the conditions selecting q's assets, ignoring its State.
func uiWhere(q store.AssetQuery) where {
	var w where
	if q.NameContains != "" {
		w.add("instr(lower(system_name), ?) > 0", strings.ToLower(q.NameContains))
	}
	w.eq("system_name", q.SystemName)
	w.eq("data_center", q.DataCenter)
	w.eq("host_platform", q.HostPlatform)
	w.eq("certificate_authority", q.CertificateAuthority)
	for k, v := range q.Labels {
		w.add("EXISTS (SELECT 1 FROM json_each(assets.labels) WHERE key = ? AND value = ?)", k, v)
	}
	if q.ExpiresBefore != nil {
		w.add(expiresBeforeCond, q.ExpiresBefore.Unix())
	}
	return w
}

func unroutedJSON(keys []string) (string, error) {
	if keys == nil {
		keys = []string{}
	}
	b, err := json.Marshal(keys)
	return string(b), err
}

// QueryAssets returns the page of assets q selects and how many match.
func (s *Store) QueryAssets(ctx context.Context, q store.AssetQuery) ([]store.AssetRow, int, error) {
	order, ok := assetSortSQL[q.Sort]
	if !ok {
		return nil, 0, fmt.Errorf("sqlite: query assets: unknown sort %q", q.Sort)
	}
	unrouted, err := unroutedJSON(q.Unrouted)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: query assets: %w", err)
	}
	w := uiWhere(q)
	inner := `SELECT ` + sortColumns + `, ` + fleetStateSQL + ` AS state` + fromClause("", w.conds)
	args := append([]any{unrouted, q.Now.Unix()}, w.args...)
	outer := `SELECT system_name, state FROM (` + inner + `)`
	if q.State != "" {
		outer += ` WHERE state = ?`
		args = append(args, q.State)
	}
	ctx = readContext(ctx)

	var total int
	if err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM (`+outer+`)`, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("sqlite: count assets: %w", err)
	}
	dir := " ASC"
	if q.Descending {
		dir = " DESC"
	}
	outer += ` ORDER BY ` + order + dir + `, system_name` + dir
	if q.Limit > 0 {
		outer += ` LIMIT ? OFFSET ?`
		args = append(args, q.Limit, q.Offset)
	}
	rows, err := s.read.QueryContext(ctx, outer, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: query assets: %w", err)
	}
	defer rows.Close()
	var page []store.AssetRow
	var names []string
	for rows.Next() {
		var r store.AssetRow
		if err := rows.Scan(&r.Asset.SystemName, &r.State); err != nil {
			return nil, 0, fmt.Errorf("sqlite: query assets: %w", err)
		}
		page = append(page, r)
		names = append(names, r.Asset.SystemName)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("sqlite: query assets: %w", err)
	}
	if len(names) == 0 {
		return nil, total, nil
	}
	list, err := json.Marshal(names)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: query assets: %w", err)
	}
	assets, err := queryAssets(ctx, s.read, len(names),
		`SELECT `+assetRow+` FROM assets WHERE system_name IN (SELECT value FROM json_each(?))`, string(list))
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: query assets: %w", err)
	}
	byName := make(map[string]asset.Asset, len(assets))
	for _, a := range assets {
		byName[a.SystemName] = a
	}
	out := page[:0]
	for _, r := range page {
		if a, ok := byName[r.Asset.SystemName]; ok { // deleted meanwhile otherwise
			r.Asset = a
			out = append(out, r)
		}
	}
	return out, total, nil
}

// CountFleetStates counts q's assets by fleet state.
func (s *Store) CountFleetStates(ctx context.Context, q store.AssetQuery) (map[string]int, error) {
	unrouted, err := unroutedJSON(q.Unrouted)
	if err != nil {
		return nil, fmt.Errorf("sqlite: count fleet states: %w", err)
	}
	w := uiWhere(q)
	query := `SELECT state, count(*) FROM (SELECT ` + fleetStateSQL + ` AS state` + fromClause("", w.conds) + `) GROUP BY state`
	rows, err := s.read.QueryContext(readContext(ctx), query, append([]any{unrouted, q.Now.Unix()}, w.args...)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: count fleet states: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("sqlite: count fleet states: %w", err)
		}
		out[state] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: count fleet states: %w", err)
	}
	return out, nil
}

// CountExpiries counts known expiries into buckets split at bounds, from
// the assets_expiring index alone.
func (s *Store) CountExpiries(ctx context.Context, bounds []time.Time) ([]store.ExpiryBucket, int, error) {
	var cols []string
	var args []any
	cols = append(cols, `count(*) FILTER (WHERE coalesce(certificate_expiration, -9223372036854775808) = -9223372036854775808)`)
	prev := int64(-9223372036854775808)
	for _, b := range bounds {
		cols = append(cols, `count(*) FILTER (WHERE coalesce(certificate_expiration, -9223372036854775808) > ? AND coalesce(certificate_expiration, -9223372036854775808) < ?)`)
		args = append(args, prev, b.Unix())
		prev = b.Unix() - 1
	}
	cols = append(cols, `count(*) FILTER (WHERE coalesce(certificate_expiration, -9223372036854775808) > ?)`)
	args = append(args, prev)
	query := `SELECT ` + strings.Join(cols, ", ") + ` FROM assets INDEXED BY assets_expiring`
	counts := make([]int, len(bounds)+2)
	dest := make([]any, len(counts))
	for i := range counts {
		dest[i] = &counts[i]
	}
	if err := s.read.QueryRowContext(readContext(ctx), query, args...).Scan(dest...); err != nil {
		return nil, 0, fmt.Errorf("sqlite: count expiries: %w", err)
	}
	buckets := make([]store.ExpiryBucket, 0, len(bounds)+1)
	for i, b := range bounds {
		buckets = append(buckets, store.ExpiryBucket{Before: b, Count: counts[i+1]})
	}
	buckets = append(buckets, store.ExpiryBucket{Count: counts[len(counts)-1]})
	return buckets, counts[0], nil
}

// RouteKeys returns the inventory's distinct route keys, each with one
// asset's routed fields.
func (s *Store) RouteKeys(ctx context.Context) (map[string]asset.Asset, error) {
	rows, err := s.read.QueryContext(readContext(ctx),
		`SELECT DISTINCT host_platform, os_version, certificate_authority, device_model, data_center FROM assets`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: route keys: %w", err)
	}
	defer rows.Close()
	out := map[string]asset.Asset{}
	for rows.Next() {
		var a asset.Asset
		if err := rows.Scan(&a.HostPlatform, &a.OSVersion, &a.CertificateAuthority, &a.DeviceModel, &a.DataCenter); err != nil {
			return nil, fmt.Errorf("sqlite: route keys: %w", err)
		}
		out[store.RouteKey(a)] = a
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: route keys: %w", err)
	}
	return out, nil
}
