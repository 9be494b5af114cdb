package ui

import (
	"errors"
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
	// Assets, Due and NoRoute count every asset the filter selects.
	Assets, Due, NoRoute int
	// Shown is how many rows the filter shows (all, or the due ones).
	Shown int
	// Last is when the last booked rotation runs; zero when none is.
	Last       time.Time
	Page       pager
	FilterDesc string
}

// planPage shows the renewal dry run over the fleet or a filter: for every
// asset whether it is due and why, when the scheduler would run it, and
// the route that takes it. It decides as `ottr plan` and the API's plan
// do (policy.Decide, the routing table, scheduler.Bookings) and changes
// nothing.
func (u *UI) planPage(w http.ResponseWriter, r *http.Request, s *session) error {
	f := queryForm(r)
	filter := store.AssetFilter{
		SystemName:   asset.NormalizeName(f.get("name")),
		DataCenter:   strings.ToLower(strings.TrimSpace(f.get("data_center"))),
		HostPlatform: strings.TrimSpace(f.get("platform")),
		Limit:        planBatch,
	}
	checkFilter(f, asset.Asset{SystemName: filter.SystemName, DataCenter: filter.DataCenter},
		map[string]string{"system_name": "name", "data_center": "data_center"})
	d := &planData{Form: f}
	if !f.ok() {
		return u.render(w, r, s, http.StatusUnprocessableEntity, "plan", "Plan", d)
	}
	dueOnly := f.get("due") != ""
	page := pageNumber(f.get("page"))
	first := (page - 1) * planPageSize

	now := u.now().UTC()
	settings := u.app.Current().Policy
	var bookings scheduler.Bookings
	for {
		assets, err := u.store.ListAssets(r.Context(), filter)
		if err != nil {
			return err
		}
		for _, a := range assets {
			dec := policy.Decide(policy.Input{Asset: a, Now: now, Settings: settings})
			row := planRow{Asset: a.SystemName, Due: dec.Due, Reason: dec.Reason, Message: dec.Message, When: dec.When(now), RouteIndex: -1}
			rt, i, routed := u.app.Routes.Match(a)
			if routed {
				row.Route, row.Driver, row.RouteIndex = rt.Name, rt.Driver, i
			}
			d.Assets++
			if row.Due {
				d.Due++
			}
			if !routed {
				d.NoRoute++
			}
			shown := -1
			if !dueOnly || row.Due {
				if d.Shown >= first && d.Shown < first+planPageSize {
					shown = len(d.Rows)
					d.Rows = append(d.Rows, row)
				}
				d.Shown++
			}
			if row.Due && routed {
				bookings.Add(shown, a, now)
			}
		}
		if len(assets) < planBatch {
			break
		}
		filter.After = assets[len(assets)-1].SystemName
	}
	d.Last = bookings.Times(u.app.Budget, func(row int, at time.Time) {
		if row >= 0 {
			d.Rows[row].RunsAt = &at
		}
	})
	d.Page = newPager(r.URL, page, d.Shown, planPageSize)
	return u.render(w, r, s, http.StatusOK, "plan", "Plan", d)
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
