// Package hostcheck is the read-only side of the Linux host logic
// (package linuxhost). First the look the linux and linux-ssm drivers'
// Check takes, changing nothing: one POSIX sh script (Host.Script) that
// reports the host's system and OpenSSL, who runs the commands, the
// programs a rotation starts, whether the route's directories are
// writable, the route's current files (certificates only, and the key's
// public half) and the hooks; and the judgement of its output, capability
// by capability (Host.Report). Only reading utilities run: uname, id,
// openssl version and openssl pkey -pubout; the rest are the shell's own
// tests. Then the programs the host logic's scripts start, with the
// manuals that confirm them (ProgramRequests), and the pieces it builds
// on: Quote, CertBlocksFunc and SamePublicKey.
package hostcheck

import (
	"fmt"
	"path"
	"strings"
)

// Host is what the route asks of the host.
type Host struct {
	CertPath, KeyPath, ChainPath string
	// WorkDir holds the staged key.
	WorkDir string
	// ReloadCommand puts the new files in service.
	ReloadCommand string
	// Owner is the route's owner option ("user" or "user:group"), or "".
	Owner string
	// Chmod: the route's mode is not the staged key's 0600, so Install
	// runs chmod.
	Chmod bool
	// Hooks are the hook directories the driver runs, by phase ("pre",
	// "post"); none for drivers without hooks.
	Hooks []HookDir
	// RunsAs says how the commands run, for the details: "through sudo -n",
	// "by the SSM agent".
	RunsAs string
}

// HookDir is one phase's hooks directory.
type HookDir struct {
	Phase, Dir string
}

// Marker lines the script prints; none can be PEM text.
const (
	markSystem   = "@@ottr-check-system "
	markOpenSSL  = "@@ottr-check-openssl "
	markUser     = "@@ottr-check-user "
	markProgram  = "@@ottr-check-program "
	markMissing  = "@@ottr-check-missing "
	markDir      = "@@ottr-check-dir "
	markFile     = "@@ottr-check-file "
	markKeyError = "@@ottr-check-key-unreadable"
	markHook     = "@@ottr-check-hook "
	markNoHooks  = "@@ottr-check-no-hooks "
	markBegin    = "@@ottr-check-begin "
	markEnd      = "@@ottr-check-end "
	markDone     = "@@ottr-check-done"
)

// Directory states the script reports.
const (
	dirWritable  = "writable"      // exists and the user may create files in it
	dirCreatable = "creatable"     // missing; its nearest existing parent is writable
	dirReadOnly  = "not-writable"  // it, or the parent it would be made in, is not writable
	dirNotADir   = "not-directory" // the path, or a parent, is a file
)

// File states the script reports.
const (
	fileReadable   = "readable"
	fileUnreadable = "unreadable"
	fileMissing    = "missing"
)

// Roles of the route's files and directories.
const (
	roleCert  = "cert"
	roleKey   = "key"
	roleChain = "chain"
	roleWork  = "work"
)

// Quote returns s as one POSIX shell word that the shell reads back as
// exactly s: single quotes, each single quote inside closed, escaped and
// reopened.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// CertBlocksFunc defines "cert_blocks FILE", which prints only the
// CERTIFICATE blocks of FILE: some setups keep the key in the certificate
// file, and it must not be printed with it. The markers may have other text
// around them (a CRLF file's "\r"); a last line without a newline is still
// read.
const CertBlocksFunc = `cert_blocks() {
	inside= blocks=
	while IFS= read -r line || [ -n "$line" ]; do
		case $line in *'-----BEGIN CERTIFICATE-----'*) inside=1 ;; esac
		if [ -n "$inside" ]; then blocks="$blocks$line
"; fi
		case $line in *'-----END CERTIFICATE-----'*) inside= ;; esac
	done < "$1"
	printf '%s' "$blocks"
}`

// dirStateFunc defines "dir_state ROLE DIR", which prints whether files
// can be created in DIR, or, when DIR is missing, whether mkdir -p could
// make it: the nearest existing parent decides. Only the shell's tests run.
const dirStateFunc = `dir_state() {
	d=$2
	while ! { [ -e "$d" ] || [ -L "$d" ]; }; do
		d=${d%/*}
		[ -n "$d" ] || d=/
	done
	if [ ! -d "$d" ]; then s=` + dirNotADir + `
	elif [ ! -w "$d" ] || [ ! -x "$d" ]; then s=` + dirReadOnly + `
	elif [ "$d" = "$2" ]; then s=` + dirWritable + `
	else s=` + dirCreatable + `
	fi
	printf '%s\n' "` + markDir + `$1 $s $d"
}`

// fileStateFunc defines "file_state ROLE FILE", which prints whether FILE
// exists and can be read.
const fileStateFunc = `file_state() {
	if [ -e "$2" ] || [ -L "$2" ]; then
		if [ -r "$2" ]; then s=` + fileReadable + `; else s=` + fileUnreadable + `; fi
	else
		s=` + fileMissing + `
	fi
	printf '%s\n' "` + markFile + `$1 $s"
}`

// programFunc defines "program NAME", which prints where the shell finds
// NAME, or that it does not.
const programFunc = `program() {
	if found=$(command -v "$1" 2>/dev/null); then
		printf '%s\n' "` + markProgram + `$1 $found"
	else
		printf '%s\n' "` + markMissing + `$1"
	fi
}`

// Script returns the check script. It writes nothing anywhere: it prints
// marker lines and, between begin and end markers, the certificates of
// cert_path and chain_path and the public key of key_path. The key's
// errors are not printed: an old OpenSSL names the PEM type it expected,
// "ANY PRIVATE KEY", and no output may look like a key.
func (h Host) Script() string {
	lines := []string{
		"LC_ALL=C; export LC_ALL",
		CertBlocksFunc, dirStateFunc, fileStateFunc, programFunc,
		`printf '%s\n' "` + markSystem + `$(uname -sr 2>/dev/null)"`,
		`printf '%s\n' "` + markUser + `$(id -u 2>/dev/null) $(id -un 2>/dev/null)"`,
		`if command -v openssl >/dev/null 2>&1; then printf '%s\n' "` + markOpenSSL + `$(openssl version 2>&1)"; fi`,
	}
	for _, p := range h.programs() {
		lines = append(lines, "program "+Quote(p))
	}
	for _, d := range h.dirs() {
		lines = append(lines, "dir_state "+d.role+" "+Quote(d.path))
	}
	for _, f := range h.files() {
		q := Quote(f.path)
		lines = append(lines, "file_state "+f.role+" "+q)
		begin, end := Quote(markBegin+f.role), Quote(markEnd+f.role)
		if f.role == roleKey {
			lines = append(lines, fmt.Sprintf(`if [ -r %s ] && [ -f %s ]; then
	if pub=$(openssl pkey -pubout -in %s 2>/dev/null); then printf '%%s\n' %s "$pub" %s; else echo %s; fi
fi`, q, q, q, begin, end, markKeyError))
			continue
		}
		lines = append(lines, fmt.Sprintf(`if [ -r %s ] && [ -f %s ]; then printf '%%s\n' %s; cert_blocks %s; printf '%%s\n' %s; fi`,
			q, q, begin, q, end))
	}
	for _, hd := range h.Hooks {
		q := Quote(hd.Dir)
		lines = append(lines, fmt.Sprintf(`if [ -d %s ]; then
	for hook in %s/*.sh; do
		[ -e "$hook" ] || continue
		if [ -f "$hook" ] && [ -x "$hook" ]; then s=run; else s=skipped; fi
		printf '%%s\n' "%s%s $s ${hook##*/}"
	done
else
	printf '%%s\n' %s
fi`, q, q, markHook, hd.Phase, Quote(markNoHooks+hd.Phase)))
	}
	lines = append(lines, "echo "+markDone)
	return strings.Join(lines, "\n")
}

// programs are the programs a rotation starts on the host, each once: the
// reload command's first, then the file utilities.
func (h Host) programs() []string {
	programs := []string{"openssl", "cp", "mv", "rm", "mkdir"}
	if h.Chmod {
		programs = append(programs, "chmod")
	}
	if h.Owner != "" {
		programs = append(programs, "chown")
	}
	if p := h.reloadProgram(); p != "" {
		programs = append(programs, p)
	}
	return programs
}

// reloadProgram is the program the reload command starts: its first word
// that is not a variable assignment.
func (h Host) reloadProgram() string {
	for _, w := range strings.Fields(h.ReloadCommand) {
		if name, _, isAssignment := strings.Cut(w, "="); isAssignment && name != "" && !strings.ContainsAny(name, `/'"$`) {
			continue
		}
		return w
	}
	return ""
}

type place struct{ role, path string }

// dirs are the directories Install writes in: the staged key's and each
// file's.
func (h Host) dirs() []place {
	dirs := []place{{roleWork, h.WorkDir}, {roleCert, path.Dir(h.CertPath)}, {roleKey, path.Dir(h.KeyPath)}}
	if h.ChainPath != "" {
		dirs = append(dirs, place{roleChain, path.Dir(h.ChainPath)})
	}
	return dirs
}

// files are the route's files.
func (h Host) files() []place {
	files := []place{{roleCert, h.CertPath}, {roleKey, h.KeyPath}}
	if h.ChainPath != "" {
		files = append(files, place{roleChain, h.ChainPath})
	}
	return files
}
