package dnsdelegate

import (
	"slices"
	"strings"
)

// Plan gathers the CNAMEs a set of assets needs in the managed zones, for
// `ottr dns plan` and the web UI's DNS screen: one per distinct record,
// and the assets with a name that cannot be delegated.
type Plan struct {
	d       *Delegations
	records map[string]Record
	// Problems are the assets that cannot be delegated, in the order
	// added.
	Problems []AssetProblem
}

// AssetProblem is why one asset's names cannot be delegated.
type AssetProblem struct {
	Asset string
	Err   error
}

// NewPlan returns an empty plan over d's zones.
func (d *Delegations) NewPlan() *Plan {
	return &Plan{d: d, records: map[string]Record{}}
}

// Add adds the records the names of the asset systemName need, or the
// problem that keeps them from being delegated.
func (p *Plan) Add(systemName string, names []string) {
	needed, err := p.d.Records(names)
	if err != nil {
		p.Problems = append(p.Problems, AssetProblem{Asset: systemName, Err: err})
		return
	}
	for _, r := range needed {
		p.records[r.Name] = r
	}
}

// Records returns the records needed, sorted by name.
func (p *Plan) Records() []Record {
	out := make([]Record, 0, len(p.records))
	for _, r := range p.records {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Record) int { return strings.Compare(a.Name, b.Name) })
	return out
}
