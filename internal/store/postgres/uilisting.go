package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
)

// The web UI's table filters on any column and sorts on several: its
// queries leave the plan to PostgreSQL, then read a page's rows by primary
// key.

// routeKeySQL builds store.RouteKey of a row.
const routeKeySQL = `host_platform || chr(31) || os_version || chr(31) || certificate_authority || chr(31) || device_model || chr(31) || data_center`

// fleetStateSQL decides a row's fleet state in store.FleetStates order;
// $1 is the unrouted route keys, $2 now.
const fleetStateSQL = `CASE
	WHEN paused THEN 'paused'
	WHEN (` + routeKeySQL + `) = ANY($1::text[]) THEN 'unrouted'
	WHEN EXISTS (SELECT 1 FROM rotations r WHERE r.asset = assets.system_name AND r.state IN ('pending', 'running')) THEN 'rotating'
	WHEN failure_count > 0 THEN 'failing'
	WHEN certificate_expiration IS NULL OR renewal_time IS NULL OR renewal_time <= $2 THEN 'due'
	ELSE 'ok' END`

// sortColumns are the columns the sorts need from the query that decides
// the states.
const sortColumns = `system_name, certificate_expiration, renewal_time, data_center, host_platform, certificate_authority`

// assetSortSQL is the ORDER BY expression of each store.AssetSorts.
var assetSortSQL = map[string]string{
	"":            "system_name",
	"name":        "system_name",
	"expiry":      "coalesce(certificate_expiration, '-infinity'::timestamptz)",
	"renewal":     "coalesce(renewal_time, '-infinity'::timestamptz)",
	"data_center": "data_center",
	"platform":    "host_platform",
	"ca":          "certificate_authority",
	"state":       "state",
}

// uiWhere returns the conditions selecting q's assets, ignoring its State,
// numbered after the state expression's two parameters.
func uiWhere(q store.AssetQuery) *where {
	unrouted := q.Unrouted
	if unrouted == nil {
		unrouted = []string{}
	}
	w := &where{args: []any{unrouted, toSecond(q.Now)}}
	if q.NameContains != "" {
		w.args = append(w.args, strings.ToLower(q.NameContains))
		w.conds = append(w.conds, "strpos(lower(system_name), "+w.next(0)+") > 0")
	}
	w.eq("system_name", q.SystemName)
	w.eq("data_center", q.DataCenter)
	w.eq("host_platform", q.HostPlatform)
	w.eq("certificate_authority", q.CertificateAuthority)
	for k, v := range q.Labels {
		w.add("labels @> ", map[string]string{k: v})
	}
	if q.ExpiresBefore != nil {
		w.add(`coalesce(certificate_expiration, '-infinity'::timestamptz) < `, toSecond(*q.ExpiresBefore))
	}
	return w
}

// QueryAssets returns the page of assets q selects and how many match.
func (s *Store) QueryAssets(ctx context.Context, q store.AssetQuery) ([]store.AssetRow, int, error) {
	order, ok := assetSortSQL[q.Sort]
	if !ok {
		return nil, 0, fmt.Errorf("postgres: query assets: unknown sort %q", q.Sort)
	}
	w := uiWhere(q)
	outer := `SELECT system_name, state FROM (SELECT ` + sortColumns + `, ` + fleetStateSQL + ` AS state FROM assets` + w.clause() + `) t`
	args := w.args
	if q.State != "" {
		args = append(args, q.State)
		outer += ` WHERE state = $` + fmt.Sprint(len(args))
	}
	var total int
	if err := s.retryRead(ctx, func() error {
		return s.pool.QueryRow(ctx, `SELECT count(*) FROM (`+outer+`) c`, args...).Scan(&total)
	}); err != nil {
		return nil, 0, fmt.Errorf("postgres: count assets: %w", err)
	}
	dir := " ASC"
	if q.Descending {
		dir = " DESC"
	}
	outer += ` ORDER BY ` + order + dir + `, system_name` + dir
	if q.Limit > 0 {
		args = append(args, q.Limit, q.Offset)
		outer += fmt.Sprintf(` LIMIT $%d OFFSET $%d`, len(args)-1, len(args))
	}
	var page []store.AssetRow
	if err := s.retryRead(ctx, func() error {
		rows, err := s.pool.Query(ctx, outer, args...)
		if err != nil {
			return err
		}
		page, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.AssetRow, error) {
			var r store.AssetRow
			err := row.Scan(&r.Asset.SystemName, &r.State)
			return r, err
		})
		return err
	}); err != nil {
		return nil, 0, fmt.Errorf("postgres: query assets: %w", err)
	}
	if len(page) == 0 {
		return nil, total, nil
	}
	names := make([]string, len(page))
	for i, r := range page {
		names[i] = r.Asset.SystemName
	}
	assets, err := s.queryAssets(ctx, len(names), `SELECT `+assetColumns+` FROM assets WHERE system_name = ANY($1::text[])`, names)
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: query assets: %w", err)
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
	w := uiWhere(q)
	query := `SELECT state, count(*) FROM (SELECT ` + fleetStateSQL + ` AS state FROM assets` + w.clause() + `) t GROUP BY state`
	out := map[string]int{}
	err := s.retryRead(ctx, func() error {
		clear(out)
		rows, err := s.pool.Query(ctx, query, w.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var state string
			var n int
			if err := rows.Scan(&state, &n); err != nil {
				return err
			}
			out[state] = n
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: count fleet states: %w", err)
	}
	return out, nil
}

// CountExpiries counts known expiries into buckets split at bounds.
func (s *Store) CountExpiries(ctx context.Context, bounds []time.Time) ([]store.ExpiryBucket, int, error) {
	cols := []string{`count(*) FILTER (WHERE certificate_expiration IS NULL)`}
	var args []any
	lower := "certificate_expiration IS NOT NULL"
	for _, b := range bounds {
		args = append(args, toSecond(b))
		cols = append(cols, fmt.Sprintf(`count(*) FILTER (WHERE %s AND certificate_expiration < $%d)`, lower, len(args)))
		lower = fmt.Sprintf("certificate_expiration >= $%d", len(args))
	}
	cols = append(cols, fmt.Sprintf(`count(*) FILTER (WHERE %s)`, lower))
	counts := make([]int, len(bounds)+2)
	dest := make([]any, len(counts))
	for i := range counts {
		dest[i] = &counts[i]
	}
	if err := s.retryRead(ctx, func() error {
		return s.pool.QueryRow(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM assets`, args...).Scan(dest...)
	}); err != nil {
		return nil, 0, fmt.Errorf("postgres: count expiries: %w", err)
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
	out := map[string]asset.Asset{}
	err := s.retryRead(ctx, func() error {
		clear(out)
		rows, err := s.pool.Query(ctx, `SELECT DISTINCT host_platform, os_version, certificate_authority, device_model, data_center FROM assets`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var a asset.Asset
			if err := rows.Scan(&a.HostPlatform, &a.OSVersion, &a.CertificateAuthority, &a.DeviceModel, &a.DataCenter); err != nil {
				return err
			}
			out[store.RouteKey(a)] = a
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: route keys: %w", err)
	}
	return out, nil
}
