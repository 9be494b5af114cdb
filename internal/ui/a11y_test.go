package ui

import (
	"context"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/ottr-go/ottr/internal/store"
)

// accessibilityPages are every page of the UI, in its fullest states,
// with the least role that may open each; the asset and rotation pages
// are of a fleet with an asset in every state.
func accessibilityPages(t *testing.T, e *env) []struct{ path, role string } {
	t.Helper()
	name := e.fleet()["failing"].SystemName
	rot, err := e.app.Store.CreateRotation(context.Background(), store.Rotation{Asset: name, Trigger: store.TriggerManual, State: store.StateRunning})
	if err != nil {
		t.Fatal(err)
	}
	pages := append(assetPages(name, rot.ID),
		struct{ path, role string }{"/ui/assets?state=failing&sort=expiry", store.RoleDeveloper},
		struct{ path, role string }{"/ui/assets?days=x", store.RoleDeveloper},
		struct{ path, role string }{"/ui/no-such-screen", store.RoleDeveloper})
	for _, sc := range screens {
		pages = append(pages, struct{ path, role string }{sc.path, sc.role})
	}
	for _, op := range operationsPages {
		pages = append(pages, struct{ path, role string }{op.path, strings.ToUpper(op.role)})
	}
	return pages
}

func TestEveryPageLabelsItsControlsAndIsUsableFromTheKeyboardForEveryRole(t *testing.T) {
	e := newEnv(t)
	pages := accessibilityPages(t, e)
	visitor := e.browser()
	checkAccessible(t, "/ui/login", "a visitor", visitor.get("/ui/login"))
	for _, role := range roles {
		b := e.loggedIn(strings.ToLower(role))
		for _, pg := range pages {
			if rank[role] < rank[pg.role] {
				continue
			}
			p := b.get(pg.path)
			if want := pageStatus(pg.path); p.status != want {
				t.Errorf("%s as %s: status %d, want %d", pg.path, role, p.status, want)
			}
			checkAccessible(t, pg.path, role, p)
		}
	}
	// A form sent back with its errors is labelled as the empty one.
	b := e.loggedIn("admin")
	bad := b.postForm("/ui/users", "/ui/users", url.Values{"op": {"create"}, "username": {"da na"}, "password": {"short"}, "role": {"ROOT"}})
	checkAccessible(t, "/ui/users (create, refused)", "ADMIN", bad)
}

// pageStatus is the status a page of accessibilityPages answers.
func pageStatus(path string) int {
	switch {
	case path == "/ui/no-such-screen":
		return 404
	case strings.Contains(path, "days=x"):
		return 422
	}
	return 200
}

// checkAccessible fails t with the page and the element for every form
// control without a label, table header without a scope, element that
// acts on a click without being a link or a button, and, for a whole
// document, a missing lang or skip link.
func checkAccessible(t *testing.T, path, role string, p page) {
	t.Helper()
	doc := parsedPage(t, path, p.body)
	ids := map[string]*html.Node{}
	for _, n := range elements(doc, "*") {
		if id, ok := attr(n, "id"); ok {
			ids[id] = n
		}
	}
	whole := strings.HasPrefix(strings.ToLower(p.body), "<!doctype html>")
	if whole {
		if lang, _ := attr(elements(doc, "html")[0], "lang"); lang == "" {
			t.Errorf("%s as %s: <html> has no lang", path, role)
		}
		links := elements(doc, "a")
		if len(links) == 0 {
			t.Errorf("%s as %s: no skip link", path, role)
		} else if href, _ := attr(links[0], "href"); !strings.HasPrefix(href, "#") || ids[strings.TrimPrefix(href, "#")] == nil {
			t.Errorf("%s as %s: the first link, %s, does not skip to the content on the page", path, role, describe(links[0]))
		}
	}
	labelled := map[string]bool{}
	for _, l := range elements(doc, "label") {
		if id, ok := attr(l, "for"); ok && strings.TrimSpace(textOf(l)) != "" {
			labelled[id] = true
		}
	}
	for _, c := range elements(doc, "input", "select", "textarea") {
		if typ, _ := attr(c, "type"); typ == "hidden" || typ == "submit" || typ == "button" {
			continue
		}
		if !hasLabel(c, labelled, ids) {
			t.Errorf("%s as %s: %s has no label", path, role, describe(c))
		}
	}
	for _, button := range elements(doc, "button") {
		if aria, _ := attr(button, "aria-label"); strings.TrimSpace(textOf(button)) == "" && aria == "" {
			t.Errorf("%s as %s: %s has no text", path, role, describe(button))
		}
	}
	for _, th := range elements(doc, "th") {
		if scope, _ := attr(th, "scope"); scope != "col" && scope != "row" {
			t.Errorf("%s as %s: <th>%s</th> has no scope", path, role, strings.TrimSpace(textOf(th)))
		}
	}
	for _, n := range elements(doc, "*") {
		if clickable(n) {
			t.Errorf("%s as %s: %s acts on a click but is neither a link nor a button, so a keyboard cannot use it", path, role, describe(n))
		}
	}
}

// hasLabel reports whether a form control has a name a screen reader
// reads: a label for it, a label around it, or aria-label(ledby).
func hasLabel(c *html.Node, labelled map[string]bool, ids map[string]*html.Node) bool {
	if id, ok := attr(c, "id"); ok && labelled[id] {
		return true
	}
	if aria, _ := attr(c, "aria-label"); strings.TrimSpace(aria) != "" {
		return true
	}
	if by, ok := attr(c, "aria-labelledby"); ok {
		for _, id := range strings.Fields(by) {
			if n := ids[id]; n != nil && strings.TrimSpace(textOf(n)) != "" {
				return true
			}
		}
	}
	for p := c.Parent; p != nil; p = p.Parent {
		if p.Type == html.ElementNode && p.Data == "label" {
			return true
		}
	}
	return false
}

// clickable reports whether n acts on a click (an onclick, or an htmx
// request htmx sends on a click) without being something a keyboard
// reaches and presses.
func clickable(n *html.Node) bool {
	switch n.Data {
	case "a", "button", "input", "select", "textarea", "form":
		return false
	}
	if _, ok := attr(n, "onclick"); ok {
		return true
	}
	for _, verb := range []string{"hx-get", "hx-post", "hx-put", "hx-patch", "hx-delete"} {
		if _, ok := attr(n, verb); ok {
			trigger, _ := attr(n, "hx-trigger")
			return trigger == "" || strings.Contains(trigger, "click")
		}
	}
	return false
}

// textOf is the text under n.
func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

func TestTheStyleSheetsTextIsReadableOnItsBackgroundsAndFocusIsVisible(t *testing.T) {
	css, err := staticFiles.ReadFile("static/ottr.css")
	if err != nil {
		t.Fatal(err)
	}
	colours := map[string]string{}
	for _, m := range regexp.MustCompile(`--([a-z-]+):\s*(#[0-9a-fA-F]{6})`).FindAllStringSubmatch(string(css), -1) {
		colours[m[1]] = m[2]
	}
	// Every pair of a text colour and the background it is drawn on in
	// the style sheet, and the focus ring on the backgrounds it shows on.
	tests := []struct {
		what       string
		text, back string
		least      float64
	}{
		{"body text", "fg", "bg", 4.5},
		{"text in a panel and a table header", "fg", "panel", 4.5},
		{"hints and relative times", "muted", "bg", 4.5},
		{"hints in a panel", "muted", "panel", 4.5},
		{"links", "accent", "bg", 4.5},
		{"links in a panel", "accent", "panel", 4.5},
		{"a button", "accent-fg", "accent", 4.5},
		{"errors", "failing", "bg", 4.5},
		{"errors in a panel", "failing", "panel", 4.5},
		{"warnings of a log", "due", "bg", 4.5},
		{"the header", "top-fg", "top-bg", 4.5},
		{"an ok badge", "badge-fg", "ok", 4.5},
		{"a due badge", "badge-fg", "due", 4.5},
		{"a rotating badge", "badge-fg", "rotating", 4.5},
		{"a failing badge", "badge-fg", "failing", 4.5},
		{"a paused badge", "badge-fg", "paused", 4.5},
		{"an unrouted badge", "badge-fg", "unrouted", 4.5},
		{"a badge of another state", "badge-fg", "muted", 4.5},
		{"the focus ring on the page", "focus", "bg", 3},
		{"the focus ring in a panel", "focus", "panel", 3},
		{"the focus ring in the header", "focus", "top-bg", 3},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			text, back := colours[tt.text], colours[tt.back]
			if text == "" || back == "" {
				t.Fatalf("the style sheet defines no --%s or --%s in #rrggbb", tt.text, tt.back)
			}
			if ratio := contrast(t, text, back); ratio < tt.least {
				t.Errorf("--%s %s on --%s %s: contrast %.2f:1, want at least %.1f:1", tt.text, text, tt.back, back, ratio, tt.least)
			}
		})
	}
	if !regexp.MustCompile(`:focus-visible[^{]*\{\s*outline:\s*3px solid var\(--focus\)`).Match(css) {
		t.Error("the style sheet draws no focus ring in --focus")
	}
}

// contrast is WCAG 2's contrast ratio of two #rrggbb colours.
func contrast(t *testing.T, a, b string) float64 {
	la, lb := luminance(t, a), luminance(t, b)
	return (math.Max(la, lb) + 0.05) / (math.Min(la, lb) + 0.05)
}

func luminance(t *testing.T, hex string) float64 {
	var l float64
	for i, weight := range []float64{0.2126, 0.7152, 0.0722} {
		v, err := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		if err != nil {
			t.Fatalf("colour %s: %v", hex, err)
		}
		c := float64(v) / 255
		if c <= 0.04045 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		l += weight * c
	}
	return l
}
