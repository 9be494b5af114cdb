package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
)

// assetColumns lists the assets columns in the order assetArgs binds them
// and scanAsset reads them.
const assetColumns = `system_name, common_name, subject_alternative_name, certificate_authority,
	certificate_expiration, certificate_validation, data_center, device_model, host_platform,
	ip_address, origin, os_version, port, labels, credentials, key_type, paused,
	certificate_serial, certificate_issuer, certificate_not_before, last_rotation,
	failure_count, next_attempt_at, renewal_window_start, renewal_window_end, renewal_time,
	renewal_cert_id, renewal_cert_ca, renewal_check_at`

// assetColumnNames is assetColumns one name at a time.
var assetColumnNames = func() []string {
	var names []string
	for col := range strings.SplitSeq(assetColumns, ",") {
		names = append(names, strings.TrimSpace(col))
	}
	return names
}()

// placeholders returns "$from, $from+1, …" for n parameters.
func placeholders(from, n int) string {
	ps := make([]string, n)
	for i := range ps {
		ps[i] = "$" + strconv.Itoa(from+i)
	}
	return strings.Join(ps, ", ")
}

var (
	insertAssetSQL = `INSERT INTO assets (` + assetColumns + `) VALUES (` + placeholders(1, len(assetColumnNames)) + `)`
	upsertAssetSQL = insertAssetSQL + ` ON CONFLICT (system_name) DO UPDATE SET ` + func() string {
		var set []string
		for _, col := range assetColumnNames[1:] { // system_name is the conflict target
			set = append(set, col+" = excluded."+col)
		}
		return strings.Join(set, ", ")
	}()
	// updateAssetSQL sets every column but the key, which is $1.
	updateAssetSQL = `UPDATE assets SET (` + strings.Join(assetColumnNames[1:], ", ") + `) = (` +
		placeholders(2, len(assetColumnNames)-1) + `) WHERE system_name = $1`
	getAssetSQL = `SELECT ` + assetColumns + ` FROM assets WHERE system_name = $1`
)

// assetArgs returns a's column values in assetColumns order, its times in
// whole seconds.
func assetArgs(a asset.Asset) []any {
	sans := a.SubjectAlternativeName
	if sans == nil {
		sans = []string{} // the column is NOT NULL; nil would bind as NULL
	}
	labels := a.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	var windowStart, windowEnd *time.Time
	if w := a.RenewalWindow; w != nil {
		windowStart, windowEnd = secondsArg(&w.Start), secondsArg(&w.End)
	}
	return []any{
		a.SystemName, a.CommonName, sans, a.CertificateAuthority,
		secondsArg(a.CertificateExpiration), a.CertificateValidation, a.DataCenter, a.DeviceModel, a.HostPlatform,
		a.IPAddress, a.Origin, a.OSVersion, a.Port, labels, a.Credentials, a.KeyType, a.Paused,
		a.CertificateSerial, a.CertificateIssuer, secondsArg(a.CertificateNotBefore), secondsArg(a.LastRotation),
		a.FailureCount, secondsArg(a.NextAttemptAt), windowStart, windowEnd, secondsArg(a.RenewalTime),
		a.RenewalCertID, a.RenewalCertCA, secondsArg(a.RenewalCheckAt),
	}
}

// scanAsset reads one row of assetColumns. Times come back in UTC; empty
// SAN lists and label maps come back nil, as from the SQLite store.
func scanAsset(row pgx.Row) (asset.Asset, error) {
	var (
		a                      asset.Asset
		windowStart, windowEnd *time.Time
	)
	err := row.Scan(
		&a.SystemName, &a.CommonName, &a.SubjectAlternativeName, &a.CertificateAuthority,
		&a.CertificateExpiration, &a.CertificateValidation, &a.DataCenter, &a.DeviceModel, &a.HostPlatform,
		&a.IPAddress, &a.Origin, &a.OSVersion, &a.Port, &a.Labels, &a.Credentials, &a.KeyType, &a.Paused,
		&a.CertificateSerial, &a.CertificateIssuer, &a.CertificateNotBefore, &a.LastRotation,
		&a.FailureCount, &a.NextAttemptAt, &windowStart, &windowEnd, &a.RenewalTime,
		&a.RenewalCertID, &a.RenewalCertCA, &a.RenewalCheckAt,
	)
	if err != nil {
		return asset.Asset{}, err
	}
	if len(a.SubjectAlternativeName) == 0 {
		a.SubjectAlternativeName = nil
	}
	if len(a.Labels) == 0 {
		a.Labels = nil
	}
	a.CertificateExpiration = utcPtr(a.CertificateExpiration)
	a.CertificateNotBefore = utcPtr(a.CertificateNotBefore)
	a.LastRotation = utcPtr(a.LastRotation)
	a.NextAttemptAt = utcPtr(a.NextAttemptAt)
	a.RenewalTime = utcPtr(a.RenewalTime)
	a.RenewalCheckAt = utcPtr(a.RenewalCheckAt)
	if windowStart != nil && windowEnd != nil {
		a.RenewalWindow = &asset.Window{Start: windowStart.UTC(), End: windowEnd.UTC()}
	}
	return a, nil
}

// queryAssets runs a SELECT of assetColumns and reads every row.
func (s *Store) queryAssets(ctx context.Context, sizeHint int, query string, args ...any) ([]asset.Asset, error) {
	var out []asset.Asset
	err := s.retryRead(ctx, func() error {
		var err error
		out, err = s.queryAssetsOnce(ctx, sizeHint, query, args...)
		return err
	})
	return out, err
}

func (s *Store) queryAssetsOnce(ctx context.Context, sizeHint int, query string, args ...any) ([]asset.Asset, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]asset.Asset, 0, min(max(sizeHint, 0), maxSizeHint))
	for rows.Next() {
		a, err := scanAsset(rows)
		if err != nil {
			return nil, err
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

// maxSizeHint caps the room queryAssets makes before reading, so a large
// limit over few matches does not cost a large allocation: the API's
// default page of 100 assets and the one after it that tells whether there
// is a next page.
const maxSizeHint = 128

// CreateAsset inserts a; store.ErrExists if its system_name is taken.
func (s *Store) CreateAsset(ctx context.Context, a asset.Asset) error {
	if _, err := s.pool.Exec(ctx, insertAssetSQL, assetArgs(a)...); err != nil {
		if isUniqueViolation(err, "assets_pkey") {
			return fmt.Errorf("postgres: create asset %q: %w", a.SystemName, store.ErrExists)
		}
		return fmt.Errorf("postgres: create asset %q: %w", a.SystemName, err)
	}
	return nil
}

// UpdateAsset replaces the asset with a's system_name; store.ErrNotFound if
// absent.
func (s *Store) UpdateAsset(ctx context.Context, a asset.Asset) error {
	tag, err := s.pool.Exec(ctx, updateAssetSQL, assetArgs(a)...)
	if err != nil {
		return fmt.Errorf("postgres: update asset %q: %w", a.SystemName, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: update asset %q: %w", a.SystemName, store.ErrNotFound)
	}
	return nil
}

// GetAsset returns one asset; store.ErrNotFound if absent.
func (s *Store) GetAsset(ctx context.Context, systemName string) (asset.Asset, error) {
	var a asset.Asset
	err := s.retryRead(ctx, func() error {
		var err error
		a, err = scanAsset(s.pool.QueryRow(ctx, getAssetSQL, systemName))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return asset.Asset{}, fmt.Errorf("postgres: get asset %q: %w", systemName, store.ErrNotFound)
	}
	if err != nil {
		return asset.Asset{}, fmt.Errorf("postgres: get asset %q: %w", systemName, err)
	}
	return a, nil
}

// DeleteAsset removes one asset and, through ON DELETE CASCADE, its
// rotations with their journals and logs; store.ErrNotFound if absent.
func (s *Store) DeleteAsset(ctx context.Context, systemName string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM assets WHERE system_name = $1`, systemName)
	if err != nil {
		return fmt.Errorf("postgres: delete asset %q: %w", systemName, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: delete asset %q: %w", systemName, store.ErrNotFound)
	}
	return nil
}

// dueAssetsSQL finds due assets with one range scan of the assets_due index
// (see migrations/0001_init.sql), whose key expression and predicate it
// spells the same way. Rows held back by next_attempt_at are skipped while
// walking the range.
const dueAssetsSQL = `SELECT ` + assetColumns + ` FROM assets
	WHERE NOT paused
	  AND coalesce(renewal_time, '-infinity'::timestamptz) <= $1
	  AND (next_attempt_at IS NULL OR next_attempt_at <= $1)
	ORDER BY coalesce(renewal_time, '-infinity'::timestamptz), system_name
	LIMIT $2`

// DueAssets returns up to limit assets, earliest RenewalTime first (unknown
// first of all, then by system_name), that are not paused and neither held
// back by NextAttemptAt nor due later than now. A limit of 0 or less returns
// none.
func (s *Store) DueAssets(ctx context.Context, now time.Time, limit int) ([]asset.Asset, error) {
	if limit <= 0 {
		return nil, nil
	}
	// Stored times are whole seconds; comparing them with now in whole
	// seconds too gives the answer the SQLite store gives.
	out, err := s.queryAssets(ctx, limit, dueAssetsSQL, toSecond(now), limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: due assets: %w", err)
	}
	return out, nil
}

// assetsToRecheckSQL finds the certificates whose renewal window to ask the
// CA about again with one range scan of the assets_recheck index (see
// migrations/0003_asset_renewal_info.sql), whose key expression and
// predicate it spells the same way.
const assetsToRecheckSQL = `SELECT ` + assetColumns + ` FROM assets
	WHERE NOT paused AND renewal_cert_id <> ''
	  AND coalesce(renewal_check_at, '-infinity'::timestamptz) <= $1
	ORDER BY coalesce(renewal_check_at, '-infinity'::timestamptz), system_name
	LIMIT $2`

// AssetsToRecheck returns up to limit assets, earliest RenewalCheckAt first
// (unset first of all, then by system_name), that are not paused, have a
// RenewalCertID and are due a check by now. A limit of 0 or less returns
// none.
func (s *Store) AssetsToRecheck(ctx context.Context, now time.Time, limit int) ([]asset.Asset, error) {
	if limit <= 0 {
		return nil, nil
	}
	out, err := s.queryAssets(ctx, limit, assetsToRecheckSQL, toSecond(now), limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: assets to recheck: %w", err)
	}
	return out, nil
}

// importBatch is how many upserts ImportAssets sends in one round trip.
const importBatch = 500

// ImportAssets inserts or replaces every asset in one transaction: either all
// are written or none.
func (s *Store) ImportAssets(ctx context.Context, assets []asset.Asset) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		for start := 0; start < len(assets); start += importBatch {
			chunk := assets[start:min(start+importBatch, len(assets))]
			var batch pgx.Batch
			for _, a := range chunk {
				batch.Queue(upsertAssetSQL, assetArgs(a)...)
			}
			if err := execBatch(ctx, tx, &batch, chunk); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: import %d assets: %w", len(assets), err)
	}
	return nil
}

// execBatch sends batch, one upsert per asset of chunk, and names the asset
// whose upsert failed first.
func execBatch(ctx context.Context, tx pgx.Tx, batch *pgx.Batch, chunk []asset.Asset) error {
	results := tx.SendBatch(ctx, batch)
	for _, a := range chunk {
		if _, err := results.Exec(); err != nil {
			results.Close()
			return fmt.Errorf("asset %q: %w", a.SystemName, err)
		}
	}
	return results.Close()
}
