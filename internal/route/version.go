package route

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// versionMatcher is a compiled os_version pattern.
type versionMatcher interface {
	// match reports whether the asset's os_version is in the pattern; when
	// it is not, reason says why, in words for `ottr route test`.
	match(osVersion string) (ok bool, reason string)
}

// compileVersion reads an os_version pattern. One that starts with a range
// operator (>=, >, <=, <, =, ~, ^) is a version range; anything else is a
// glob with path.Match semantics ("9.*", "9.1.?"; a pattern without
// wildcards matches exactly).
func compileVersion(pattern string) (versionMatcher, error) {
	pattern = strings.TrimSpace(pattern)
	if pattern == "" {
		return nil, nil
	}
	if strings.ContainsAny(pattern[:1], "<>=~^") {
		r, err := parseRange(pattern)
		if err != nil {
			return nil, err
		}
		return r, nil
	}
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("glob %q is malformed (check its [ ] brackets); write a glob like 9.* or a range like >=9.1 <10", pattern)
	}
	return globMatcher(pattern), nil
}

type globMatcher string

func (g globMatcher) match(v string) (bool, string) {
	if ok, _ := path.Match(string(g), v); ok {
		return true, fmt.Sprintf("os_version %q matches %q", v, string(g))
	}
	return false, fmt.Sprintf("os_version %q does not match %q", v, string(g))
}

// version is a numeric version with up to three parts; missing parts are
// zero.
type version [3]int

func (v version) compare(w version) int {
	for i := range v {
		if v[i] != w[i] {
			if v[i] < w[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// parseAssetVersion reads the numeric prefix of a vendor version string:
// PAN-OS "9.1.0-h3" is 9.1.0, JunOS "18.2R3-S1" is 18.2, "v1.2" is 1.2.
// Parts past the third are ignored. ok is false when the string does not
// start with a number.
func parseAssetVersion(s string) (v version, ok bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	for i := range v {
		n := 0
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		if n == 0 {
			return v, i > 0
		}
		part, err := strconv.Atoi(s[:n])
		if err != nil {
			return v, false
		}
		v[i] = part
		s = s[n:]
		if !strings.HasPrefix(s, ".") || len(s) < 2 || s[1] < '0' || s[1] > '9' {
			return v, true
		}
		s = s[1:]
	}
	return v, true
}

// comparator is one primitive test: op is one of >=, >, <=, <, =.
type comparator struct {
	op string
	v  version
}

func (c comparator) holds(v version) bool {
	cmp := v.compare(c.v)
	switch c.op {
	case ">=":
		return cmp >= 0
	case ">":
		return cmp > 0
	case "<=":
		return cmp <= 0
	case "<":
		return cmp < 0
	}
	return cmp == 0
}

// versionRange is a union ("||") of intersections (space-separated) of
// comparators.
type versionRange struct {
	text string
	sets [][]comparator
}

func (r *versionRange) match(s string) (bool, string) {
	v, ok := parseAssetVersion(s)
	if !ok {
		return false, fmt.Sprintf("os_version %q does not start with a version number, so it cannot be in %q", s, r.text)
	}
	for _, set := range r.sets {
		in := true
		for _, c := range set {
			if !c.holds(v) {
				in = false
				break
			}
		}
		if in {
			return true, fmt.Sprintf("os_version %q is in %q", s, r.text)
		}
	}
	return false, fmt.Sprintf("os_version %q is not in %q", s, r.text)
}

// parseRange reads a version range. The syntax is npm's, on versions of one
// to three numeric parts:
//
//	>=9.1 <10        both (space means AND)
//	<9 || >=10.1     either (|| means OR)
//	=9.1.0  9.1.0    exactly, when all three parts are given
//	=9  =9.1         any version with that prefix (9.x, 9.1.x)
//	>9.1             above every 9.1.x, so from 9.2.0
//	<=9.1            up to and including every 9.1.x
//	~9.1.2           >=9.1.2 <9.2.0 (patch updates; ~9 is 9.x)
//	^9.1.2           >=9.1.2 <10.0.0 (no major change; ^0.2.3 is <0.3.0)
//
// An operator may be followed by a space (">= 9.1"). A bare version after
// the first comparator means "=".
func parseRange(text string) (*versionRange, error) {
	r := &versionRange{text: text}
	for _, alt := range strings.Split(text, "||") {
		fields := strings.Fields(alt)
		if len(fields) == 0 {
			return nil, fmt.Errorf("range %q has an empty side of ||; write ranges like >=9.1 <10 || >=11", text)
		}
		var set []comparator
		for i := 0; i < len(fields); i++ {
			tok := fields[i]
			op := leadingOperator(tok)
			if op == tok && i+1 < len(fields) {
				// ">= 9.1": the version is the next field.
				i++
				tok += fields[i]
			}
			cs, err := parseComparator(op, tok[len(op):])
			if err != nil {
				return nil, fmt.Errorf("range %q: %w", text, err)
			}
			set = append(set, cs...)
		}
		r.sets = append(r.sets, set)
	}
	return r, nil
}

func leadingOperator(tok string) string {
	for _, op := range []string{">=", "<=", ">", "<", "=", "~", "^"} {
		if strings.HasPrefix(tok, op) {
			return op
		}
	}
	return ""
}

// parseComparator turns one operator and partial version into primitive
// comparisons on full versions.
func parseComparator(op, text string) ([]comparator, error) {
	v, parts, err := parseRangeVersion(text)
	if err != nil {
		return nil, err
	}
	// next is the first version past every version v is a prefix of:
	// 9 -> 10.0.0, 9.1 -> 9.2.0; for a full version, v itself.
	next := v
	if parts < 3 {
		next[parts-1]++
	}
	switch op {
	case "", "=":
		if parts == 3 {
			return []comparator{{"=", v}}, nil
		}
		return []comparator{{">=", v}, {"<", next}}, nil
	case ">=":
		return []comparator{{">=", v}}, nil
	case "<":
		return []comparator{{"<", v}}, nil
	case ">":
		if parts == 3 {
			return []comparator{{">", v}}, nil
		}
		return []comparator{{">=", next}}, nil
	case "<=":
		if parts == 3 {
			return []comparator{{"<=", v}}, nil
		}
		return []comparator{{"<", next}}, nil
	case "~":
		upper := version{v[0] + 1, 0, 0}
		if parts >= 2 {
			upper = version{v[0], v[1] + 1, 0}
		}
		return []comparator{{">=", v}, {"<", upper}}, nil
	case "^":
		var upper version
		switch {
		case v[0] > 0 || parts == 1:
			upper = version{v[0] + 1, 0, 0}
		case v[1] > 0 || parts == 2:
			upper = version{0, v[1] + 1, 0}
		default:
			upper = version{0, 0, v[2] + 1}
		}
		return []comparator{{">=", v}, {"<", upper}}, nil
	}
	return nil, fmt.Errorf("unknown operator %q", op)
}

// parseRangeVersion reads a version written in a range: one to three
// numeric parts, nothing else. Vendor suffixes are not compared, so they
// are refused here rather than silently ignored.
func parseRangeVersion(text string) (version, int, error) {
	var v version
	if text == "" {
		return v, 0, errors.New("an operator needs a version after it, like >=9.1")
	}
	parts := strings.Split(text, ".")
	if len(parts) > 3 {
		return v, 0, fmt.Errorf("version %q has more than three parts; ranges compare major.minor.patch", text)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || strings.HasPrefix(p, "+") {
			return v, 0, fmt.Errorf("version %q must be one to three numbers separated by dots, like 9.1 or 18.2.0; vendor suffixes such as -h3 or R3 are not compared", text)
		}
		v[i] = n
	}
	return v, len(parts), nil
}
