package ui

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
)

// view is what every page's template gets.
type view struct {
	Title string
	// Path is the request's path, to mark the current screen in the nav.
	Path    string
	Session *session
	// CSRF is the token the page's forms carry.
	CSRF string
	Nav  []navItem
	Now  time.Time
	Data any
}

// Can reports whether the page's user has role min or a higher one;
// templates use it to show only what the user may do.
func (v *view) Can(min string) bool { return v.Session.Can(min) }

// Current reports whether p is the screen the page belongs to.
func (v *view) Current(p string) bool {
	if p == "/ui/" {
		return v.Path == "/ui/"
	}
	return v.Path == p || strings.HasPrefix(v.Path, p+"/")
}

// shared are the templates every page is parsed with.
var shared = []string{"templates/layout.html", "templates/partials.html"}

// parseTemplates parses each page (every other templates/*.html) together
// with the layout and partials, so each page defines its own "content".
func (u *UI) parseTemplates() (map[string]*template.Template, error) {
	base, err := template.New("").Funcs(u.funcs()).ParseFS(templateFiles, shared...)
	if err != nil {
		return nil, fmt.Errorf("ui: parse templates: %w", err)
	}
	files, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("ui: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, f := range files {
		if f == shared[0] || f == shared[1] {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFiles, f)
		if err != nil {
			return nil, fmt.Errorf("ui: parse %s: %w", f, err)
		}
		pages[strings.TrimSuffix(path.Base(f), ".html")] = t
	}
	return pages, nil
}

// render writes page (templates/<page>.html) in the layout with data.
func (u *UI) render(w http.ResponseWriter, r *http.Request, s *session, status int, page, title string, data any) error {
	v := &view{Session: s, Data: data}
	if s != nil {
		v.CSRF = s.CSRF
	}
	return u.renderWith(w, r, status, page, title, v)
}

func (u *UI) renderWith(w http.ResponseWriter, r *http.Request, status int, page, title string, v *view) error {
	v.Title, v.Path, v.Now = title, r.URL.Path, u.now().UTC()
	for _, n := range nav {
		if v.Session.Can(n.Role) {
			v.Nav = append(v.Nav, n)
		}
	}
	return u.execute(w, status, page, "layout", v)
}

// renderPartial writes one named template of page alone: the fragment an
// htmx request swaps in.
func (u *UI) renderPartial(w http.ResponseWriter, r *http.Request, s *session, page, name string, data any) error {
	v := &view{Session: s, Data: data, Path: r.URL.Path, Now: u.now().UTC()}
	if s != nil {
		v.CSRF = s.CSRF
	}
	return u.execute(w, http.StatusOK, page, name, v)
}

// execute renders into a buffer first, so a template error is a clean 500
// rather than half a page.
func (u *UI) execute(w http.ResponseWriter, status int, page, name string, v *view) error {
	t, ok := u.pages[page]
	if !ok {
		return fmt.Errorf("ui: no template for page %q", page)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, v); err != nil {
		return fmt.Errorf("ui: render %s: %w", page, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// redirect answers a form's POST with the page to show next (303, so the
// browser GETs it and a reload does not post again).
func (u *UI) redirect(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// shownError is an error the user can act on, shown as the page.
type shownError struct {
	status int
	msg    string
}

func (e *shownError) Error() string { return e.msg }

// userError returns an error shown to the user with status: say what was
// wrong and how to fix it.
func userError(status int, msg string) error { return &shownError{status: status, msg: msg} }

type errorData struct {
	Status  int
	Heading string
	Message string
}

// fail shows err as a page: a shownError as it says, anything else as a
// 500 whose details go to the log only.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	var shown *shownError
	var invalid *asset.ValidationError
	if errors.As(err, &invalid) {
		shown = &shownError{http.StatusUnprocessableEntity, "the asset would break these rules, so nothing was saved: " + invalid.Error()}
	}
	if shown == nil && !errors.As(err, &shown) {
		u.log.Error("ui: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		shown = &shownError{http.StatusInternalServerError, "the server could not show this page; its log has the details"}
	}
	d := &errorData{Status: shown.status, Heading: http.StatusText(shown.status), Message: shown.msg}
	if err := u.render(w, r, s, shown.status, "error", d.Heading, d); err != nil {
		u.log.Error("ui: render the error page", "err", err)
		http.Error(w, shown.msg, shown.status)
	}
}

func (u *UI) notFoundPage(http.ResponseWriter, *http.Request, *session) error {
	return userError(http.StatusNotFound, "there is no such page: the navigation above lists every screen")
}

// funcs are the template functions.
func (u *UI) funcs() template.FuncMap {
	return template.FuncMap{
		"utc":      func(t time.Time) string { return formatUTC(t) },
		"relative": func(t time.Time) string { return relative(t, u.now()) },
		"when":     func(t any) template.HTML { return when(t, u.now()) },
		"pathpart": pathEscape,
		"field":    newField,
		"dict":     dict,
		"sub":      func(a, b int) int { return a - b },
	}
}

// formatUTC is how the UI writes a time: in UTC, to the minute.
func formatUTC(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// relative says how far t is from now: "in 12 days", "3 hours ago".
func relative(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := t.Sub(now)
	future := d >= 0
	if !future {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		return "now"
	case d < time.Hour:
		s = plural(int(d/time.Minute), "minute")
	case d < 48*time.Hour:
		s = plural(int(d/time.Hour), "hour")
	default:
		s = plural(int(d/(24*time.Hour)), "day")
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// when writes a time as a <time> element: UTC, then how far from now.
// It takes a time.Time or a *time.Time (nil shows a dash).
func when(v any, now time.Time) template.HTML {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x != nil {
			t = *x
		}
	}
	if t.IsZero() {
		return "—"
	}
	return template.HTML(fmt.Sprintf(`<time datetime="%s">%s <span class="rel">(%s)</span></time>`,
		t.UTC().Format(time.RFC3339), formatUTC(t), template.HTMLEscapeString(relative(t, now))))
}

// dict builds a map from key, value pairs, to pass several values to a
// partial.
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, errors.New("dict: want key, value pairs")
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, errors.New("dict: keys must be strings")
		}
		m[k] = kv[i+1]
	}
	return m, nil
}

// pathEscape escapes one segment of a UI path (an asset's name).
func pathEscape(s string) string { return url.PathEscape(s) }
