package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Problem is one thing wrong in a configuration.
type Problem struct {
	// Line is the line of the setting in the file; 0 when it is not known
	// (a Config built in code, or a setting left to its default whose
	// section is absent too).
	Line int
	// Path names the setting, such as
	// "certificate_authorities.lets_encrypt.directory" or
	// "routes[2].driver"; "" is the file as a whole.
	Path string
	// Message says what is wrong and, where it can, how to fix it.
	Message string
}

// String formats p as "12: workers.concurrency: message".
func (p Problem) String() string { return formatProblem("", p) }

// Error is every problem found in a configuration, in the order of the
// file. Parse, Load and Validate return it, so an operator fixes them all
// in one pass rather than one per run.
type Error struct {
	// Source names the file, as given to Parse or Load.
	Source   string
	Problems []Problem
}

// Error lists the problems one per line, each as
// "ottr.yaml:12: workers.concurrency: message".
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = formatProblem(e.Source, p)
	}
	return strings.Join(lines, "\n")
}

func formatProblem(source string, p Problem) string {
	var b strings.Builder
	switch {
	case source != "" && p.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", source, p.Line)
	case source != "":
		b.WriteString(source + ": ")
	case p.Line > 0:
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

func newError(source string, problems []Problem) *Error {
	sort.SliceStable(problems, func(i, j int) bool { return problems[i].Line < problems[j].Line })
	return &Error{Source: source, Problems: problems}
}

// Load reads the configuration file at path; see Parse. Relative paths in
// the file are resolved against the file's directory.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parse(data, path, filepath.Dir(abs))
}

// Parse reads a configuration from data, fills in the defaults and
// validates it. source names the file in problems, and its directory is
// the one relative paths in the configuration (data_dir, database,
// master_key_file, known_hosts_file, roots_file, "file:" references) are
// resolved against.
//
// A failure is an *Error listing every problem: YAML syntax, unknown
// settings, values of the wrong type and broken rules, each with its line.
// Unwise but allowed settings are left in the Config's Warnings.
func Parse(data []byte, source string) (*Config, error) {
	return parse(data, source, filepath.Dir(source))
}

func parse(data []byte, source, baseDir string) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, newError(source, []Problem{syntaxProblem(data, err)})
	}
	d := newDecoder()
	c := &Config{source: source, lines: d.lines}
	if len(root.Content) > 0 {
		d.decode(root.Content[0], reflect.ValueOf(c).Elem(), "")
	}
	c.withDefaults(baseDir)
	if problems := append(d.problems, c.problems()...); len(problems) > 0 {
		return nil, newError(source, problems)
	}
	c.Warnings = c.warnings()
	return c, nil
}

// Source names the file the Config was parsed from, as given to Load or
// Parse; "" for a Config built in code.
func (c *Config) Source() string { return c.source }

// Line returns the line of the setting at path (as in Problem.Path, such as
// "routes[2].options"), or of its nearest enclosing section written in the
// file, or 0. Callers that check settings further, such as a driver
// checking a route's options, use it to report the line.
func (c *Config) Line(path string) int {
	for p := path; p != ""; p = parentPath(p) {
		if line, ok := c.lines[p]; ok {
			return line
		}
	}
	return 0
}

// parentPath strips the last ".name" or "[i]" from path.
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}
