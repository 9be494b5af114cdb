package driver

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// OptionProblem is one thing wrong with a route's options. Its message
// never quotes the value of a secret option.
type OptionProblem struct {
	// Option is the option at fault; "" when the problem names none.
	Option string
	// Entry is the key within the option when the problem is with one
	// value of a map (API_TOKEN of the script driver's env), else "".
	Entry string
	// Message says what is wrong and how to put it right.
	Message string
}

func (p *OptionProblem) Error() string {
	switch {
	case p.Option == "":
		return p.Message
	case p.Entry == "":
		return fmt.Sprintf("option %q: %s", p.Option, p.Message)
	}
	return fmt.Sprintf("option %q: %s: %s", p.Option, p.Entry, p.Message)
}

// OptionPath names the value below the route's options the problem is
// about, "reload_command" or "env.API_TOKEN", so the config loader can
// report its line; "" for the options as a whole.
func (p *OptionProblem) OptionPath() string {
	if p.Entry == "" {
		return p.Option
	}
	return p.Option + "." + p.Entry
}

// Detail is the message alone, for a report that names the option by
// its path.
func (p *OptionProblem) Detail() string { return p.Message }

// OptionProblems collects the problems of one route's options: drivers
// report every problem rather than stopping at the first, so a route's
// author sees them all in one go.
type OptionProblems []OptionProblem

// Add records that option name breaks rule, a format for what is wrong
// with it; it is a BadOption.
func (ps *OptionProblems) Add(name, rule string, args ...any) {
	*ps = append(*ps, OptionProblem{Option: name, Message: fmt.Sprintf(rule, args...)})
}

// Err returns the problems as one error, each an *OptionProblem in it
// (errors.Join), or nil when there are none.
func (ps OptionProblems) Err() error {
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = &p
	}
	return errors.Join(errs...)
}

// CheckOptions checks a route's options, as the configuration has them,
// for driver d: against its Schema (Validate), then by its own rules
// (ValidateOptions). The error holds every problem as an *OptionProblem,
// each once: what the schema finds wrong with an option is said once,
// whatever the driver says of it too, and nothing is said of an option
// that is missing only because an unknown one is its misspelling. A
// driver may say more than "unknown option" about an option it does not
// take (junos names the TLS options it has no use for): its words are
// used instead. A problem the driver does not tie to an option is
// reported only when the schema found none, as it may be a consequence of
// one the schema found.
func CheckOptions(d Driver, options map[string]any) error {
	schema := d.Schema()
	found := schema.Validate(options)
	// covered holds the options the schema spoke of as a whole, and the
	// paths of the values within one it spoke of ("env.TOKEN").
	covered := map[string]bool{}
	for _, p := range found {
		covered[p.OptionPath()] = true
	}
	for written := range options {
		if meant, ok := schema.nearMiss(written); ok {
			covered[meant] = true
		}
	}
	fromDriver := problemsIn(d.ValidateOptions(options))

	var out OptionProblems
	said := map[OptionProblem]bool{}
	add := func(p OptionProblem) {
		if !said[p] {
			said[p] = true
			out = append(out, p)
		}
	}
	for _, p := range found {
		if _, known := schema.Lookup(p.Option); !known {
			if own := problemsOf(fromDriver, p.Option); len(own) > 0 {
				for _, q := range own {
					add(q)
				}
				continue
			}
		}
		add(p)
	}
	for _, p := range fromDriver {
		if p.Option == "" && len(found) > 0 || covered[p.Option] || covered[p.OptionPath()] {
			continue
		}
		add(p)
	}
	return out.Err()
}

// problemsOf returns the problems in ps with option name.
func problemsOf(ps []OptionProblem, name string) []OptionProblem {
	var out []OptionProblem
	for _, p := range ps {
		if p.Option == name {
			out = append(out, p)
		}
	}
	return out
}

// problemsIn returns the *OptionProblems in err's tree (errors.Join and
// wrapping). A part of the tree that holds none is one problem tied to no
// option, with the text of its outermost error, layer prefixes included.
func problemsIn(err error) []OptionProblem {
	if err == nil {
		return nil
	}
	if p, ok := err.(*OptionProblem); ok {
		return []OptionProblem{*p}
	}
	var inner []OptionProblem
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		for _, part := range e.Unwrap() {
			inner = append(inner, problemsIn(part)...)
		}
		return inner
	case interface{ Unwrap() error }:
		inner = problemsIn(e.Unwrap())
	}
	if slices.ContainsFunc(inner, func(p OptionProblem) bool { return p.Option != "" }) {
		return inner
	}
	return []OptionProblem{{Message: err.Error()}}
}

// OptionReader reads a route's options for a driver, against the driver's
// schema, so the driver checks only its own rules: it holds what the
// schema finds wrong, its getters give only values present and of their
// option's kind, and Missing knows a misspelt option from an absent one.
// Asking for an option the schema does not name, or as another kind, is a
// mistake in the driver and panics.
type OptionReader struct {
	schema   Schema
	options  map[string]any
	problems OptionProblems
}

// Read starts reading options. It records what Validate finds but the
// secret options' references: a driver opening a session reads them
// resolved.
func (s Schema) Read(options map[string]any) *OptionReader {
	return &OptionReader{schema: s, options: options, problems: s.check(options)}
}

// value returns the option's value when it is present and free of
// problems. kinds are the kinds the caller reads.
func (r *OptionReader) value(name string, kinds ...OptionKind) (any, bool) {
	spec, ok := r.schema.Lookup(name)
	if !ok || !slices.Contains(kinds, spec.Kind) {
		panic(fmt.Sprintf("driver: option %q is read as %v, but the schema has it as %q", name, kinds, spec.Kind))
	}
	v, present := r.options[name]
	if !present || slices.ContainsFunc(r.problems, func(p OptionProblem) bool { return p.Option == name }) {
		return nil, false
	}
	return v, true
}

// String returns a string or path option.
func (r *OptionReader) String(name string) (string, bool) {
	v, ok := r.value(name, OptionString, OptionPath)
	if !ok {
		return "", false
	}
	return v.(string), true
}

// Int returns a whole-number option.
func (r *OptionReader) Int(name string) (int, bool) {
	v, ok := r.value(name, OptionInt)
	if !ok {
		return 0, false
	}
	n, _ := Integer(v)
	return n, true
}

// IntIn returns a whole-number option that is between lo and hi; one
// outside is reported and not returned.
func (r *OptionReader) IntIn(name string, lo, hi int) (int, bool) {
	n, ok := r.Int(name)
	if ok && (n < lo || n > hi) {
		r.Bad(name, "must be between %d and %d, got %d", lo, hi, n)
		return 0, false
	}
	return n, ok
}

// Bool returns a true-or-false option.
func (r *OptionReader) Bool(name string) (value, ok bool) {
	v, ok := r.value(name, OptionBool)
	if !ok {
		return false, false
	}
	return v.(bool), true
}

// Duration returns a duration option.
func (r *OptionReader) Duration(name string) (time.Duration, bool) {
	v, ok := r.value(name, OptionDuration)
	if !ok {
		return 0, false
	}
	d, _ := Duration(v)
	return d, true
}

// StringMap returns a map option as a new map.
func (r *OptionReader) StringMap(name string) (map[string]string, bool) {
	v, ok := r.value(name, OptionStringMap)
	if !ok {
		return nil, false
	}
	out := map[string]string{}
	switch m := v.(type) {
	case map[string]string:
		maps.Copy(out, m)
	case map[string]any:
		for k, s := range m {
			out[k] = s.(string)
		}
	}
	return out, true
}

// Missing reports whether option name is absent and no unknown option is
// its misspelling: whether "is required" is the thing to say when a rule
// of the driver needs it.
func (r *OptionReader) Missing(name string) bool {
	_, present := r.options[name]
	return !present && !r.schema.misspelt(r.options, name)
}

// Bad records that option name breaks a rule of the driver; it is a
// BadOption. For an option the schema does not name, it replaces the
// "unknown option" the schema found: the driver knows why it does not
// take it.
func (r *OptionReader) Bad(name, rule string, args ...any) {
	if _, known := r.schema.Lookup(name); !known {
		r.problems = slices.DeleteFunc(r.problems, func(p OptionProblem) bool { return p.Option == name })
	}
	r.problems.Add(name, rule, args...)
}

// BadEntry records that the value under key entry of map option name
// breaks a rule of the driver.
func (r *OptionReader) BadEntry(name, entry, rule string, args ...any) {
	r.problems = append(r.problems, OptionProblem{Option: name, Entry: entry, Message: fmt.Sprintf(rule, args...)})
}

// Err returns every problem recorded, or nil.
func (r *OptionReader) Err() error { return r.problems.Err() }

// BadOption records a problem with a route option: name is the option, rule
// a format for what is wrong with it, args the format's arguments. Drivers'
// ValidateOptions collect every problem rather than stopping at the first,
// so a route's author sees them all in one go.
type BadOption func(name, rule string, args ...any)

// CheckKnownOptions reports each option in raw that is not in known, in
// name order so the report is the same on every run, listing the known
// options. A driver reading its options through its Schema (Schema.Read)
// has this done for it.
func CheckKnownOptions(raw map[string]any, known []string, bad BadOption) {
	unknown := make([]string, 0)
	for name := range raw {
		if !slices.Contains(known, name) {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	for _, name := range unknown {
		bad(name, "unknown option (known: %s)", strings.Join(known, ", "))
	}
}

// Integer accepts the integer kinds YAML and JSON decoders produce (YAML
// gives int, JSON float64) and a quoted number, a common YAML slip. Numbers
// must be whole and no larger in magnitude than math.MaxInt32.
func Integer(v any) (int, error) {
	switch n := v.(type) {
	case int:
		if n > math.MaxInt32 || n < -math.MaxInt32 {
			return 0, errors.New("too large")
		}
		return n, nil
	case int64:
		if n > math.MaxInt32 || n < -math.MaxInt32 {
			return 0, errors.New("too large")
		}
		return int(n), nil
	case int32:
		return int(n), nil
	case uint64:
		if n > math.MaxInt32 {
			return 0, errors.New("too large")
		}
		return int(n), nil
	case float64:
		if n != math.Trunc(n) || math.Abs(n) > math.MaxInt32 {
			return 0, errors.New("not a whole number")
		}
		return int(n), nil
	case string:
		i, err := strconv.Atoi(n)
		if err != nil {
			return 0, err
		}
		return Integer(i)
	default:
		return 0, errors.New("not a number")
	}
}

// IntOption returns the whole-number option name, or def when it is absent
// or wrong; a value that is not a whole number in [lo, hi] is reported.
func IntOption(raw map[string]any, name string, def, lo, hi int, bad BadOption) int {
	v, ok := raw[name]
	if !ok {
		return def
	}
	n, err := Integer(v)
	switch {
	case err != nil:
		bad(name, "must be a whole number, got %s", DescribeValue(v))
	case n < lo || n > hi:
		bad(name, "must be between %d and %d, got %d", lo, hi, n)
	default:
		return n
	}
	return def
}

// Duration accepts a Go duration string ("90s", "10m") or a whole number of
// seconds as Integer reads it.
func Duration(v any) (time.Duration, error) {
	if s, ok := v.(string); ok {
		if d, err := time.ParseDuration(s); err == nil {
			return d, nil
		}
	}
	n, err := Integer(v)
	if err != nil {
		return 0, err
	}
	return time.Duration(n) * time.Second, nil
}

// FormatDuration writes d as a route option would: "10m" rather than
// time.Duration's "10m0s", for the defaults a Schema shows.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// StringOption returns the single-line string option name; ok is false when
// it is absent, or when it is not a string or spans lines, which is
// reported: option values reach device commands and forms, where a line
// break or NUL would start another.
func StringOption(raw map[string]any, name string, bad BadOption) (s string, ok bool) {
	v, present := raw[name]
	if !present {
		return "", false
	}
	s, isString := v.(string)
	if !isString {
		bad(name, "must be a string, got %s", DescribeValue(v))
		return "", false
	}
	if strings.ContainsAny(s, "\x00\n\r") {
		bad(name, "must be a single line")
		return "", false
	}
	return s, true
}

// DescribeValue shows an option's value as errors about the wrong kind of
// value need to, a string quoted and anything else with its Go type:
// 8080 and "8080" look alike otherwise.
func DescribeValue(v any) string {
	switch s := v.(type) {
	case nil:
		return "nothing"
	case string:
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%T %v", v, v)
}
