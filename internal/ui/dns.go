package ui

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/dnsdelegate"
	"github.com/ottr-go/ottr/internal/dnsdoctor"
	"github.com/ottr-go/ottr/internal/store"
)

// dnsBatch is how many assets the DNS screen reads from the store at a
// time.
const dnsBatch = 1000

type delegationsData struct {
	// At is when the inventory was read.
	At time.Time
	// Zones are the managed zones; none when dns.zones is empty.
	Zones []string
	// Needed is every CNAME the inventory needs, as `ottr dns plan`
	// prints them, and Problems the assets with names no managed zone
	// holds.
	Needed   snippet
	Problems []dnsdelegate.AssetProblem
	// Checked is set once the live DNS was looked up: Missing is then
	// the CNAMEs that do not exist, and Other the delegations that are
	// wrong in another way, each with its fix.
	Checked bool
	Missing snippet
	Other   []dnsdoctor.Finding
}

// snippet is zone-file lines ready to paste into the managed zones.
type snippet struct {
	Text  string
	Count int
	// Preview is the first Shown records of Text, when the page shows
	// only those.
	Preview string
	Shown   int
}

func newSnippet(zones []string, records []dnsdelegate.Record) snippet {
	return snippet{Text: zoneText(zones, records), Count: len(records)}
}

// zoneText writes records as zone-file lines under a comment naming the
// zones, as `ottr dns plan` prints them.
func zoneText(zones []string, records []dnsdelegate.Record) string {
	var b strings.Builder
	b.WriteString("; _acme-challenge delegations for zones " + strings.Join(zones, ", ") + "\n")
	for _, r := range records {
		b.WriteString(r.ZoneLine() + "\n")
	}
	return b.String()
}

// neededPreview is how many of the records the inventory needs the page
// shows; the zone file download has them all.
const neededPreview = 20

// delegationsPlan is what the DNS screen keeps of the inventory: the
// CNAMEs it needs, the assets that cannot be delegated, and every
// certificate name, for the live lookup.
type delegationsPlan struct {
	zones    []string
	needed   snippet
	problems []dnsdelegate.AssetProblem
	names    []string
}

// dnsScreen is the DNS screen, with the inventory's plan kept in an
// inventoryCache.
type dnsScreen struct {
	u     *UI
	cache *inventoryCache[*delegationsPlan]
}

func newDNSScreen(u *UI) *dnsScreen {
	p := &dnsScreen{u: u}
	p.cache = newInventoryCache(u.now, func(err error) { u.log.Error("ui: plan the DNS delegations", "err", err) }, p.compute)
	return p
}

// page shows the _acme-challenge CNAMEs the inventory needs in the
// managed zones, as `ottr dns plan` prints them (the first on the page,
// every one with format=zone as a zone file); with check (a button, or
// htmx) it looks them up in the live DNS as `ottr dns doctor --no-write`
// does and shows the missing ones as one zone-file snippet, and what else
// is wrong with its fix.
func (p *dnsScreen) page(w http.ResponseWriter, r *http.Request, s *session) error {
	u := p.u
	d := &delegationsData{}
	doctor := u.app.DelegationDoctor()
	if doctor == nil {
		return u.render(w, r, s, http.StatusOK, "dns", "DNS", d)
	}
	plan, at, err := p.cache.get(r.Context())
	if err != nil {
		return err
	}
	if r.URL.Query().Get("format") == "zone" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="acme-challenge-delegations.zone"`)
		_, err := io.WriteString(w, plan.needed.Text)
		return err
	}
	d.At, d.Zones, d.Needed, d.Problems = at, plan.zones, plan.needed, plan.problems
	check := r.URL.Query().Get("check") != ""
	if check {
		report, err := doctor.Run(r.Context(), plan.names)
		if err != nil {
			return err
		}
		missing := report.Missing()
		d.Checked, d.Missing = true, newSnippet(d.Zones, missing)
		inSnippet := map[string]bool{}
		for _, m := range missing {
			inSnippet[m.Name] = true
		}
		for _, f := range report.Findings {
			// Names outside the managed zones are among the problems
			// already.
			if !f.OK() && !(f.Check == dnsdoctor.CheckDelegation && inSnippet[f.Record]) && f.Status != dnsdoctor.StatusUnmanaged {
				d.Other = append(d.Other, f)
			}
		}
	}
	if r.Header.Get("HX-Request") != "" && check {
		return u.renderPartial(w, r, s, "dns", "missing", d)
	}
	return u.render(w, r, s, http.StatusOK, "dns", "DNS", d)
}

// compute plans the delegations of every asset of the inventory.
func (p *dnsScreen) compute(ctx context.Context, _ time.Time) (*delegationsPlan, error) {
	u := p.u
	doctor := u.app.DelegationDoctor()
	if doctor == nil {
		return &delegationsPlan{}, nil
	}
	needed := doctor.Delegations.NewPlan()
	plan := &delegationsPlan{zones: doctor.Delegations.Zones()}
	filter := store.AssetFilter{Limit: dnsBatch}
	for {
		assets, err := u.store.ListAssets(ctx, filter)
		if err != nil {
			return nil, fmt.Errorf("ui: plan the DNS delegations: %w", err)
		}
		for _, a := range assets {
			names := a.Names()
			needed.Add(a.SystemName, names)
			// Copied, so the plan does not keep the rest of the row read
			// from the store alive with each name.
			for _, name := range names {
				plan.names = append(plan.names, strings.Clone(name))
			}
		}
		if len(assets) < dnsBatch {
			break
		}
		filter.After = assets[len(assets)-1].SystemName
	}
	records := needed.Records()
	plan.needed, plan.problems = newSnippet(plan.zones, records), needed.Problems
	plan.needed.Shown = min(len(records), neededPreview)
	plan.needed.Preview = zoneText(plan.zones, records[:plan.needed.Shown])
	return plan, nil
}
