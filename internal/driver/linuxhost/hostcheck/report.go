package hostcheck

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ottr-go/ottr/internal/driver"
)

// findings is the check script's output, parsed.
type findings struct {
	system  string
	openssl string // "openssl version"'s line; "" when openssl is missing
	uid     string
	user    string
	// programs maps each program found to where the shell found it;
	// missing holds those it did not find.
	programs map[string]string
	missing  map[string]bool
	dirs     map[string]dirFinding
	files    map[string]string
	sections map[string][]byte
	keyError bool
	hooks    map[string][]hookFinding
	noHooks  map[string]bool
	done     bool
}

type dirFinding struct {
	state string
	// at is the directory the state is of: the directory itself, or the
	// nearest existing parent of a missing one.
	at string
}

type hookFinding struct {
	name string
	runs bool
}

func parse(out []byte) *findings {
	f := &findings{
		programs: map[string]string{}, missing: map[string]bool{}, dirs: map[string]dirFinding{},
		files: map[string]string{}, sections: map[string][]byte{}, hooks: map[string][]hookFinding{}, noHooks: map[string]bool{},
	}
	var section string
	for _, line := range strings.SplitAfter(string(out), "\n") {
		text := strings.TrimRight(line, "\n")
		if section != "" {
			if text == markEnd+section {
				section = ""
				continue
			}
			f.sections[section] = append(f.sections[section], line...)
			continue
		}
		if rest, ok := strings.CutPrefix(text, markBegin); ok {
			section = rest
			f.sections[section] = []byte{}
			continue
		}
		f.read(text)
	}
	return f
}

// read takes one marker line.
func (f *findings) read(line string) {
	cut := func(marker string) (string, bool) { return strings.CutPrefix(line, marker) }
	if rest, ok := cut(markSystem); ok {
		f.system = strings.TrimSpace(rest)
	} else if rest, ok := cut(markOpenSSL); ok {
		f.openssl = strings.TrimSpace(rest)
	} else if rest, ok := cut(markUser); ok {
		f.uid, f.user, _ = strings.Cut(strings.TrimSpace(rest), " ")
	} else if rest, ok := cut(markProgram); ok {
		name, where, _ := strings.Cut(rest, " ")
		f.programs[name] = where
	} else if rest, ok := cut(markMissing); ok {
		f.missing[rest] = true
	} else if rest, ok := cut(markDir); ok {
		if parts := strings.SplitN(rest, " ", 3); len(parts) == 3 {
			f.dirs[parts[0]] = dirFinding{state: parts[1], at: parts[2]}
		}
	} else if rest, ok := cut(markFile); ok {
		role, state, _ := strings.Cut(rest, " ")
		f.files[role] = state
	} else if rest, ok := cut(markHook); ok {
		if parts := strings.SplitN(rest, " ", 3); len(parts) == 3 {
			f.hooks[parts[0]] = append(f.hooks[parts[0]], hookFinding{name: parts[2], runs: parts[1] == "run"})
		}
	} else if rest, ok := cut(markNoHooks); ok {
		f.noHooks[rest] = true
	} else if line == markKeyError {
		f.keyError = true
	} else if line == markDone {
		f.done = true
	}
}

// Findings is what Report found besides the report: who the commands run
// as, for the driver's login check.
type Findings struct {
	// User is the user the commands run as, "root (uid 0)".
	User string
}

// ErrUnreadable is an answer that is not the check script's: the driver
// reports the answer itself.
var ErrUnreadable = errors.New("the host's answer is not the check script's output")

// Report judges the check script's output: the software, the binding,
// and every capability a rotation needs but logging in, which the driver
// knows. An output that does not end as the script does is ErrUnreadable.
func (h Host) Report(out []byte) (driver.DeviceReport, Findings, error) {
	f := parse(out)
	if !f.done {
		return driver.DeviceReport{}, Findings{}, ErrUnreadable
	}
	j := &judge{h: h, f: f}
	j.user = "the login user"
	if f.user != "" {
		j.user = fmt.Sprintf("%s (uid %s)", f.user, f.uid)
	}
	if h.RunsAs != "" {
		j.user += " " + h.RunsAs
	}
	return driver.DeviceReport{
		Software: j.software(),
		Binding:  j.binding(),
		Checks: []driver.CapabilityCheck{
			j.keyGeneration(), j.csrExport(), j.importFiles(), j.bindingCheck(), j.commit(), j.rollback(),
		},
	}, Findings{User: j.user}, nil
}

// judge turns findings into checks.
type judge struct {
	h    Host
	f    *findings
	user string
}

// opensslVersion reads "OpenSSL 3.0.15 3 Sep 2024 (Library: …)".
var opensslVersion = regexp.MustCompile(`^OpenSSL (\d+)\.(\d+)\.(\d+)`)

// opensslName is "OpenSSL 3.0.15" of openssl version's line.
func (j *judge) opensslName() string {
	fields := strings.Fields(j.f.openssl)
	return strings.Join(fields[:min(2, len(fields))], " ")
}

func (j *judge) software() string {
	openssl := j.opensslName()
	switch {
	case openssl != "" && j.f.system != "":
		return openssl + " on " + j.f.system
	case openssl != "":
		return openssl
	}
	return j.f.system
}

func (j *judge) binding() string {
	parts := []string{"cert_path " + j.h.CertPath, "key_path " + j.h.KeyPath}
	if j.h.ChainPath != "" {
		parts = append(parts, "chain_path "+j.h.ChainPath)
	}
	return strings.Join(parts, ", ") + fmt.Sprintf(", reloaded by %q", j.h.ReloadCommand)
}

// opensslProblem says why openssl cannot make the key and CSR, and the
// status: failed when it cannot, unknown when it is not OpenSSL.
func (j *judge) opensslProblem() (status, detail string) {
	if j.f.openssl == "" {
		return driver.CheckFailed, fmt.Sprintf("openssl is not found by %s: install OpenSSL 1.1.1 or later", j.user)
	}
	m := opensslVersion.FindStringSubmatch(j.f.openssl)
	if m == nil {
		return driver.CheckUnknown, fmt.Sprintf("%q is not OpenSSL: whether its req takes -addext and -pkeyopt is not known; "+
			"the driver is written for OpenSSL 1.1.1 or later", j.f.openssl)
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	patch, _ := strconv.Atoi(m[3])
	if major < 1 || major == 1 && (minor < 1 || minor == 1 && patch < 1) {
		return driver.CheckFailed, fmt.Sprintf("%s is older than 1.1.1, whose openssl req first takes -addext for the names: upgrade OpenSSL", j.f.openssl)
	}
	return driver.CheckOK, ""
}

// dirProblem says why files cannot be made in the directory of role, or
// "" when they can.
func (j *judge) dirProblem(role, what string) string {
	d, ok := j.f.dirs[role]
	if !ok {
		return fmt.Sprintf("the host did not say whether %s can be written", what)
	}
	switch d.state {
	case dirWritable:
		return ""
	case dirCreatable:
		if j.f.missing["mkdir"] {
			return fmt.Sprintf("%s is missing and mkdir is not found by %s", what, j.user)
		}
		return ""
	case dirNotADir:
		return fmt.Sprintf("%s cannot be made: %s is not a directory", what, d.at)
	}
	return fmt.Sprintf("%s: %s is not writable by %s: make it writable for that user, or have the commands run as root (sudo: true)",
		what, d.at, j.user)
}

// dirNote describes where role's files go.
func (j *judge) dirNote(role, dir string) string {
	if j.f.dirs[role].state == dirCreatable {
		return dir + " (made by mkdir -p)"
	}
	return dir
}

// missingPrograms returns those of names the shell did not find.
func (j *judge) missingPrograms(names ...string) []string {
	var missing []string
	for _, n := range names {
		if j.f.missing[n] {
			missing = append(missing, n)
		}
	}
	return missing
}

func check(capability, status, detail string) driver.CapabilityCheck {
	return driver.CapabilityCheck{Capability: capability, Status: status, Detail: detail}
}

func (j *judge) keyGeneration() driver.CapabilityCheck {
	const c = driver.CapabilityKeyGeneration
	workDir := "work_dir " + j.h.WorkDir
	if problem := j.dirProblem(roleWork, workDir); problem != "" {
		return check(c, driver.CheckFailed, "the new key is made in "+problem)
	}
	if status, detail := j.opensslProblem(); status != driver.CheckOK {
		return check(c, status, detail)
	}
	detail := fmt.Sprintf("openssl req -newkey makes the key in %s as %s, mode 0600; it never leaves the host", j.dirNote(roleWork, j.h.WorkDir), j.user)
	return check(c, driver.CheckOK, detail+j.hooksNote("pre"))
}

func (j *judge) csrExport() driver.CapabilityCheck {
	const c = driver.CapabilityCSRExport
	if status, detail := j.opensslProblem(); status != driver.CheckOK {
		return check(c, status, detail)
	}
	return check(c, driver.CheckOK, j.opensslName()+" prints the CSR with openssl req -addext (OpenSSL 1.1.1 or later)")
}

func (j *judge) importFiles() driver.CapabilityCheck {
	const c = driver.CapabilityImport
	var problems []string
	for _, d := range []struct{ role, what string }{
		{roleCert, "cert_path's directory"}, {roleKey, "key_path's directory"}, {roleChain, "chain_path's directory"},
	} {
		if d.role == roleChain && j.h.ChainPath == "" {
			continue
		}
		if p := j.dirProblem(d.role, d.what); p != "" {
			problems = append(problems, p)
		}
	}
	needed := []string{"cp", "mv", "rm"}
	if j.h.Chmod {
		needed = append(needed, "chmod")
	}
	if j.h.Owner != "" {
		needed = append(needed, "chown")
	}
	if missing := j.missingPrograms(needed...); len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("%s not found by %s: install them (coreutils)", strings.Join(missing, ", "), j.user))
	}
	if p := j.ownerProblem(); p != "" {
		problems = append(problems, p)
	}
	if len(problems) > 0 {
		return check(c, driver.CheckFailed, strings.Join(problems, "; "))
	}
	var dirs []string
	for _, d := range []struct{ role, file string }{{roleCert, j.h.CertPath}, {roleKey, j.h.KeyPath}, {roleChain, j.h.ChainPath}} {
		if d.file == "" {
			continue
		}
		if dir := j.dirNote(d.role, path.Dir(d.file)); !slices.Contains(dirs, dir) {
			dirs = append(dirs, dir)
		}
	}
	return check(c, driver.CheckOK, fmt.Sprintf("%s writable by %s: each file is written beside the old one and renamed into place (cp, mv)",
		strings.Join(dirs, ", "), j.user))
}

// ownerProblem says why chown to the route's owner would fail: only root
// gives files to another user.
func (j *judge) ownerProblem() string {
	if j.h.Owner == "" || j.f.uid == "0" {
		return ""
	}
	user, _, _ := strings.Cut(j.h.Owner, ":")
	if user == j.f.user {
		return ""
	}
	return fmt.Sprintf("owner %s: only root can give files to %s, and the commands run as %s: set sudo: true, or drop owner", j.h.Owner, user, j.user)
}

func (j *judge) bindingCheck() driver.CapabilityCheck {
	const c = driver.CapabilityBinding
	certState := j.f.files[roleCert]
	switch certState {
	case fileMissing:
		return check(c, driver.CheckUnknown, fmt.Sprintf("no file at cert_path %s: check that the service loads its certificate from there; "+
			"the first rotation creates it, and has nothing to roll back to", j.h.CertPath))
	case fileUnreadable:
		return check(c, driver.CheckFailed, fmt.Sprintf("cert_path %s is not readable by %s: make it readable, or set sudo: true", j.h.CertPath, j.user))
	case fileReadable:
	default:
		return check(c, driver.CheckFailed, "the host did not say whether cert_path "+j.h.CertPath+" can be read")
	}
	certs, err := driver.ParseCertificates(j.f.sections[roleCert])
	switch {
	case err != nil:
		return check(c, driver.CheckFailed, fmt.Sprintf("cert_path %s: %v: check that cert_path names the service's certificate file", j.h.CertPath, err))
	case len(certs) == 0:
		return check(c, driver.CheckFailed, fmt.Sprintf("cert_path %s holds no PEM certificate: check that cert_path names the service's certificate file", j.h.CertPath))
	}
	leaf := certs[0]
	switch j.f.files[roleKey] {
	case fileMissing:
		return check(c, driver.CheckFailed, fmt.Sprintf("no file at key_path %s, though cert_path holds a certificate: check key_path", j.h.KeyPath))
	case fileUnreadable:
		return check(c, driver.CheckFailed, fmt.Sprintf("key_path %s is not readable by %s: its backup needs it read; make it readable, or set sudo: true", j.h.KeyPath, j.user))
	}
	if j.f.keyError || j.f.sections[roleKey] == nil {
		return check(c, driver.CheckFailed, fmt.Sprintf("openssl pkey cannot read key_path %s (not a PEM private key, or encrypted): check key_path", j.h.KeyPath))
	}
	matches, err := SamePublicKey(j.f.sections[roleKey], leaf.PublicKey)
	if err != nil {
		return check(c, driver.CheckFailed, fmt.Sprintf("key_path %s: %v", j.h.KeyPath, err))
	}
	if !matches {
		return check(c, driver.CheckFailed, fmt.Sprintf("key_path %s does not hold the key of the certificate in cert_path %s: "+
			"the two options must name the pair the service loads", j.h.KeyPath, j.h.CertPath))
	}
	detail := fmt.Sprintf("cert_path %s holds %s and key_path %s its key", j.h.CertPath, describe(leaf), j.h.KeyPath)
	if len(certs) > 1 {
		detail += fmt.Sprintf("; the chain after it has %d more certificate(s)", len(certs)-1)
	}
	if j.h.ChainPath != "" {
		switch j.f.files[roleChain] {
		case fileUnreadable:
			return check(c, driver.CheckFailed, fmt.Sprintf("chain_path %s is not readable by %s: make it readable, or set sudo: true", j.h.ChainPath, j.user))
		case fileMissing:
			detail += fmt.Sprintf("; chain_path %s does not exist yet and is created", j.h.ChainPath)
		default:
			detail += fmt.Sprintf("; chain_path %s is there", j.h.ChainPath)
		}
	}
	return check(c, driver.CheckOK, detail)
}

func (j *judge) commit() driver.CapabilityCheck {
	const c = driver.CapabilityCommit
	program := j.h.reloadProgram()
	if program == "" {
		return check(c, driver.CheckFailed, "reload_command is empty: set the command that reloads the service")
	}
	where, found := j.f.programs[program]
	if !found {
		return check(c, driver.CheckFailed, fmt.Sprintf("reload_command %q: %s is not found by %s: install it, or give its full path in reload_command",
			j.h.ReloadCommand, program, j.user))
	}
	seen := program + " is found"
	if where != program {
		seen = fmt.Sprintf("%s is %s", program, where)
	}
	detail := fmt.Sprintf("reload_command %q: %s; the check does not run it", j.h.ReloadCommand, seen)
	return check(c, driver.CheckOK, detail+j.hooksNote("post"))
}

func (j *judge) rollback() driver.CapabilityCheck {
	const c = driver.CapabilityRollback
	if j.f.files[roleCert] == fileMissing {
		return check(c, driver.CheckUnsupported, fmt.Sprintf("nothing at cert_path %s to back up: a rollback after the first install has nothing to restore", j.h.CertPath))
	}
	var blocked []string
	for _, dep := range []driver.CapabilityCheck{j.importFiles(), j.commit()} {
		if dep.Status == driver.CheckFailed {
			blocked = append(blocked, dep.Capability)
		}
	}
	if len(blocked) > 0 {
		return check(c, driver.CheckFailed, fmt.Sprintf("restoring the backups needs what %s needs (see there)", strings.Join(blocked, " and ")))
	}
	return check(c, driver.CheckOK, "each file is backed up in its own directory (cp -p) before it is replaced; "+
		"rollback copies the backups back and runs reload_command")
}

// hooksNote describes the hooks of phase, for drivers that run hooks.
func (j *judge) hooksNote(phase string) string {
	var dir string
	for _, hd := range j.h.Hooks {
		if hd.Phase == phase {
			dir = hd.Dir
		}
	}
	if dir == "" {
		return ""
	}
	if j.f.noHooks[phase] {
		return fmt.Sprintf("; no %s hooks (%s does not exist)", phase, dir)
	}
	var run, skipped []string
	for _, h := range j.f.hooks[phase] {
		if h.runs {
			run = append(run, h.name)
		} else {
			skipped = append(skipped, h.name)
		}
	}
	note := fmt.Sprintf("; %s hooks in %s, not run by the check: ", phase, dir)
	if len(run) == 0 {
		note += "none"
	} else {
		note += strings.Join(run, ", ")
	}
	if len(skipped) > 0 {
		note += fmt.Sprintf(" (skipped, not executable: %s)", strings.Join(skipped, ", "))
	}
	return note
}

// SamePublicKey reports whether the PEM public key openssl pkey printed on
// the host is pub; false when it printed nothing (the file is absent).
func SamePublicKey(printed []byte, pub crypto.PublicKey) (bool, error) {
	if printed == nil {
		return false, nil
	}
	block, _ := pem.Decode(printed)
	if block == nil || block.Type != "PUBLIC KEY" {
		return false, errors.New("openssl pkey printed no PEM public key")
	}
	got, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return false, fmt.Errorf("parse the public key openssl pkey printed: %w", err)
	}
	k, ok := got.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(pub), nil
}

func describe(c *x509.Certificate) string {
	return fmt.Sprintf("%q (serial %x, expires %s)", c.Subject.CommonName, c.SerialNumber, c.NotAfter.UTC().Format("2006-01-02"))
}

// LoginFailed is the report on a host the check script could not run on:
// the login check, failed, and the capabilities Report judges, each
// unknown for reason.
func LoginFailed(login driver.CapabilityCheck, reason string) driver.DeviceReport {
	login.Status = driver.CheckFailed
	checks := []driver.CapabilityCheck{login}
	for _, c := range []string{
		driver.CapabilityKeyGeneration, driver.CapabilityCSRExport, driver.CapabilityImport,
		driver.CapabilityBinding, driver.CapabilityCommit, driver.CapabilityRollback,
	} {
		checks = append(checks, check(c, driver.CheckUnknown, "not looked at: "+reason))
	}
	return driver.DeviceReport{Checks: checks}
}
