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

// planEntry is one asset's row of the plan, with the fields the screen
// filters on.
type planEntry struct {
	row                  planRow
	dataCenter, platform string
}

// planScreen is the plan screen: the dry run over the whole fleet, kept
// in an inventoryCache, filtered and paged for each page.
type planScreen struct {
	u     *UI
	cache *inventoryCache[[]planEntry]
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

	entries, at, err := p.cache.get(r.Context())
	if err != nil {
		return err
	}
	d.At = at
	for i := range entries {
		e := &entries[i]
		if name != "" && e.row.Asset != name || dataCenter != "" && e.dataCenter != dataCenter || platform != "" && e.platform != platform {
			continue
		}
		d.Assets++
		if e.row.Due {
			d.Due++
		}
		if e.row.Route == "" {
			d.NoRoute++
		}
		if e.row.RunsAt != nil && e.row.RunsAt.After(d.Last) {
			d.Last = *e.row.RunsAt
		}
		if dueOnly && !e.row.Due {
			continue
		}
		if d.Shown >= first && d.Shown < first+planPageSize {
			d.Rows = append(d.Rows, e.row)
		}
		d.Shown++
	}
	d.Page = newPager(r.URL, page, d.Shown, planPageSize)
	return u.render(w, r, s, http.StatusOK, "plan", "Plan", d)
}

// compute plans every asset of the inventory at now.
func (p *planScreen) compute(ctx context.Context, now time.Time) ([]planEntry, error) {
	u := p.u
	settings := u.app.Current().Policy
	table := u.app.Routes.Table()
	var (
		entries  []planEntry
		bookings scheduler.Bookings
	)
	filter := store.AssetFilter{Limit: planBatch}
	for {
		assets, err := u.store.ListAssets(ctx, filter)
		if err != nil {
			return nil, fmt.Errorf("ui: plan: %w", err)
		}
		for _, a := range assets {
			dec := policy.Decide(policy.Input{Asset: a, Now: now, Settings: settings})
			row := planRow{Asset: a.SystemName, Due: dec.Due, Reason: dec.Reason, Message: dec.Message, When: dec.When(now), RouteIndex: -1}
			if rt, i, ok := table.Match(a); ok {
				row.Route, row.Driver, row.RouteIndex = rt.Name, rt.Driver, i
				if row.Due {
					bookings.Add(len(entries), a, now)
				}
			}
			entries = append(entries, planEntry{row: row, dataCenter: a.DataCenter, platform: a.HostPlatform})
		}
		if len(assets) < planBatch {
			break
		}
		filter.After = assets[len(assets)-1].SystemName
	}
	bookings.Times(u.app.Budget, func(i int, at time.Time) { entries[i].row.RunsAt = &at })
	return entries, nil
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
