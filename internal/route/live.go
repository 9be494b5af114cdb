package route

import (
	"sync/atomic"

	"github.com/ottr-go/ottr/internal/asset"
)

// Live is the routing table of a running process, which a configuration
// reload replaces as a whole. Each call reads the table in place when it
// is made; a caller that needs several answers from one table takes it
// with Table. It is safe for concurrent use.
type Live struct {
	table atomic.Pointer[Table]
}

// NewLive returns a Live holding t.
func NewLive(t *Table) *Live {
	l := &Live{}
	l.table.Store(t)
	return l
}

// Table returns the table in place.
func (l *Live) Table() *Table { return l.table.Load() }

// Replace puts t in place of the table; calls already made finish with
// the one they read.
func (l *Live) Replace(t *Table) { l.table.Store(t) }

// Match is Table.Match on the table in place.
func (l *Live) Match(a asset.Asset) (Route, int, bool) { return l.Table().Match(a) }

// Explain is Table.Explain on the table in place.
func (l *Live) Explain(a asset.Asset) []Explanation { return l.Table().Explain(a) }

// Platforms is Table.Platforms on the table in place.
func (l *Live) Platforms() map[string]bool { return l.Table().Platforms() }

// Routes is Table.Routes on the table in place.
func (l *Live) Routes() []Route { return l.Table().Routes() }

// Len is Table.Len on the table in place.
func (l *Live) Len() int { return l.Table().Len() }
