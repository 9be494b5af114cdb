package driver

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/ottr-go/ottr/internal/suggest"
)

// OptionKind is the kind of value a route option takes.
type OptionKind string

// Option kinds.
const (
	// OptionString is a single-line string.
	OptionString OptionKind = "string"
	// OptionPath is an absolute path on the device.
	OptionPath OptionKind = "path"
	// OptionInt is a whole number.
	OptionInt OptionKind = "int"
	// OptionBool is true or false.
	OptionBool OptionKind = "bool"
	// OptionDuration is a Go duration ("90s") or a whole number of seconds.
	OptionDuration OptionKind = "duration"
	// OptionStringList is a list of strings.
	OptionStringList OptionKind = "list of strings"
	// OptionStringMap is a map of names to strings.
	OptionStringMap OptionKind = "map of strings"
)

// OptionSpec describes one route option of a driver. A driver's Schema is
// the single source for what its options are: validation, the option
// tables of docs/drivers.md, redaction of secrets and the errors of a
// route's author all read it.
type OptionSpec struct {
	Name string
	Kind OptionKind
	// Default is the value used when the option is absent, as shown in
	// docs ("" when there is none).
	Default string
	// Required: a route without it is refused.
	Required bool
	// Secret: the value is a reference (env:NAME, file:/path) to a
	// secret, never the secret itself, and is redacted wherever the
	// route is shown to anyone but an ADMIN.
	Secret bool
	// Doc is one line saying what the option does. It completes "is
	// required: " in the error for a missing required option, so it
	// starts in lower case and says what to write.
	Doc string
}

// Schema is every route option of a driver, in the order docs list them.
type Schema []OptionSpec

// Names returns the options' names, in order.
func (s Schema) Names() []string {
	names := make([]string, len(s))
	for i, o := range s {
		names[i] = o.Name
	}
	return names
}

// SecretNames returns the names of the secret options, in order.
func (s Schema) SecretNames() []string {
	var names []string
	for _, o := range s {
		if o.Secret {
			names = append(names, o.Name)
		}
	}
	return names
}

// Lookup returns the option named name.
func (s Schema) Lookup(name string) (OptionSpec, bool) {
	for _, o := range s {
		if o.Name == name {
			return o, true
		}
	}
	return OptionSpec{}, false
}

// Validate checks a route's options, as the configuration has them,
// against the schema: each option must be one the schema names and of its
// kind, each required option present, and each value of a secret option a
// reference (env:NAME, file:/absolute/path). It returns every problem:
// unknown and ill-kinded options in name order, then the missing ones in
// the schema's. An unknown option that is a near miss of a missing
// required one ("reload_cmd" for "reload_command") is reported as the
// misspelling alone, not again as the missing option.
//
// What the schema cannot say — ranges, patterns, options that depend on
// each other — the driver's ValidateOptions checks; CheckOptions runs both.
func (s Schema) Validate(options map[string]any) []OptionProblem {
	return append(s.check(options), s.checkReferences(options)...)
}

// check is Validate without the secret options' references, which a
// driver opening a session finds resolved.
func (s Schema) check(options map[string]any) []OptionProblem {
	var problems []OptionProblem
	for _, name := range slices.Sorted(maps.Keys(options)) {
		spec, known := s.Lookup(name)
		if !known {
			problems = append(problems, OptionProblem{Option: name, Message: s.unknown(name)})
			continue
		}
		problems = append(problems, spec.kindProblems(options[name])...)
	}
	for _, spec := range s {
		if _, present := options[spec.Name]; spec.Required && !present && !s.misspelt(options, spec.Name) {
			problems = append(problems, OptionProblem{Option: spec.Name, Message: "is required: " + spec.Doc})
		}
	}
	return problems
}

// unknown is the problem with an option the schema does not name: the
// option it is likely a slip for, or else every option there is.
func (s Schema) unknown(name string) string {
	known := slices.Sorted(slices.Values(s.Names()))
	if meant, ok := suggest.Closest(name, known); ok {
		return fmt.Sprintf("unknown option (did you mean %q?)", meant)
	}
	return "unknown option (known: " + strings.Join(known, ", ") + ")"
}

// nearMiss returns the option an unknown option name is likely a slip for.
func (s Schema) nearMiss(name string) (string, bool) {
	if _, known := s.Lookup(name); known {
		return "", false
	}
	return suggest.Closest(name, slices.Sorted(slices.Values(s.Names())))
}

// misspelt reports whether options lack name but hold an unknown option
// that is a near miss of it: then the misspelling is the one problem.
func (s Schema) misspelt(options map[string]any, name string) bool {
	for written := range options {
		if meant, ok := s.nearMiss(written); ok && meant == name {
			return true
		}
	}
	return false
}

// kindProblems says what is wrong with v as a value of the option, or
// nothing. A secret option's value is never shown, only its type.
func (o OptionSpec) kindProblems(v any) []OptionProblem {
	got := DescribeValue(v)
	if o.Secret && v != nil {
		got = fmt.Sprintf("a value of type %T", v)
	}
	bad := func(format string, args ...any) []OptionProblem {
		return []OptionProblem{{Option: o.Name, Message: fmt.Sprintf(format, args...)}}
	}
	switch o.Kind {
	case OptionString, OptionPath:
		s, ok := v.(string)
		switch {
		case !ok && o.Kind == OptionPath:
			return bad("must be an absolute path, got %s", got)
		case !ok:
			return bad("must be a string, got %s", got)
		case strings.ContainsAny(s, "\x00\n\r"):
			// Values reach device commands and forms, where a line
			// break or a NUL would start another.
			return bad("must be a single line")
		case o.Kind == OptionPath && !path.IsAbs(s):
			return bad("must be an absolute path, got %q", s)
		}
	case OptionInt:
		if _, err := Integer(v); err != nil {
			return bad("must be a whole number, got %s", got)
		}
	case OptionBool:
		if _, ok := v.(bool); !ok {
			return bad("must be true or false, got %s", got)
		}
	case OptionDuration:
		if _, err := Duration(v); err != nil {
			return bad("must be a duration such as \"90s\" or \"10m\", or a number of seconds, got %s", got)
		}
	case OptionStringList:
		items, ok := v.([]any)
		if _, isStrings := v.([]string); !ok && !isStrings {
			return bad("must be a list of strings, got %s", got)
		}
		for i, item := range items {
			if _, ok := item.(string); !ok {
				return bad("must be a list of strings; item %d is %s", i+1, DescribeValue(item))
			}
		}
	case OptionStringMap:
		return o.mapProblems(v, got)
	}
	return nil
}

// mapProblems checks a map of names to strings, entry by entry.
func (o OptionSpec) mapProblems(v any, got string) []OptionProblem {
	var entries map[string]any
	switch m := v.(type) {
	case map[string]string:
		return nil
	case map[string]any:
		entries = m
	default:
		return []OptionProblem{{Option: o.Name, Message: "must be a map of names to strings, got " + got}}
	}
	var problems []OptionProblem
	for _, name := range slices.Sorted(maps.Keys(entries)) {
		value := entries[name]
		if _, ok := value.(string); ok {
			continue
		}
		message := fmt.Sprintf("must be a string (quote numbers and booleans), got %s", DescribeValue(value))
		if o.Secret {
			message = fmt.Sprintf("must be a reference such as env:%s, got a value of type %T", name, value)
		}
		problems = append(problems, OptionProblem{Option: o.Name, Entry: name, Message: message})
	}
	return problems
}

// checkReferences refuses every value of a secret option that is not a
// well-formed reference. Values of the wrong kind are check's.
func (s Schema) checkReferences(options map[string]any) []OptionProblem {
	var problems []OptionProblem
	for _, spec := range s {
		if !spec.Secret {
			continue
		}
		v, present := options[spec.Name]
		if !present {
			continue
		}
		hint := ""
		if plain, ok := s.plainSibling(spec); ok {
			hint = fmt.Sprintf("values that are not secret, such as paths, go under %q instead", plain)
		}
		eachSecret(v, func(entry, value string) {
			if problem := referenceProblem(spec.Name, entry, value, hint); problem != "" {
				problems = append(problems, OptionProblem{Option: spec.Name, Entry: entry, Message: problem})
			}
		})
	}
	return problems
}

// plainSibling returns the option of the same kind as secret that is not
// secret (the script driver's plain_env beside env): where values that
// need no protection go.
func (s Schema) plainSibling(secret OptionSpec) (string, bool) {
	for _, o := range s {
		if !o.Secret && o.Kind == secret.Kind {
			return o.Name, true
		}
	}
	return "", false
}
