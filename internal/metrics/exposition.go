package metrics

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/ottr-go/ottr/internal/asset"
)

// textContentType is the Prometheus text exposition format, which every
// scrape is answered in: Prometheus asks for it (among others) and reads
// it with or without gzip.
const textContentType = "text/plain; version=0.0.4; charset=utf-8"

// exposition answers scrapes. The registries' metrics go through
// client_golang's text encoder; the per-asset families, half a million
// samples for 100,000 assets, are written here directly and compressed
// while the store is still being read, which keeps a scrape of 100,000
// assets under a second where building them as client_golang metrics,
// checking, sorting and encoding them took four (BENCHMARKS.md).
type exposition struct {
	m         *Metrics
	gatherer  prometheus.Gatherer
	inventory bool
	inFlight  chan struct{}
}

func (e *exposition) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	select {
	case e.inFlight <- struct{}{}:
		defer func() { <-e.inFlight }()
	default:
		http.Error(w, "too many scrapes at once; scrape less often", http.StatusServiceUnavailable)
		return
	}
	gz := acceptsGzip(r.Header.Get("Accept-Encoding"))
	var inventory [][]byte
	if inv := e.m.inventory; e.inventory && inv != nil {
		var err error
		if inventory, err = e.m.writeInventory(r.Context(), inv, gz); err != nil {
			// The rest is still worth serving; the per-asset series go
			// stale for this scrape.
			e.m.log.Warn("metrics: the per-asset metrics are left out of this scrape", "err", err)
		}
	}
	families, err := e.gatherer.Gather()
	if err != nil {
		e.m.log.Warn("metrics: some metrics are left out of this scrape", "err", err)
	}

	h := w.Header()
	h.Set("Content-Type", textContentType)
	h.Add("Vary", "Accept-Encoding")
	var out io.Writer = w
	var zw *gzip.Writer
	if gz {
		h.Set("Content-Encoding", "gzip")
		zw = newGzipWriter(w)
		defer gzipWriters.Put(zw)
		out = zw
	}
	enc := expfmt.NewEncoder(out, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			e.m.log.Debug("metrics: write the scrape", "err", err)
			return
		}
	}
	if zw != nil {
		// Each part is a gzip member of its own: a gzip stream may hold
		// several, read one after the other (RFC 1952, section 2.2).
		if err := zw.Close(); err != nil {
			return
		}
	}
	for _, part := range inventory {
		if _, err := w.Write(part); err != nil {
			return
		}
	}
}

// acceptsGzip reports whether an Accept-Encoding header takes gzip.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			q := strings.ReplaceAll(params, " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

// writeInventory reads the inventory and returns the per-asset families in
// the text format, one part per family, each a gzip member when gz. The
// store is read on this goroutine while another turns the pages already
// read into text and compresses it.
func (m *Metrics) writeInventory(ctx context.Context, inv *Inventory, gz bool) ([][]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, inv.Timeout)
	defer cancel()
	parts := make([]*familyWriter, len(inventoryFamilies))
	for i, f := range inventoryFamilies {
		parts[i] = newFamilyWriter(f, gz)
	}
	pages := make(chan []asset.Asset, 4)
	written := make(chan struct{})
	now := m.now()
	go func() {
		defer close(written)
		var labels labelText
		var rows []assetRow
		for assets := range pages {
			rows = inv.rows(assets, now, rows)
			labels.set(rows)
			for _, p := range parts {
				p.write(rows, &labels)
			}
		}
	}()
	err := inv.read(ctx, func(assets []asset.Asset) { pages <- assets })
	close(pages)
	<-written
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(parts))
	for i, p := range parts {
		if out[i], err = p.close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// labelText holds the label pairs of a page's rows, written once and used
// by every family: asset="…",data_center="…",platform="…",profile="…".
type labelText struct {
	buf  []byte
	ends []int
}

func (l *labelText) set(rows []assetRow) {
	l.buf, l.ends = l.buf[:0], l.ends[:0]
	for i := range rows {
		for j, name := range assetLabels {
			if j > 0 {
				l.buf = append(l.buf, ',')
			}
			l.buf = append(l.buf, name...)
			l.buf = append(l.buf, `="`...)
			l.buf = appendLabelValue(l.buf, rows[i].labels[j])
			l.buf = append(l.buf, '"')
		}
		l.ends = append(l.ends, len(l.buf))
	}
}

func (l *labelText) of(i int) []byte {
	start := 0
	if i > 0 {
		start = l.ends[i-1]
	}
	return l.buf[start:l.ends[i]]
}

// familyWriter writes one per-asset family.
type familyWriter struct {
	f    *family
	buf  bytes.Buffer
	zw   *gzip.Writer
	out  io.Writer
	line []byte
	any  bool
}

func newFamilyWriter(f *family, gz bool) *familyWriter {
	w := &familyWriter{f: f}
	w.out = &w.buf
	if gz {
		w.zw = newGzipWriter(&w.buf)
		w.out = w.zw
	}
	return w
}

// gzipWriters keeps compressors between scrapes: each holds about a
// megabyte of state, and a scrape uses six.
var gzipWriters sync.Pool

// newGzipWriter returns a compressor writing to w, at the fastest level:
// a scrape's text is repetitive enough to shrink twentyfold even so.
func newGzipWriter(w io.Writer) *gzip.Writer {
	if zw, ok := gzipWriters.Get().(*gzip.Writer); ok {
		zw.Reset(w)
		return zw
	}
	zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	return zw
}

// write appends the family's samples of rows.
func (w *familyWriter) write(rows []assetRow, labels *labelText) {
	b := w.line[:0]
	for i := range rows {
		v, ok := rows[i].sample(w.f)
		if !ok {
			continue
		}
		if !w.any {
			b = appendHeader(b, w.f)
			w.any = true
		}
		b = append(b, w.f.name...)
		b = append(b, '{')
		b = append(b, labels.of(i)...)
		if w.f == statusFamily {
			b = append(b, `,state="`...)
			b = appendLabelValue(b, rows[i].state)
			b = append(b, '"')
		}
		b = append(b, "} "...)
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
		b = append(b, '\n')
	}
	// Writes to a bytes.Buffer, directly or through gzip, fail only when
	// memory does, which panics.
	_, _ = w.out.Write(b)
	w.line = b
}

func (w *familyWriter) close() ([]byte, error) {
	if w.zw != nil {
		err := w.zw.Close()
		gzipWriters.Put(w.zw)
		w.zw = nil
		if err != nil {
			return nil, err
		}
	}
	return w.buf.Bytes(), nil
}

func appendHeader(b []byte, f *family) []byte {
	b = append(b, "# HELP "...)
	b = append(b, f.name...)
	b = append(b, ' ')
	b = append(b, strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(f.help)...)
	b = append(b, "\n# TYPE "...)
	b = append(b, f.name...)
	return append(b, " gauge\n"...)
}

// appendLabelValue appends v escaped as the text format wants a label
// value: backslash, double quote and line feed escaped.
func appendLabelValue(b []byte, v string) []byte {
	if !strings.ContainsAny(v, "\\\"\n") {
		return append(b, v...)
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '"':
			b = append(b, `\"`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return b
}
