package linuxhost

import (
	"context"
	"fmt"
	"strings"

	"github.com/ottr-go/ottr/internal/driver"
)

// rolledBack ends the output of a rollback script that did all it had to.
const rolledBack = "@@ottr-rolled-back"

// Rollback copies the backups Install made back into place and reloads
// (running the hooks due after a reload): one script, and the reload
// command on its own unless the transport reloads in the script. It can
// run any number of times: the backups stay where they are. The rotation
// runs it alone on the host (package devicelock): its restore and reload
// must not interleave with another rotation's.
func (h *Host) Rollback(ctx context.Context, i driver.Installed) error {
	if i[handleHadPrevious] != "true" {
		return h.errorf("rollback", "the %s had no certificate at %s before the install: nothing to restore, "+
			"the installed certificate was left in place", h.cfg.Noun, i[handleCertPath])
	}
	layout, suffix, files, err := filesFromHandle(i)
	if err != nil {
		return h.wrap("rollback", err)
	}
	// The key is kept when it had no backup: removing it would leave the
	// restored certificate without any key at all.
	kept := files[:0]
	for _, f := range files {
		if f.role != "key" || f.had {
			kept = append(kept, f)
		}
	}
	lines := append(h.prelude(h.cfg.ReloadInScript), hadLines(kept)...)
	lines = append(lines, h.restoreFunc(layout, suffix, kept, false), "restore_files || exit 1")
	if h.cfg.ReloadInScript {
		lines = append(lines, h.reloadLines("exit 1")...)
	}
	lines = append(lines, "echo "+rolledBack)
	out, err := h.exec(ctx, "rollback", strings.Join(lines, "\n"), nil)
	parsed := ParseOutput(out)
	if err := h.stepError("rollback", parsed, h.hooksReport("post", parsed), err); err != nil {
		return err
	}
	if !parsed.Has(rolledBack) {
		return h.errorf("rollback", "the rollback script ended without reporting success")
	}
	if h.cfg.ReloadInScript {
		return nil
	}
	return h.reload(ctx, "rollback: reload")
}

// restore runs restore_files on its own, for files whose backups the
// driver knows of: after a failed reload sent on its own.
func (h *Host) restore(ctx context.Context, step, layout, suffix string, files []installedFile, restageKey bool) error {
	lines := append(hadLines(files), h.restoreFunc(layout, suffix, files, restageKey), "restore_files")
	_, err := h.run(ctx, step, strings.Join(lines, "\n"), nil)
	return err
}

// hadLines set had_<role> for each file, as the install script's backups
// do: non-empty when the file had a backup.
func hadLines(files []installedFile) []string {
	lines := make([]string, len(files))
	for i, f := range files {
		lines[i] = "had_" + f.role + "="
		if f.had {
			lines[i] += "1"
		}
	}
	return lines
}

// restoreFunc defines restore_files, which stages the new key again (with
// restageKey, when the install moved it) and copies each file's backup
// with suffix (in layout) over it, removing the files that did not exist
// before; had_<role> says, when it runs, which files had a backup. It
// prints restored or restoreFailed, and fails with the latter.
func (h *Host) restoreFunc(layout, suffix string, files []installedFile, restageKey bool) string {
	body := []string{"ok=1"}
	if restageKey {
		body = append(body, h.restageKeyScript())
	}
	for _, f := range files {
		backup := backupPathIn(layout, f.path, suffix)
		p, b, tmp := Quote(f.path), Quote(backup), Quote(f.path+tmpSuffix)
		body = append(body, fmt.Sprintf(`if [ -z "$had_%s" ]; then rm -f -- %s %s || ok=
elif [ -e %s ]; then cp -p -- %s %s && mv -f -- %s %s || ok=
else echo %s >&2; ok=
fi`, f.role, p, tmp, b, b, tmp, tmp, p, Quote("backup "+backup+" is missing")))
	}
	body = append(body, `if [ -n "$ok" ]; then echo `+restored+`; return 0; fi`, "echo "+restoreFailed, "return 1")
	for i := range body {
		body[i] = "\t" + strings.ReplaceAll(body[i], "\n", "\n\t")
	}
	return "restore_files() {\n" + strings.Join(body, "\n") + "\n}"
}

// restageKeyScript is the script part that puts the new key back into the
// staging path after a failed install. write_files moves the key from the
// staging path (through key_path's temporary file when the key was staged
// elsewhere) into key_path, so when the staging path is empty the key is in
// the first of those that exists. The copy is made with umask 077, in a
// subshell so the rest of the script keeps its own.
func (h *Host) restageKeyScript() string {
	o := h.opts
	staged := Quote(o.StagedKeyPath())
	if o.Bundle() {
		// The bundle holds the certificate too: only its key is staged.
		return keyBlockFunc + "\nif ! " + exists(staged) + " && [ -f " + Quote(o.KeyPath) + " ]; then (umask 077; key_block " +
			Quote(o.KeyPath) + " > " + staged + ") || ok=; fi"
	}
	sources := []string{Quote(o.KeyPath)}
	if o.keyStagedElsewhere() {
		sources = append([]string{Quote(o.KeyPath + tmpSuffix)}, sources...)
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
	if o.keyStagedElsewhere() {
		lines = append(lines, "rm -f -- "+Quote(o.KeyPath+tmpSuffix)+" || ok=")
	}
	return strings.Join(lines, "\n")
}
