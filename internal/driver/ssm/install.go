package ssm

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"

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
	handleInstanceID  = "instance_id"
)

const (
	backupPrefix = ".ottr-backup-"
	// backupTimeFormat has a fixed width, so the newest backup sorts last.
	backupTimeFormat = "20060102T150405.000000000Z"
	tmpSuffix        = ".ottr-tmp"
)

var backupSuffixPattern = regexp.MustCompile(`^\.ottr-backup-[0-9]{8}T[0-9]{6}(\.[0-9]+)?Z$`)

// installedFile is one file Install replaces and Rollback restores.
type installedFile struct {
	role string // "cert", "key" or "chain"
	path string
	had  bool // it existed before the install, so a backup exists
}

// Marker lines the install script prints, so the driver knows what it did
// even when it failed half-way.
const (
	// stagedKeyDiffers: the staged key's saved public key is not the
	// certificate's; the script changed nothing.
	stagedKeyDiffers = "@@ottr-staged-key-differs"
	// backedUpFile + role: that file existed and now has a backup.
	backedUpFile = "@@ottr-backed-up "
	// backupsDone: every backup is made; from here on the live files
	// change, and a failure puts the backup back.
	backupsDone     = "@@ottr-backups-done"
	writeFailed     = "@@ottr-write-failed"
	reloadFailed    = "@@ottr-reload-failed"
	restored        = "@@ottr-restored"
	restoreFailed   = "@@ottr-restore-failed"
	reloadedAgain   = "@@ottr-reloaded-again"
	installComplete = "@@ottr-installed"
)

// errStagedKeyDiffers makes Install fall back to asking openssl which key
// the instance holds.
var errStagedKeyDiffers = errors.New("the staged key's saved public key is not the certificate's")

// Install backs up cert_path, key_path and chain_path, writes chain to
// cert_path (and its intermediates to chain_path), moves the staged key into
// key_path, runs the reload command and the post hooks. If any step after
// the backup fails, the backup is put back (and reloaded, if the new files
// were loaded or their reload failed) before the error returns, and the new
// key is staged again, so the same chain can be installed again. All of
// this is one SSM command.
//
// That command first checks the staged key against the public key
// GenerateCSR saved next to it. Only when that check fails (a resumed
// rotation, a key staged by another run) does Install inspect the
// instance's keys with openssl and decide from what it finds; installing a
// chain the instance already holds then writes nothing and returns the
// handle of the newest backup, which still leads back to the certificate
// from before the first install.
func (s *session) Install(ctx context.Context, chain []*x509.Certificate) (driver.Installed, error) {
	if len(chain) == 0 {
		return nil, errorf("install", "empty chain")
	}
	expected := base64.StdEncoding.EncodeToString(chain[0].RawSubjectPublicKeyInfo)
	handle, err := s.installFiles(ctx, chain, installPlan{moveStagedKey: true, stagedKeySPKI: expected})
	if !errors.Is(err, errStagedKeyDiffers) {
		return handle, err
	}
	s.log.Debug("ssm: staged key not confirmed by its saved public key; inspecting the instance's keys")
	return s.installInspected(ctx, chain)
}

// installInspected installs chain after finding out with openssl which of
// the staged key and key_path holds the certificate's key.
func (s *session) installInspected(ctx context.Context, chain []*x509.Certificate) (driver.Installed, error) {
	o := s.opts
	leaf := chain[0]
	staged := o.stagedKeyPath()
	state, err := s.inspect(ctx, "install: inspect", true,
		inspection{name: "staged", path: staged, publicKey: true},
		inspection{name: "key", path: o.KeyPath, publicKey: true},
		inspection{name: "cert", path: o.CertPath},
		inspection{name: "chain", path: o.ChainPath},
	)
	if err != nil {
		return nil, err
	}
	stagedMatches, err := hostcheck.SamePublicKey(state.files["staged"], leaf.PublicKey)
	if err != nil {
		return nil, errorf("install", "staged key %s: %w", staged, err)
	}
	keyMatches, err := hostcheck.SamePublicKey(state.files["key"], leaf.PublicKey)
	if err != nil {
		return nil, errorf("install", "key %s: %w", o.KeyPath, err)
	}
	if !stagedMatches && !keyMatches {
		return nil, errorf("install", "no key on the instance matches the certificate's public key "+
			"(looked at the staged key %s and at %s): generate a new CSR and have it signed", staged, o.KeyPath)
	}

	if keyMatches && s.installedAlready(state.files, chain) {
		// A second Install of the same chain, e.g. a rotation resumed
		// after a crash: nothing to write, and a new backup would only
		// copy the new files. Reload and run the post hooks in case the
		// first run stopped before them, and hand back the first run's
		// backup. The staged key goes when it is this certificate's; its
		// CSR also when the key is gone already (moved by the first run).
		handle := s.latestBackup(state.backups)
		if err := s.confirmInstalled(ctx, stagedMatches || state.files["staged"] == nil); err != nil {
			return nil, err
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

// installFiles runs the install script and turns what it reports into the
// handle or the error.
func (s *session) installFiles(ctx context.Context, chain []*x509.Certificate, plan installPlan) (driver.Installed, error) {
	suffix := backupPrefix + s.drv.cfg.Now().UTC().Format(backupTimeFormat)
	files := s.files()
	out, err := s.run(ctx, "install", s.installScript(suffix, files, chain, plan))
	parsed := parseOutput(out)
	s.logHooks("post", parsed)
	if err == nil && parsed.has(stagedKeyDiffers) {
		return nil, errStagedKeyDiffers
	}
	if err == nil && !parsed.has(installComplete) {
		return nil, errorf("install", "the install script ended without reporting success")
	}
	if err != nil {
		return nil, installError(parsed, err)
	}
	for i := range files {
		files[i].had = parsed.has(backedUpFile + files[i].role)
	}
	return s.newHandle(suffix, files), nil
}

// installError explains a failed install script from what it reported:
// which step failed, with that step's own output, and whether the previous
// files were put back and reloaded. The failed command's *CommandError is
// wrapped.
func installError(out *scriptOutput, err error) error {
	var cmdErr *CommandError
	if !errors.As(err, &cmdErr) || !out.has(backupsDone) {
		// It failed before touching a live file.
		return err
	}
	var outcome string
	switch {
	case out.has(restoreFailed):
		outcome = "putting the previous files back failed too"
	case out.has(reloadedAgain):
		outcome = "the previous files were restored and reloaded"
	case out.has(restored) && out.has(writeFailed):
		// The service never loaded the new files.
		outcome = "the previous files were restored"
	case out.has(restored):
		outcome = "the previous files were restored, but reloading them failed too: " + out.section(sectionReloadAgain)
	default:
		outcome = "the previous files may not have been restored"
	}
	switch hookErr := out.hookError(); {
	case out.has(writeFailed):
		return fmt.Errorf("ssm: install: writing the new files failed (%s): %w", outcome, cmdErr)
	case out.has(reloadFailed):
		return fmt.Errorf("ssm: install: the reload command failed: %s (%s); %w", out.section(sectionReload), outcome, cmdErr)
	case hookErr != nil:
		return fmt.Errorf("ssm: install: %w (%s); %w", hookErr, outcome, cmdErr)
	default:
		return fmt.Errorf("ssm: install: the install script failed (%s): %w", outcome, cmdErr)
	}
}

// installScript returns the script that backs up every file in files,
// writes the certificate files into temporary files next to them, renames
// everything into place, reloads and runs the post hooks, putting the
// backup back if anything after the backups fails. Nothing relies on
// "set -e": every step checks its own result.
func (s *session) installScript(suffix string, files []installedFile, chain []*x509.Certificate, plan installPlan) string {
	o := s.opts
	staged, stagedCSR := shellQuote(o.stagedKeyPath()), shellQuote(o.stagedCSRPath())
	lines := append(o.hookPrelude(), reloadFunc(o.ReloadCommand))
	if plan.stagedKeySPKI != "" {
		lines = append(lines, stagedKeyCheck(staged, stagedCSR, plan.stagedKeySPKI))
	}

	// 1. Backups: nothing live changes until every backup exists.
	for _, f := range files {
		p := shellQuote(f.path)
		lines = append(lines, fmt.Sprintf("had_%s=\nif [ -e %s ]; then cp -p -- %s %s || { echo %s >&2; exit 1; }; had_%s=1; echo %s; fi",
			f.role, p, p, shellQuote(f.path+suffix), shellQuote("could not back up "+f.path), f.role,
			shellQuote(backedUpFile+f.role)))
	}
	lines = append(lines, "echo "+backupsDone)

	// 2. The function that puts the backups back.
	lines = append(lines, s.restoreFunc(suffix, files, plan.moveStagedKey))

	// 3. Write and move into place; a failure restores.
	lines = append(lines, s.writeFunc(files, chain, plan.moveStagedKey),
		"if ! write_files; then echo "+writeFailed+"; restore_files; exit 1; fi")

	// 4. Reload; a failure restores and reloads the old files.
	again := "restore_files && reload_service " + sectionReloadAgain + " && echo " + reloadedAgain + "; exit 1"
	lines = append(lines,
		"if ! reload_service "+sectionReload+"; then echo "+reloadFailed+"; "+again+"; fi",
		// 5. Post hooks, with the same undo.
		runHooks("post", o.PostHooksDir, again))
	if plan.moveStagedKey {
		// The key has left the staging path: the CSR saved with it goes
		// too. It stays until here so a failed install can stage the key
		// again and the retry finds both.
		lines = append(lines, "rm -f -- "+stagedCSR)
	}
	lines = append(lines, "echo "+installComplete)
	return strings.Join(lines, "\n")
}

// writeFunc defines write_files, which writes chain into temporary files
// next to cert_path (and chain_path), moves the staged key next to
// key_path when needed, and renames everything into place one right after
// the other, so the live files are never half-written.
func (s *session) writeFunc(files []installedFile, chain []*x509.Certificate, moveStagedKey bool) string {
	o := s.opts
	staged := shellQuote(o.stagedKeyPath())
	body := []string{"umask 022"}
	var moves []string
	for _, f := range files {
		if f.role == "key" {
			continue
		}
		content := encodeCertificates(chain)
		if f.role == "chain" {
			content = encodeCertificates(chain[1:])
		}
		tmp := shellQuote(f.path + tmpSuffix)
		body = append(body,
			ensureDir(path.Dir(f.path)),
			"if "+exists(tmp)+"; then rm -f -- "+tmp+"; fi",
			"printf '%s' "+shellQuote(string(content))+" > "+tmp)
		if o.Owner != "" {
			body = append(body, "chown "+shellQuote(o.Owner)+" "+tmp)
		}
		moves = append(moves, "mv -f -- "+tmp+" "+shellQuote(f.path))
	}
	if moveStagedKey {
		// The staged key is 0600 from its creation (umask 077); chmod
		// and chown run only when the route asks for something else.
		keyFile := staged
		body = append(body, "umask 077", ensureDir(path.Dir(o.KeyPath)))
		if s.keyStagedElsewhere() {
			// work_dir may be another file system, where mv copies
			// into its target: move the key next to key_path first,
			// so the rename into key_path is atomic.
			keyFile = shellQuote(o.KeyPath + tmpSuffix)
			body = append(body,
				"if "+exists(keyFile)+"; then rm -f -- "+keyFile+"; fi",
				"mv -f -- "+staged+" "+keyFile)
		}
		if !o.keyModeIsDefault() {
			body = append(body, "chmod "+o.Mode+" "+keyFile)
		}
		if o.Owner != "" {
			body = append(body, "chown "+shellQuote(o.Owner)+" "+keyFile)
		}
		moves = append([]string{"mv -f -- " + keyFile + " " + shellQuote(o.KeyPath)}, moves...)
	}
	body = append(body, moves...)
	for i := range body {
		body[i] = "\t" + body[i] + " || return 1"
	}
	return "write_files() {\n" + strings.Join(body, "\n") + "\n}"
}

// restoreFunc defines restore_files, which stages the new key again (when
// the install moved it) and copies each backup over its file, removing the
// files that did not exist before. It prints restored or restoreFailed.
// had_<role> says, at run time, which files had a backup.
func (s *session) restoreFunc(suffix string, files []installedFile, restageKey bool) string {
	body := []string{"ok=1"}
	if restageKey {
		body = append(body, s.restageKeyScript())
	}
	for _, f := range files {
		p, b, tmp := shellQuote(f.path), shellQuote(f.path+suffix), shellQuote(f.path+tmpSuffix)
		body = append(body, fmt.Sprintf(`if [ -n "$had_%s" ]; then cp -p -- %s %s && mv -f -- %s %s || ok=; else rm -f -- %s %s || ok=; fi`,
			f.role, b, tmp, tmp, p, p, tmp))
	}
	body = append(body, `if [ -n "$ok" ]; then echo `+restored+`; return 0; fi`, "echo "+restoreFailed, "return 1")
	for i := range body {
		body[i] = "\t" + strings.ReplaceAll(body[i], "\n", "\n\t")
	}
	return "restore_files() {\n" + strings.Join(body, "\n") + "\n}"
}

// keyStagedElsewhere reports whether work_dir is not key_path's directory,
// so the staged key may be on another file system.
func (s *session) keyStagedElsewhere() bool {
	return path.Dir(s.opts.KeyPath) != s.opts.WorkDir
}

// restageKeyScript is the script part that puts the new key back into the
// staging path after a failed install. write_files moves the key from the
// staging path (through key_path's temporary file when the key was staged
// elsewhere) into key_path, so when the staging path is empty the key is in
// the first of those that exists.
func (s *session) restageKeyScript() string {
	o := s.opts
	staged := shellQuote(o.stagedKeyPath())
	sources := []string{shellQuote(o.KeyPath)}
	if s.keyStagedElsewhere() {
		sources = append([]string{shellQuote(o.KeyPath + tmpSuffix)}, sources...)
	}
	lines := []string{"if ! " + exists(staged) + "; then"}
	for i, src := range sources {
		keyword := "if"
		if i > 0 {
			keyword = "elif"
		}
		lines = append(lines, fmt.Sprintf("\t%s [ -f %s ]; then (umask 077; cp -- %s %s) || ok=", keyword, src, src, staged))
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
if [ "$spki" != ` + shellQuote(spki) + ` ]; then echo ` + stagedKeyDiffers + `; exit 0; fi`
}

// confirmInstalled finishes an install found already written: it reloads,
// runs the post hooks and, with removeStaged, removes the staged key and
// its CSR. One command.
func (s *session) confirmInstalled(ctx context.Context, removeStaged bool) error {
	o := s.opts
	lines := append(o.hookPrelude(), reloadFunc(o.ReloadCommand),
		"if ! reload_service "+sectionReload+"; then echo "+reloadFailed+"; exit 1; fi",
		runHooks("post", o.PostHooksDir, "exit 1"))
	if removeStaged {
		// The new key is in place and serving; the copy in work_dir is
		// no longer needed.
		lines = append(lines, "rm -f -- "+shellQuote(o.stagedKeyPath())+" "+shellQuote(o.stagedCSRPath()))
	}
	out, err := s.run(ctx, "install: reload", strings.Join(lines, "\n"))
	parsed := parseOutput(out)
	s.logHooks("post", parsed)
	return stepError("install", parsed, err)
}

// stepError explains a failed reload-and-hooks script; nil when err is.
func stepError(step string, out *scriptOutput, err error) error {
	var cmdErr *CommandError
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &cmdErr):
		return err
	case out.has(reloadFailed):
		return fmt.Errorf("ssm: %s: the reload command failed: %s; %w", step, out.section(sectionReload), cmdErr)
	case out.hookError() != nil:
		return fmt.Errorf("ssm: %s: %w; %w", step, out.hookError(), cmdErr)
	default:
		return err
	}
}

// files lists the files the session's options make Install replace.
func (s *session) files() []installedFile {
	files := []installedFile{{role: "cert", path: s.opts.CertPath}, {role: "key", path: s.opts.KeyPath}}
	if s.opts.ChainPath != "" {
		files = append(files, installedFile{role: "chain", path: s.opts.ChainPath})
	}
	return files
}
