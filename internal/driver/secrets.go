package driver

import (
	"errors"
	"fmt"
	"iter"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/ottr-go/ottr/internal/secret"
)

// Secret route options (OptionSpec.Secret) hold references to secrets, as
// the config's credentials do: env:NAME reads environment variable NAME,
// file:/path reads a file, aws-sm:NAME#key a key of an AWS Secrets Manager
// secret and vault:MOUNT/PATH#key a field of a Vault KV secret
// (secret.Resolver). Schema.Validate refuses any other value. A reference is resolved by the process that opens the
// device session, when it opens it, so the secret is never in the config,
// in the routing table, or in anything that shows them, and a changed
// secret is used from the next rotation on.

// Redacted stands in for a secret option's value wherever options are
// shown to someone who may not see the references.
const Redacted = "[redacted]"

// envName is what an env: reference may name.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// referenceProblem says what is wrong with a secret option's value, or "";
// hint, when set, is added to the problem of a value written out, to say
// where values that are not secret go.
func referenceProblem(option, entry, value, hint string) string {
	example := strings.ToUpper(option)
	if envName.MatchString(entry) {
		example = entry
	}
	if name, ok := strings.CutPrefix(value, secret.EnvPrefix); ok {
		if !envName.MatchString(name) {
			return fmt.Sprintf("an env: reference needs an environment variable name of letters, digits and underscores, such as env:%s", example)
		}
		return ""
	}
	if path, ok := strings.CutPrefix(value, secret.FilePrefix); ok {
		if !filepath.IsAbs(path) {
			return fmt.Sprintf("a file: reference needs an absolute path, such as file:/etc/ottr/%s, read by the process that rotates", strings.ToLower(example))
		}
		return ""
	}
	if strings.HasPrefix(value, secret.AWSPrefix) || strings.HasPrefix(value, secret.VaultPrefix) {
		if _, err := secret.ParseRef(value); err != nil {
			return strings.TrimPrefix(err.Error(), "secret: ")
		}
		return ""
	}
	problem := fmt.Sprintf("holds a secret written out in the configuration, which is refused: write a reference in its place, "+
		"env:NAME to read environment variable NAME of the processes that rotate (e.g. env:%s), file:/absolute/path to read a file they can read, "+
		"or aws-sm:NAME#key or vault:MOUNT/PATH#key to read a secret store (secrets in the configuration); the value is not repeated here", example)
	if hint != "" {
		problem += "; " + hint
	}
	return problem
}

// ResolveSecretOptions returns a copy of options in which each reference of
// a secret option is replaced by the secret resolve returns for it. The
// copy holds secrets: it is for the device session only. Errors name the
// option, the entry and the reference, never a secret. secretOptions are
// the names the driver's Schema declares secret (Schema.SecretNames).
func ResolveSecretOptions(options map[string]any, secretOptions []string, resolve func(ref string) (string, error)) (map[string]any, error) {
	present := sortedPresent(options, secretOptions)
	if len(present) == 0 {
		return options, nil
	}
	if resolve == nil {
		return nil, fmt.Errorf("options %s hold secret references and nothing is set up to resolve them", strings.Join(present, ", "))
	}
	out := maps.Clone(options)
	var errs []error
	for _, name := range present {
		out[name] = mapSecrets(options[name], func(entry, ref string) string {
			value, err := resolve(ref)
			if err != nil {
				errs = append(errs, &OptionProblem{Option: name, Entry: entry, Message: err.Error()})
			}
			return value
		})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// RedactSecretOptions returns a copy of options in which every value of a
// secret option is Redacted; a map option keeps its keys, which are not
// secret and say what the route sets.
func RedactSecretOptions(options map[string]any, secretOptions []string) map[string]any {
	present := sortedPresent(options, secretOptions)
	if len(present) == 0 {
		return options
	}
	out := maps.Clone(options)
	for _, name := range present {
		switch v := options[name].(type) {
		case map[string]any:
			out[name] = redactedMap(maps.Keys(v))
		case map[string]string:
			out[name] = redactedMap(maps.Keys(v))
		default:
			// A value that is not a string is an invalid option, but may
			// still be the secret itself.
			out[name] = Redacted
		}
	}
	return out
}

func redactedMap(keys iter.Seq[string]) map[string]any {
	out := map[string]any{}
	for k := range keys {
		out[k] = Redacted
	}
	return out
}

// sortedPresent returns the secret options present in options, sorted.
func sortedPresent(options map[string]any, secretOptions []string) []string {
	var present []string
	for _, name := range secretOptions {
		if _, ok := options[name]; ok {
			present = append(present, name)
		}
	}
	slices.Sort(present)
	return present
}

// eachSecret calls fn with every string of a secret option's value: the
// value itself (entry "") or each value of a map, in key order.
func eachSecret(v any, fn func(entry, value string)) {
	switch t := v.(type) {
	case string:
		fn("", t)
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(t)) {
			if s, ok := t[k].(string); ok {
				fn(k, s)
			}
		}
	case map[string]string:
		for _, k := range slices.Sorted(maps.Keys(t)) {
			fn(k, t[k])
		}
	}
}

// mapSecrets returns a secret option's value with every string replaced by
// fn's answer, as a new value: the table's own maps are never changed.
// Map values that are not strings are kept for the driver to refuse.
func mapSecrets(v any, fn func(entry, value string) string) any {
	switch t := v.(type) {
	case string:
		return fn("", t)
	case map[string]any:
		out := make(map[string]any, len(t))
		for _, k := range slices.Sorted(maps.Keys(t)) {
			if s, ok := t[k].(string); ok {
				out[k] = fn(k, s)
			} else {
				out[k] = t[k]
			}
		}
		return out
	case map[string]string:
		out := make(map[string]any, len(t))
		for _, k := range slices.Sorted(maps.Keys(t)) {
			out[k] = fn(k, t[k])
		}
		return out
	default:
		return v
	}
}

// OptionReference is one reference in a secret route option.
type OptionReference struct {
	// Option is the option's name; Entry the key of a map option, or "".
	Option, Entry string
	// Ref is the reference as written.
	Ref string
}

// SecretReferences lists the references in the secret options of options,
// by option and entry, without resolving them: what `ottr secret check`
// resolves.
func SecretReferences(options map[string]any, secretOptions []string) []OptionReference {
	var out []OptionReference
	for _, name := range sortedPresent(options, secretOptions) {
		eachSecret(options[name], func(entry, value string) {
			out = append(out, OptionReference{Option: name, Entry: entry, Ref: value})
		})
	}
	return out
}
