package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
)

// TestAssetsReadBackExactly stores assets whose text holds what the packed
// row format uses as separators, and what JSON escapes, and reads each back
// every way the store reads assets.
func TestAssetsReadBackExactly(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	at := func(sec int64) *time.Time {
		t := time.Unix(sec, 0).UTC()
		return &t
	}
	tests := []struct {
		name string
		a    asset.Asset
	}{
		{"holds only its name", asset.Asset{SystemName: "bare"}},
		{"has text made of lengths, colons and commas", asset.Asset{
			SystemName: "12:34,56", CommonName: "3:abc", CertificateAuthority: ",", DataCenter: ":",
			DeviceModel: "0:", HostPlatform: "-1,", OSVersion: "9:10:11", Credentials: "1,2,3", KeyType: "::",
			CertificateSerial: "04:a1:b2", CertificateIssuer: "CN=R11,O=Let's Encrypt,C=US",
			RenewalCertID: "aYhb:4dGQ,EHhs.AIdl", RenewalCertCA: "2:le",
		}},
		{"has quotes, backslashes, newlines, a NUL and non-ASCII text", asset.Asset{
			SystemName: `quote"back\slash`, CommonName: "line\nbreak\ttab", DeviceModel: "nul\x00byte",
			OSVersion: "ünïcødé ✓", Origin: "<html>&amp;",
			SubjectAlternativeName: []string{`a"b`, `c\d`, "e,f", "é", ""},
			Labels:                 map[string]string{`k"1`: `v\1`, "": "empty key", "k:2": ""},
		}},
		{"has the row separator in its text", asset.Asset{
			SystemName: "unit\x1fseparator", CommonName: "\x1f", DeviceModel: "a\x1fb\x1fc",
			RenewalCertCA: "\x1f\x1f", SubjectAlternativeName: []string{"x\x1fy"},
			Labels: map[string]string{"k\x1f": "\x1fv"}, Port: 22,
		}},
		{"has names and labels in the common shape", asset.Asset{
			SystemName: "plain", SubjectAlternativeName: []string{"a.example.com", "b.example.com"},
			Labels: map[string]string{"team": "netops", "tier": "1"},
		}},
		{"has times at, before and long after 1970, and negative numbers", asset.Asset{
			SystemName: "times", CertificateExpiration: at(0), CertificateNotBefore: at(-86400),
			LastRotation: at(253402300799), NextAttemptAt: at(1), RenewalTime: at(-1), RenewalCheckAt: at(-2),
			RenewalWindow: &asset.Window{Start: *at(0), End: *at(1 << 40)},
			Port:          -1, FailureCount: 1 << 31, CertificateValidation: true, Paused: true,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			must(t, s.CreateAsset(ctx, tt.a))
			t.Cleanup(func() { must(t, s.DeleteAsset(ctx, tt.a.SystemName)) })

			got, err := s.GetAsset(ctx, tt.a.SystemName)
			must(t, err)
			assertSameAsset(t, "GetAsset", got, tt.a)

			listed, err := s.ListAssets(ctx, store.AssetFilter{SystemName: tt.a.SystemName})
			must(t, err)
			if len(listed) != 1 {
				t.Fatalf("ListAssets found %d assets, want 1", len(listed))
			}
			assertSameAsset(t, "ListAssets", listed[0], tt.a)

			due, err := s.DueAssets(ctx, time.Unix(1<<41, 0), 100)
			must(t, err)
			for _, d := range due {
				if d.SystemName == tt.a.SystemName {
					assertSameAsset(t, "DueAssets", d, tt.a)
				}
			}
		})
	}
}

func assertSameAsset(t *testing.T, how string, got, want asset.Asset) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Errorf("%s returned\n%s\nwant\n%s", how, g, w)
	}
}

func TestARowNotPackedByTheStoreIsRefused(t *testing.T) {
	// A well-formed row: every text empty, every NOT NULL integer 0, no
	// time.
	var good strings.Builder
	for _, col := range assetColumnList {
		switch col {
		case "certificate_validation", "port", "paused", "failure_count":
			good.WriteString("0,")
		case "system_name":
			good.WriteString("4:bare")
		case "subject_alternative_name":
			good.WriteString("2:[]")
		case "labels":
			good.WriteString("2:{}")
		default:
			if assetIntegerColumns[col] {
				good.WriteString(",")
			} else {
				good.WriteString("0:")
			}
		}
	}
	if _, err := decodeAsset(good.String(), &timeSlab{}); err != nil {
		t.Fatalf("decodeAsset of a well-formed row: %v", err)
	}
	for _, packed := range []string{
		"",
		"garbage",
		"4:bare",                               // ends after the first column
		"99:bare",                              // a length past the end
		"-1:x",                                 // a negative length
		":bare",                                // no length
		"1234567890:x",                         // a length no column has
		"4:bare0:0:2:[]0:x,",                   // a number that is not one
		"4:bare0:2:[]0:,1,0:0:0:",              // too short for the rest
		good.String() + ",",                    // a column too many
		strings.TrimSuffix(good.String(), ","), // a column short
	} {
		if _, err := decodeAsset(packed, &timeSlab{}); !errors.Is(err, errBadPackedRow) {
			t.Errorf("decodeAsset(%q) = %v, want errBadPackedRow", packed, err)
		}
	}
}

// TestThePackedColumnPacksEveryColumnInOrder holds the packed column's
// expression in migrations/0006_packed_asset_rows.sql to the order and
// the kinds of columns the decoder reads.
func TestThePackedColumnPacksEveryColumnInOrder(t *testing.T) {
	if len(assetColumnList) != numAssetColumns {
		t.Errorf("assetColumns has %d columns, numAssetColumns says %d", len(assetColumnList), numAssetColumns)
	}
	var want []string
	for _, col := range assetColumnList {
		if assetIntegerColumns[col] {
			want = append(want, "ifnull("+col+", '') || ','")
		} else {
			want = append(want, "length(CAST("+col+" AS BLOB)) || ':' || "+col)
		}
	}
	body, err := migrationFiles.ReadFile("migrations/0006_packed_asset_rows.sql")
	must(t, err)
	_, expr, _ := strings.Cut(string(body), "GENERATED ALWAYS AS (")
	expr, _, _ = strings.Cut(expr, ") STORED")
	if got := strings.Join(strings.Fields(expr), " "); got != strings.Join(want, " || ") {
		t.Errorf("the packed column is\n%s\nwant\n%s", got, strings.Join(want, " || "))
	}
}

// TestNamesAndLabelsDecodeAsEncodingJSONDoes holds the shortcuts for the
// common shapes to encoding/json's answers, on what json.Marshal writes.
func TestNamesAndLabelsDecodeAsEncodingJSONDoes(t *testing.T) {
	lists := [][]string{
		{}, {""}, {"a"}, {"a", "b", "c"}, {"", ""}, {`a"b`}, {`a\b`}, {"a,b", `"`}, {`","`},
		{"<tag>", "&"}, {"é", "\u2028"}, {"line\nbreak"}, {"x:y"},
	}
	for _, list := range lists {
		encoded, err := json.Marshal(list)
		must(t, err)
		got, err := decodeNames(string(encoded))
		must(t, err)
		want := list
		if len(want) == 0 {
			want = nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("decodeNames(%s) = %q, want %q", encoded, got, want)
		}
	}
	maps := []map[string]string{
		{}, {"team": "netops"}, {"a": "", "": "b"}, {"k": `v"`}, {`k"`: "v"}, {"a": "b", "c": "d", "e": "f"},
		{"k": `","`}, {"k": `":"`}, {`":"`: "v"}, {"k": `\`}, {"<": ">"}, {"é": "ü"},
	}
	for _, m := range maps {
		encoded, err := json.Marshal(m)
		must(t, err)
		got, err := decodeLabels(string(encoded))
		must(t, err)
		want := m
		if len(want) == 0 {
			want = nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("decodeLabels(%s) = %q, want %q", encoded, got, want)
		}
	}
}

func TestIntegersParseAsStrconvDoes(t *testing.T) {
	for _, digits := range []string{
		"0", "-0", "7", "-7", "1700000000", "-62135596800", "123456789012345678", "-123456789012345678",
		"9223372036854775807", "-9223372036854775808", "9223372036854775808", "",
		"-", "12a", "1-2", " 1", "99999999999999999999",
	} {
		want, err := strconv.ParseInt(digits, 10, 64)
		got, ok := parseInt(digits)
		if ok != (err == nil) || ok && got != want {
			t.Errorf("parseInt(%q) = %d, %t; strconv.ParseInt says %d, %v", digits, got, ok, want, err)
		}
	}
}

// TestPackingAnInventoryKeepsItsAssetsRotationsAndIndexes opens a database
// written before assets kept their rows packed: the migration that rebuilds
// the table must keep every asset, every rotation (which dropping the old
// table with foreign keys enforced would delete), and every index as it was,
// and leave foreign keys enforced.
func TestPackingAnInventoryKeepsItsAssetsRotationsAndIndexes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ottr.db")
	db, err := sql.Open("sqlite", dsn(path, time.Second))
	must(t, err)
	_, err = db.ExecContext(ctx, `CREATE TABLE schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`)
	must(t, err)
	ms, err := loadMigrations()
	must(t, err)
	for _, m := range ms[:5] {
		_, err := applyMigration(ctx, db, m, time.Now)
		must(t, err)
	}
	expires := time.Unix(1767225600, 0).UTC()
	want := []asset.Asset{
		{SystemName: "a.example.com", CertificateExpiration: &expires, Labels: map[string]string{"team": "netops"}},
		{SystemName: "b.example.com", DeviceModel: "odd\x1fmodel", SubjectAlternativeName: []string{"b", "c:d"}, Port: 443},
	}
	for _, a := range want {
		args, err := assetArgs(a)
		must(t, err)
		_, err = db.ExecContext(ctx, insertAssetSQL, args...)
		must(t, err)
	}
	_, err = db.ExecContext(ctx, `INSERT INTO rotations (asset, "trigger", state, created_at, updated_at)
		VALUES ('a.example.com', 'manual', 'succeeded', 1, 1), ('b.example.com', 'schedule', 'failed', 2, 2)`)
	must(t, err)
	indexesBefore := assetIndexes(t, db)
	must(t, db.Close())

	s, err := Open(ctx, path)
	must(t, err)
	defer s.Close()
	for _, a := range want {
		got, err := s.GetAsset(ctx, a.SystemName)
		must(t, err)
		assertSameAsset(t, "GetAsset after the migration", got, a)
	}
	if got := countRotations(t, s); got != 2 {
		t.Errorf("%d rotations after the migration, want 2", got)
	}
	if got := assetIndexes(t, s.DB()); !reflect.DeepEqual(got, indexesBefore) {
		t.Errorf("indexes after the migration:\n%q\nwant\n%q", got, indexesBefore)
	}
	// rotations refers to the new table, and foreign keys are enforced
	// again: deleting an asset deletes its rotations, and a rotation of no
	// asset is refused.
	must(t, s.DeleteAsset(ctx, "a.example.com"))
	if got := countRotations(t, s); got != 1 {
		t.Errorf("%d rotations after deleting an asset, want 1", got)
	}
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO rotations (asset, "trigger", state, created_at, updated_at)
		VALUES ('missing.example.com', 'manual', 'pending', 3, 3)`); err == nil {
		t.Error("a rotation of no asset was accepted: foreign keys are not enforced")
	}
}

// assetIndexes returns the definition of every index of assets.
func assetIndexes(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(),
		`SELECT sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'assets' AND sql IS NOT NULL ORDER BY name`)
	must(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var def string
		must(t, rows.Scan(&def))
		out = append(out, strings.Join(strings.Fields(def), " "))
	}
	must(t, rows.Err())
	return out
}

func countRotations(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	must(t, s.DB().QueryRowContext(context.Background(), `SELECT count(*) FROM rotations`).Scan(&n))
	return n
}
