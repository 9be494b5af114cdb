package driver

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// BadOption records a problem with a route option: name is the option, rule
// a format for what is wrong with it, args the format's arguments. Drivers'
// ValidateOptions collect every problem rather than stopping at the first,
// so a route's author sees them all in one go.
type BadOption func(name, rule string, args ...any)

// CheckKnownOptions reports each option in raw that is not in known, in
// name order so the report is the same on every run, listing the known
// options.
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
// gives int, JSON float64) and a quoted number, a common YAML slip. Floats
// must be whole and no larger in magnitude than math.MaxInt32.
func Integer(v any) (int, error) {
	switch n := v.(type) {
	case int:
		return n, nil
	case int64:
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
		return strconv.Atoi(n)
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

// DescribeValue shows an option's value with its Go type, as errors about
// the wrong kind of value need to: 8080 and "8080" look alike otherwise.
func DescribeValue(v any) string {
	if v == nil {
		return "nothing"
	}
	return fmt.Sprintf("%T %v", v, v)
}
