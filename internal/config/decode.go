package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ottr-go/ottr/internal/suggest"
)

// decoder fills a Config from a yaml.Node tree, walking the tree against
// the Go types itself rather than through yaml.Node.Decode. Decode cannot
// reject unknown keys (KnownFields exists only on yaml.Decoder, and its
// messages name Go types, not settings), does not read "30d" as a
// duration, and reports type errors as "cannot unmarshal !!str into int"
// without the setting's name. Walking the tree lets every problem carry
// the line and the full path of the setting, and lets all of them be
// reported at once.
type decoder struct {
	// lines maps the path of every setting present in the file to the line
	// of its key (or, for list items, of the item).
	lines    map[string]int
	problems []Problem
	// merging holds the mappings whose merge keys are being followed, to
	// stop "a: &a {<<: *a}" from merging itself forever.
	merging map[*yaml.Node]bool
}

func newDecoder() *decoder {
	return &decoder{lines: map[string]int{}, merging: map[*yaml.Node]bool{}}
}

func (d *decoder) problem(line int, path, format string, args ...any) {
	d.problems = append(d.problems, Problem{Line: line, Path: path, Message: fmt.Sprintf(format, args...)})
}

var durationType = reflect.TypeFor[time.Duration]()

// decode stores n into v, which must be settable. path names v in problems.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		// The Go types have a fixed depth, so following an alias always
		// ends, even one that points at its own ancestor.
		d.decode(n.Alias, v, path)
		return
	}
	if isNull(n) {
		// An empty setting keeps its zero value, which means the default.
		return
	}
	if v.CanAddr() {
		if u, ok := v.Addr().Interface().(yaml.Unmarshaler); ok {
			// A type that reads itself (as yaml.v3 would let it).
			if err := u.UnmarshalYAML(n); err != nil {
				d.problem(n.Line, path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
			}
			return
		}
	}
	switch {
	case v.Type() == durationType:
		d.decodeDuration(n, v, path)
	case v.Kind() == reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		d.decode(n, elem.Elem(), path)
		v.Set(elem)
	case v.Kind() == reflect.Struct:
		d.decodeStruct(n, v, path)
	case v.Kind() == reflect.Map && v.Type().Key().Kind() == reflect.String && v.Type().Elem().Kind() != reflect.Interface:
		d.decodeMap(n, v, path)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() != reflect.Interface:
		d.decodeSlice(n, v, path)
	case v.Kind() == reflect.Map || v.Kind() == reflect.Interface || v.Kind() == reflect.Slice:
		// Free-form values (a route's driver options): the driver checks
		// them, so yaml.v3 decodes them as they are.
		d.decodeFreeForm(n, v, path)
	default:
		d.decodeScalar(n, v, path)
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// pair is one key and its value in a mapping.
type pair struct{ key, value *yaml.Node }

// pairs returns the entries of mapping n with YAML merge keys ("<<: *base")
// applied: keys written in n win over merged ones, and earlier merged
// mappings win over later ones. Keys written twice in n are reported.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var own, merged []pair
	firstLine := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i], n.Content[i+1]
		if key.Tag == "!!merge" {
			merged = append(merged, d.mergedPairs(value, path)...)
			continue
		}
		if key.Kind != yaml.ScalarNode {
			d.problem(key.Line, path, "a setting name must be a plain word, not a %s", kindName(key))
			continue
		}
		if line, dup := firstLine[key.Value]; dup {
			d.problem(key.Line, path, "%q is set twice (first on line %d)", key.Value, line)
			continue
		}
		firstLine[key.Value] = key.Line
		own = append(own, pair{key, value})
	}
	for _, p := range merged {
		if _, set := firstLine[p.key.Value]; !set {
			firstLine[p.key.Value] = p.key.Line
			own = append(own, p)
		}
	}
	return own
}

func (d *decoder) mergedPairs(n *yaml.Node, path string) []pair {
	if n.Kind == yaml.AliasNode {
		if d.merging[n.Alias] {
			d.problem(n.Line, path, "<< merges *%s into itself", n.Value)
			return nil
		}
		d.merging[n.Alias] = true
		defer delete(d.merging, n.Alias)
		return d.mergedPairs(n.Alias, path)
	}
	switch n.Kind {
	case yaml.MappingNode:
		return d.pairs(n, path)
	case yaml.SequenceNode:
		var all []pair
		for _, item := range n.Content {
			all = append(all, d.mergedPairs(item, path)...)
		}
		return all
	}
	d.problem(n.Line, path, "<< must merge a mapping or a list of mappings, not a %s", kindName(n))
	return nil
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.problem(n.Line, path, "expected a mapping of settings, found %s", describe(n))
		return
	}
	fields := yamlFields(v.Type())
	for _, p := range d.pairs(n, path) {
		name := p.key.Value
		index, known := fields[name]
		if !known {
			d.problem(p.key.Line, path, "unknown setting %q%s", name, suggestion(name, fields))
			continue
		}
		child := join(path, name)
		d.lines[child] = p.key.Line
		d.decode(p.value, v.Field(index), child)
	}
}

// yamlFields maps the YAML names of t's exported fields to their index,
// following yaml.v3's rules: the tag's name, else the lower-cased field
// name; "-" skips the field.
func yamlFields(t reflect.Type) map[string]int {
	fields := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = strings.ToLower(f.Name)
		}
		fields[name] = i
	}
	return fields
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.problem(n.Line, path, "expected a mapping of names to settings, found %s", describe(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for _, p := range d.pairs(n, path) {
		child := join(path, p.key.Value)
		d.lines[child] = p.key.Line
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(p.value, elem, child)
		v.SetMapIndex(reflect.ValueOf(p.key.Value).Convert(v.Type().Key()), elem)
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.problem(n.Line, path, "expected a list, found %s", describe(n))
		return
	}
	items := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		child := fmt.Sprintf("%s[%d]", path, i)
		d.lines[child] = item.Line
		d.decode(item, items.Index(i), child)
	}
	v.Set(items)
}

func (d *decoder) decodeFreeForm(n *yaml.Node, v reflect.Value, path string) {
	if v.Kind() == reflect.Map && n.Kind != yaml.MappingNode {
		d.problem(n.Line, path, "expected a mapping, found %s", describe(n))
		return
	}
	d.freeFormLines(n, path)
	if err := n.Decode(v.Addr().Interface()); err != nil {
		d.problem(n.Line, path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
}

// freeFormLines records the line of every key below a free-form value, so
// a driver's complaint about a route option, or a value inside one (the
// script driver's env.TOKEN), can name its line. Aliases are not followed.
func (d *decoder) freeFormLines(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			child := join(path, n.Content[i].Value)
			d.lines[child] = n.Content[i].Line
			d.freeFormLines(n.Content[i+1], child)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			child := fmt.Sprintf("%s[%d]", path, i)
			d.lines[child] = item.Line
			d.freeFormLines(item, child)
		}
	}
}

func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, path string) {
	want := expected(v.Kind())
	if n.Kind != yaml.ScalarNode {
		d.problem(n.Line, path, "expected %s, found %s", want, describe(n))
		return
	}
	// yaml.v3 truncates 1.5 into an int and reads "yes" as a bool; a
	// setting only takes the YAML type it is documented with.
	tag := n.ShortTag()
	wrongTag := false
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		wrongTag = tag != "!!int"
	case reflect.Float32, reflect.Float64:
		wrongTag = tag != "!!int" && tag != "!!float"
	case reflect.Bool:
		wrongTag = tag != "!!bool"
	}
	if wrongTag {
		d.problem(n.Line, path, "expected %s, got %q", want, n.Value)
		return
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		d.problem(n.Line, path, "expected %s, got %q", want, n.Value)
	}
}

func (d *decoder) decodeDuration(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.problem(n.Line, path, "expected a duration such as \"5m\", found %s", describe(n))
		return
	}
	duration, err := parseDuration(n.Value)
	if err != nil {
		d.problem(n.Line, path, "%v", err)
		return
	}
	v.SetInt(int64(duration))
}

// maxDays keeps a day count from overflowing time.Duration (about 292 years).
const maxDays = 100000

// parseDuration reads a Go duration ("90s", "5m", "1h30m") or a number of
// days, alone or before a Go duration ("30d", "1d12h"): certificate
// lifetimes and renewal windows are spoken of in days.
func parseDuration(s string) (time.Duration, error) {
	text := strings.TrimSpace(s)
	invalid := fmt.Errorf("invalid duration %q: write a number with a unit, such as \"90s\", \"5m\", \"24h\" or \"30d\"", s)
	if _, err := strconv.ParseFloat(text, 64); err == nil && text != "0" {
		return 0, fmt.Errorf("duration %q has no unit: write for example \"%ss\", \"%sm\" or \"%sh\"", s, text, text, text)
	}
	var days time.Duration
	if before, after, found := strings.Cut(text, "d"); found {
		n, err := strconv.Atoi(before)
		if err != nil || n < 0 || strings.HasPrefix(before, "+") {
			return 0, invalid
		}
		if n > maxDays {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		if after == "" {
			return days, nil
		}
		text = after
	}
	rest, err := time.ParseDuration(text)
	if err != nil || (days > 0 && rest < 0) {
		return 0, invalid
	}
	return days + rest, nil
}

// suggestion returns " (did you mean "x"?)" for the known name closest to
// name, or the list of valid names when none is close.
func suggestion(name string, fields map[string]int) string {
	names := make([]string, 0, len(fields))
	for known := range fields {
		names = append(names, known)
	}
	sort.Strings(names)
	if best, ok := suggest.Closest(name, names); ok {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return " (known settings here: " + strings.Join(names, ", ") + ")"
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func expected(k reflect.Kind) string {
	switch k {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a text value"
	}
	return "a " + k.String()
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.AliasNode:
		return "alias"
	}
	return "value"
}

// describe names what was found instead of what a setting needs.
func describe(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return fmt.Sprintf("%q", n.Value)
	}
	return "a " + kindName(n)
}
