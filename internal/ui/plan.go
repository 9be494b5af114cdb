package ui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/policy"
	routetable "github.com/ottr-go/ottr/internal/route"
	"github.com/ottr-go/ottr/internal/scheduler"
	"github.com/ottr-go/ottr/internal/store"
)

// planPageSize is how many rows of the plan one page shows; the counts
// and booked times always cover every asset the filter selects.
const planPageSize = 200

// planBatch is how many assets the plan reads from the store at a time.
const planBatch = 1000

// planRow is what the plan says of one asset: what `ottr plan` prints.
type planRow struct {
	Asset   string
	Due     bool
	Reason  string
	Message string
	// When is when the asset is (or was) due.
	When time.Time
	// RunsAt is when the scheduler would run the due rotation, given the
	// CA's rate limits; nil when none would run.
	RunsAt *time.Time
	// Route and Driver are the route that takes the asset; Route is ""
	// when none does.
	Route, Driver string
	RouteIndex    int
}

type planData struct {
	Form *form
	Rows []planRow
	// At is when the plan was computed.
	At time.Time
	// Assets, Due and NoRoute count every asset the filter selects.
	Assets, Due, NoRoute int
	// Shown is how many rows the filter shows (all, or the due ones).
	Shown int
	// Last is when the last booked rotation of those selected runs; zero
	// when none is.
	Last time.Time
	Page pager
}

// fleetPlan is the plan of every asset of the inventory at one time. It
// keeps of each asset only what the screen filters, counts and books on,
// and the few fields the renewal policy reads: a page decides the rows it
// shows again, at the plan's time and with its settings, which gives the
// same decision, rather than the plan keeping a sentence and the route's
// names for each of 100,000 assets (BENCHMARKS.md has the bytes).
type fleetPlan struct {
	entries  []planEntry
	at       time.Time
	settings policy.Settings
	// routes are the routing table's routes when the plan was made.
	routes []routetable.Route
}

// planEntry is what the plan keeps of one asset.
type planEntry struct {
	name, dataCenter, platform string
	// expiry, notBefore, nextAttempt and runsAt are Unix nanoseconds, 0
	// when there is none; runsAt is when the due rotation would run.
	expiry, notBefore, nextAttempt, runsAt int64
	window                                 *asset.Window
	failures                               int32
	// route is the index of the route that takes the asset; -1 for none.
	route       int32
	paused, due bool
}

// newPlanEntry keeps what the plan needs of a; the name is copied, as
// newFleetEntry copies it, so the plan does not keep the rest of the row
// read from the store alive with it (about 190 bytes an asset).
func newPlanEntry(a asset.Asset, due bool, route int) planEntry {
	return planEntry{name: strings.Clone(a.SystemName), dataCenter: a.DataCenter, platform: a.HostPlatform,
		expiry: unixNano(a.CertificateExpiration), notBefore: unixNano(a.CertificateNotBefore), nextAttempt: unixNano(a.NextAttemptAt),
		window: a.RenewalWindow, failures: int32(a.FailureCount), route: int32(route), paused: a.Paused, due: due}
}

// row decides e again as the plan did, for the page that shows it.
func (p *fleetPlan) row(e *planEntry) planRow {
	a := asset.Asset{SystemName: e.name, CertificateExpiration: fromUnixNano(e.expiry), CertificateNotBefore: fromUnixNano(e.notBefore),
		NextAttemptAt: fromUnixNano(e.nextAttempt), RenewalWindow: e.window, FailureCount: int(e.failures), Paused: e.paused}
	dec := policy.Decide(policy.Input{Asset: a, Now: p.at, Settings: p.settings})
	row := planRow{Asset: e.name, Due: dec.Due, Reason: dec.Reason, Message: dec.Message, When: dec.When(p.at), RouteIndex: -1,
		RunsAt: fromUnixNano(e.runsAt)}
	if e.route >= 0 {
		rt := p.routes[e.route]
		row.Route, row.Driver, row.RouteIndex = rt.Name, rt.Driver, int(e.route)
	}
	return row
}

func unixNano(t *time.Time) int64 {
	if t == nil {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) *time.Time {
	if n == 0 {
		return nil
	}
	t := time.Unix(0, n).UTC()
	return &t
}

// planScreen is the plan screen: the dry run over the whole fleet, kept
// in an inventoryCache, filtered and paged for each page.
type planScreen struct {
	u     *UI
	cache *inventoryCache[*fleetPlan]
}

func newPlanScreen(u *UI) *planScreen {
	p := &planScreen{u: u}
	p.cache = newInventoryCache(u.now, func(err error) { u.log.Error("ui: compute the plan", "err", err) }, p.compute)
	return p
}

// page shows the renewal dry run over the fleet or a filter: for every
// asset whether it is due and why, when the scheduler would run it, and
// the route that takes it. It decides as `ottr plan` and the API's plan
// do (policy.Decide, the routing table, scheduler.Bookings) and changes
// nothing. Run times are booked over the whole fleet, as the scheduler
// books them, whatever the filter shows.
func (p *planScreen) page(w http.ResponseWriter, r *http.Request, s *session) error {
	u := p.u
	f := queryForm(r)
	name := asset.NormalizeName(f.get("name"))
	dataCenter := strings.ToLower(strings.TrimSpace(f.get("data_center")))
	platform := strings.TrimSpace(f.get("platform"))
	checkFilter(f, asset.Asset{SystemName: name, DataCenter: dataCenter},
		map[string]string{"system_name": "name", "data_center": "data_center"})
	d := &planData{Form: f}
	if !f.ok() {
		return u.render(w, r, s, http.StatusUnprocessableEntity, "plan", "Plan", d)
	}
	dueOnly := f.get("due") != ""
	page := pageNumber(f.get("page"))
	first := (page - 1) * planPageSize

	plan, at, err := p.cache.get(r.Context())
	if err != nil {
		return err
	}
	d.At = at
	var last int64 // the latest run time, Unix nanoseconds
	for i := range plan.entries {
		e := &plan.entries[i]
		if name != "" && e.name != name || dataCenter != "" && e.dataCenter != dataCenter || platform != "" && e.platform != platform {
			continue
		}
		d.Assets++
		if e.due {
			d.Due++
		}
		if e.route < 0 {
			d.NoRoute++
		}
		last = max(last, e.runsAt)
		if dueOnly && !e.due {
			continue
		}
		if d.Shown >= first && d.Shown < first+planPageSize {
			d.Rows = append(d.Rows, plan.row(e))
		}
		d.Shown++
	}
	if last != 0 {
		d.Last = time.Unix(0, last).UTC()
	}
	d.Page = newPager(r.URL, page, d.Shown, planPageSize)
	return u.render(w, r, s, http.StatusOK, "plan", "Plan", d)
}

// compute plans every asset of the inventory at now.
func (p *planScreen) compute(ctx context.Context, now time.Time) (*fleetPlan, error) {
	u := p.u
	table := u.app.Routes.Table()
	plan := &fleetPlan{at: now, settings: u.app.Current().Policy, routes: table.Routes()}
	// Data centers and platforms are few: the entries share one string of
	// each rather than keep the copy every read of the store makes.
	shared := map[string]string{}
	intern := func(s string) string {
		if v, ok := shared[s]; ok {
			return v
		}
		shared[s] = s
		return s
	}
	var bookings scheduler.Bookings
	filter := store.AssetFilter{Limit: planBatch}
	for {
		assets, err := u.store.ListAssets(ctx, filter)
		if err != nil {
			return nil, fmt.Errorf("ui: plan: %w", err)
		}
		for _, a := range assets {
			dec := policy.Decide(policy.Input{Asset: a, Now: now, Settings: plan.settings})
			route := -1
			if _, i, ok := table.Match(a); ok {
				route = i
				if dec.Due {
					bookings.Add(len(plan.entries), a, now)
				}
			}
			a.DataCenter, a.HostPlatform = intern(a.DataCenter), intern(a.HostPlatform)
			plan.entries = append(plan.entries, newPlanEntry(a, dec.Due, route))
		}
		if len(assets) < planBatch {
			break
		}
		filter.After = assets[len(assets)-1].SystemName
	}
	bookings.Times(u.app.Budget, func(i int, at time.Time) { plan.entries[i].runsAt = at.UnixNano() })
	return plan, nil
}

// queryForm is a GET form: the filters of a page, from the query string.
func queryForm(r *http.Request) *form {
	return &form{Values: r.URL.Query(), Errors: map[string]string{}}
}

// checkFilter checks a filter's values with the API's asset rules: probe
// carries them in an asset's fields, and fields maps each asset field to
// the form field it came from. Only fields given are checked.
func checkFilter(f *form, probe asset.Asset, fields map[string]string) {
	var verr *asset.ValidationError
	if err := asset.Validate(probe, asset.Rules{}); err != nil && errors.As(err, &verr) {
		for _, fe := range verr.Errors {
			if name, ok := fields[fe.Field]; ok && f.get(name) != "" {
				f.fail(name, fe.Field+" "+fe.Rule)
			}
		}
	}
}

// pageNumber reads a page number, 1 for anything that is not one.
func pageNumber(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// pager is the links to the pages around the one shown.
type pager struct {
	Page, Pages, Total int
	Prev, Next         string
}

// newPager builds the links of page out of pages of size over total
// rows, keeping the request's other query values.
func newPager(u *url.URL, page, total, size int) pager {
	p := pager{Page: page, Total: total, Pages: max(1, (total+size-1)/size)}
	link := func(n int) string {
		q := u.Query()
		q.Set("page", strconv.Itoa(n))
		return u.Path + "?" + q.Encode()
	}
	if page > 1 {
		p.Prev = link(min(page-1, p.Pages))
	}
	if page < p.Pages {
		p.Next = link(page + 1)
	}
	return p
}
