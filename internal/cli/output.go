package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"

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

// table reports whether the records are printed for people.
func (o *output) table() bool { return o.format == "table" }

// print writes v as the flag asks: table calls table (which writes the
// human form), json and yaml encode v. The YAML has the JSON's field names
// and order, so a script can switch between the two without renaming
// anything.
func (o *output) print(w io.Writer, v any, table func(io.Writer) error) error {
	switch o.format {
	case "table":
		return table(w)
	case "json":
		return writeJSON(w, v)
	case "yaml":
		return writeYAML(w, v)
	}
	return fmt.Errorf("--output %q: want table, json or yaml", o.format)
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
