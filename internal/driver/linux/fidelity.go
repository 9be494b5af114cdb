package linux

import "github.com/ottr-go/ottr/internal/driver"

// Sources the table cites.
const (
	posix      = "POSIX.1-2017 (IEEE Std 1003.1-2017), Shell & Utilities: "
	opensslReq = "openssl-req(1), OpenSSL 3.0 manual (-new, -newkey, -pkeyopt, -nodes, -keyout, -subj, -pubkey, -addext; " +
		"-addext since OpenSSL 1.1.1, req(1) of the 1.1.1 manual) and openssl-genpkey(1), EC key generation options " +
		"(ec_paramgen_curve, ec_param_enc)"
)

// Requests lists every kind of request the driver sends to a device, each
// with the published source that confirms its shape (driver.Request). A
// command is sent as an SSH exec request (RFC 4254, section 6.5), and a
// request here is the command line's form or a program its script starts,
// as the lab host records them (Host.Calls): a script's every branch
// counts, whether or not it ran. A test fails on any request the emulator
// sees that is not listed here.
func Requests() []driver.Request {
	return []driver.Request{
		{
			Call: "ssh sh -c",
			Fields: "every step as one script, every value single-quoted; besides the programs below, only the shell's own " +
				"set -e, umask, read, printf, echo, case, test ([ -e -L -d -f -r -w -x -n ]), command -v, exec and $(…)",
			Source: "RFC 4254 section 6.5 (exec request); " + posix + "sh (-c), 2.2.2 Single-Quotes, 2.14 Special Built-In Utilities, " +
				"and the test, read, printf, umask and command (-v) utilities",
		},
		{
			Call:   "ssh sudo -n sh -c",
			Fields: "with sudo: true, the same script through sudo's non-interactive mode, which fails at once where a password would be asked",
			Source: "sudo(8), sudo.ws manual: -n, --non-interactive",
		},
		{
			Call:   "ssh reload_command",
			Fields: "the route's reload_command, sent on its own as sh -c '<reload_command>' (sudo -n sh -c with sudo); its exit status decides",
			Source: posix + "sh (-c); the command itself is the operator's (route option reload_command)",
		},
		{
			Call: "ssh openssl req",
			Fields: "-new -newkey rsa:2048|rsa:3072|rsa:4096, or -newkey ec -pkeyopt ec_paramgen_curve:P-256|P-384 " +
				"-pkeyopt ec_param_enc:named_curve; -nodes -keyout <work_dir>/<key>.ottr-new -sha256|-sha384 -subj /CN=<name> " +
				"-addext subjectAltName=DNS:<name>,… -pubkey (prints the public key and the CSR, never the key)",
			Source: opensslReq,
		},
		{
			Call:   "ssh openssl pkey",
			Fields: "-pubout -in <key file>: the public key only, to tell which key a file holds (Install after a resumed rotation, Check)",
			Source: "openssl-pkey(1), OpenSSL 3.0 manual (-in, -pubout)",
		},
		{
			Call:   "ssh openssl version",
			Fields: "no arguments (Check)",
			Source: "openssl-version(1), OpenSSL 3.0 manual",
		},
		{
			Call:   "ssh uname",
			Fields: "-sr (Check)",
			Source: posix + "uname (-s, -r)",
		},
		{
			Call:   "ssh id",
			Fields: "-u, -un (Check)",
			Source: posix + "id (-u, -n)",
		},
		{
			Call:   "ssh cp",
			Fields: "-p -- <file> <dir>/.<name>.ottr-backup-<time> (backups keep mode, owner and times); -p -- <backup> <file>.ottr-tmp (restore)",
			Source: posix + "cp (-p)",
		},
		{
			Call:   "ssh mv",
			Fields: "-f -- <file>.ottr-tmp <file>: a rename within one directory, so the live file is never half-written",
			Source: posix + "mv (-f) and rename() (System Interfaces: atomic replacement of the target)",
		},
		{
			Call:   "ssh rm",
			Fields: "-f -- <files>: the staged key and CSR, a stale temporary file, backups beyond keep_backups",
			Source: posix + "rm (-f)",
		},
		{
			Call:   "ssh mkdir",
			Fields: "-p -- <dir>, only when work_dir or a file's directory is missing",
			Source: posix + "mkdir (-p)",
		},
		{
			Call:   "ssh chmod",
			Fields: "<octal mode> <key file>, only when the route's mode is not 0600; 600 on a key put back in staging after a failed install",
			Source: posix + "chmod (octal modes)",
		},
		{
			Call:   "ssh chown",
			Fields: "<user>[:<group>] <file>, only when the route sets owner",
			Source: posix + "chown",
		},
	}
}
