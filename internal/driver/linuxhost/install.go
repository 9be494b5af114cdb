package linuxhost

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/linuxhost/hostcheck"
)

// Marker lines the install script prints, so the driver knows what it did
// even when it failed half-way.
const (
	// stagedKeyDiffers: the staged key's saved public key is not the
	// certificate's; the script changed nothing.
	stagedKeyDiffers = "@@ottr-staged-key-differs"
	// backedUpFile + role: that file existed and now has a backup.
	backedUpFile = "@@ottr-backed-up "
	// backupsDone: every backup is made; from here on the live files
	// change, and a failure puts the backups back.
	backupsDone     = "@@ottr-backups-done"
	writeFailed     = "@@ottr-write-failed"
	reloadFailed    = "@@ottr-reload-failed"
	restored        = "@@ottr-restored"
	restoreFailed   = "@@ottr-restore-failed"
	reloadedAgain   = "@@ottr-reloaded-again"
	installComplete = "@@ottr-installed"
)

// Sections of the output: what the reload command printed when it failed,
// and when the reload after putting the backups back failed too.
const (
	sectionReload      = "reload"
	sectionReloadAgain = "reload-again"
)

const (
	tmpSuffix = ".ottr-tmp"
	// restoreTimeout bounds putting the backups back after a failed
	// reload sent on its own.
	restoreTimeout = time.Minute
)

// errStagedKeyDiffers makes Install fall back to asking openssl which key
// the host holds.
var errStagedKeyDiffers = errors.New("the staged key's saved public key is not the certificate's")

// Install backs up cert_path, key_path and chain_path, writes chain to
// cert_path (and its intermediates to chain_path), moves the staged key into
// key_path and runs the reload command (and the hooks due after it). If any
// step after the backup fails, the backups are put back (and reloaded, if
// the new files were loaded or their reload failed) before the error
// returns, and the new key is staged again, so the same chain can be
// installed again.
//
// A rotation's install is one script, and the reload command on its own
// unless the transport reloads in the script: the script checks the staged
// key against the public key GenerateCSR saved next to it (text, no
// openssl), makes the backups, writes the chain from its standard input and
// moves everything into place. Only when that check fails (a resumed
// rotation, a key staged by another run) does Install inspect the host's
// keys with openssl and decide from what it finds; installing a chain the
// host already holds then writes nothing and returns the handle of the
// newest backup, which still leads back to the certificate from before the
// first install.
func (h *Host) Install(ctx context.Context, chain []*x509.Certificate) (driver.Installed, error) {
	if len(chain) == 0 {
		return nil, h.errorf("install", "empty chain")
	}
	handle, err := h.install(ctx, chain)
	b := driver.BatchFrom(ctx)
	if b == nil || b.Members() < 2 || !errors.Is(err, errRestored) {
		return handle, err
	}
	// One member's files may have failed the reload of all: each is
	// installed again on its own, so only the faulty ones fail.
	h.log.Info(h.cfg.Name+": the reload shared by the installs on this "+h.cfg.Noun+" failed and every one was undone; installing again alone", "err", err)
	err = b.Alone(ctx, func(ctx context.Context) error {
		handle, err = h.install(driver.WithBatch(ctx, nil), chain)
		return err
	})
	return handle, err
}

// install is Install once: its reload is shared with the batch in ctx.
func (h *Host) install(ctx context.Context, chain []*x509.Certificate) (driver.Installed, error) {
	expected := base64.StdEncoding.EncodeToString(chain[0].RawSubjectPublicKeyInfo)
	handle, err := h.installFiles(ctx, chain, installPlan{moveStagedKey: true, stagedKeySPKI: expected})
	if !errors.Is(err, errStagedKeyDiffers) {
		return handle, err
	}
	h.log.Debug(h.cfg.Name + ": staged key not confirmed by its saved public key; inspecting the " + h.cfg.Noun + "'s keys")
	return h.installInspected(ctx, chain)
}

// installInspected installs chain after finding out with openssl which of
// the staged key and key_path holds the certificate's key.
func (h *Host) installInspected(ctx context.Context, chain []*x509.Certificate) (driver.Installed, error) {
	o := h.opts
	leaf := chain[0]
	staged := o.StagedKeyPath()
	state, err := h.inspect(ctx, "install: inspect", true,
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
		return nil, h.errorf("install", "staged key %s: %w", staged, err)
	}
	keyMatches, err := hostcheck.SamePublicKey(state.files["key"], leaf.PublicKey)
	if err != nil {
		return nil, h.errorf("install", "key %s: %w", o.KeyPath, err)
	}
	if !stagedMatches && !keyMatches {
		return nil, h.errorf("install", "no key on the %s matches the certificate's public key "+
			"(looked at the staged key %s and at %s): generate a new CSR and have it signed", h.cfg.Noun, staged, o.KeyPath)
	}

	if keyMatches && h.installedAlready(state.files, chain) {
		// A second Install of the same chain, e.g. a rotation resumed
		// after a crash: nothing to write, and a new backup would only
		// copy the new files. Reload (and run the hooks) in case the
		// first run stopped before, and hand back the first run's
		// backup. The staged key goes when it is this certificate's; its
		// CSR also when the key is gone already (moved by the first run).
		handle := h.latestBackup(state.backups)
		if err := h.confirmInstalled(ctx, stagedMatches || state.files["staged"] == nil); err != nil {
			return nil, err
		}
		return handle, nil
	}
	// The staged key is left alone when it is not this certificate's: it
	// may belong to a newer CSR.
	return h.installFiles(ctx, chain, installPlan{moveStagedKey: stagedMatches})
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

// installFiles runs the install script (and the reload, when it is sent on
// its own) and turns what it reports into the handle or the error.
func (h *Host) installFiles(ctx context.Context, chain []*x509.Certificate, plan installPlan) (driver.Installed, error) {
	suffix := backupPrefix + h.cfg.Now().UTC().Format(backupTimeFormat)
	files := h.files()
	uploads := [][]byte{driver.EncodeCertificates(chain)}
	if h.opts.ChainPath != "" {
		uploads = append(uploads, driver.EncodeCertificates(chain[1:]))
	}
	out, err := h.exec(ctx, "install", h.installScript(suffix, files, plan), uploadInput(uploads...))
	parsed := ParseOutput(out)
	hookErr := h.hooksReport("post", parsed)
	for i := range files {
		files[i].had = parsed.Has(backedUpFile + files[i].role)
	}
	switch {
	case err == nil && parsed.Has(stagedKeyDiffers):
		return nil, errStagedKeyDiffers
	case parsed.Has(installComplete) && err != nil:
		// Only removing the staged CSR, public data, failed after it.
		h.log.Warn(h.cfg.Name+": the staged CSR was not removed", "path", h.opts.StagedCSRPath(), "err", err)
	case parsed.Has(installComplete):
	case err == nil:
		return nil, h.errorf("install", "the install script ended without reporting success")
	default:
		return nil, h.installError(parsed, hookErr, err)
	}
	if !h.cfg.ReloadInScript {
		if err := h.reloadInstalled(ctx, suffix, files, plan.moveStagedKey); err != nil {
			return nil, err
		}
	}
	return newHandle(suffix, files), nil
}

// installError explains a failed install script from what it reported:
// which step failed, with that step's own output, and whether the previous
// files were put back and reloaded. err, the transport's, is wrapped.
func (h *Host) installError(out *Output, hookErr, err error) error {
	if !out.Has(backupsDone) {
		// It failed before touching a live file.
		return h.wrap("install", err)
	}
	var outcome string
	switch {
	case out.Has(restoreFailed):
		outcome = "putting the previous files back failed too"
	case out.Has(reloadedAgain):
		outcome = "the previous files were restored and reloaded"
	case out.Has(restored) && out.Has(writeFailed):
		// The service never loaded the new files.
		outcome = "the previous files were restored"
	case out.Has(restored):
		outcome = "the previous files were restored, but reloading them failed too: " + out.Section(sectionReloadAgain)
	default:
		outcome = "the previous files may not have been restored"
	}
	switch {
	case out.Has(writeFailed):
		return h.errorf("install", "writing the new files failed (%s): %w", outcome, err)
	case out.Has(reloadFailed):
		return h.errorf("install", "the reload command failed: %s (%s); %w", out.Section(sectionReload), outcome, err)
	case hookErr != nil:
		return h.errorf("install", "%w (%s); %w", hookErr, outcome, err)
	default:
		return h.errorf("install", "the install script failed (%s): %w", outcome, err)
	}
}

// reloadInstalled sends the reload command on its own after an install
// script; when it fails, it puts the backups back, stages the new key again
// (with restageKey) and reloads again. The service still runs the old files
// from memory until a reload succeeds.
func (h *Host) reloadInstalled(ctx context.Context, suffix string, files []installedFile, restageKey bool) error {
	err := h.reloadTogether(ctx, "reload")
	if err == nil {
		return nil
	}
	// Putting the backups back must happen even when ctx has just ended
	// (a job timeout during the reload): give it its own short deadline.
	restoreCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), restoreTimeout)
	defer cancel()
	if restoreErr := h.restore(restoreCtx, "install: restore backup", layoutHidden, suffix, files, restageKey); restoreErr != nil {
		return fmt.Errorf("%w (putting the previous files back failed too: %v)", err, restoreErr)
	}
	if reloadErr := h.reloadTogether(restoreCtx, "reload after restoring the backup"); reloadErr != nil {
		return fmt.Errorf("%w (the previous files were restored, but reloading them failed too: %v)", err, reloadErr)
	}
	return fmt.Errorf("%w (%w)", err, errRestored)
}

// errRestored ends the error of an install whose reload failed and whose
// previous files were put back and reloaded: the host is as it was, and
// the install may be tried again.
var errRestored = errors.New("the previous files were restored and reloaded")

// reloadTogether reloads once for every install of the batch in ctx that
// reloads with the same command (driver.Batch.Together): their files are
// all switched by then. Without a batch, it reloads at once.
func (h *Host) reloadTogether(ctx context.Context, step string) error {
	b := driver.BatchFrom(ctx)
	if b == nil {
		return h.reload(ctx, step)
	}
	return b.Together(ctx, step+"\x00"+h.opts.ReloadCommand, func(ctx context.Context) error {
		return h.reload(ctx, step)
	})
}

// reload sends the route's reload command on its own.
func (h *Host) reload(ctx context.Context, step string) error {
	_, err := h.run(ctx, step, h.opts.ReloadCommand, nil)
	return err
}

// prelude returns the functions a script starts with that runs hooks or,
// with reloads, reloads in the script.
func (h *Host) prelude(reloads bool) []string {
	var lines []string
	if h.cfg.Hooks != nil || reloads {
		lines = append(lines, SectionFunc)
	}
	if h.cfg.Hooks != nil {
		lines = append(lines, h.cfg.Hooks.Prelude()...)
	}
	if reloads {
		lines = append(lines, reloadFunc(h.opts.ReloadCommand))
	}
	return lines
}

// reloadLines are the script lines that reload and run the hooks due after
// a reload, each running onFail when it fails.
func (h *Host) reloadLines(onFail string) []string {
	lines := []string{"if ! reload_service " + sectionReload + "; then echo " + reloadFailed + "; " + onFail + "; fi"}
	if h.cfg.Hooks != nil {
		lines = append(lines, h.cfg.Hooks.After(onFail))
	}
	return lines
}

// installScript returns the script that backs up every file in files,
// writes the certificate files from its standard input (uploadInput, in the
// order of files) into temporary files next to them, renames everything
// into place, and, when the transport reloads in the script, reloads and
// runs the hooks due after it. Anything that fails after the backups puts
// them back. Nothing relies on "set -e": every step checks its own result.
// Only backups (cp -p, to keep mode and owner) and renames run programs on
// the way to success; everything else is shell builtins.
func (h *Host) installScript(suffix string, files []installedFile, plan installPlan) string {
	o := h.opts
	lines := append(h.prelude(h.cfg.ReloadInScript), uploadFunc, pruneFunc)
	if plan.stagedKeySPKI != "" {
		lines = append(lines, stagedKeyCheck(Quote(o.StagedKeyPath()), Quote(o.StagedCSRPath()), plan.stagedKeySPKI))
	}

	// 1. Backups: nothing live changes until every backup exists. Old
	// backups go first, so the host keeps keep_backups of them (old
	// private keys included) rather than one per rotation.
	for _, f := range files {
		p := Quote(f.path)
		lines = append(lines, h.pruneLine(f.path),
			fmt.Sprintf("had_%s=\nif [ -e %s ]; then cp -p -- %s %s || { echo %s >&2; exit 1; }; had_%s=1; echo %s; fi",
				f.role, p, p, Quote(backupPath(f.path, suffix)), Quote("could not back up "+f.path), f.role,
				Quote(backedUpFile+f.role)))
	}
	lines = append(lines, "echo "+backupsDone)

	// 2. Write and move into place; a failure restores.
	lines = append(lines, h.restoreFunc(layoutHidden, suffix, files, plan.moveStagedKey), h.writeFunc(files, plan.moveStagedKey),
		"if ! write_files; then echo "+writeFailed+"; restore_files; exit 1; fi")

	// 3. Reload and the hooks after it; a failure restores and reloads
	// the old files.
	if h.cfg.ReloadInScript {
		lines = append(lines, h.reloadLines("restore_files && reload_service "+sectionReloadAgain+" && echo "+reloadedAgain+"; exit 1")...)
	}
	lines = append(lines, "echo "+installComplete)
	if plan.moveStagedKey {
		// The key has left the staging path: the CSR saved with it goes
		// too. It stays until here so a failed install can stage the key
		// again and the retry finds both. exec: the script's last
		// program needs no fork of its own.
		lines = append(lines, "exec rm -f -- "+Quote(o.StagedCSRPath()))
	}
	return strings.Join(lines, "\n")
}

// writeFunc defines write_files, which writes the certificate files from
// standard input into temporary files next to them, moves the staged key
// next to key_path when needed, and renames everything into place one
// right after the other, so the live files are never half-written.
func (h *Host) writeFunc(files []installedFile, moveStagedKey bool) string {
	if h.opts.Bundle() {
		return h.writeBundleFunc(files, moveStagedKey)
	}
	o := h.opts
	var body, moves []string
	step := func(line string) { body = append(body, line+" || return 1") }
	step("umask 022")
	for _, f := range files {
		if f.role == "key" {
			continue
		}
		tmp := Quote(f.path + tmpSuffix)
		step(ensureDir(path.Dir(f.path)))
		step("if " + exists(tmp) + "; then rm -f -- " + tmp + "; fi")
		body = append(body, "upload > "+tmp+" || { echo "+Quote("could not write "+f.path+tmpSuffix+", or its upload was cut short")+" >&2; return 1; }")
		if o.Owner != "" {
			step("chown " + Quote(o.Owner) + " " + tmp)
		}
		moves = append(moves, "mv -f -- "+tmp+" "+Quote(f.path))
	}
	if moveStagedKey {
		// The staged key is 0600 from its creation (umask 077); chmod
		// and chown run only when the route asks for something else.
		staged := Quote(o.StagedKeyPath())
		keyFile := staged
		step("umask 077")
		step(ensureDir(path.Dir(o.KeyPath)))
		if o.keyStagedElsewhere() {
			// work_dir may be another file system, where mv copies
			// into its target: move the key next to key_path first,
			// so the rename into key_path is atomic.
			keyFile = Quote(o.KeyPath + tmpSuffix)
			step("if " + exists(keyFile) + "; then rm -f -- " + keyFile + "; fi")
			step("mv -f -- " + staged + " " + keyFile)
		}
		if !o.keyModeIsDefault() {
			step("chmod " + o.Mode + " " + keyFile)
		}
		if o.Owner != "" {
			step("chown " + Quote(o.Owner) + " " + keyFile)
		}
		moves = append([]string{"mv -f -- " + keyFile + " " + Quote(o.KeyPath)}, moves...)
	}
	for _, m := range moves {
		step(m)
	}
	return "write_files() {\n\t" + strings.Join(body, "\n\t") + "\n}"
}

// writeBundleFunc is writeFunc for a bundle (key_path is cert_path): the
// key (the staged one with moveStagedKey, else the one the bundle holds)
// and the uploaded chain go into one temporary file, made with umask 077
// as it holds the key, which one rename puts into place: a reload reads
// the old pair or the new one, never a key without its certificate. The
// staged key goes only after that rename, so a failure before it leaves
// the key staged for a retry.
func (h *Host) writeBundleFunc(files []installedFile, moveStagedKey bool) string {
	o := h.opts
	var body []string
	step := func(line string) { body = append(body, line+" || return 1") }
	keyFile := o.KeyPath
	if moveStagedKey {
		keyFile = o.StagedKeyPath()
	}
	keySource := Quote(keyFile)
	bundle, tmp := Quote(o.CertPath), Quote(o.CertPath+tmpSuffix)
	step("umask 077")
	step(ensureDir(path.Dir(o.CertPath)))
	step("if " + exists(tmp) + "; then rm -f -- " + tmp + "; fi")
	body = append(body, "{ key_block "+keySource+" && upload; } > "+tmp+" || { echo "+
		Quote("could not write "+o.CertPath+tmpSuffix+" from the key in "+keyFile+" and the upload")+" >&2; return 1; }")
	if !o.keyModeIsDefault() {
		step("chmod " + o.Mode + " " + tmp)
	}
	if o.Owner != "" {
		step("chown " + Quote(o.Owner) + " " + tmp)
	}
	// The chain file, when set, holds no key: it goes first, so the
	// bundle's rename is the step that switches the pair.
	step("umask 022")
	for _, f := range files {
		if f.role != "chain" {
			continue
		}
		chainTmp := Quote(f.path + tmpSuffix)
		step(ensureDir(path.Dir(f.path)))
		body = append(body, "upload > "+chainTmp+" || { echo "+Quote("could not write "+f.path+tmpSuffix+", or its upload was cut short")+" >&2; return 1; }")
		if o.Owner != "" {
			step("chown " + Quote(o.Owner) + " " + chainTmp)
		}
		step("mv -f -- " + chainTmp + " " + Quote(f.path))
	}
	step("mv -f -- " + tmp + " " + bundle)
	if moveStagedKey {
		step("rm -f -- " + Quote(o.StagedKeyPath()))
	}
	return keyBlockFunc + "\nwrite_files() {\n\t" + strings.Join(body, "\n\t") + "\n}"
}

// keyBlockFunc defines "key_block FILE", which prints the private key PEM
// block of FILE (a staged key or a bundle) and fails when it holds none:
// shell builtins only, so the key never passes through another program.
const keyBlockFunc = `key_block() {
	inside= found=
	while IFS= read -r line; do
		case $line in
		'-----BEGIN '*'PRIVATE KEY-----') inside=1 ;;
		esac
		if [ -n "$inside" ]; then printf '%s\n' "$line"; fi
		case $line in
		'-----END '*'PRIVATE KEY-----') if [ -n "$inside" ]; then found=1; break; fi ;;
		esac
	done < "$1"
	[ -n "$found" ]
}`

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
if [ "$spki" != ` + Quote(spki) + ` ]; then
	echo ` + stagedKeyDiffers + `
	# Read the upload to its end before leaving: a command that exits
	# with its input unread closes the channel under ottr's writes.
	while IFS= read -r line; do :; done
	exit 0
fi`
}

// confirmInstalled finishes an install found already written: it reloads,
// runs the hooks due after a reload and, with removeStaged, removes the
// staged key and its CSR.
func (h *Host) confirmInstalled(ctx context.Context, removeStaged bool) error {
	o := h.opts
	removal := "rm -f -- " + Quote(o.StagedKeyPath()) + " " + Quote(o.StagedCSRPath())
	if !h.cfg.ReloadInScript {
		if err := h.reloadTogether(ctx, "reload"); err != nil {
			return err
		}
		if !removeStaged {
			return nil
		}
		if _, err := h.run(ctx, "install: remove staged key", "exec "+removal, nil); err != nil {
			// The new key is in place and serving; a leftover copy in
			// work_dir is worth a warning, not a failed rotation.
			h.log.Warn(h.cfg.Name+": staged key not removed", "path", o.StagedKeyPath(), "err", err)
		}
		return nil
	}
	lines := append(h.prelude(true), h.reloadLines("exit 1")...)
	if removeStaged {
		// The new key is in place and serving; the copy in work_dir is
		// no longer needed.
		lines = append(lines, removal)
	}
	out, err := h.exec(ctx, "install: reload", strings.Join(lines, "\n"), nil)
	parsed := ParseOutput(out)
	return h.stepError("install", parsed, h.hooksReport("post", parsed), err)
}

// stepError explains a failed script that reloads in the script; nil when
// err is.
func (h *Host) stepError(step string, out *Output, hookErr, err error) error {
	switch {
	case err == nil:
		return nil
	case out.Has(reloadFailed):
		return h.errorf(step, "the reload command failed: %s; %w", out.Section(sectionReload), err)
	case hookErr != nil:
		return h.errorf(step, "%w; %w", hookErr, err)
	default:
		return h.wrap(step, err)
	}
}
