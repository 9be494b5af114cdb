package linuxhost

import (
	"slices"
	"strings"

	"github.com/ottr-go/ottr/internal/driver/linuxhost/hostcheck"
)

// Shell functions and fragments the scripts are made of. They use only
// builtins of every POSIX sh (read, printf, case, [) where they can: on
// the host, each external program a script runs is a fork and an exec,
// which costs more than reading a few kilobytes of PEM line by line.
//
// A script reports what it did on its standard output: marker lines
// ("@@ottr-<what> <args>") and sections (the output of a reload or a hook,
// or a file's certificates, between "@@ottr-begin <name>" and
// "@@ottr-end <name>"). None of them can be a line of PEM text.

const (
	markerPrefix = "@@ottr-"
	sectionBegin = "@@ottr-begin "
	sectionEnd   = "@@ottr-end "
)

// Quote returns s as one POSIX shell word that the shell reads back as
// exactly s (hostcheck.Quote): nothing is special inside single quotes, so
// no value can expand, split or inject.
func Quote(s string) string { return hostcheck.Quote(s) }

// exists is a shell test that is true when the quoted path names anything,
// a dangling symbolic link included.
func exists(quoted string) string {
	return "{ [ -e " + quoted + " ] || [ -L " + quoted + " ]; }"
}

// ensureDir is a shell line that creates dir unless it exists, without
// running mkdir when it does.
func ensureDir(dir string) string {
	q := Quote(dir)
	return "[ -d " + q + " ] || mkdir -p -- " + q
}

// SectionFunc defines "section NAME TEXT", which prints TEXT as the
// section NAME of the output.
const SectionFunc = `section() {
	printf '%s\n' "` + sectionBegin + `$1" "$2" "` + sectionEnd + `$1"
}`

// certBlocksFunc defines "cert_blocks FILE", which prints only the
// CERTIFICATE blocks of FILE (hostcheck.CertBlocksFunc).
const certBlocksFunc = hostcheck.CertBlocksFunc

// uploadEnd ends each file in an upload's standard input. It cannot be a
// line of PEM text.
const uploadEnd = "@@ottr-end"

// uploadFunc defines "upload", which copies standard input to standard
// output up to a line that is uploadEnd, and fails when the input ends
// first: a cut connection must not leave a truncated file to move into
// place. "read" takes one byte at a time from a pipe, so each call leaves
// the rest of the input to the next.
const uploadFunc = `upload() {
	while IFS= read -r line; do
		if [ "$line" = '` + uploadEnd + `' ]; then return 0; fi
		printf '%s\n' "$line"
	done
	return 1
}`

// uploadInput joins files into the standard input of a script that reads
// them with one "upload" call each, in order.
func uploadInput(files ...[]byte) []byte {
	var b strings.Builder
	for _, f := range files {
		b.Write(f)
		if len(f) > 0 && f[len(f)-1] != '\n' {
			b.WriteByte('\n')
		}
		b.WriteString(uploadEnd + "\n")
	}
	return []byte(b.String())
}

// reloadFunc defines "reload_service SECTION", which runs the route's
// reload command (as written, in a subshell of the script) and, when it
// fails, prints its output as the section SECTION.
func reloadFunc(command string) string {
	return `reload_service() {
	reload_out=$({
` + command + `
} 2>&1)
	reload_status=$?
	if [ "$reload_status" -ne 0 ]; then
		section "$1" "$reload_out"
	fi
	return "$reload_status"
}`
}

// Output is a script's standard output, read: its marker lines and its
// sections.
type Output struct {
	// markers are the marker lines, in order, without the text of
	// sections.
	markers []string
	// sections maps each section's name to its text.
	sections map[string]string
}

// ParseOutput reads a script's standard output.
func ParseOutput(out []byte) *Output {
	p := &Output{sections: map[string]string{}}
	var current string
	var text []string
	inSection := false
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case inSection && line == sectionEnd+current:
			p.sections[current] = strings.Join(text, "\n")
			inSection, text = false, nil
		case inSection:
			text = append(text, line)
		case strings.HasPrefix(line, sectionBegin):
			current, inSection = strings.TrimPrefix(line, sectionBegin), true
		case strings.HasPrefix(line, markerPrefix):
			p.markers = append(p.markers, line)
		}
	}
	return p
}

// Has reports whether the marker line appears exactly.
func (p *Output) Has(marker string) bool {
	return slices.Contains(p.markers, marker)
}

// Args returns the rest of every marker line that starts with marker and a
// space, in order.
func (p *Output) Args(marker string) []string {
	var args []string
	for _, m := range p.markers {
		if rest, ok := strings.CutPrefix(m, marker+" "); ok {
			args = append(args, rest)
		}
	}
	return args
}

// Section returns a section's text as one line for an error, its last
// lines only (Tail).
func (p *Output) Section(name string) string {
	return Tail([]byte(p.sections[name]), TailLines)
}
