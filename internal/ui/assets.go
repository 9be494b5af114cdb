package ui

import (
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/api"
	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
)

// Page sizes of the assets table.
const (
	defaultPageSize = 50
	// maxPageSize bounds a page, whose rows are each read from the
	// store.
	maxPageSize = 200
	// maxExpiryDays bounds the expiry filter as the API's search bounds
	// days_until_expiration.
	maxExpiryDays = 36500
	maxFilterLen  = 253
)

type assetsData struct {
	Form    *form
	Rows    []assetRow
	Total   int
	First   int
	Last    int
	Page    int
	PerPage int
	// Prev and Next are the neighbouring pages.
	Prev, Next template.URL
	// Query is the current query string without sort and page, for the
	// column headers' sort links; Back is the whole current query.
	Query       template.URL
	Back        string
	Sort        string
	Descending  bool
	States      []string
	DataCenters []string
	Platforms   []string
	CAs         []string
	Columns     []column
}

// column is a sortable column header.
type column struct {
	Label, Sort string
}

var assetColumns = []column{
	{"Asset", "name"}, {"State", "state"}, {"Data center", "data_center"}, {"Platform", "platform"},
	{"CA", "ca"}, {"Expires", "expiry"},
}

// assetsPage lists the assets that match the filter, a page at a time.
func (u *UI) assetsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	now := u.now().UTC()
	query := r.URL.Query()
	f := &form{Values: query, Errors: map[string]string{}}
	var q assetQuery
	page, per := parseFilters(f, &q, now)
	d := &assetsData{Form: f, Page: page, PerPage: per, Sort: q.sort, Descending: q.descending,
		States: append([]string{""}, displayStates...)}
	if d.Sort == "" {
		d.Sort = "name"
	}
	d.Platforms = slices.Sorted(maps.Keys(u.app.Routes.Platforms()))
	d.CAs = slices.Sorted(maps.Keys(u.app.Current().CertificateAuthorities))
	d.Columns = assetColumns
	fleet, err := u.fleet.view(ctx)
	if err != nil {
		return err
	}
	d.DataCenters = fleet.dataCenters
	status := http.StatusOK
	q.offset, q.limit = (page-1)*per, per
	if f.ok() {
		if d.Rows, d.Total, err = u.page(ctx, fleet, q); err != nil {
			return err
		}
	} else {
		status = http.StatusUnprocessableEntity
	}
	d.First, d.Last = q.offset+1, q.offset+len(d.Rows)
	base := url.Values{}
	for k, v := range query {
		if k != "page" && v[0] != "" {
			base[k] = v
		}
	}
	d.Back = base.Encode()
	if page > 1 {
		d.Prev = withPage(base, page-1)
	}
	if d.Last < d.Total {
		d.Next = withPage(base, page+1)
	}
	delete(base, "sort")
	delete(base, "dir")
	// Encoded by url.Values, so safe as is in an href.
	d.Query = template.URL(base.Encode())
	return u.render(w, r, s, status, "assets", "Assets", d)
}

// withPage is the assets table's URL of another page.
func withPage(v url.Values, page int) template.URL {
	c := maps.Clone(v)
	c.Set("page", strconv.Itoa(page))
	return template.URL("/ui/assets?" + c.Encode())
}

// parseFilters reads the table's filters into q, recording each bad one
// in f, and returns the page and page size.
func parseFilters(f *form, q *assetQuery, now time.Time) (page, per int) {
	text := func(name string) string {
		v := strings.TrimSpace(f.get(name))
		if len(v) > maxFilterLen {
			f.fail(name, fmt.Sprintf("at most %d characters", maxFilterLen))
			return ""
		}
		return v
	}
	q.nameContains = text("name")
	q.dataCenter = strings.ToLower(text("dc"))
	q.platform = text("platform")
	q.ca = text("ca")
	if state := f.get("state"); state != "" {
		if !slices.Contains(displayStates, state) {
			f.fail("state", "state must be one of "+strings.Join(displayStates, ", "))
		}
		q.state = state
	}
	if labels := text("labels"); labels != "" {
		q.labels = map[string]string{}
		for _, pair := range strings.FieldsFunc(labels, func(r rune) bool { return r == ',' || r == ' ' }) {
			k, v, ok := strings.Cut(pair, "=")
			if !ok || k == "" {
				f.fail("labels", fmt.Sprintf("%q is not key=value: write labels as key=value, separated by commas", pair))
				break
			}
			q.labels[k] = v
		}
	}
	if days := strings.TrimSpace(f.get("days")); days != "" {
		n, err := strconv.Atoi(days)
		if err != nil || n < -maxExpiryDays || n > maxExpiryDays {
			f.fail("days", fmt.Sprintf("a whole number of days from -%d to %d", maxExpiryDays, maxExpiryDays))
		} else {
			cutoff := now.Add(time.Duration(n) * 24 * time.Hour)
			q.expiresBefore = &cutoff
		}
	}
	if sort := f.get("sort"); sort != "" {
		if !slices.Contains(assetSorts, sort) {
			f.fail("sort", "sort by one of "+strings.Join(assetSorts, ", "))
		}
		q.sort = sort
	}
	q.descending = f.get("dir") == "desc"
	page, per = 1, defaultPageSize
	if p := f.get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			f.fail("page", "a page number from 1")
		} else {
			page = n
		}
	}
	if p := f.get("per"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > maxPageSize {
			f.fail("per", fmt.Sprintf("from 1 to %d rows a page", maxPageSize))
		} else {
			per = n
		}
	}
	return page, per
}

// bulkActions are what assetsBulk can do to the chosen assets.
var bulkActions = map[string]string{"pause": "Paused", "resume": "Resumed", "rotate": "Rotation started for"}

type bulkData struct {
	Action  string
	Done    []bulkResult
	Failed  []bulkResult
	Back    string
	Heading string
}

type bulkResult struct {
	Asset      string
	Message    string
	RotationID int64
}

// maxBulk bounds one bulk action, so one form cannot hold the server for
// minutes.
const maxBulk = 1000

// assetsBulk pauses, resumes or rotates the chosen assets, each as the
// asset page would, and shows what became of each.
func (u *UI) assetsBulk(w http.ResponseWriter, r *http.Request, s *session) error {
	f := newForm(r)
	action := f.get("action")
	heading, ok := bulkActions[action]
	if !ok {
		return userError(http.StatusBadRequest, "choose pause, resume or rotate")
	}
	names := f.Values["asset"]
	if len(names) == 0 {
		return userError(http.StatusUnprocessableEntity, "choose at least one asset with its checkbox, then the action")
	}
	if len(names) > maxBulk {
		return userError(http.StatusUnprocessableEntity, fmt.Sprintf("choose at most %d assets at once", maxBulk))
	}
	d := &bulkData{Action: action, Heading: heading, Back: "/ui/assets"}
	if back := f.get("back"); back != "" {
		if _, err := url.ParseQuery(back); err == nil {
			d.Back += "?" + back
		}
	}
	for _, name := range names {
		res := bulkResult{Asset: asset.NormalizeName(name)}
		var err error
		switch action {
		case "pause", "resume":
			err = u.setPaused(r, s, res.Asset, action == "pause")
		case "rotate":
			var rot store.Rotation
			rot, err = u.sessions.Rotate(r.Context(), s.User.Username, s.RemoteAddr, res.Asset)
			res.RotationID = rot.ID
		}
		if err != nil {
			res.Message = actionError(err)
			d.Failed = append(d.Failed, res)
			continue
		}
		d.Done = append(d.Done, res)
	}
	return u.render(w, r, s, http.StatusOK, "bulk", heading, d)
}

// actionError is what the user is told about a failed action on one
// asset; errors the user cannot act on are logged by the caller's path.
func actionError(err error) string {
	var shown *shownError
	var active *api.ActiveRotationError
	switch {
	case errors.As(err, &shown):
		return shown.msg
	case errors.As(err, &active):
		return fmt.Sprintf("rotation %d is already %s", active.Rotation.ID, active.Rotation.State)
	case errors.Is(err, store.ErrNotFound):
		return "no such asset (deleted meanwhile?)"
	case errors.Is(err, api.ErrNoRoute):
		return "no route takes it: add a route for it, or fix its platform, OS version, CA or model"
	}
	return "failed: " + err.Error()
}
