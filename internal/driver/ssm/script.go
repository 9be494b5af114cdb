package ssm

import (
	"slices"
	"strconv"
	"strings"

	"github.com/ottr-go/ottr/internal/driver/linux/hostcheck"
)

// The scripts the driver sends are POSIX sh, built from the fragments
// below. Every value in them is shell-quoted. Each SendCommand costs a
// round trip through AWS and a few seconds of polling, so a step is one
// script that does all it can and reports what it did on its standard
// output: marker lines ("@@ottr-<what> <args>") and sections (the output of
// a reload or a hook between "@@ottr-begin <name>" and "@@ottr-end <name>").

const (
	markerPrefix  = "@@ottr-"
	sectionBegin  = "@@ottr-begin "
	sectionEnd    = "@@ottr-end "
	hookOKMarker  = "@@ottr-hook-ok"
	hookFailed    = "@@ottr-hook-failed"
	hookSkipped   = "@@ottr-hook-skipped"
	sectionHook   = "hook"
	sectionReload = "reload"
	// sectionReloadAgain is the reload after putting the backup back.
	sectionReloadAgain = "reload-again"
)

// shellQuote returns s as one POSIX shell word that the shell reads back as
// exactly s (hostcheck.Quote): nothing is special inside single quotes, so
// no value can expand, split or inject.
func shellQuote(s string) string { return hostcheck.Quote(s) }

// exists is a shell test that is true when the quoted path names anything,
// a dangling symbolic link included.
func exists(quoted string) string {
	return "{ [ -e " + quoted + " ] || [ -L " + quoted + " ]; }"
}

// ensureDir is a shell line that creates dir unless it exists, without
// running mkdir when it does.
func ensureDir(dir string) string {
	q := shellQuote(dir)
	return "[ -d " + q + " ] || mkdir -p -- " + q
}

// sectionFunc defines "section NAME TEXT", which prints TEXT as a section.
const sectionFunc = `section() {
	printf '%s\n' "` + sectionBegin + `$1" "$2" "` + sectionEnd + `$1"
}`

// hooksFunc defines "run_hooks PHASE DIR", which runs every executable
// *.sh file in DIR in name order (LC_COLLATE=C: byte order), each with
// OTTR_HOOK_PHASE set. It prints a marker per hook; the first hook that
// fails stops it, with its exit status, path and output. A hook's output
// on success goes to standard error, where the SSM console shows it.
const hooksFunc = `run_hooks() {
	[ -d "$2" ] || return 0
	for hook in "$2"/*.sh; do
		[ -e "$hook" ] || continue
		if [ ! -f "$hook" ] || [ ! -x "$hook" ]; then
			printf '%s\n' "` + hookSkipped + ` $1 $hook"
			continue
		fi
		if hook_out=$(OTTR_HOOK_PHASE=$1 "$hook" 2>&1); then
			printf '%s\n' "` + hookOKMarker + ` $1 $hook"
			[ -z "$hook_out" ] || printf '%s\n' "$hook_out" >&2
		else
			hook_status=$?
			printf '%s\n' "` + hookFailed + ` $1 $hook_status $hook"
			section ` + sectionHook + ` "$hook_out"
			return 1
		fi
	done
	return 0
}`

// hookPrelude returns the lines scripts that run hooks start with: the
// functions, the collation that orders the hooks, and the paths hooks may
// want, exported.
func (o *options) hookPrelude() []string {
	lines := []string{sectionFunc, hooksFunc, "LC_COLLATE=C"}
	exports := []struct{ name, value string }{
		{"OTTR_CERT_PATH", o.CertPath}, {"OTTR_KEY_PATH", o.KeyPath}, {"OTTR_CHAIN_PATH", o.ChainPath},
	}
	for _, e := range exports {
		lines = append(lines, e.name+"="+shellQuote(e.value)+"; export "+e.name)
	}
	return lines
}

// runHooks is the script line that runs one phase's hooks, or nothing when
// the route turned them off; a failing hook runs onFail.
func runHooks(phase, dir, onFail string) string {
	if dir == "" {
		return ":"
	}
	return "run_hooks " + phase + " " + shellQuote(dir) + " || { " + onFail + "; }"
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

// certBlocksFunc defines "cert_blocks FILE", which prints only the
// CERTIFICATE blocks of FILE (hostcheck.CertBlocksFunc).
const certBlocksFunc = hostcheck.CertBlocksFunc

// scriptOutput is a script's standard output, parsed.
type scriptOutput struct {
	// markers are the marker lines, in order, without the text of
	// sections.
	markers []string
	// sections maps each section's name to its text.
	sections map[string]string
}

func parseOutput(out []byte) *scriptOutput {
	p := &scriptOutput{sections: map[string]string{}}
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

// has reports whether the marker line appears exactly.
func (p *scriptOutput) has(marker string) bool {
	return slices.Contains(p.markers, marker)
}

// args returns the rest of the first marker line starting with marker and
// a space.
func (p *scriptOutput) args(marker string) (string, bool) {
	for _, m := range p.markers {
		if rest, ok := strings.CutPrefix(m, marker+" "); ok {
			return rest, true
		}
	}
	return "", false
}

// section returns a section's text as one line for an error, its last
// lines only.
func (p *scriptOutput) section(name string) string {
	return tail([]byte(p.sections[name]), stderrTailLines)
}

// hookError returns the failed hook the output reports, or nil.
func (p *scriptOutput) hookError() *HookError {
	rest, ok := p.args(hookFailed)
	if !ok {
		return nil
	}
	// "<phase> <status> <path>": the path may hold spaces.
	fields := strings.SplitN(rest, " ", 3)
	if len(fields) != 3 {
		return &HookError{Phase: rest, ExitStatus: -1, Output: p.section(sectionHook)}
	}
	status, err := strconv.Atoi(fields[1])
	if err != nil {
		status = -1
	}
	return &HookError{Phase: fields[0], Hook: fields[2], ExitStatus: status, Output: p.section(sectionHook)}
}

// hooksRun returns the hooks the output reports as run, for the log.
func (p *scriptOutput) hooksRun() (ran, skipped []string) {
	for _, m := range p.markers {
		if rest, ok := strings.CutPrefix(m, hookOKMarker+" "); ok {
			ran = append(ran, rest)
		}
		if rest, ok := strings.CutPrefix(m, hookSkipped+" "); ok {
			skipped = append(skipped, rest)
		}
	}
	return ran, skipped
}
