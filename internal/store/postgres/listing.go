package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
)

// ListAssets and CountAssets leave the choice of index to PostgreSQL's
// planner, which, unlike SQLite's, keeps statistics (autovacuum analyzes the
// table as it changes) and weighs a LIMIT against how many rows match. Each
// equality filter has an index that also orders by system_name, and the
// expiry cutoff one over the same expression the query spells
// (migrations/0001_init.sql).

// where collects the conditions of a WHERE clause and their arguments,
// numbering the placeholders.
type where struct {
	conds []string
	args  []any
}

// eq adds "col = v" unless v is empty: an empty filter field does not filter.
func (w *where) eq(col, v string) {
	if v != "" {
		w.add(col+" = ", v)
	}
}

// add adds cond followed by the placeholder of arg.
func (w *where) add(cond string, arg any) {
	w.args = append(w.args, arg)
	w.conds = append(w.conds, cond+w.next(0))
}

// next returns the placeholder of the argument offset places after the
// last one added.
func (w *where) next(offset int) string {
	return "$" + strconv.Itoa(len(w.args)+offset)
}

// clause returns " WHERE …", or nothing without conditions.
func (w *where) clause() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// assetConds returns the conditions that select f's assets; with paging,
// the After cursor too.
func assetConds(f store.AssetFilter, paging bool) *where {
	w := &where{}
	w.eq("system_name", f.SystemName)
	w.eq("ip_address", f.IPAddress)
	w.eq("data_center", f.DataCenter)
	w.eq("host_platform", f.HostPlatform)
	w.eq("origin", f.Origin)
	if f.ExpiresBefore != nil {
		// Unknown expiries are kept: they are the most urgent. The cutoff
		// is in whole seconds, like the stored expiries, as in the SQLite
		// store.
		w.add(`coalesce(certificate_expiration, '-infinity'::timestamptz) < `, toSecond(*f.ExpiresBefore))
	}
	if paging && f.After != "" {
		w.add("system_name > ", f.After)
	}
	return w
}

// ListAssets returns the assets matching f, ordered by system_name (byte
// order).
func (s *Store) ListAssets(ctx context.Context, f store.AssetFilter) ([]asset.Asset, error) {
	w := assetConds(f, true)
	query := `SELECT ` + assetColumns + ` FROM assets` + w.clause() + ` ORDER BY system_name`
	args := w.args
	if f.Limit > 0 {
		query += ` LIMIT ` + w.next(1)
		args = append(args, f.Limit)
	}
	out, err := s.queryAssets(ctx, f.Limit, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list assets: %w", err)
	}
	return out, nil
}

// CountAssets returns how many assets match f, ignoring its Limit and After.
func (s *Store) CountAssets(ctx context.Context, f store.AssetFilter) (int, error) {
	w := assetConds(f, false)
	var n int
	if err := s.retryRead(ctx, func() error {
		return s.pool.QueryRow(ctx, `SELECT count(*) FROM assets`+w.clause(), w.args...).Scan(&n)
	}); err != nil {
		return 0, fmt.Errorf("postgres: count assets: %w", err)
	}
	return n, nil
}

// DataCenters returns the distinct data centers of the inventory, sorted,
// "" for assets without one, from the assets_data_center index.
func (s *Store) DataCenters(ctx context.Context) ([]string, error) {
	var out []string
	err := s.retryRead(ctx, func() error {
		rows, err := s.pool.Query(ctx, `SELECT DISTINCT data_center FROM assets ORDER BY data_center`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list data centers: %w", err)
	}
	return out, nil
}
