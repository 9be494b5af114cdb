package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// exampleLines is ottr.example.yaml, line by line: a long file whose
// blocks start far above the lines the tests break.
func exampleLines(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "ottr.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(string(data), "\n")
}

// lineOf returns the number of the first line of lines that is want once
// trimmed, failing the test when there is none.
func lineOf(t *testing.T, lines []string, want string) int {
	t.Helper()
	for i, l := range lines {
		if strings.TrimSpace(l) == want {
			return i + 1
		}
	}
	t.Fatalf("ottr.example.yaml has no line %q", want)
	return 0
}

func TestSyntaxProblemsNameTheLineOfTheMistake(t *testing.T) {
	lines := exampleLines(t)
	certPath := lineOf(t, lines, "cert_path: /etc/ssl/ottr/server.crt")
	directory := lineOf(t, lines, "directory: https://acme-v02.api.letsencrypt.org/directory")
	workers := lineOf(t, lines, "workers:")
	tests := []struct {
		name string
		// line is the line broken, counting from 1; edit breaks it.
		line int
		edit func(string) string
		// wantLine is the line the problem must be on, and wantText what
		// it must say.
		wantLine int
		wantText []string
	}{
		{"a setting indented one space too far, deep in a route",
			certPath, func(s string) string { return " " + s },
			certPath, []string{"did not find expected key", "indented 7 spaces", "above it 6"}},
		{"a setting indented one space short, in a CA profile",
			directory, func(s string) string { return s[1:] },
			directory, []string{"did not find expected key", "indented 3 spaces", "above it 4"}},
		{"a top-level section indented by one space",
			workers, func(s string) string { return " " + s },
			workers, []string{"indented 1 space and"}},
		{"a tab that indents a setting",
			certPath, func(s string) string { return "\t" + strings.TrimLeft(s, " ") },
			certPath, []string{"a tab indents this line", "replace the tab with spaces"}},
		{"a tab among the spaces of an indentation",
			directory, func(s string) string { return "  \t" + strings.TrimLeft(s, " ") },
			directory, []string{"a tab indents this line"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			broken := append([]string(nil), lines...)
			broken[tt.line-1] = tt.edit(broken[tt.line-1])
			_, err := Parse([]byte(strings.Join(broken, "\n")), "ottr.yaml")
			var cerr *Error
			if !errors.As(err, &cerr) || len(cerr.Problems) != 1 {
				t.Fatalf("Parse: %v, want one problem", err)
			}
			p := cerr.Problems[0]
			if p.Line != tt.wantLine {
				t.Errorf("problem on line %d, want %d: %s", p.Line, tt.wantLine, p)
			}
			for _, want := range tt.wantText {
				if !strings.Contains(p.Message, want) {
					t.Errorf("problem %q does not say %q", p.Message, want)
				}
			}
		})
	}
}
