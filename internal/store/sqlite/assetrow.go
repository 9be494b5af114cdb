package sqlite

import (
	"database/sql"
	"errors"
	"strconv"
	"strings"
)

// Reading a row column by column costs this driver three calls into SQLite
// per text column and two per integer, each taking the connection's mutex:
// at 29 columns, the largest cost of a search request. Building the row as
// one value at each read (concat of the 29 columns) still cost SQLite's
// interpreter 29 column reads and the concatenation, about a fifth of a
// search request's CPU. So the table keeps every row packed in one more
// column, assetRow, which SQLite writes whenever the row changes
// (migrations/0006_packed_asset_rows.sql), and every SELECT of assets reads
// that column alone; columnReader takes it apart.
//
// The packing holds the columns in assetColumns order: a text column as its
// length in bytes, a colon, then its bytes; an integer column as its
// decimal digits and a comma; NULL as the comma alone. With the lengths no
// text can be mistaken for its neighbours whatever bytes it holds, so no
// row ever needs reading a second way, and the decoder skips over text
// without looking at it.

// assetRow is the column that holds an asset row packed.
const assetRow = "packed"

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

// errBadPackedRow reports a packed row that does not have assetRow's shape,
// which only a change of the packing without the decoder can cause.
var errBadPackedRow = errors.New("packed asset row is malformed")

// maxTextLengthDigits bounds the digits of a text column's length: no text
// column holds a gigabyte, and the bound keeps the length from overflowing.
const maxTextLengthDigits = 9

// columnReader reads the column values of a packed row in assetColumns
// order, typed by the caller. The first malformed value sets err; every
// later read returns a zero value.
type columnReader struct {
	rest string
	// read counts the columns read.
	read int
	err  error
}

// text reads a text column. It shares the packed row's memory.
func (r *columnReader) text() string {
	if r.err != nil {
		return ""
	}
	r.read++
	// The length's digits are parsed as they are found: a page of assets
	// holds over two thousand text columns.
	n, i := 0, 0
	for ; i < len(r.rest) && r.rest[i] != ':'; i++ {
		c := r.rest[i] - '0'
		if c > 9 || i == maxTextLengthDigits {
			r.fail()
			return ""
		}
		n = 10*n + int(c)
	}
	if i == 0 || i == len(r.rest) || n > len(r.rest)-i-1 {
		r.fail()
		return ""
	}
	v := r.rest[i+1 : i+1+n]
	r.rest = r.rest[i+1+n:]
	return v
}

// nullInt reads an integer column, or NULL.
func (r *columnReader) nullInt() sql.NullInt64 {
	if r.err != nil {
		return sql.NullInt64{}
	}
	r.read++
	comma := strings.IndexByte(r.rest, ',')
	if comma < 0 {
		r.fail()
		return sql.NullInt64{}
	}
	digits := r.rest[:comma]
	r.rest = r.rest[comma+1:]
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

// fail records a malformed row.
func (r *columnReader) fail() {
	r.err = errBadPackedRow
	r.rest = ""
}
