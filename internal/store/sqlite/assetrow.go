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
// splitRow takes apart: the columns in assetColumns order, each followed
// by a unit separator (0x1f) but the last, an integer as its decimal digits,
// NULL as nothing.
//
// No text column can be told apart from its neighbours if it holds the
// separator itself, so a row with more separators than columns is refused
// (errSeparatorInText), and queryAssets runs the query once more with
// assetRowWithLengths, which prefixes each text column with its length and
// so needs no separator at all. That second form costs twice as much to
// build: octet_length is one more function call per column, and SQLite
// turns each length into text (a page of 100 assets took about 0.39 ms
// against 0.28 ms with separators alone; BenchmarkSearch100k). Nothing ottr
// writes holds a control character, so the retry is for rows written by
// hand.

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

// assetColumnValues are the values of one row in assetColumns order, as
// text: an integer as its digits, NULL as "". They share the packed row's
// memory.
type assetColumnValues [numAssetColumns]string

// splitRow takes apart a row packed by assetRow.
func splitRow(packed string, cols *assetColumnValues) error {
	rest := packed
	for i := range numAssetColumns - 1 {
		sep := strings.IndexByte(rest, assetRowSeparator)
		if sep < 0 {
			return errBadPackedRow
		}
		cols[i], rest = rest[:sep], rest[sep+1:]
	}
	if strings.IndexByte(rest, assetRowSeparator) >= 0 {
		return errSeparatorInText
	}
	cols[numAssetColumns-1] = rest
	return nil
}

// splitRowWithLengths takes apart a row packed by assetRowWithLengths.
func splitRowWithLengths(packed string, cols *assetColumnValues) error {
	p := packedRow{rest: packed}
	for i, col := range assetColumnList {
		if assetIntegerColumns[col] {
			cols[i] = p.digits()
		} else {
			cols[i] = p.text()
		}
	}
	return p.done()
}

// packedRow reads the values of a row packed by assetRowWithLengths, in
// order. The first malformed value sets err; every later read returns "".
type packedRow struct {
	rest string
	err  error
}

// text reads a text value. The string shares the packed row's memory.
func (p *packedRow) text() string {
	colon := strings.IndexByte(p.rest, ':')
	if p.err != nil || colon < 0 {
		p.fail()
		return ""
	}
	n, err := strconv.Atoi(p.rest[:colon])
	if err != nil || n < 0 || n > len(p.rest)-colon-1 {
		p.fail()
		return ""
	}
	v := p.rest[colon+1 : colon+1+n]
	p.rest = p.rest[colon+1+n:]
	return v
}

// digits reads an integer value as its digits, or "" for NULL.
func (p *packedRow) digits() string {
	comma := strings.IndexByte(p.rest, ',')
	if p.err != nil || comma < 0 {
		p.fail()
		return ""
	}
	v := p.rest[:comma]
	p.rest = p.rest[comma+1:]
	return v
}

// done reports the first error, or a malformed row if anything is left.
func (p *packedRow) done() error {
	if p.err == nil && p.rest != "" {
		p.fail()
	}
	return p.err
}

func (p *packedRow) fail() {
	if p.err == nil {
		p.err = errBadPackedRow
	}
	p.rest = ""
}

// columnReader reads typed values out of assetColumnValues, in order. The
// first malformed value sets err.
type columnReader struct {
	cols *assetColumnValues
	next int
	err  error
}

func (r *columnReader) text() string {
	v := r.cols[r.next]
	r.next++
	return v
}

// nullInt reads an integer value, or NULL.
func (r *columnReader) nullInt() sql.NullInt64 {
	digits := r.text()
	if digits == "" {
		return sql.NullInt64{}
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		r.fail()
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: v, Valid: true}
}

// intValue reads a NOT NULL integer value.
func (r *columnReader) intValue() int {
	v := r.nullInt()
	if !v.Valid {
		r.fail()
	}
	return int(v.Int64)
}

func (r *columnReader) fail() {
	if r.err == nil {
		r.err = errBadPackedRow
	}
}
