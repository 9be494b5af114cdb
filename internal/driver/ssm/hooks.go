package ssm

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/ottr-go/ottr/internal/driver/linuxhost"
)

// Hooks are the executable *.sh files of pre_hooks_dir, run before the key
// is generated, and of post_hooks_dir, run after each reload, inside the
// host logic's scripts (linuxhost.Hooks). Each script that runs them
// reports what they did with marker lines, and a failed hook's output as
// a section.
const (
	hookOKMarker = "@@ottr-hook-ok"
	hookFailed   = "@@ottr-hook-failed"
	hookSkipped  = "@@ottr-hook-skipped"
	sectionHook  = "hook"
)

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

// hooks runs a route's hook directories.
type hooks struct {
	opts *options
	log  *slog.Logger
}

var _ linuxhost.Hooks = hooks{}

// Prelude returns the function that runs the hooks, the collation that
// orders them, and the paths hooks may want, exported.
func (h hooks) Prelude() []string {
	lines := []string{hooksFunc, "LC_COLLATE=C"}
	exports := []struct{ name, value string }{
		{"OTTR_CERT_PATH", h.opts.CertPath}, {"OTTR_KEY_PATH", h.opts.KeyPath}, {"OTTR_CHAIN_PATH", h.opts.ChainPath},
	}
	for _, e := range exports {
		lines = append(lines, e.name+"="+linuxhost.Quote(e.value)+"; export "+e.name)
	}
	return lines
}

// Before runs the pre hooks.
func (h hooks) Before(onFail string) string { return runHooks("pre", h.opts.PreHooksDir, onFail) }

// After runs the post hooks.
func (h hooks) After(onFail string) string { return runHooks("post", h.opts.PostHooksDir, onFail) }

// runHooks is the script line that runs one phase's hooks, or nothing when
// the route turned them off; a failing hook runs onFail.
func runHooks(phase, dir, onFail string) string {
	if dir == "" {
		return ":"
	}
	return "run_hooks " + phase + " " + linuxhost.Quote(dir) + " || { " + onFail + "; }"
}

// Report logs the hooks of phase the output reports as run and skipped,
// and returns the one that failed, or nil.
func (h hooks) Report(phase string, out *linuxhost.Output) error {
	var ran, skipped []string
	for _, m := range out.Args(hookOKMarker) {
		if rest, ok := strings.CutPrefix(m, phase+" "); ok {
			ran = append(ran, rest)
		}
	}
	for _, m := range out.Args(hookSkipped) {
		if rest, ok := strings.CutPrefix(m, phase+" "); ok {
			skipped = append(skipped, rest)
		}
	}
	if len(ran) > 0 {
		h.log.Debug("ssm: hooks ran", "phase", phase, "hooks", ran)
	}
	if len(skipped) > 0 {
		h.log.Warn("ssm: hooks skipped: not executable regular files", "phase", phase, "hooks", skipped)
	}
	failed := out.Args(hookFailed)
	if len(failed) == 0 {
		return nil
	}
	// "<phase> <status> <path>": the path may hold spaces.
	fields := strings.SplitN(failed[0], " ", 3)
	if len(fields) != 3 {
		return &HookError{Phase: failed[0], ExitStatus: -1, Output: out.Section(sectionHook)}
	}
	status, err := strconv.Atoi(fields[1])
	if err != nil {
		status = -1
	}
	return &HookError{Phase: fields[0], Hook: fields[2], ExitStatus: status, Output: out.Section(sectionHook)}
}

// HookError is a pre or post hook that failed on the instance.
type HookError struct {
	// Phase is "pre" or "post".
	Phase string
	// Hook is the hook's path on the instance.
	Hook string
	// ExitStatus is the hook's exit status.
	ExitStatus int
	// Output holds the last lines the hook printed.
	Output string
}

func (e *HookError) Error() string {
	msg := fmt.Sprintf("%s hook %s failed with exit status %d", e.Phase, e.Hook, e.ExitStatus)
	if e.Output != "" {
		msg += ": " + e.Output
	}
	return msg
}
