package ui

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/store"
)

// auditPageSize is how many events one page of the audit screen shows.
const auditPageSize = 50

// auditTimeLayouts are the ways a time filter may be written, all in UTC:
// what a datetime-local input sends, with seconds, or a day alone.
var auditTimeLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04", time.RFC3339, "2006-01-02"}

// auditFilterLimits are the API's limits on the audit filters.
var auditFilterLimits = map[string]int{"actor": 256, "action": 128, "target": 512}

type auditEvent struct {
	store.AuditEvent
	// Asset is the asset the event is about, if it is about one.
	Asset string
}

type auditData struct {
	Form   *form
	Events []auditEvent
	// Older links the next page, Newest the first; empty when there is
	// none.
	Older, Newest string
}

// auditPage shows the audit trail newest first, filtered by user, action,
// record and time range, a page at a time (keyset paging, as the API's).
func (u *UI) auditPage(w http.ResponseWriter, r *http.Request, s *session) error {
	f := queryForm(r)
	d := &auditData{Form: f}
	filter := store.AuditFilter{
		Actor:  strings.TrimSpace(f.get("actor")),
		Action: strings.TrimSpace(f.get("action")),
		Target: strings.TrimSpace(f.get("target")),
		Limit:  auditPageSize + 1,
	}
	for field, limit := range auditFilterLimits {
		if n := len(f.get(field)); n > limit {
			f.fail(field, fmt.Sprintf("must be at most %d characters (this is %d)", limit, n))
		}
	}
	filter.Since = parseAuditTime(f, "since")
	filter.Until = parseAuditTime(f, "until")
	if !filter.Since.IsZero() && !filter.Until.IsZero() && !filter.Until.After(filter.Since) {
		f.fail("until", "must be after the start of the range")
	}
	if before := f.get("before_id"); before != "" {
		id, err := strconv.ParseInt(before, 10, 64)
		if err != nil || id < 1 {
			f.Error = "the page link is broken: start again from the newest events"
		}
		filter.BeforeID = id
		d.Newest = pageLink(r, "before_id", "")
	}
	if !f.ok() {
		return u.render(w, r, s, http.StatusUnprocessableEntity, "audit", "Audit", d)
	}
	events, err := u.store.ListAudit(r.Context(), filter)
	if err != nil {
		return err
	}
	if len(events) > auditPageSize {
		events = events[:auditPageSize]
		d.Older = pageLink(r, "before_id", strconv.FormatInt(events[len(events)-1].ID, 10))
	}
	for _, e := range events {
		v := auditEvent{AuditEvent: e}
		if name, ok := strings.CutPrefix(e.Target, "asset/"); ok {
			v.Asset = name
		}
		d.Events = append(d.Events, v)
	}
	return u.render(w, r, s, http.StatusOK, "audit", "Audit", d)
}

// parseAuditTime reads the time filter field in UTC, recording on f what
// is wrong with it.
func parseAuditTime(f *form, field string) time.Time {
	v := strings.TrimSpace(f.get(field))
	if v == "" {
		return time.Time{}
	}
	for _, layout := range auditTimeLayouts {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t
		}
	}
	f.fail(field, "must be a UTC time like 2026-12-07T14:30, or a day like 2026-12-07")
	return time.Time{}
}

// pageLink is the request's URL with the query value key set to value,
// or removed when value is empty.
func pageLink(r *http.Request, key, value string) string {
	q := r.URL.Query()
	if value == "" {
		q.Del(key)
	} else {
		q.Set(key, value)
	}
	if len(q) == 0 {
		return r.URL.Path
	}
	return r.URL.Path + "?" + q.Encode()
}
