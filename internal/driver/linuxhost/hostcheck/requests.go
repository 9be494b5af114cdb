package hostcheck

import "github.com/ottr-go/ottr/internal/driver"

// POSIX is the source of the shell and the file utilities.
const POSIX = "POSIX.1-2017 (IEEE Std 1003.1-2017), Shell & Utilities: "

// ProgramRequests are the programs the host logic's scripts (package
// linuxhost) start on a host, each with the manual that confirms its
// arguments, as request table rows whose Call is prefix and the program
// ("ssh ", "AWS-RunShellScript: "). The linux and linux-ssm drivers send
// the same scripts and run the same check script (Host.Script).
func ProgramRequests(prefix string) []driver.Request {
	rows := []driver.Request{
		{
			Call: "openssl req",
			Fields: "-new -newkey rsa:2048|rsa:3072|rsa:4096, or -newkey ec -pkeyopt ec_paramgen_curve:P-256|P-384 " +
				"-pkeyopt ec_param_enc:named_curve; -nodes -keyout WORK_DIR/KEY.ottr-new -sha256|-sha384 -subj /CN=NAME " +
				"-addext subjectAltName=DNS:NAME,… -pubkey (prints the public key and the CSR, never the key)",
			Source: "openssl-req(1), OpenSSL 3.0 manual (-new, -newkey, -pkeyopt, -nodes, -keyout, -subj, -pubkey, -addext; " +
				"-addext since OpenSSL 1.1.1, req(1) of the 1.1.1 manual) and openssl-genpkey(1), EC key generation options " +
				"(ec_paramgen_curve, ec_param_enc)",
		},
		{
			Call:   "openssl pkey",
			Fields: "-pubout -in KEY_FILE: the public key only, to tell which key a file holds (Install of a resumed rotation, Check)",
			Source: "openssl-pkey(1), OpenSSL 3.0 manual (-in, -pubout)",
		},
		{
			Call:   "openssl version",
			Fields: "no arguments (Check)",
			Source: "openssl-version(1), OpenSSL 3.0 manual",
		},
		{
			Call:   "uname",
			Fields: "-sr (Check)",
			Source: POSIX + "uname (-s, -r)",
		},
		{
			Call:   "id",
			Fields: "-u, -un (Check)",
			Source: POSIX + "id (-u, -n)",
		},
		{
			Call: "cp",
			Fields: "-p -- FILE BACKUP (backups keep mode, owner and times); -p -- BACKUP FILE.ottr-tmp (restore); " +
				"-- KEY_FILE STAGED_KEY under umask 077 (the new key staged again after a failed install)",
			Source: POSIX + "cp (-p)",
		},
		{
			Call:   "mv",
			Fields: "-f -- FILE.ottr-tmp FILE: a rename within one directory, so the live file is never half-written",
			Source: POSIX + "mv (-f), and rename() in System Interfaces (the target is replaced atomically)",
		},
		{
			Call:   "rm",
			Fields: "-f -- FILES: the staged key and its CSR, stale temporary files, files rolled back that did not exist before, old backups",
			Source: POSIX + "rm (-f)",
		},
		{
			Call:   "mkdir",
			Fields: "-p -- DIR, only when work_dir or a file's directory is missing",
			Source: POSIX + "mkdir (-p)",
		},
		{
			Call:   "chmod",
			Fields: "MODE KEY_FILE, only when the route's mode is not 0600",
			Source: POSIX + "chmod (octal modes)",
		},
		{
			Call:   "chown",
			Fields: "USER[:GROUP] FILE, only when the route sets owner",
			Source: POSIX + "chown",
		},
	}
	for i := range rows {
		rows[i].Call = prefix + rows[i].Call
	}
	return rows
}
