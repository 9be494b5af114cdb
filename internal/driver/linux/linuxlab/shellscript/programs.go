// Package shellscript tells which programs a POSIX sh script starts, so the
// lab's Linux host and SSM instance can record the commands a driver sends
// them in the form of the drivers' request tables (driver.Request).
package shellscript

import (
	"bytes"
	"fmt"
	"strings"

	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// Programs returns the programs script names, each once, in the order they
// first appear: the command word of every simple command that is not a
// shell builtin or a function the script defines, "openssl" with its
// subcommand ("openssl req"). A command word that is not a literal (a
// variable: "$hook") is returned as written. Branches count whether or
// not they would run: this is what the script asks of the host, not what
// one run of it needed.
func Programs(script string) ([]string, error) {
	file, err := syntax.NewParser(syntax.Variant(syntax.LangPOSIX)).Parse(strings.NewReader(script), "")
	if err != nil {
		return nil, fmt.Errorf("parse the script: %w", err)
	}
	functions := map[string]bool{}
	syntax.Walk(file, func(n syntax.Node) bool {
		if f, ok := n.(*syntax.FuncDecl); ok {
			functions[f.Name.Value] = true
		}
		return true
	})
	var programs []string
	seen := map[string]bool{}
	syntax.Walk(file, func(n syntax.Node) bool {
		call, ok := n.(*syntax.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		args := call.Args
		// "exec rm …" replaces the shell with rm: the program is rm.
		if args[0].Lit() == "exec" && len(args) > 1 {
			args = args[1:]
		}
		name := args[0].Lit()
		switch {
		case name == "":
			name = printWord(args[0])
		case functions[name] || interp.IsBuiltin(name):
			return true
		case name == "openssl" && len(args) > 1 && args[1].Lit() != "":
			name += " " + args[1].Lit()
		}
		if !seen[name] {
			seen[name] = true
			programs = append(programs, name)
		}
		return true
	})
	return programs, nil
}

// printWord renders a word as the script spells it.
func printWord(w *syntax.Word) string {
	var b bytes.Buffer
	if err := syntax.NewPrinter().Print(&b, w); err != nil {
		return "(unprintable command word)"
	}
	return b.String()
}
