package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
)

// assetColumns lists the assets columns in the order assetArgs binds them
// and decodeAsset reads them from assetRow.
const assetColumns = `system_name, common_name, subject_alternative_name, certificate_authority,
	certificate_expiration, certificate_validation, data_center, device_model, host_platform,
	ip_address, origin, os_version, port, labels, credentials, key_type, paused,
	certificate_serial, certificate_issuer, certificate_not_before, last_rotation,
	failure_count, next_attempt_at, renewal_window_start, renewal_window_end, renewal_time,
	renewal_cert_id, renewal_cert_ca, renewal_check_at`

// assetPlaceholders has one ? per column of assetColumns.
var assetPlaceholders = strings.TrimSuffix(strings.Repeat("?, ", strings.Count(assetColumns, ",")+1), ", ")

// assetUpdateSet assigns every column but the key from the excluded row, for
// upserts.
var assetUpdateSet = func() string {
	var b strings.Builder
	for i, col := range strings.Split(assetColumns, ",") {
		col = strings.TrimSpace(col)
		if i == 0 {
			continue // system_name, the conflict target
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(col + " = excluded." + col)
	}
	return b.String()
}()

var (
	insertAssetSQL = `INSERT INTO assets (` + assetColumns + `) VALUES (` + assetPlaceholders + `)`
	upsertAssetSQL = insertAssetSQL + ` ON CONFLICT (system_name) DO UPDATE SET ` + assetUpdateSet
	getAssetSQL    = `SELECT ` + assetRow + ` FROM assets WHERE system_name = ?`
	// updateAssetSQL sets every column but the key, which it takes last.
	updateAssetSQL = `UPDATE assets SET (` + strings.SplitN(assetColumns, ",", 2)[1] + `) = (` +
		strings.TrimPrefix(assetPlaceholders, "?, ") + `) WHERE system_name = ?`
)

// assetArgs returns a's column values in assetColumns order.
func assetArgs(a asset.Asset) ([]any, error) {
	sans := a.SubjectAlternativeName
	if sans == nil {
		sans = []string{}
	}
	sanJSON, err := json.Marshal(sans)
	if err != nil {
		return nil, fmt.Errorf("encode subject_alternative_name: %w", err)
	}
	labels := a.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	labelJSON, err := json.Marshal(labels)
	if err != nil {
		return nil, fmt.Errorf("encode labels: %w", err)
	}
	var windowStart, windowEnd any
	if w := a.RenewalWindow; w != nil {
		windowStart, windowEnd = w.Start.Unix(), w.End.Unix()
	}
	return []any{
		a.SystemName, a.CommonName, string(sanJSON), a.CertificateAuthority,
		unixSeconds(a.CertificateExpiration), boolInt(a.CertificateValidation), a.DataCenter, a.DeviceModel, a.HostPlatform,
		a.IPAddress, a.Origin, a.OSVersion, a.Port, string(labelJSON), a.Credentials, a.KeyType, boolInt(a.Paused),
		a.CertificateSerial, a.CertificateIssuer, unixSeconds(a.CertificateNotBefore), unixSeconds(a.LastRotation),
		a.FailureCount, unixSeconds(a.NextAttemptAt), windowStart, windowEnd, unixSeconds(a.RenewalTime),
		a.RenewalCertID, a.RenewalCertCA, unixSeconds(a.RenewalCheckAt),
	}, nil
}

type scanner interface {
	Scan(dest ...any) error
}

// scanAsset reads one asset row selected as assetRow. Empty SAN lists and
// label maps come back nil.
func scanAsset(row scanner) (asset.Asset, error) {
	var packed string
	if err := row.Scan(&packed); err != nil {
		return asset.Asset{}, err
	}
	return decodeAsset(packed, &timeSlab{})
}

// decodeAsset takes apart a row packed as assetRow.
func decodeAsset(packed string, times *timeSlab) (asset.Asset, error) {
	return readAsset(columnReader{rest: packed}, times)
}

// timeSlab hands out the times of the assets one read decodes from shared
// chunks rather than one allocation each: a page of assets holds hundreds.
// An asset kept alive keeps its chunk alive, at most maxTimeChunk times.
type timeSlab struct {
	free []time.Time
	// grow is the size of the next chunk.
	grow int
}

// maxTimeChunk is the most times a chunk holds, 12 KiB.
const maxTimeChunk = 512

// at returns a new time holding the unix-seconds value v, or nil for NULL.
func (s *timeSlab) at(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	if len(s.free) == 0 {
		n := max(s.grow, 8)
		s.grow = min(2*n, maxTimeChunk)
		s.free = make([]time.Time, n)
	}
	t := &s.free[0]
	s.free = s.free[1:]
	*t = timeOf(v.Int64)
	return t
}

// readAsset reads an asset from r.
func readAsset(r columnReader, times *timeSlab) (asset.Asset, error) {
	a := asset.Asset{
		SystemName: r.text(),
		CommonName: r.text(),
	}
	sanJSON := r.text()
	a.CertificateAuthority = r.text()
	a.CertificateExpiration = times.at(r.nullInt())
	a.CertificateValidation = r.intValue() != 0
	a.DataCenter = r.text()
	a.DeviceModel = r.text()
	a.HostPlatform = r.text()
	a.IPAddress = r.text()
	a.Origin = r.text()
	a.OSVersion = r.text()
	a.Port = r.intValue()
	labelJSON := r.text()
	a.Credentials = r.text()
	a.KeyType = r.text()
	a.Paused = r.intValue() != 0
	a.CertificateSerial = r.text()
	a.CertificateIssuer = r.text()
	a.CertificateNotBefore = times.at(r.nullInt())
	a.LastRotation = times.at(r.nullInt())
	a.FailureCount = r.intValue()
	a.NextAttemptAt = times.at(r.nullInt())
	windowStart, windowEnd := r.nullInt(), r.nullInt()
	a.RenewalTime = times.at(r.nullInt())
	a.RenewalCertID = r.text()
	a.RenewalCertCA = r.text()
	a.RenewalCheckAt = times.at(r.nullInt())
	if err := r.done(); err != nil {
		return asset.Asset{}, err
	}
	if windowStart.Valid && windowEnd.Valid {
		a.RenewalWindow = &asset.Window{Start: timeOf(windowStart.Int64), End: timeOf(windowEnd.Int64)}
	}
	var err error
	if a.SubjectAlternativeName, err = decodeNames(sanJSON); err != nil {
		return asset.Asset{}, fmt.Errorf("decode subject_alternative_name of %q: %w", a.SystemName, err)
	}
	if a.Labels, err = decodeLabels(labelJSON); err != nil {
		return asset.Asset{}, fmt.Errorf("decode labels of %q: %w", a.SystemName, err)
	}
	return a, nil
}

// decodeNames decodes a JSON list of strings as assetArgs wrote it; an
// empty list comes back nil. A page of 100 assets decodes 100 lists, so the
// common shape, json.Marshal's compact output without an escape, is split
// directly; anything else goes through encoding/json.
func decodeNames(list string) ([]string, error) {
	if list == "[]" {
		return nil, nil
	}
	if inner, ok := strings.CutPrefix(list, `["`); ok && !strings.Contains(list, `\`) {
		if inner, ok = strings.CutSuffix(inner, `"]`); ok {
			names := strings.Split(inner, `","`)
			if !slices.ContainsFunc(names, func(n string) bool { return strings.Contains(n, `"`) }) {
				return names, nil
			}
		}
	}
	var names []string
	if err := json.Unmarshal([]byte(list), &names); err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, nil
	}
	return names, nil
}

// decodeLabels decodes a JSON object of strings as assetArgs wrote it; an
// empty one comes back nil. Like decodeNames, it splits json.Marshal's
// compact output without an escape directly.
func decodeLabels(object string) (map[string]string, error) {
	if object == "{}" {
		return nil, nil
	}
	if inner, ok := strings.CutPrefix(object, `{"`); ok && !strings.Contains(object, `\`) {
		if inner, ok = strings.CutSuffix(inner, `"}`); ok {
			if labels, ok := splitLabels(inner); ok {
				return labels, nil
			}
		}
	}
	var labels map[string]string
	if err := json.Unmarshal([]byte(object), &labels); err != nil {
		return nil, err
	}
	if len(labels) == 0 {
		return nil, nil
	}
	return labels, nil
}

// splitLabels splits the inside of a compact JSON object of strings
// without escapes, `k1":"v1","k2":"v2`, and reports whether it had that
// shape: with no escape, no key or value holds a quote, so every quote is
// part of a separator.
func splitLabels(inner string) (map[string]string, bool) {
	labels := make(map[string]string, strings.Count(inner, `","`)+1)
	for pair := range strings.SplitSeq(inner, `","`) {
		k, v, ok := strings.Cut(pair, `":"`)
		if !ok || strings.Contains(k, `"`) || strings.Contains(v, `"`) {
			return nil, false
		}
		if _, dup := labels[k]; dup {
			return nil, false
		}
		labels[k] = v
	}
	return labels, true
}

// assetQuerier runs queries: the read pool's statements, or a transaction.
type assetQuerier interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}

// queryAssets runs a SELECT of assetRow and reads every row before
// returning, so the connection is free again for the caller's next query.
// sizeHint is how many rows to make room for at once (the query's limit;
// 0 if unknown).
func queryAssets(ctx context.Context, q assetQuerier, sizeHint int, query string, args ...any) ([]asset.Asset, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]asset.Asset, 0, min(max(sizeHint, 0), maxSizeHint))
	var (
		packed string
		times  timeSlab
	)
	for rows.Next() {
		if err := rows.Scan(&packed); err != nil {
			return nil, err
		}
		a, err := decodeAsset(packed, &times)
		if err != nil {
			return nil, err
		}
		if len(out) == cap(out) && sizeHint > cap(out) {
			// Four times as much room, up to the limit: append would grow
			// a large slice by a quarter at a time, copying every asset
			// read so far each time (a tenth of a 10,000-asset scan).
			out = slices.Grow(out, min(3*cap(out), sizeHint-cap(out)))
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// maxSizeHint caps the room queryAssets makes before reading, about 40 KiB,
// so a large limit over few matches does not cost a large allocation. It
// holds the API's default page of 100 assets and the one after that tells
// whether there is a next page; larger results grow as they are read.
const maxSizeHint = 128

// CreateAsset inserts a; store.ErrExists if its system_name is taken.
func (s *Store) CreateAsset(ctx context.Context, a asset.Asset) error {
	args, err := assetArgs(a)
	if err != nil {
		return fmt.Errorf("sqlite: create asset %q: %w", a.SystemName, err)
	}
	defer s.assetWritten()
	if _, err := s.db.ExecContext(ctx, insertAssetSQL, args...); err != nil {
		if isPrimaryKeyViolation(err) {
			return fmt.Errorf("sqlite: create asset %q: %w", a.SystemName, store.ErrExists)
		}
		return fmt.Errorf("sqlite: create asset %q: %w", a.SystemName, err)
	}
	return nil
}

// UpdateAsset replaces the asset with a's system_name; store.ErrNotFound if
// absent.
func (s *Store) UpdateAsset(ctx context.Context, a asset.Asset) error {
	args, err := assetArgs(a)
	if err != nil {
		return fmt.Errorf("sqlite: update asset %q: %w", a.SystemName, err)
	}
	// The key moves from the first argument to the WHERE clause.
	args = append(args[1:], args[0])
	defer s.assetWritten()
	res, err := s.writes.ExecContext(ctx, updateAssetSQL, args...)
	if err != nil {
		return fmt.Errorf("sqlite: update asset %q: %w", a.SystemName, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: update asset %q: %w", a.SystemName, err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: update asset %q: %w", a.SystemName, store.ErrNotFound)
	}
	return nil
}

// GetAsset returns one asset; store.ErrNotFound if absent.
func (s *Store) GetAsset(ctx context.Context, systemName string) (asset.Asset, error) {
	a, err := scanAsset(s.lookups.QueryRowContext(ctx, getAssetSQL, systemName))
	if errors.Is(err, sql.ErrNoRows) {
		return asset.Asset{}, fmt.Errorf("sqlite: get asset %q: %w", systemName, store.ErrNotFound)
	}
	if err != nil {
		return asset.Asset{}, fmt.Errorf("sqlite: get asset %q: %w", systemName, err)
	}
	return a, nil
}

// DeleteAsset removes one asset and, through ON DELETE CASCADE, its
// rotations with their journals and logs; store.ErrNotFound if absent.
func (s *Store) DeleteAsset(ctx context.Context, systemName string) error {
	defer s.assetWritten()
	res, err := s.db.ExecContext(ctx, `DELETE FROM assets WHERE system_name = ?`, systemName)
	if err != nil {
		return fmt.Errorf("sqlite: delete asset %q: %w", systemName, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: delete asset %q: %w", systemName, err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: delete asset %q: %w", systemName, store.ErrNotFound)
	}
	return nil
}

// dueAssetsSQL finds due assets with one range scan of the assets_due index
// (see migrations/0001_init.sql): the coalesce expression and "paused = 0"
// must match the index definition word for word, or SQLite falls back to
// scanning. Rows held back by next_attempt_at are skipped while walking the
// range.
var dueAssetsSQL = `SELECT ` + assetRow + ` FROM assets
	WHERE paused = 0
	  AND coalesce(renewal_time, -9223372036854775808) <= ?1
	  AND (next_attempt_at IS NULL OR next_attempt_at <= ?1)
	ORDER BY coalesce(renewal_time, -9223372036854775808)
	LIMIT ?2`

// DueAssets returns up to limit assets, earliest RenewalTime first (unknown
// first of all), that are not paused and neither held back by
// NextAttemptAt nor due later than now. A limit of 0 or less returns none.
func (s *Store) DueAssets(ctx context.Context, now time.Time, limit int) ([]asset.Asset, error) {
	if limit <= 0 {
		return nil, nil
	}
	out, err := queryAssets(ctx, s.stmts, limit, dueAssetsSQL, now.Unix(), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: due assets: %w", err)
	}
	return out, nil
}

// assetsToRecheckSQL finds the certificates whose renewal window to ask the
// CA about again with one range scan of the assets_recheck index (see
// migrations/0004_asset_renewal_info.sql): the coalesce expression and the
// WHERE clause must match the index definition word for word.
var assetsToRecheckSQL = `SELECT ` + assetRow + ` FROM assets
	WHERE paused = 0 AND renewal_cert_id <> ''
	  AND coalesce(renewal_check_at, -9223372036854775808) <= ?1
	ORDER BY coalesce(renewal_check_at, -9223372036854775808), system_name
	LIMIT ?2`

// AssetsToRecheck returns up to limit assets, earliest RenewalCheckAt first
// (unset first of all), that are not paused, have a RenewalCertID and are
// due a check by now. A limit of 0 or less returns none.
func (s *Store) AssetsToRecheck(ctx context.Context, now time.Time, limit int) ([]asset.Asset, error) {
	if limit <= 0 {
		return nil, nil
	}
	out, err := queryAssets(ctx, s.stmts, limit, assetsToRecheckSQL, now.Unix(), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: assets to recheck: %w", err)
	}
	return out, nil
}

// ImportAssets inserts or replaces every asset in one transaction: either all
// are written or none.
func (s *Store) ImportAssets(ctx context.Context, assets []asset.Asset) error {
	defer s.assetWritten()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, upsertAssetSQL)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, a := range assets {
			args, err := assetArgs(a)
			if err != nil {
				return fmt.Errorf("asset %q: %w", a.SystemName, err)
			}
			if _, err := stmt.ExecContext(ctx, args...); err != nil {
				return fmt.Errorf("asset %q: %w", a.SystemName, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: import %d assets: %w", len(assets), err)
	}
	return nil
}
