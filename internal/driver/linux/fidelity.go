package linux

import (
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/linuxhost/hostcheck"
)

// Requests lists every kind of request the driver sends to a device, each
// with the published source that confirms its shape (driver.Request). A
// command is sent as an SSH exec request (RFC 4254, section 6.5), and a
// request here is the command line's form or a program its script starts,
// as the lab host records them (Host.Calls): every branch of a script
// counts, whether or not it ran. A test fails on any request the emulator
// sees that is not listed here.
func Requests() []driver.Request {
	return append([]driver.Request{
		{
			Call: "ssh sh -c",
			Fields: "every step as one script, every value single-quoted; besides the programs below, only the shell's own " +
				"functions, subshells and set, umask, read, printf, echo, case, test ([ -e -L -d -f -r -w -x -n -z ]), command -v, " +
				"exec, return, exit, $(…) and $((…))",
			Source: "RFC 4254 section 6.5 (exec request); " + hostcheck.POSIX + "sh (-c), 2.2.2 Single-Quotes, " +
				"2.9.4 Compound Commands, 2.9.5 Function Definition Command, 2.14 Special Built-In Utilities, " +
				"and the test, read, printf, umask and command (-v) utilities",
		},
		{
			Call:   "ssh sudo -n sh -c",
			Fields: "with sudo: true, the same script through sudo's non-interactive mode, which fails at once where a password would be asked",
			Source: "sudo(8), sudo.ws manual: -n, --non-interactive",
		},
		{
			Call:   "ssh reload_command",
			Fields: "the route's reload_command, sent on its own as sh -c 'RELOAD_COMMAND' (sudo -n sh -c with sudo); its exit status decides",
			Source: hostcheck.POSIX + "sh (-c); the command itself is the operator's (route option reload_command)",
		},
	}, hostcheck.ProgramRequests("ssh ")...)
}
