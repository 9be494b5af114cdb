package sqlite

import (
	"database/sql"
	"errors"
	"strconv"
	"strings"
)

// Reading a row column by column costs this driver three calls into SQLite
// per text column and two per integer, each taking the connection's mutex:
// at 29 columns, the largest cost of a search request. So every SELECT of
// assets reads the row as one text value, assetRow, which SQLite builds and
// columnReader takes apart: the columns in assetColumns order, each followed
// by a unit separator (0x1f) but the last, an integer as its decimal digits,
// NULL as nothing.
//
// No text column can be told apart from its neighbours if it holds the
// separator itself, so a row with more separators than columns is refused
// (errSeparatorInText), and queryAssets runs the query once more with
// assetRowWithLengths, which prefixes each text column with its length and
// so needs no separator at all. That second form costs more to build:
// octet_length is one more function call per column, and SQLite turns each
// length into text (reading a page of 101 rows took about 0.40 ms of CPU
// against 0.28 ms with separators alone). Text holding a control character
// is rare in an inventory, so the second read almost never happens.

// assetIntegerColumns are the INTEGER columns of assetColumns; the others
// are TEXT NOT NULL (migrations/0001_init.sql, 0004_asset_renewal_info.sql).
var assetIntegerColumns = map[string]bool{
	"certificate_expiration": true, "certificate_validation": true, "port": true, "paused": true,
	"certificate_not_before": true, "last_rotation": true, "failure_count": true,
	"next_attempt_at": true, "renewal_window_start": true, "renewal_window_end": true, "renewal_time": true,
	"renewal_check_at": true,
}

// assetColumnList is assetColumns, one name an entry.
var assetColumnList = func() []string {
	var cols []string
	for col := range strings.SplitSeq(assetColumns, ",") {
		cols = append(cols, strings.TrimSpace(col))
	}
	return cols
}()

// numAssetColumns is the number of columns of assetColumns.
const numAssetColumns = 29

// assetRowSeparator separates the columns of assetRow.
const assetRowSeparator = '\x1f'

// assetRow is the SELECT expression of one asset row, packed with
// separators. concat() turns a NULL into nothing.
var assetRow = func() string {
	args := make([]string, 0, 2*numAssetColumns)
	for i, col := range assetColumnList {
		if i > 0 {
			args = append(args, "'"+string(assetRowSeparator)+"'")
		}
		args = append(args, col)
	}
	return "concat(" + strings.Join(args, ", ") + ")"
}()

// assetRowWithLengths is the SELECT expression of one asset row packed
// without a separator inside text: a text column as its length in bytes,
// a colon, then its bytes; an integer column as its decimal digits and a
// comma; NULL as the comma alone.
var assetRowWithLengths = func() string {
	var args []string
	for _, col := range assetColumnList {
		if assetIntegerColumns[col] {
			args = append(args, col, `','`)
		} else {
			args = append(args, "octet_length("+col+")", `':'`, col)
		}
	}
	return "concat(" + strings.Join(args, ", ") + ")"
}()

// withLengths returns query, which selects assetRow, selecting
// assetRowWithLengths instead.
func withLengths(query string) (string, bool) {
	if !strings.Contains(query, assetRow) {
		return "", false
	}
	return strings.Replace(query, assetRow, assetRowWithLengths, 1), true
}

// errBadPackedRow reports a packed row that does not have assetRow's shape,
// which only a change of the query without the decoder can cause.
var errBadPackedRow = errors.New("packed asset row is malformed")

// errSeparatorInText reports a row packed by assetRow whose text holds the
// separator: the row must be read again as assetRowWithLengths.
var errSeparatorInText = errors.New("asset text holds the row separator")

// columnReader reads the column values of a packed row in assetColumns
// order, typed by the caller. The first malformed value sets err; every
// later read returns a zero value.
type columnReader struct {
	packed, rest string
	// withLengths is whether the row is packed by assetRowWithLengths
	// rather than assetRow.
	withLengths bool
	// read counts the columns read.
	read int
	err  error
}

// value reads the next column's value as text: an integer as its digits,
// NULL as "". It shares the packed row's memory.
func (r *columnReader) value(integer bool) string {
	if r.err != nil {
		return ""
	}
	r.read++
	if r.withLengths {
		return r.lengthPrefixed(integer)
	}
	if r.read == numAssetColumns {
		// The last column is the rest of the row; a separator in it means
		// one in some text before.
		v := r.rest
		if strings.IndexByte(v, assetRowSeparator) >= 0 {
			r.fail()
			return ""
		}
		r.rest = ""
		return v
	}
	sep := strings.IndexByte(r.rest, assetRowSeparator)
	if sep < 0 || r.read > numAssetColumns {
		r.fail()
		return ""
	}
	v := r.rest[:sep]
	r.rest = r.rest[sep+1:]
	return v
}

// lengthPrefixed reads a column packed by assetRowWithLengths.
func (r *columnReader) lengthPrefixed(integer bool) string {
	if integer {
		comma := strings.IndexByte(r.rest, ',')
		if comma < 0 {
			r.fail()
			return ""
		}
		v := r.rest[:comma]
		r.rest = r.rest[comma+1:]
		return v
	}
	colon := strings.IndexByte(r.rest, ':')
	if colon < 0 {
		r.fail()
		return ""
	}
	n, err := strconv.Atoi(r.rest[:colon])
	if err != nil || n < 0 || n > len(r.rest)-colon-1 {
		r.fail()
		return ""
	}
	v := r.rest[colon+1 : colon+1+n]
	r.rest = r.rest[colon+1+n:]
	return v
}

// text reads a text column.
func (r *columnReader) text() string { return r.value(false) }

// nullInt reads an integer column, or NULL.
func (r *columnReader) nullInt() sql.NullInt64 {
	digits := r.value(true)
	if digits == "" {
		return sql.NullInt64{}
	}
	v, ok := parseInt(digits)
	if !ok {
		r.fail()
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: v, Valid: true}
}

// parseInt parses a decimal integer as SQLite writes one; a page of
// assets holds over a thousand, and strconv.ParseInt's generality showed
// in the profile.
func parseInt(digits string) (int64, bool) {
	s, neg := strings.CutPrefix(digits, "-")
	if s == "" || len(s) > 18 {
		v, err := strconv.ParseInt(digits, 10, 64)
		return v, err == nil
	}
	var v int64
	for i := 0; i < len(s); i++ {
		c := s[i] - '0'
		if c > 9 {
			return 0, false
		}
		v = 10*v + int64(c)
	}
	if neg {
		v = -v
	}
	return v, true
}

// intValue reads a NOT NULL integer column.
func (r *columnReader) intValue() int {
	v := r.nullInt()
	if !v.Valid {
		r.fail()
	}
	return int(v.Int64)
}

// done reports the first error, or a malformed row if columns are missing
// or anything is left.
func (r *columnReader) done() error {
	if r.err == nil && (r.read != numAssetColumns || r.rest != "") {
		r.fail()
	}
	return r.err
}

// fail records a malformed row, or, if the row holds more separators than
// assetRow writes, one whose text holds the separator.
func (r *columnReader) fail() {
	if r.err == nil {
		r.err = errBadPackedRow
		if !r.withLengths && strings.Count(r.packed, string(assetRowSeparator)) >= numAssetColumns {
			r.err = errSeparatorInText
		}
	}
	r.rest = ""
}
