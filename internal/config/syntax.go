package config

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parserProblems are the messages of yaml.v3's parser (as opposed to its
// scanner). yaml.v3 v3.0.1 numbers the lines of these from 0 while its
// scanner numbers from 1, so "did not find expected key" arrives one line
// early.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
}

// indentationProblems are the messages by which yaml.v3 says a line is
// not indented like the block it belongs to.
var indentationProblems = map[string]bool{
	"did not find expected key":                      true,
	"did not find expected '-' indicator":            true,
	"mapping values are not allowed in this context": true,
}

// syntaxProblem turns yaml.v3's "yaml: line 3: did not find expected key"
// into a Problem on the line the operator must look at.
//
// yaml.v3 reports the line where the block holding the mistake begins
// when it knows one, not the line it stopped at: a wrongly indented
// setting deep in a long file was reported on the file's first setting.
// The line it stopped at is found again by parsing ever longer runs of
// the file's first lines: the shortest run that fails with the same
// message ends on it.
func syntaxProblem(data []byte, err error) Problem {
	text := err.Error()
	m := yamlLine.FindStringSubmatch(text)
	if m == nil {
		return Problem{Message: "invalid YAML: " + strings.TrimPrefix(text, "yaml: ")}
	}
	line, _ := strconv.Atoi(m[1])
	if parserProblems[m[2]] {
		line++
	}
	if stopped := failingLine(data, m[2]); stopped > 0 {
		line = stopped
	}
	msg := "invalid YAML: " + m[2]
	lines := strings.Split(string(data), "\n")
	switch {
	case line < 1 || line > len(lines):
	case strings.ContainsRune(leadingSpace(lines[line-1]), '\t'):
		msg = "invalid YAML: a tab indents this line, and YAML indents with spaces only: replace the tab with spaces (" + m[2] + ")"
	case indentationProblems[m[2]]:
		msg += indentationHint(lines, line)
	}
	return Problem{Line: line, Message: msg}
}

// indentationHint compares the indentation of line n with the setting
// above it: a block's indentation is set by its first line, so the
// mistake may be on either.
func indentationHint(lines []string, n int) string {
	this := lines[n-1]
	for p := n - 1; p >= 1; p-- {
		above := lines[p-1]
		if t := strings.TrimSpace(above); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		a, b := len(leadingSpace(this)), len(leadingSpace(above))
		if a != b {
			return fmt.Sprintf(": this line is indented %s and line %d above it %d; the settings of one block line up, so one of the two is off", spaces(a), p, b)
		}
		return fmt.Sprintf(": check this line and line %d above it: a setting is written \"name: value\", and the settings of one block line up", p)
	}
	return ": check this line's indentation: YAML nests settings by their indentation, in spaces"
}

// failingLine returns the number of the line at which parsing data first
// fails with message, or 0 when no run of whole first lines does. It
// bisects: a run that ends before the mistake parses, one that ends on
// or after it fails the same way.
func failingLine(data []byte, message string) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	fails := func(n int) bool {
		var node yaml.Node
		err := yaml.Unmarshal(bytes.Join(lines[:n], nil), &node)
		if err == nil {
			return false
		}
		m := yamlLine.FindStringSubmatch(err.Error())
		return m != nil && m[2] == message
	}
	lo, hi := 0, len(lines)
	if !fails(hi) {
		return 0
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// leadingSpace returns the blanks and tabs that start s.
func leadingSpace(s string) string {
	return s[:len(s)-len(strings.TrimLeft(s, " \t"))]
}

// spaces says "1 space" or "N spaces".
func spaces(n int) string {
	if n == 1 {
		return "1 space"
	}
	return fmt.Sprintf("%d spaces", n)
}
