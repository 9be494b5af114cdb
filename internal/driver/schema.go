package driver

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
	// Doc is one line saying what the option does.
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
