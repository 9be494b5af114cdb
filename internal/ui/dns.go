package ui

import (
	"net/http"
	"strings"

	"github.com/ottr-go/ottr/internal/dnsdelegate"
	"github.com/ottr-go/ottr/internal/dnsdoctor"
	"github.com/ottr-go/ottr/internal/store"
)

// dnsBatch is how many assets the DNS screen reads from the store at a
// time.
const dnsBatch = 1000

type dnsScreen struct {
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
}

func newSnippet(zones []string, records []dnsdelegate.Record) snippet {
	var b strings.Builder
	b.WriteString("; _acme-challenge delegations for zones " + strings.Join(zones, ", ") + "\n")
	for _, r := range records {
		b.WriteString(r.ZoneLine() + "\n")
	}
	return snippet{Text: b.String(), Count: len(records)}
}

// dnsPage shows the _acme-challenge CNAMEs the inventory needs in the
// managed zones, as `ottr dns plan` prints them; with check (a button,
// or htmx on load) it looks them up in the live DNS as `ottr dns doctor
// --no-write` does and shows the missing ones as one zone-file snippet,
// and what else is wrong with its fix.
func (u *UI) dnsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	d := &dnsScreen{}
	doctor := u.app.DelegationDoctor()
	if doctor == nil {
		return u.render(w, r, s, http.StatusOK, "dns", "DNS", d)
	}
	d.Zones = doctor.Delegations.Zones()
	plan := doctor.Delegations.NewPlan()
	var names []string
	check := r.URL.Query().Get("check") != ""
	filter := store.AssetFilter{Limit: dnsBatch}
	for {
		assets, err := u.store.ListAssets(r.Context(), filter)
		if err != nil {
			return err
		}
		for _, a := range assets {
			plan.Add(a.SystemName, a.Names())
			if check {
				names = append(names, a.Names()...)
			}
		}
		if len(assets) < dnsBatch {
			break
		}
		filter.After = assets[len(assets)-1].SystemName
	}
	d.Needed, d.Problems = newSnippet(d.Zones, plan.Records()), plan.Problems
	if check {
		report, err := doctor.Run(r.Context(), names)
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
