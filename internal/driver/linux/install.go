package linux

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/linux/hostcheck"
)

// Keys of the Installed handle. Everything Rollback needs is in it, so a
// rotation resumed by another process can roll back.
const (
	handleSuffix      = "backup_suffix"
	handleHadPrevious = "had_previous" // cert_path existed before the install
	handleHadKey      = "had_key"
	handleHadChain    = "had_chain"
	handleCertPath    = "cert_path"
	handleKeyPath     = "key_path"
	handleChainPath   = "chain_path"
	// handleLayout says where the backups are: "hidden" for
	// dir/.name<suffix>; absent for name<suffix> next to the file, as
	// installs before hidden backups made them.
	handleLayout = "backup_layout"
	layoutHidden = "hidden"
)

const (
	backupPrefix = ".ottr-backup-"
	// backupTimeFormat has a fixed width, so the newest backup sorts last.
	backupTimeFormat = "20060102T150405.000000000Z"
	tmpSuffix        = ".ottr-tmp"
	// restoreTimeout bounds putting the backup back after a failure.
	restoreTimeout = time.Minute
)

var backupSuffixPattern = regexp.MustCompile(`^\.ottr-backup-[0-9]{8}T[0-9]{6}(\.[0-9]+)?Z$`)

// backupPath is where the backup of p with suffix lives: a hidden file in
// p's directory, so services that load every file of a directory (HAProxy's
// crt DIR) never take a backup for a certificate of their own.
func backupPath(p, suffix string) string {
	return path.Join(path.Dir(p), "."+path.Base(p)+suffix)
}

// backupPathIn is backupPath for the layout a handle names.
func backupPathIn(layout, p, suffix string) string {
	if layout == layoutHidden {
		return backupPath(p, suffix)
	}
	return p + suffix
}

// pruneFunc defines "prune PREFIX KEEP", which removes the oldest files
// whose names start with PREFIX until KEEP are left; backup names sort by
// time. One rm removes them all.
const pruneFunc = `prune() {
	p=$1 n=0
	for f in "$p"*; do if [ -e "$f" ]; then n=$((n+1)); fi; done
	old=$((n-$2))
	set --
	for f in "$p"*; do
		if [ "$old" -le 0 ]; then break; fi
		if [ -e "$f" ]; then set -- "$@" "$f"; old=$((old-1)); fi
	done
	if [ $# -gt 0 ]; then rm -f -- "$@"; fi
}`

// installedFile is one file Install replaces and Rollback restores.
type installedFile struct {
	role string // "cert", "key" or "chain"
	path string
	had  bool // it existed before the install, so a backup exists
}

// Lines the install script prints, so the driver knows what it did even
// when the script fails half-way.
const (
	// stagedKeyDiffers: the staged key's saved public key is not the
	// certificate's; the script changed nothing.
	stagedKeyDiffers = "@@ottr-staged-key-differs"
	// backedUp + role: that file existed and now has a backup.
	backedUpFile = "@@ottr-backed-up "
	// backupsDone: every backup is made; from here on the live files
	// change, so a failure must restore them.
	backupsDone = "@@ottr-backups-done"
)

// errStagedKeyDiffers makes Install fall back to asking openssl which key
// the host holds.
var errStagedKeyDiffers = errors.New("the staged key's saved public key is not the certificate's")

// Install backs up cert_path, key_path and chain_path, writes chain to
// cert_path (and its intermediates to chain_path), moves the staged key into
// key_path and runs the reload command. If any step after the backup fails,
// the backup is put back (and reloaded, if the reload was what failed)
// before the error returns, and the new key is staged again, so the same
// chain can be installed again. Installing a chain the host already holds
// writes nothing and returns the handle of the newest backup, which still
// leads back to the certificate from before the first install.
//
// A rotation's install is one script and the reload: the script checks the
// staged key against the public key GenerateCSR saved next to it (text, no
// openssl), makes the backups, writes the chain from its standard input and
// moves everything into place. Only when that check fails (a resumed
// rotation, a key staged by another run) does Install inspect the host's
// keys with openssl and decide from what it finds.
func (s *session) Install(ctx context.Context, chain []*x509.Certificate) (driver.Installed, error) {
	if len(chain) == 0 {
		return nil, errorf("install", "empty chain")
	}
	expected := base64.StdEncoding.EncodeToString(chain[0].RawSubjectPublicKeyInfo)
	handle, err := s.installFiles(ctx, chain, installPlan{moveStagedKey: true, stagedKeySPKI: expected})
	if !errors.Is(err, errStagedKeyDiffers) {
		return handle, err
	}
	s.log.Debug("linux: staged key not confirmed by its saved public key; inspecting the host's keys")
	return s.installInspected(ctx, chain)
}

// installInspected installs chain after finding out with openssl which of
// the staged key and key_path holds the certificate's key.
func (s *session) installInspected(ctx context.Context, chain []*x509.Certificate) (driver.Installed, error) {
	o := s.opts
	leaf := chain[0]
	staged := o.stagedKeyPath()
	state, err := s.inspect(ctx, "install: inspect",
		inspection{name: "staged", path: staged, publicKey: true},
		inspection{name: "key", path: o.KeyPath, publicKey: true},
		inspection{name: "cert", path: o.CertPath},
		inspection{name: "chain", path: o.ChainPath},
	)
	if err != nil {
		return nil, err
	}
	stagedMatches, err := hostcheck.SamePublicKey(state["staged"], leaf.PublicKey)
	if err != nil {
		return nil, errorf("install", "staged key %s: %w", staged, err)
	}
	keyMatches, err := hostcheck.SamePublicKey(state["key"], leaf.PublicKey)
	if err != nil {
		return nil, errorf("install", "key %s: %w", o.KeyPath, err)
	}
	if !stagedMatches && !keyMatches {
		return nil, errorf("install", "no key on the host matches the certificate's public key "+
			"(looked at the staged key %s and at %s): generate a new CSR and have it signed", staged, o.KeyPath)
	}

	if keyMatches && s.installedAlready(state, chain) {
		// A second Install of the same chain, e.g. a rotation resumed
		// after a crash: nothing to write, and a new backup would only
		// copy the new files. Reload in case the first run stopped
		// before it, and hand back the first run's backup.
		handle, err := s.latestBackup(ctx)
		if err != nil {
			return nil, err
		}
		if err := s.reload(ctx, "reload"); err != nil {
			return nil, err
		}
		// The staged key goes when it is this certificate's; its CSR
		// also when the key is gone already (moved by the first run).
		if stagedMatches || state["staged"] == nil {
			s.removeStaged(ctx)
		}
		return handle, nil
	}
	// The staged key is left alone when it is not this certificate's: it
	// may belong to a newer CSR.
	return s.installFiles(ctx, chain, installPlan{moveStagedKey: stagedMatches})
}

// installPlan says what the install script does besides backing up and
// writing the certificate files.
type installPlan struct {
	// moveStagedKey: the staged key becomes key_path, and the staged key
	// and its CSR are gone afterwards.
	moveStagedKey bool
	// stagedKeySPKI, when set, is the base64 DER public key the staged
	// key must have according to the staged CSR file; if it has not, the
	// script changes nothing and Install falls back to inspecting.
	stagedKeySPKI string
}

// installFiles runs the install script, then the reload, and puts the
// backup back if either fails.
func (s *session) installFiles(ctx context.Context, chain []*x509.Certificate, plan installPlan) (driver.Installed, error) {
	suffix := backupPrefix + s.drv.cfg.Now().UTC().Format(backupTimeFormat)
	files := s.files()
	uploads := [][]byte{encodeCertificates(chain)}
	if s.opts.ChainPath != "" {
		uploads = append(uploads, encodeCertificates(chain[1:]))
	}
	out, err := s.run(ctx, "install", s.installScript(suffix, files, plan), uploadInput(uploads...))
	lines := strings.Split(string(out), "\n")
	if err == nil && slices.Contains(lines, stagedKeyDiffers) {
		return nil, errStagedKeyDiffers
	}
	for i := range files {
		files[i].had = slices.Contains(lines, backedUpFile+files[i].role)
	}

	// Putting the backup back must happen even when ctx has just ended
	// (a job timeout during the reload): give it its own short deadline.
	restoreCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), restoreTimeout)
	defer cancel()
	if err != nil {
		if !slices.Contains(lines, backupsDone) {
			// It stopped before touching a live file.
			return nil, err
		}
		// Nothing was reloaded, so the service still runs the old files
		// from memory; put them back on disk for its next reload.
		if restoreErr := s.restore(restoreCtx, "install: restore backup", layoutHidden, suffix, files, true, plan.moveStagedKey); restoreErr != nil {
			return nil, fmt.Errorf("%w; restoring the previous files failed too: %w", err, restoreErr)
		}
		return nil, fmt.Errorf("%w (the previous files were restored)", err)
	}
	if err := s.reload(ctx, "reload"); err != nil {
		if restoreErr := s.restore(restoreCtx, "install: restore backup", layoutHidden, suffix, files, true, plan.moveStagedKey); restoreErr != nil {
			return nil, fmt.Errorf("%w; restoring the previous files failed too: %w", err, restoreErr)
		}
		if reloadErr := s.reload(restoreCtx, "reload after restoring the backup"); reloadErr != nil {
			return nil, fmt.Errorf("%w; the previous files were restored, but reloading them failed too: %w", err, reloadErr)
		}
		return nil, fmt.Errorf("%w (the previous files were restored and reloaded)", err)
	}
	return newHandle(suffix, files), nil
}

// installScript returns the script that backs up every file in files,
// writes the certificate files from its standard input (uploadInput, in the
// order of files) into temporary files next to them, and then renames
// everything into place, one rename right after the other, so the live
// files are never half-written. Only backups (cp -p, to keep mode and
// owner) and renames run programs; everything else is shell builtins.
func (s *session) installScript(suffix string, files []installedFile, plan installPlan) string {
	o := s.opts
	staged, stagedCSR := shellQuote(o.stagedKeyPath()), shellQuote(o.stagedCSRPath())
	lines := []string{"set -e", uploadFunc, pruneFunc}
	if plan.stagedKeySPKI != "" {
		lines = append(lines, stagedKeyCheck(staged, stagedCSR, plan.stagedKeySPKI))
	}

	for _, f := range files {
		p := shellQuote(f.path)
		// Old backups go first, so the host keeps keep_backups of them
		// (old private keys included) rather than one per rotation.
		lines = append(lines, fmt.Sprintf("prune %s %d", shellQuote(backupPath(f.path, backupPrefix)), o.KeepBackups-1))
		lines = append(lines, fmt.Sprintf("if [ -e %s ]; then cp -p -- %s %s; echo %s; fi",
			p, p, shellQuote(backupPath(f.path, suffix)), shellQuote(backedUpFile+f.role)))
	}
	lines = append(lines, "echo "+backupsDone)

	var moves []string
	lines = append(lines, "umask 022")
	for _, f := range files {
		if f.role == "key" {
			continue
		}
		tmp := shellQuote(f.path + tmpSuffix)
		lines = append(lines,
			ensureDir(path.Dir(f.path)),
			"if "+exists(tmp)+"; then rm -f -- "+tmp+"; fi",
			"upload > "+tmp+" || { echo "+shellQuote("could not write "+f.path+tmpSuffix+", or its upload was cut short")+" >&2; exit 1; }")
		if o.Owner != "" {
			lines = append(lines, "chown "+shellQuote(o.Owner)+" "+tmp)
		}
		moves = append(moves, "mv -f -- "+tmp+" "+shellQuote(f.path))
	}

	if plan.moveStagedKey {
		// The staged key is 0600 from its creation (umask 077); chmod
		// and chown run only when the route asks for something else.
		keyFile := staged
		lines = append(lines, "umask 077", ensureDir(path.Dir(o.KeyPath)))
		if s.keyStagedElsewhere() {
			// work_dir may be another file system, where mv copies
			// into its target: move the key next to key_path first,
			// so the rename into key_path is atomic.
			keyFile = shellQuote(o.KeyPath + tmpSuffix)
			lines = append(lines,
				"if "+exists(keyFile)+"; then rm -f -- "+keyFile+"; fi",
				"mv -f -- "+staged+" "+keyFile)
		}
		if !o.keyModeIsDefault() {
			lines = append(lines, "chmod "+o.Mode+" "+keyFile)
		}
		if o.Owner != "" {
			lines = append(lines, "chown "+shellQuote(o.Owner)+" "+keyFile)
		}
		moves = append([]string{"mv -f -- " + keyFile + " " + shellQuote(o.KeyPath)}, moves...)
	}
	lines = append(lines, moves...)
	if plan.moveStagedKey {
		// The key has left the staging path: the CSR saved with it goes
		// too. exec: the script's last program needs no fork of its own.
		lines = append(lines, "exec rm -f -- "+stagedCSR)
	}
	return strings.Join(lines, "\n")
}

// keyStagedElsewhere reports whether work_dir is not key_path's directory,
// so the staged key may be on another file system.
func (s *session) keyStagedElsewhere() bool {
	return path.Dir(s.opts.KeyPath) != s.opts.WorkDir
}

// restageKeyScript is the script part that puts the new key back into the
// staging path after a failed install. The install script moves the key
// from the staging path (through key_path's temporary file when the key was
// staged elsewhere) into key_path, so when the staging path is empty the
// key is in the first of those that exists.
func (s *session) restageKeyScript() string {
	o := s.opts
	staged := shellQuote(o.stagedKeyPath())
	sources := []string{shellQuote(o.KeyPath)}
	if s.keyStagedElsewhere() {
		sources = append([]string{shellQuote(o.KeyPath + tmpSuffix)}, sources...)
	}
	lines := []string{"umask 077", "if ! " + exists(staged) + "; then"}
	for i, src := range sources {
		keyword := "if"
		if i > 0 {
			keyword = "elif"
		}
		lines = append(lines, fmt.Sprintf("\t%s [ -f %s ]; then cp -- %s %s; chmod 600 %s", keyword, src, src, staged, staged))
	}
	lines = append(lines, "\tfi", "fi")
	if s.keyStagedElsewhere() {
		lines = append(lines, "rm -f -- "+shellQuote(o.KeyPath+tmpSuffix))
	}
	return strings.Join(lines, "\n")
}

// stagedKeyCheck is the script part that reads the public key GenerateCSR
// saved with the staged key and stops the script, changing nothing, unless
// the staged key exists and that public key is spki (base64 DER). Identical
// DER means the same key; any other spelling of it merely falls back to
// the openssl check.
func stagedKeyCheck(staged, stagedCSR, spki string) string {
	return `spki=
if [ -f ` + staged + ` ] && [ -f ` + stagedCSR + ` ]; then
	inside=
	while IFS= read -r line; do
		case $line in
		'-----BEGIN PUBLIC KEY-----') inside=1 ;;
		'-----END PUBLIC KEY-----') break ;;
		*) if [ -n "$inside" ]; then spki=$spki$line; fi ;;
		esac
	done < ` + stagedCSR + `
fi
if [ "$spki" != ` + shellQuote(spki) + ` ]; then
	echo ` + stagedKeyDiffers + `
	# Read the upload to its end before leaving: a command that exits
	# with its input unread closes the channel under ottr's writes.
	while IFS= read -r line; do :; done
	exit 0
fi`
}

// removeStaged deletes the staged key and its CSR once the key in key_path
// is serving (or, when the staging path is empty, the CSR left behind).
func (s *session) removeStaged(ctx context.Context) {
	o := s.opts
	script := "exec rm -f -- " + shellQuote(o.stagedKeyPath()) + " " + shellQuote(o.stagedCSRPath())
	if _, err := s.run(ctx, "install: remove staged key", script, nil); err != nil {
		// The new key is in place and serving; a leftover copy in
		// work_dir is worth a warning, not a failed rotation.
		s.log.Warn("linux: staged key not removed", "path", o.stagedKeyPath(), "err", err)
	}
}

// installedAlready reports whether the host's files already hold chain.
func (s *session) installedAlready(state map[string][]byte, chain []*x509.Certificate) bool {
	current, err := driver.ParseCertificates(state["cert"])
	if err != nil || !sameCertificates(current, chain) {
		return false
	}
	if s.opts.ChainPath == "" {
		return true
	}
	intermediates, err := driver.ParseCertificates(state["chain"])
	return err == nil && sameCertificates(intermediates, chain[1:])
}

// files lists the files the session's options make Install replace.
func (s *session) files() []installedFile {
	files := []installedFile{{role: "cert", path: s.opts.CertPath}, {role: "key", path: s.opts.KeyPath}}
	if s.opts.ChainPath != "" {
		files = append(files, installedFile{role: "chain", path: s.opts.ChainPath})
	}
	return files
}

// restore copies each backup over its file. With removeNew, a file that did
// not exist before the install is removed again. With restageKey, the new
// key goes back to the staging path first if it was moved out of it, so
// the same chain can be installed again.
func (s *session) restore(ctx context.Context, step, layout, suffix string, files []installedFile, removeNew, restageKey bool) error {
	lines := []string{"set -e"}
	if restageKey {
		lines = append(lines, s.restageKeyScript())
	}
	for _, f := range files {
		p := shellQuote(f.path)
		if !f.had {
			if removeNew {
				lines = append(lines, "rm -f -- "+p+" "+shellQuote(f.path+tmpSuffix))
			}
			continue
		}
		backup := backupPathIn(layout, f.path, suffix)
		b := shellQuote(backup)
		tmp := shellQuote(f.path + tmpSuffix)
		lines = append(lines,
			fmt.Sprintf("[ -e %s ] || { echo %s >&2; exit 1; }", b, shellQuote("backup "+backup+" is missing")),
			fmt.Sprintf("cp -p -- %s %s", b, tmp),
			fmt.Sprintf("mv -f -- %s %s", tmp, p))
	}
	_, err := s.run(ctx, step, strings.Join(lines, "\n"), nil)
	return err
}

// reload runs the route's reload command.
func (s *session) reload(ctx context.Context, step string) error {
	_, err := s.run(ctx, step, s.opts.ReloadCommand, nil)
	return err
}

// latestBackup returns the handle of the newest backup of cert_path, or a
// handle saying there was nothing before when there is no backup.
func (s *session) latestBackup(ctx context.Context) (driver.Installed, error) {
	// For every backup of cert_path, print its suffix and the roles that
	// have a backup with that suffix. Only suffixes are printed, so the
	// answer does not depend on how the host spells the path back.
	files := s.files()
	lines := []string{
		fmt.Sprintf(`p=%s; for f in "$p"%s*; do`, shellQuote(backupPath(s.opts.CertPath, "")), backupPrefix),
		`	[ -e "$f" ] || continue`,
		`	s=${f#"$p"}`,
	}
	for _, f := range files {
		lines = append(lines, fmt.Sprintf(`	if [ -e %s"$s" ]; then printf '%%s\n' "%s $s"; fi`, shellQuote(backupPath(f.path, "")), f.role))
	}
	lines = append(lines, "done")
	out, err := s.run(ctx, "install: find backup", strings.Join(lines, "\n"), nil)
	if err != nil {
		return nil, err
	}
	backups := map[string][]string{} // suffix -> roles
	var suffixes []string
	for _, line := range strings.Split(string(out), "\n") {
		role, suffix, ok := strings.Cut(line, " ")
		if !ok || !backupSuffixPattern.MatchString(suffix) {
			continue
		}
		if role == "cert" {
			suffixes = append(suffixes, suffix)
		}
		backups[suffix] = append(backups[suffix], role)
	}
	if len(suffixes) == 0 {
		return newHandle("", files), nil
	}
	sort.Strings(suffixes)
	suffix := suffixes[len(suffixes)-1]
	for i := range files {
		files[i].had = slices.Contains(backups[suffix], files[i].role)
	}
	return newHandle(suffix, files), nil
}

// newHandle records a backup in an Installed handle.
func newHandle(suffix string, files []installedFile) driver.Installed {
	h := driver.Installed{handleSuffix: suffix, handleLayout: layoutHidden}
	for _, f := range files {
		had := fmt.Sprint(f.had)
		switch f.role {
		case "cert":
			h[handleCertPath], h[handleHadPrevious] = f.path, had
		case "key":
			h[handleKeyPath], h[handleHadKey] = f.path, had
		case "chain":
			h[handleChainPath], h[handleHadChain] = f.path, had
		}
	}
	return h
}

// filesFromHandle reads the files an Installed handle recorded, checking
// every value before it reaches a command.
func filesFromHandle(h driver.Installed) (string, []installedFile, error) {
	suffix := h[handleSuffix]
	if !backupSuffixPattern.MatchString(suffix) {
		return "", nil, fmt.Errorf("handle has no valid %s (got %q)", handleSuffix, suffix)
	}
	var files []installedFile
	for _, f := range []struct{ role, pathKey, hadKey string }{
		{"cert", handleCertPath, handleHadPrevious},
		{"key", handleKeyPath, handleHadKey},
		{"chain", handleChainPath, handleHadChain},
	} {
		p := h[f.pathKey]
		if p == "" {
			continue
		}
		if !path.IsAbs(p) || strings.ContainsAny(p, "\x00\n") {
			return "", nil, fmt.Errorf("handle's %s is not an absolute path: %q", f.pathKey, p)
		}
		files = append(files, installedFile{role: f.role, path: p, had: h[f.hadKey] == "true"})
	}
	return suffix, files, nil
}

// Rollback copies the backups Install made back into place and reloads. It
// can run any number of times: the backups stay where they are.
func (s *session) Rollback(ctx context.Context, i driver.Installed) error {
	if i[handleHadPrevious] != "true" {
		return errorf("rollback", "the host had no certificate at %s before the install: nothing to restore, "+
			"the installed certificate was left in place", i[handleCertPath])
	}
	suffix, files, err := filesFromHandle(i)
	if err != nil {
		return wrapf("rollback", err)
	}
	// The key is kept when it had no backup: removing it would leave
	// the restored certificate without any key at all.
	kept := files[:0]
	for _, f := range files {
		if f.role != "key" || f.had {
			kept = append(kept, f)
		}
	}
	if err := s.restore(ctx, "rollback", i[handleLayout], suffix, kept, true, false); err != nil {
		return err
	}
	return s.reload(ctx, "rollback: reload")
}
