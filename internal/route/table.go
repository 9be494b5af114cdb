package route

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
)

// OptionValidator checks a route's driver name and options when the table
// is compiled, so a typo fails at load time instead of at 3 a.m. It returns
// an error wrapping ErrUnknownDriver for a driver it does not know, and
// otherwise every problem with the options, as one error or joined
// (errors.Join). A problem with methods OptionPath() ("env.TOKEN") and
// Detail() (what is wrong, without the option's name), as the drivers'
// *driver.OptionProblem has, is reported at that option, and any other at
// the options as a whole.
type OptionValidator func(driver string, options map[string]any) error

// ErrUnknownDriver is wrapped by an OptionValidator's error when the driver
// name is not registered.
var ErrUnknownDriver = errors.New("unknown driver")

// Problem is one thing wrong with one route of a table.
type Problem struct {
	// Route is the route's index in the table, from 0.
	Route int
	// Path is the setting at fault within the route: "driver",
	// "match.os_version", "options.reload_cmd", "options.env.TOKEN", or
	// "options" for the options as a whole.
	Path string
	// Message says what is wrong and how to put it right.
	Message string
	// Err is the validator's error the problem was read from, if any.
	Err error
}

// Setting names the setting at fault as the configuration file has it,
// such as "routes[0].options.reload_cmd".
func (p Problem) Setting() string { return fmt.Sprintf("routes[%d].%s", p.Route, p.Path) }

func (p Problem) Error() string { return p.Setting() + ": " + p.Message }

// Error is every problem Compile found, in the order of the routes. The
// config loader places each at its line in the file.
type Error struct {
	Problems []Problem
}

// Error lists the problems one per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the validators' errors, so errors.Is finds
// ErrUnknownDriver.
func (e *Error) Unwrap() []error {
	var errs []error
	for _, p := range e.Problems {
		if p.Err != nil {
			errs = append(errs, p.Err)
		}
	}
	return errs
}

// Table is a compiled routing table, safe for concurrent use.
type Table struct {
	routes   []Route
	versions []versionMatcher // per route; nil when os_version is empty
}

// Explanation says why one route does or does not take an asset.
type Explanation struct {
	// Index is the route's position in the table, from 0.
	Index  int
	Name   string
	Driver string
	// Matched is true when every field of the route's match holds.
	Matched bool
	// Chosen marks the route that takes the asset: the first that matched.
	Chosen bool
	// Reasons list every field that failed, or, for a route that matched,
	// every field that held.
	Reasons []string
}

// Compile checks routes and builds a table from them. A route without a
// name is named "route N", counting from 1. Its error, an *Error, names
// each setting at fault by its path, such as routes[2].match.os_version: an
// empty or unknown driver, an option the driver rejects (with the
// validator's message), a malformed os_version or model. A nil validator
// accepts every driver and option.
func Compile(routes []Route, v OptionValidator) (*Table, error) {
	t := &Table{
		routes:   make([]Route, len(routes)),
		versions: make([]versionMatcher, len(routes)),
	}
	var problems []Problem
	for i, r := range routes {
		r = cloneRoute(r)
		if r.Name == "" {
			r.Name = fmt.Sprintf("route %d", i+1)
		}
		fail := func(path, format string, args ...any) {
			problems = append(problems, Problem{Route: i, Path: path, Message: fmt.Sprintf(format, args...)})
		}
		switch {
		case strings.TrimSpace(r.Driver) == "":
			fail("driver", "is required: name the driver that rotates these assets, like panos or linux")
		case v != nil:
			if err := v(r.Driver, r.Options); errors.Is(err, ErrUnknownDriver) {
				problems = append(problems, Problem{Route: i, Path: "driver", Message: err.Error(), Err: err})
			} else if err != nil {
				problems = append(problems, optionProblems(i, err)...)
			}
		}
		if _, err := r.HostTemplate(); err != nil {
			fail("host", "%v (%s)", err, driver.AssetTemplateFields)
		}
		m, err := compileVersion(r.Match.OSVersion)
		if err != nil {
			fail("match.os_version", "%v", err)
		}
		for j, model := range r.Match.Models {
			if strings.TrimSpace(model) == "" {
				fail(fmt.Sprintf("match.models[%d]", j), "is empty; remove it or name a device model")
			}
		}
		t.routes[i] = r
		t.versions[i] = m
	}
	if len(problems) > 0 {
		return nil, &Error{Problems: problems}
	}
	return t, nil
}

// optionProblems reads the problems of route i's options from an
// OptionValidator's error.
func optionProblems(i int, err error) []Problem {
	parts := []error{err}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		parts = joined.Unwrap()
	}
	problems := make([]Problem, 0, len(parts))
	for _, part := range parts {
		p := Problem{Route: i, Path: "options", Message: part.Error(), Err: part}
		if located, ok := part.(interface {
			OptionPath() string
			Detail() string
		}); ok {
			p.Message = located.Detail()
			if path := located.OptionPath(); path != "" {
				p.Path = "options." + path
			}
		}
		problems = append(problems, p)
	}
	return problems
}

// Match returns the first route that takes a, and its index. ok is false
// when no route does; the caller records that on the asset rather than
// dropping it.
func (t *Table) Match(a asset.Asset) (r Route, index int, ok bool) {
	for i := range t.routes {
		if matched, _ := t.check(i, a, false); matched {
			return cloneRoute(t.routes[i]), i, true
		}
	}
	return Route{}, -1, false
}

// Explain says, for every route in order, whether it takes a and why, for
// `ottr route test`. The first route that matches is marked Chosen; a later
// one that matches too says it is shadowed.
func (t *Table) Explain(a asset.Asset) []Explanation {
	out := make([]Explanation, len(t.routes))
	chosen := -1
	for i, r := range t.routes {
		matched, reasons := t.check(i, a, true)
		e := Explanation{Index: i, Name: r.Name, Driver: r.Driver, Matched: matched, Reasons: reasons}
		if matched {
			if chosen < 0 {
				chosen = i
				e.Chosen = true
			} else {
				e.Reasons = append(e.Reasons, fmt.Sprintf("not used: routes[%d] %q matches first", chosen, t.routes[chosen].Name))
			}
		}
		out[i] = e
	}
	return out
}

// check tests route i against a. With explain it collects a reason for
// every field, else it stops at the first that fails.
func (t *Table) check(i int, a asset.Asset, explain bool) (bool, []string) {
	m := t.routes[i].Match
	var held, failed []string
	test := func(ok bool, yes, no func() string) bool {
		if ok {
			if explain {
				held = append(held, yes())
			}
		} else {
			if explain {
				failed = append(failed, no())
			}
		}
		return ok || explain
	}
	exact := func(field, got, want string, ok bool) bool {
		return test(ok,
			func() string { return fmt.Sprintf("%s %q is %q", field, got, want) },
			func() string { return fmt.Sprintf("%s %q is not %q", field, got, want) })
	}

	if m.Platform != "" && !exact("host_platform", a.HostPlatform, m.Platform, a.HostPlatform == m.Platform) {
		return false, nil
	}
	if vm := t.versions[i]; vm != nil {
		ok, reason := false, fmt.Sprintf("os_version is empty; the route needs %q", m.OSVersion)
		// A glob matches an empty version as path.Match does, so a route
		// written os_version: "*" takes assets whose version is not known.
		if _, glob := vm.(globMatcher); glob || a.OSVersion != "" {
			ok, reason = vm.match(a.OSVersion)
		}
		if !test(ok, func() string { return reason }, func() string { return reason }) {
			return false, nil
		}
	}
	if m.CertificateAuthority != "" && !exact("certificate_authority", a.CertificateAuthority, m.CertificateAuthority,
		a.CertificateAuthority == m.CertificateAuthority) {
		return false, nil
	}
	if len(m.Models) > 0 && !test(slices.Contains(m.Models, a.DeviceModel),
		func() string { return fmt.Sprintf("device_model %q is in %v", a.DeviceModel, m.Models) },
		func() string { return fmt.Sprintf("device_model %q is not in %v", a.DeviceModel, m.Models) }) {
		return false, nil
	}
	// Data centers are queue names and stored lower-case; compare without
	// case so a route written "DC1" still applies.
	if m.DataCenter != "" && !exact("data_center", a.DataCenter, m.DataCenter, strings.EqualFold(a.DataCenter, m.DataCenter)) {
		return false, nil
	}
	if len(failed) > 0 {
		return false, failed
	}
	if explain && len(held) == 0 {
		held = append(held, "the route matches every asset")
	}
	return true, held
}

// Platforms returns the host_platform values some route takes, for asset
// validation. It returns nil when a route matches every platform, since
// then any platform is routable.
func (t *Table) Platforms() map[string]bool {
	out := make(map[string]bool)
	for _, r := range t.routes {
		if r.Match.Platform == "" {
			return nil
		}
		out[r.Match.Platform] = true
	}
	return out
}

// Routes returns a copy of the routes, with default names filled in.
func (t *Table) Routes() []Route {
	out := make([]Route, len(t.routes))
	for i, r := range t.routes {
		out[i] = cloneRoute(r)
	}
	return out
}

// Len returns the number of routes.
func (t *Table) Len() int { return len(t.routes) }

// cloneRoute copies r's slices and options map so callers cannot change
// the table through a returned route. Nested option values are shared:
// they are read-only by convention.
func cloneRoute(r Route) Route {
	r.Match.Models = slices.Clone(r.Match.Models)
	if r.Options != nil {
		r.Options = maps.Clone(r.Options)
	}
	return r
}
