package bigip

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The ledger is ottr's bookkeeping on the device: an internal data group
// per target (/Partition/ottr_clientssl_<profile> or /Partition/ottr_httpd)
// with one record per key ottr generated for it. A record names the objects
// ottr created (so cleanup never touches anything else) and, once
// installed, what the target used before and after. It lives on the device
// because a repeated Install (a rotation resumed after a crash) must hand
// back the same way home as the first, and the objects it replaced are
// nowhere else to be found. F5's own AS3 keeps its state in data groups the
// same way.

// binding is what a target uses: object full paths (client-ssl) or file
// paths (httpd).
type binding struct {
	Cert, Key, Chain string
}

func (b binding) String() string {
	chain := b.Chain
	if isNone(chain) {
		chain = "none"
	}
	return fmt.Sprintf("cert %s, key %s, chain %s", b.Cert, b.Key, chain)
}

// same compares bindings, "none" and "" alike.
func (b binding) same(o binding) bool {
	return b.Cert == o.Cert && b.Key == o.Key && normalChain(b.Chain) == normalChain(o.Chain)
}

func normalChain(c string) string {
	if isNone(c) {
		return ""
	}
	return c
}

// entry is one ledger record.
type entry struct {
	// Name is the record's name: the base name of the rotation's objects.
	Name string
	// Generated is when the key was generated; entries sort by it.
	Generated time.Time
	// Objects ottr created, full paths; CSR shares the key's name.
	Key, Cert, Chain string
	// Installed: the target was switched to Bound, from Previous.
	Installed bool
	Bound     binding
	Previous  binding
}

// ledgerTimeFormat has a fixed width and nanoseconds, so keys generated in
// one burst still sort in the order they were made.
const ledgerTimeFormat = "20060102T150405.000000000Z"

// record encodes e as a data group record: URL-encoded key=value pairs,
// which need no quoting in tmsh or JSON.
func (e entry) record() record {
	v := url.Values{}
	v.Set("generated", e.Generated.UTC().Format(ledgerTimeFormat))
	v.Set("key", e.Key)
	for name, value := range map[string]string{
		"cert": e.Cert, "chain": e.Chain,
		"bound_cert": e.Bound.Cert, "bound_key": e.Bound.Key, "bound_chain": e.Bound.Chain,
		"previous_cert": e.Previous.Cert, "previous_key": e.Previous.Key, "previous_chain": e.Previous.Chain,
	} {
		if value != "" {
			v.Set(name, value)
		}
	}
	if e.Installed {
		v.Set("installed", "true")
	}
	return record{Name: e.Name, Data: v.Encode()}
}

// parseEntry decodes a record; records ottr did not write are skipped by
// the caller.
func parseEntry(r record) (entry, error) {
	v, err := url.ParseQuery(r.Data)
	if err != nil {
		return entry{}, fmt.Errorf("ledger record %s: %w", r.Name, err)
	}
	generated, err := time.Parse(ledgerTimeFormat, v.Get("generated"))
	if err != nil {
		return entry{}, fmt.Errorf("ledger record %s: generated: %w", r.Name, err)
	}
	if !strings.HasPrefix(r.Name, objectPrefix) || v.Get("key") == "" {
		return entry{}, fmt.Errorf("ledger record %s: not an ottr record", r.Name)
	}
	return entry{
		Name: r.Name, Generated: generated,
		Key: v.Get("key"), Cert: v.Get("cert"), Chain: v.Get("chain"),
		Installed: v.Get("installed") == "true",
		Bound:     binding{Cert: v.Get("bound_cert"), Key: v.Get("bound_key"), Chain: v.Get("bound_chain")},
		Previous:  binding{Cert: v.Get("previous_cert"), Key: v.Get("previous_key"), Chain: v.Get("previous_chain")},
	}, nil
}

// ledger is the data group of one target, as read.
type ledger struct {
	path    string
	found   bool     // the data group exists
	entries []entry  // ottr's records, oldest first
	foreign []record // records ottr cannot read, written back untouched
}

// ledgerPath names the target's data group.
func (s *session) ledgerPath() string {
	if s.opts.Target == targetHTTPD {
		return s.opts.fullPath("ottr_httpd")
	}
	return s.opts.fullPath("ottr_clientssl_" + s.opts.Profile)
}

func (s *session) readLedger(ctx context.Context) (*ledger, error) {
	l := &ledger{path: s.ledgerPath()}
	records, found, err := s.c.dataGroup(ctx, l.path)
	if err != nil {
		return nil, fmt.Errorf("read ledger %s: %w", l.path, err)
	}
	l.found = found
	for _, r := range records {
		e, err := parseEntry(r)
		if err != nil {
			s.log.Warn("bigip: keeping a ledger record ottr cannot read", "ledger", l.path, "record", r.Name, "error", err)
			l.foreign = append(l.foreign, r)
			continue
		}
		l.entries = append(l.entries, e)
	}
	l.sort()
	return l, nil
}

func (l *ledger) sort() {
	slices.SortStableFunc(l.entries, func(a, b entry) int {
		if c := a.Generated.Compare(b.Generated); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// get returns the entry named name.
func (l *ledger) get(name string) (entry, bool) {
	for _, e := range l.entries {
		if e.Name == name {
			return e, true
		}
	}
	return entry{}, false
}

// put adds or replaces e.
func (l *ledger) put(e entry) {
	for i := range l.entries {
		if l.entries[i].Name == e.Name {
			l.entries[i] = e
			return
		}
	}
	l.entries = append(l.entries, e)
	l.sort()
}

// remove drops the named entries.
func (l *ledger) remove(names []string) {
	l.entries = slices.DeleteFunc(l.entries, func(e entry) bool { return slices.Contains(names, e.Name) })
}

func (l *ledger) records() []record {
	out := make([]record, 0, len(l.entries)+len(l.foreign))
	out = append(out, l.foreign...)
	for _, e := range l.entries {
		out = append(out, e.record())
	}
	return out
}

// write stores the ledger, creating the data group if needed; a non-zero
// tx adds the change to that transaction (the data group must exist).
func (s *session) writeLedger(ctx context.Context, l *ledger, tx int64) error {
	if !l.found {
		if err := s.c.createDataGroup(ctx, l.path, l.records()); err != nil {
			return fmt.Errorf("create ledger %s: %w", l.path, err)
		}
		l.found = true
		return nil
	}
	if err := s.c.patchDataGroup(ctx, l.path, l.records(), tx); err != nil {
		return fmt.Errorf("write ledger %s: %w", l.path, err)
	}
	return nil
}
