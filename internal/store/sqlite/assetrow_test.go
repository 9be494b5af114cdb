package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
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

// TestAPageWithTheRowSeparatorInOneAssetReadsBackWhole lists a page in which
// one asset's text holds the row separator, which makes the store read the
// page again with lengths.
func TestAPageWithTheRowSeparatorInOneAssetReadsBackWhole(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	want := []asset.Asset{
		{SystemName: "a.example.com", DeviceModel: "plain", Labels: map[string]string{"team": "netops"}},
		{SystemName: "b.example.com", DeviceModel: "odd\x1fmodel", OSVersion: "\x1f"},
		{SystemName: "c.example.com", SubjectAlternativeName: []string{"c.example.com"}},
	}
	for _, a := range want {
		must(t, s.CreateAsset(ctx, a))
	}
	listed, err := s.ListAssets(ctx, store.AssetFilter{Limit: 10})
	must(t, err)
	// Few assets expire before the cutoff: the query that collects them
	// from assets_expiring first.
	cutoff := time.Unix(1<<40, 0)
	expiring, err := s.ListAssets(ctx, store.AssetFilter{ExpiresBefore: &cutoff, Limit: 10})
	must(t, err)
	due, err := s.DueAssets(ctx, time.Unix(1<<41, 0), 10)
	must(t, err)
	slices.SortFunc(due, func(x, y asset.Asset) int { return strings.Compare(x.SystemName, y.SystemName) })
	for how, got := range map[string][]asset.Asset{"ListAssets": listed, "ListAssets expiring": expiring, "DueAssets": due} {
		if len(got) != len(want) {
			t.Fatalf("%s returned %d assets, want %d", how, len(got), len(want))
		}
		for i := range want {
			assertSameAsset(t, how, got[i], want[i])
		}
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
	sep := string(assetRowSeparator)
	columns := func(values ...string) string { return strings.Join(values, sep) }
	// A well-formed row: every text empty, every NOT NULL integer 0, no
	// time.
	good := make([]string, numAssetColumns)
	for i, col := range assetColumnList {
		switch col {
		case "certificate_validation", "port", "paused", "failure_count":
			good[i] = "0"
		case "system_name":
			good[i] = "bare"
		case "subject_alternative_name":
			good[i] = "[]"
		case "labels":
			good[i] = "{}"
		}
	}
	if _, err := decodeAsset(columns(good...), &timeSlab{}); err != nil {
		t.Fatalf("decodeAsset of a well-formed row: %v", err)
	}
	notNumber := slices.Clone(good)
	notNumber[slices.Index(assetColumnList, "port")] = "x"
	nullPort := slices.Clone(good)
	nullPort[slices.Index(assetColumnList, "port")] = ""
	for _, packed := range []string{
		"",
		"garbage",
		columns(good[:numAssetColumns-1]...), // a column short
		columns(notNumber...),                // a number that is not one
		columns(nullPort...),                 // NULL where NULL cannot be
	} {
		if _, err := decodeAsset(packed, &timeSlab{}); !errors.Is(err, errBadPackedRow) {
			t.Errorf("decodeAsset(%q) = %v, want errBadPackedRow", packed, err)
		}
	}
	if _, err := decodeAsset(columns(append(good, "")...), &timeSlab{}); !errors.Is(err, errSeparatorInText) {
		t.Errorf("decodeAsset of a row with a separator too many = %v, want errSeparatorInText", err)
	}
	for _, packed := range []string{
		"",
		"garbage",
		"4:bare",                  // ends after the first column
		"99:bare",                 // a length past the end
		"-1:x",                    // a negative length
		"4:bare0:0:2:[]0:x,",      // a number that is not one
		"4:bare0:2:[]0:,1,0:0:0:", // too short for the rest
	} {
		if _, err := decodeAssetWithLengths(packed, &timeSlab{}); !errors.Is(err, errBadPackedRow) {
			t.Errorf("decodeAssetWithLengths(%q) = %v, want errBadPackedRow", packed, err)
		}
	}
}

func TestAssetRowNamesEveryColumn(t *testing.T) {
	if len(assetColumnList) != numAssetColumns {
		t.Errorf("assetColumns has %d columns, numAssetColumns says %d", len(assetColumnList), numAssetColumns)
	}
	if got := strings.Count(assetRow, string(assetRowSeparator)); got != numAssetColumns-1 {
		t.Errorf("assetRow has %d separators, want %d", got, numAssetColumns-1)
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
