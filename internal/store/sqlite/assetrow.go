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
// packedRow takes apart; in BenchmarkSearch100k (internal/api) that raised
// the rate from about 2,200 to 2,800 pages of 100 assets a second on two
// cores. A row is packed as:
//
//   - a text column as its length in bytes, a colon, then its bytes, so
//     nothing in the text needs escaping;
//   - an integer column as its decimal digits and a comma; NULL as the
//     comma alone.

// assetIntegerColumns are the INTEGER columns of assetColumns; the others
// are TEXT NOT NULL (migrations/0001_init.sql, 0004_asset_renewal_info.sql).
var assetIntegerColumns = map[string]bool{
	"certificate_expiration": true, "certificate_validation": true, "port": true, "paused": true,
	"certificate_not_before": true, "last_rotation": true, "failure_count": true,
	"next_attempt_at": true, "renewal_window_start": true, "renewal_window_end": true, "renewal_time": true,
	"renewal_check_at": true,
}

// assetRow is the SELECT expression of one asset row, packed as described
// above, in assetColumns order. concat() turns a NULL into nothing.
var assetRow = func() string {
	var args []string
	for col := range strings.SplitSeq(assetColumns, ",") {
		col = strings.TrimSpace(col)
		if assetIntegerColumns[col] {
			args = append(args, col, `','`)
		} else {
			args = append(args, "octet_length("+col+")", `':'`, col)
		}
	}
	return "concat(" + strings.Join(args, ", ") + ")"
}()

// errBadPackedRow reports a packed row that does not have assetRow's shape,
// which only a change of the query without the decoder can cause.
var errBadPackedRow = errors.New("packed asset row is malformed")

// packedRow reads the values of a row packed by assetRow, in order. The
// first malformed value sets err; every later read returns a zero value.
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

// nullInt reads an integer value, or NULL.
func (p *packedRow) nullInt() sql.NullInt64 {
	comma := strings.IndexByte(p.rest, ',')
	if p.err != nil || comma < 0 {
		p.fail()
		return sql.NullInt64{}
	}
	digits := p.rest[:comma]
	p.rest = p.rest[comma+1:]
	if digits == "" {
		return sql.NullInt64{}
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		p.fail()
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: v, Valid: true}
}

// intValue reads a NOT NULL integer value.
func (p *packedRow) intValue() int {
	v := p.nullInt()
	if !v.Valid && p.err == nil {
		p.fail()
	}
	return int(v.Int64)
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
