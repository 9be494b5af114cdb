package cli

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

// outputFormats are the values of -o/--output, kubectl's: a table for
// people, JSON and YAML for scripts. Files are -f/--file, never -o.
var outputFormats = []string{"table", "json", "yaml"}

// output is the -o/--output flag of a command that prints records. It
// refuses a format it does not know as the flag is parsed, before the
// command does any work.
type output struct{ format string }

// addOutputFlag gives cmd the -o/--output flag, with completion of its
// values, and returns where its value lands.
func addOutputFlag(cmd *cobra.Command) *output {
	o := &output{format: "table"}
	cmd.Flags().VarP(o, "output", "o", "output format: table, json or yaml")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(outputFormats, cobra.ShellCompDirectiveNoFileComp))
	return o
}

// Set implements pflag.Value.
func (o *output) Set(format string) error {
	if !slices.Contains(outputFormats, format) {
		return fmt.Errorf("want table, json or yaml")
	}
	o.format = format
	return nil
}

// String implements pflag.Value.
func (o *output) String() string { return o.format }

// Type implements pflag.Value: the word help shows for the flag's value.
func (o *output) Type() string { return "format" }

// print writes v as the flag asks: table calls table (which writes the
// human form), json and yaml encode v, with null for every field without
// a value (see withNulls). The YAML has the JSON's field names and order,
// so a script can switch between the two without renaming anything.
func (o *output) print(w io.Writer, v any, table func(io.Writer) error) error {
	if o.format == "table" {
		return table(w)
	}
	record, err := withNulls(reflect.ValueOf(v))
	if err != nil {
		return err
	}
	switch o.format {
	case "json":
		return writeJSON(w, record)
	case "yaml":
		return writeYAML(w, record)
	}
	return fmt.Errorf("--output %q: want table, json or yaml", o.format)
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// withNulls encodes v as encoding/json does, except that a struct field
// whose tag leaves it out when empty (omitempty, omitzero) is written as
// null: the records of ottr's packages omit what has no value, and a
// script reading the output wants every field, null where there is none.
// Structs keep their fields' order; types that encode themselves (times,
// raw JSON) and maps are encoded as they are.
func withNulls(v reflect.Value) (json.RawMessage, error) {
	if !v.IsValid() {
		return json.RawMessage("null"), nil
	}
	if t := v.Type(); t.Implements(jsonMarshaler) || t.Implements(textMarshaler) {
		return json.Marshal(v.Interface())
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return json.RawMessage("null"), nil
		}
		return withNulls(v.Elem())
	case reflect.Slice:
		if v.IsNil() {
			return json.RawMessage("null"), nil
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return json.Marshal(v.Interface())
		}
		fallthrough
	case reflect.Array:
		elems := make([]json.RawMessage, v.Len())
		for i := range elems {
			var err error
			if elems[i], err = withNulls(v.Index(i)); err != nil {
				return nil, err
			}
		}
		return json.Marshal(elems)
	case reflect.Struct:
		var buf bytes.Buffer
		buf.WriteByte('{')
		if err := writeFieldsWithNulls(&buf, v); err != nil {
			return nil, err
		}
		buf.WriteByte('}')
		return buf.Bytes(), nil
	}
	return json.Marshal(v.Interface())
}

// writeFieldsWithNulls writes the fields of struct v, those of embedded
// structs among them, as "name":value pairs.
func writeFieldsWithNulls(buf *bytes.Buffer, v reflect.Value) error {
	for i := range v.NumField() {
		f := v.Type().Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" && opts == "" || !f.IsExported() && !f.Anonymous {
			continue
		}
		fv := v.Field(i)
		if f.Anonymous && name == "" && fv.Kind() == reflect.Struct {
			if err := writeFieldsWithNulls(buf, fv); err != nil {
				return err
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		value := json.RawMessage("null")
		if !omitted(fv, opts) {
			var err error
			if value, err = withNulls(fv); err != nil {
				return err
			}
		}
		key, err := json.Marshal(name)
		if err != nil {
			return err
		}
		if buf.Len() > 1 {
			buf.WriteByte(',')
		}
		buf.Write(key)
		buf.WriteByte(':')
		buf.Write(value)
	}
	return nil
}

// omitted reports whether encoding/json would leave out the field fv with
// the tag options opts.
func omitted(fv reflect.Value, opts string) bool {
	for opt := range strings.SplitSeq(opts, ",") {
		switch opt {
		case "omitzero":
			if fv.IsZero() {
				return true
			}
		case "omitempty":
			switch fv.Kind() {
			case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
				if fv.Len() == 0 {
					return true
				}
			case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
				reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
				reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
				if fv.IsZero() {
					return true
				}
			}
		}
	}
	return false
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeYAML writes v as YAML through its JSON form: the struct tags ottr's
// records carry are JSON tags, and a JSON document read into a yaml.Node
// keeps its keys in order.
func writeYAML(w io.Writer, v any) error {
	j, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(j, &doc); err != nil {
		return err
	}
	blockStyle(&doc)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// blockStyle turns JSON's flow style into YAML's block style, and leaves
// strings quoted only where YAML needs it.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// orNull returns nil for an empty s, so it encodes as null.
func orNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
