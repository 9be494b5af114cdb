package notifytest

import (
	"fmt"
	"net/url"
	"slices"
	"unicode/utf8"
)

// checker reads a decoded JSON document as a vendor's schema describes it
// and collects what does not fit, each problem named by its path.
type checker struct{ problems []string }

func (c *checker) problemf(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// field returns obj[key]; a required field that is missing is a problem.
func (c *checker) field(obj map[string]any, path, key string, required bool) (any, bool) {
	v, ok := obj[key]
	if !ok || v == nil {
		if required {
			c.problemf("%s%s is required", path, key)
		}
		return nil, false
	}
	return v, true
}

// str returns the string obj[key]; maxLen, when above zero, bounds its
// length in characters, and a required string may not be empty.
func (c *checker) str(obj map[string]any, path, key string, required bool, maxLen int) string {
	v, ok := c.field(obj, path, key, required)
	if !ok {
		return ""
	}
	s, ok := v.(string)
	switch {
	case !ok:
		c.problemf("%s%s is %T, want a string", path, key, v)
	case required && s == "":
		c.problemf("%s%s is empty", path, key)
	case maxLen > 0 && utf8.RuneCountInString(s) > maxLen:
		c.problemf("%s%s has %d characters, at most %d allowed", path, key, utf8.RuneCountInString(s), maxLen)
	}
	return s
}

// oneOf checks that the string obj[key] is one of allowed.
func (c *checker) oneOf(obj map[string]any, path, key string, required bool, allowed ...string) string {
	s := c.str(obj, path, key, required, 0)
	if s != "" && !slices.Contains(allowed, s) {
		c.problemf("%s%s is %q, want one of %q", path, key, s, allowed)
	}
	return s
}

// object returns v as an object; anything else is a problem.
func (c *checker) object(v any, path string) map[string]any {
	obj, ok := v.(map[string]any)
	if !ok {
		c.problemf("%s is %T, want an object", path, v)
	}
	return obj
}

// objectField returns the object obj[key].
func (c *checker) objectField(obj map[string]any, path, key string, required bool) map[string]any {
	v, ok := c.field(obj, path, key, required)
	if !ok {
		return nil
	}
	return c.object(v, path+key)
}

// array returns the array obj[key], whose length must be within [min, max]
// (max zero: unbounded).
func (c *checker) array(obj map[string]any, path, key string, required bool, minLen, maxLen int) []any {
	v, ok := c.field(obj, path, key, required)
	if !ok {
		return nil
	}
	a, ok := v.([]any)
	switch {
	case !ok:
		c.problemf("%s%s is %T, want an array", path, key, v)
	case len(a) < minLen:
		c.problemf("%s%s has %d items, at least %d required", path, key, len(a), minLen)
	case maxLen > 0 && len(a) > maxLen:
		c.problemf("%s%s has %d items, at most %d allowed", path, key, len(a), maxLen)
	}
	return a
}

// link checks that the string obj[key] is an absolute http(s) URL.
func (c *checker) link(obj map[string]any, path, key string, required bool, maxLen int) string {
	s := c.str(obj, path, key, required, maxLen)
	if s == "" {
		return ""
	}
	if u, err := url.Parse(s); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		c.problemf("%s%s is %q, want an absolute http(s) URL", path, key, s)
	}
	return s
}

// each calls f for every item of a, with the item's path.
func each(a []any, path string, f func(item any, path string)) {
	for i, item := range a {
		f(item, fmt.Sprintf("%s[%d]", path, i))
	}
}
