package linuxlab

import (
	"regexp"
	"strings"

	"github.com/ottr-go/ottr/internal/driver/linux/linuxlab/shellscript"
)

// Calls returns the calls of every command the host was sent, in order,
// as the linux driver's request table names them (Config.RecordCalls):
//
//	"ssh sh -c"          a script sent as sh -c '<script>'
//	"ssh sudo -n sh -c"  the same through sudo -n
//	"ssh reload_command" the configured reload command
//	"ssh openssl req"    a program a script names (see shellscript.Programs)
//
// Any other command line is kept whole, "ssh <command>".
func (h *Host) Calls() []string {
	h.callsMu.Lock()
	defer h.callsMu.Unlock()
	return append([]string(nil), h.calls...)
}

// record keeps the calls of the command line raw.
func (h *Host) record(raw string) {
	calls := callsOf(raw, h.isReload)
	h.callsMu.Lock()
	h.calls = append(h.calls, calls...)
	h.callsMu.Unlock()
}

// callsOf renders one command line as its calls; isReload tells the
// reload command (sudo removed) from a script.
func callsOf(raw string, isReload func(string) bool) []string {
	command, sudo := strings.CutPrefix(raw, sudoPrefix)
	wrapper := "ssh "
	if sudo {
		wrapper += "sudo -n "
	}
	script, wrapped := shellScript(command)
	var calls []string
	if wrapped {
		calls = append(calls, wrapper+"sh -c")
	}
	switch {
	case isReload(command):
		return append(calls, "ssh reload_command")
	case !wrapped:
		return append(calls, "ssh "+raw)
	}
	programs, err := shellscript.Programs(script)
	if err != nil {
		return append(calls, "ssh (a script that does not parse)")
	}
	for _, p := range programs {
		calls = append(calls, "ssh "+p)
	}
	return calls
}

// plainName is a name POSIX sh takes for a function.
var plainName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// reloadPrelude defines the reload command's program as a shell function,
// so a script that looks for it ("command -v systemctl") finds it, as it
// would on the host the emulator stands for, whether or not the machine
// has it. Called from a script it fails: the emulated reload runs only
// when the reload command is sent on its own. A program named by its path
// gets no function: its file is looked for.
func reloadPrelude(reloadCommand string) string {
	fields := strings.Fields(reloadCommand)
	if len(fields) == 0 || !plainName.MatchString(fields[0]) {
		return ""
	}
	name := fields[0]
	return name + `() { echo '` + name + `: this emulated host reloads only when its reload command is sent on its own' >&2; return 1; }` + "\n"
}
