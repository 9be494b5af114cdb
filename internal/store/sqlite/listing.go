package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
)

// ListAssets and CountAssets name the index each query walks (INDEXED BY)
// instead of leaving the choice to SQLite's planner, which, without
// statistics and with a LIMIT, often walks the primary key and reads every
// row: at 100,000 assets that is tens of milliseconds for a page of 100.
// Naming the index also makes a query fail loudly, rather than scan, if its
// index is ever dropped or its expression drifts. The indexes are described
// in migrations/0003_asset_listing_indexes.sql; TestQueryPlans holds every
// query shape to its index.

// expiresBeforeCond keeps assets whose certificate expires before the cutoff
// or whose expiry is unknown. It spells assets_expiring's key expression
// word for word, so SQLite can seek that index with it.
const expiresBeforeCond = `coalesce(certificate_expiration, -9223372036854775808) < ?`

// fewExpiring is the number of assets matching an expiry cutoff below which
// ListAssets collects them all from assets_expiring and sorts them by name,
// and from which it walks names in order instead, skipping the ones that do
// not match.
//
// Collecting costs about 0.25 µs per match; walking about 0.1 µs per index
// entry passed, and a page of 100 among M matches spread evenly over N
// assets passes about 100·N/M entries (BenchmarkListAssetsExpiring100k). The
// two meet near M = 2,000 at N = 100,000 and M = 6,300 at N = 1,000,000.
// Below the threshold the sort's cost is capped at about half a millisecond
// whatever the names; above it the walk's cost falls as M grows, but its
// worst case, matches bunched at the end of the names, is one pass over the
// index: about 10 ms at 100,000 assets.
const fewExpiring = 2048

// assetIndex is how a filter is served: the index to walk (empty: SQLite's
// choice, for a lookup by primary key or a plain walk in name order), and
// whether to collect the expiring assets from assets_expiring instead.
type assetIndex struct {
	name        string
	fewExpiring bool
}

// chooseIndex picks the index for f, deciding, if it has an expiry cutoff,
// whether few enough assets match it to collect them.
func (s *Store) chooseIndex(ctx context.Context, f store.AssetFilter) (assetIndex, error) {
	few := true
	if f.ExpiresBefore != nil && f.SystemName == "" && f.IPAddress == "" {
		var err error
		if few, err = s.fewExpiringBefore(ctx, *f.ExpiresBefore); err != nil {
			return assetIndex{}, err
		}
	}
	return indexFor(f, few), nil
}

// indexFor returns the index that serves f, given whether few assets match
// its expiry cutoff. The equality filters rank by how few rows one value
// usually matches (system name, IP address, data center, host platform,
// origin): the first one given is walked, and each filter column's index
// carries the columns of those ranked below it, so the others are tested on
// the index entry without reading the row.
func indexFor(f store.AssetFilter, fewMatchExpiry bool) assetIndex {
	switch {
	case f.SystemName != "":
		return assetIndex{} // the primary key finds the one row
	case f.IPAddress != "":
		return assetIndex{name: "assets_ip_address"}
	case f.ExpiresBefore != nil && fewMatchExpiry:
		return assetIndex{name: "assets_expiring", fewExpiring: true}
	case f.DataCenter != "":
		return assetIndex{name: "assets_data_center"}
	case f.HostPlatform != "":
		return assetIndex{name: "assets_host_platform"}
	case f.Origin != "":
		return assetIndex{name: "assets_origin"}
	case f.ExpiresBefore != nil:
		return assetIndex{name: "assets_name_expiration"}
	}
	return assetIndex{} // the primary key, in name order
}

// fewExpiringBefore reports whether fewer than fewExpiring assets expire
// before cutoff (or have no known expiry), ignoring every other filter.
//
// Counting them on every call would read up to fewExpiring entries of
// assets_expiring, a quarter of a millisecond at 100,000 assets. Instead the
// store remembers the key of the fewExpiring-th entry: fewer than
// fewExpiring keys are below the cutoff exactly when that key is not. The
// key is looked up again after this store writes an asset, and at least
// every expiringThresholdMaxAge for writers in other processes. Meanwhile a
// stale key can only send a listing the slower of two ways to the same
// rows.
func (s *Store) fewExpiringBefore(ctx context.Context, cutoff time.Time) (bool, error) {
	th, err := s.expiringThreshold(ctx)
	if err != nil {
		return false, err
	}
	return !th.atLeastFew || cutoff.Unix() <= th.key, nil
}

// expiringThresholdMaxAge is how long the store trusts a threshold it found
// when nothing in this process has written an asset since: how long
// another process's import may go unnoticed.
const expiringThresholdMaxAge = time.Second

// expiringThreshold is the fewExpiring-th smallest key of assets_expiring,
// as of generation and foundAt.
type expiringThreshold struct {
	// atLeastFew is whether there are fewExpiring assets at all; key is
	// meaningless without.
	atLeastFew bool
	key        int64
	generation uint64
	foundAt    time.Time
}

// assetWritten makes the next listing look up the expiry threshold again.
// Asset writes call it once they have committed.
func (s *Store) assetWritten() { s.assetGeneration.Add(1) }

// expiringThresholdSQL reads the ?1-th key of assets_expiring (from 0) in
// key order: a walk from the start of the index, no row read.
const expiringThresholdSQL = `SELECT coalesce(certificate_expiration, -9223372036854775808)
	FROM assets INDEXED BY assets_expiring
	ORDER BY coalesce(certificate_expiration, -9223372036854775808) LIMIT 1 OFFSET ?`

// expiringThreshold returns the remembered threshold, looking it up again if
// an asset was written since or it is older than expiringThresholdMaxAge by
// the store's clock. Concurrent callers that find it stale may each look it
// up; one stored late, with an older generation, is only looked up again.
func (s *Store) expiringThreshold(ctx context.Context) (expiringThreshold, error) {
	// The generation is read before the lookup, so a write committed
	// during the lookup, whose effect the lookup may miss, leaves a newer
	// generation behind and the next caller looks again.
	generation := s.assetGeneration.Load()
	now := s.now()
	if th := s.threshold.Load(); th != nil && th.generation == generation {
		if age := now.Sub(th.foundAt); age >= 0 && age < expiringThresholdMaxAge {
			return *th, nil
		}
	}
	th := expiringThreshold{generation: generation, foundAt: now, atLeastFew: true}
	err := s.stmts.QueryRowContext(ctx, expiringThresholdSQL, fewExpiring-1).Scan(&th.key)
	if errors.Is(err, sql.ErrNoRows) {
		th.atLeastFew, err = false, nil
	}
	if err != nil {
		return expiringThreshold{}, err
	}
	s.threshold.Store(&th)
	return th, nil
}

// assetConds returns the conditions and arguments that select f's assets;
// with paging, the After cursor too.
func assetConds(f store.AssetFilter, paging bool) ([]string, []any) {
	var w where
	w.eq("system_name", f.SystemName)
	w.eq("ip_address", f.IPAddress)
	w.eq("data_center", f.DataCenter)
	w.eq("host_platform", f.HostPlatform)
	w.eq("origin", f.Origin)
	if f.ExpiresBefore != nil {
		w.add(expiresBeforeCond, f.ExpiresBefore.Unix())
	}
	if paging && f.After != "" {
		w.add("system_name > ?", f.After)
	}
	return w.conds, w.args
}

// where collects the conditions of a WHERE clause and their arguments.
type where struct {
	conds []string
	args  []any
}

// eq adds "col = v" unless v is empty: an empty filter field does not filter.
func (w *where) eq(col, v string) {
	if v != "" {
		w.add(col+" = ?", v)
	}
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

// fromClause returns the FROM clause, naming index if any, and the WHERE
// clause of conds.
func fromClause(index string, conds []string) string {
	q := ` FROM assets`
	if index != "" {
		q += ` INDEXED BY ` + index
	}
	if len(conds) > 0 {
		q += ` WHERE ` + strings.Join(conds, " AND ")
	}
	return q
}

// listAssetsQuery returns the query and arguments ListAssets runs for f
// served by ix.
func listAssetsQuery(f store.AssetFilter, ix assetIndex) (string, []any) {
	conds, args := assetConds(f, true)
	limit := ""
	if f.Limit > 0 {
		limit = ` LIMIT ?`
		args = append(args, f.Limit)
	}
	if ix.fewExpiring {
		// The subquery sorts names alone, read from the index, keeping only
		// the page; then only the page's rows are read.
		return `SELECT ` + assetRow + ` FROM assets WHERE system_name IN (SELECT system_name` +
			fromClause(ix.name, conds) + ` ORDER BY system_name` + limit + `) ORDER BY system_name`, args
	}
	return `SELECT ` + assetRow + fromClause(ix.name, conds) + ` ORDER BY system_name` + limit, args
}

// ListAssets returns the assets matching f, ordered by system_name.
func (s *Store) ListAssets(ctx context.Context, f store.AssetFilter) ([]asset.Asset, error) {
	ix, err := s.chooseIndex(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list assets: %w", err)
	}
	query, args := listAssetsQuery(f, ix)
	out, err := queryAssets(ctx, s.stmts, f.Limit, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list assets: %w", err)
	}
	return out, nil
}

// CountAssets returns how many assets match f, ignoring its Limit and After.
func (s *Store) CountAssets(ctx context.Context, f store.AssetFilter) (int, error) {
	f.After, f.Limit = "", 0
	n, err := s.countAssets(ctx, f)
	if err != nil {
		return 0, fmt.Errorf("sqlite: count assets: %w", err)
	}
	return n, nil
}

// countAssetsQuery returns the query and arguments that count f's assets
// within the index ix names, whose entries hold every filtered column: no
// row is read.
func countAssetsQuery(f store.AssetFilter, ix assetIndex) (string, []any) {
	if ix.name == "assets_name_expiration" {
		// Without another filter, the expiring assets are one range of
		// assets_expiring; walking every name would pass them all.
		ix.name = "assets_expiring"
	}
	conds, args := assetConds(f, false)
	return `SELECT count(*)` + fromClause(ix.name, conds), args
}

// countAssets counts f's assets. A count of every asset expiring before a
// cutoff costs about 0.1 µs per match: 10 ms when all of 100,000 match.
func (s *Store) countAssets(ctx context.Context, f store.AssetFilter) (int, error) {
	ix, err := s.chooseIndex(ctx, f)
	if err != nil {
		return 0, err
	}
	query, args := countAssetsQuery(f, ix)
	var n int
	err = s.stmts.QueryRowContext(ctx, query, args...).Scan(&n)
	return n, err
}

// DataCenters returns the distinct data centers of the inventory, sorted,
// "" for assets without one. The assets_data_center index leads with the
// column, so SQLite reads one entry per data center's first asset run,
// not every asset.
func (s *Store) DataCenters(ctx context.Context) ([]string, error) {
	rows, err := s.read.QueryContext(readContext(ctx), `SELECT DISTINCT data_center FROM assets ORDER BY data_center`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list data centers: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var dc string
		if err := rows.Scan(&dc); err != nil {
			return nil, fmt.Errorf("sqlite: list data centers: %w", err)
		}
		out = append(out, dc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list data centers: %w", err)
	}
	return out, nil
}
