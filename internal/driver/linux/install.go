package linux

import (
	"context"
	"crypto/x509"
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/driver"
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

// installedFile is one file Install replaces and Rollback restores.
type installedFile struct {
	role string // "cert", "key" or "chain"
	path string
	had  bool // it existed before the install, so a backup exists
}

// Install backs up cert_path, key_path and chain_path, writes chain to
// cert_path (and its intermediates to chain_path), copies the staged key
// into key_path and runs the reload command. If any step after the backup
// fails, the backup is put back (and reloaded, if the reload was what
// failed) before the error returns; the staged key is kept, so the same
// chain can be installed again. Installing a chain the host already holds
// writes nothing and returns the handle of the newest backup, which still
// leads back to the certificate from before the first install.
func (s *session) Install(ctx context.Context, chain []*x509.Certificate) (driver.Installed, error) {
	if len(chain) == 0 {
		return nil, errorf("install", "empty chain")
	}
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
	stagedMatches, err := samePublicKey(state["staged"], leaf.PublicKey)
	if err != nil {
		return nil, errorf("install", "staged key %s: %w", staged, err)
	}
	keyMatches, err := samePublicKey(state["key"], leaf.PublicKey)
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
		if stagedMatches {
			s.removeStaged(ctx)
		}
		return handle, nil
	}

	suffix := backupPrefix + s.drv.cfg.Now().UTC().Format(backupTimeFormat)
	files, err := s.backup(ctx, suffix)
	if err != nil {
		return nil, err
	}
	handle := newHandle(suffix, files)

	// Putting the backup back must happen even when ctx has just ended
	// (a job timeout during the reload): give it its own short deadline.
	restoreCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), restoreTimeout)
	defer cancel()
	if err := s.writeFiles(ctx, chain, stagedMatches); err != nil {
		// Nothing was reloaded, so the service still runs the old files
		// from memory; put them back on disk for its next reload.
		if restoreErr := s.restore(restoreCtx, "install: restore backup", suffix, files, true); restoreErr != nil {
			return nil, fmt.Errorf("%w; restoring the previous files failed too: %w", err, restoreErr)
		}
		return nil, err
	}
	if err := s.reload(ctx, "reload"); err != nil {
		if restoreErr := s.restore(restoreCtx, "install: restore backup", suffix, files, true); restoreErr != nil {
			return nil, fmt.Errorf("%w; restoring the previous files failed too: %w", err, restoreErr)
		}
		if reloadErr := s.reload(restoreCtx, "reload after restoring the backup"); reloadErr != nil {
			return nil, fmt.Errorf("%w; the previous files were restored, but reloading them failed too: %w", err, reloadErr)
		}
		return nil, fmt.Errorf("%w (the previous files were restored and reloaded)", err)
	}

	if stagedMatches {
		s.removeStaged(ctx)
	}
	return handle, nil
}

// removeStaged deletes the staged key once its copy in key_path is serving.
func (s *session) removeStaged(ctx context.Context) {
	staged := s.opts.stagedKeyPath()
	if _, err := s.run(ctx, "install: remove staged key", "rm -f -- "+shellQuote(staged), nil); err != nil {
		// The new key is in place and serving; a leftover copy in
		// work_dir is worth a warning, not a failed rotation.
		s.log.Warn("linux: staged key not removed", "path", staged, "err", err)
	}
}

// installedAlready reports whether the host's files already hold chain.
func (s *session) installedAlready(state map[string][]byte, chain []*x509.Certificate) bool {
	current, err := parseCertificates(state["cert"])
	if err != nil || !sameCertificates(current, chain) {
		return false
	}
	if s.opts.ChainPath == "" {
		return true
	}
	intermediates, err := parseCertificates(state["chain"])
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

// backup copies every existing file to <path><suffix>, keeping its mode and
// owner, and reports which existed.
func (s *session) backup(ctx context.Context, suffix string) ([]installedFile, error) {
	files := s.files()
	lines := []string{"set -e"}
	for _, f := range files {
		p := shellQuote(f.path)
		lines = append(lines, fmt.Sprintf("if [ -e %s ]; then cp -p -- %s %s; echo %s; fi",
			p, p, shellQuote(f.path+suffix), f.role))
	}
	out, err := s.run(ctx, "install: backup", strings.Join(lines, "\n"), nil)
	if err != nil {
		return nil, err
	}
	existed := strings.Fields(string(out))
	for i := range files {
		files[i].had = slices.Contains(existed, files[i].role)
	}
	return files, nil
}

// writeFiles uploads the chain into temporary files next to their targets,
// then moves everything into place in one command, so the live files are
// replaced within moments of each other and never half-written.
func (s *session) writeFiles(ctx context.Context, chain []*x509.Certificate, copyStagedKey bool) error {
	o := s.opts
	uploads := []struct{ step, path string }{{"install: write certificate", o.CertPath}}
	contents := [][]byte{encodeCertificates(chain)}
	if o.ChainPath != "" {
		uploads = append(uploads, struct{ step, path string }{"install: write chain", o.ChainPath})
		contents = append(contents, encodeCertificates(chain[1:]))
	}
	for i, u := range uploads {
		tmp := shellQuote(u.path + tmpSuffix)
		script := strings.Join([]string{
			"set -e",
			"umask 022",
			"mkdir -p -- " + shellQuote(path.Dir(u.path)),
			"cat > " + tmp,
			"chmod 0644 " + tmp,
		}, "\n")
		if _, err := s.run(ctx, u.step, script, contents[i]); err != nil {
			return err
		}
	}

	lines := []string{"set -e"}
	if copyStagedKey {
		tmp := shellQuote(o.KeyPath + tmpSuffix)
		lines = append(lines,
			"umask 077",
			"mkdir -p -- "+shellQuote(path.Dir(o.KeyPath)),
			"cp -- "+shellQuote(o.stagedKeyPath())+" "+tmp,
			"chmod "+o.Mode+" "+tmp)
		if o.Owner != "" {
			lines = append(lines, "chown "+shellQuote(o.Owner)+" "+tmp)
		}
		lines = append(lines, "mv -f -- "+tmp+" "+shellQuote(o.KeyPath))
	}
	for _, u := range uploads {
		tmp := shellQuote(u.path + tmpSuffix)
		if o.Owner != "" {
			lines = append(lines, "chown "+shellQuote(o.Owner)+" "+tmp)
		}
		lines = append(lines, "mv -f -- "+tmp+" "+shellQuote(u.path))
	}
	_, err := s.run(ctx, "install: move files into place", strings.Join(lines, "\n"), nil)
	return err
}

// restore copies each backup over its file. With removeNew, a file that did
// not exist before the install is removed again.
func (s *session) restore(ctx context.Context, step, suffix string, files []installedFile, removeNew bool) error {
	lines := []string{"set -e"}
	for _, f := range files {
		p := shellQuote(f.path)
		if !f.had {
			if removeNew {
				lines = append(lines, "rm -f -- "+p+" "+shellQuote(f.path+tmpSuffix))
			}
			continue
		}
		b := shellQuote(f.path + suffix)
		tmp := shellQuote(f.path + tmpSuffix)
		lines = append(lines,
			fmt.Sprintf("[ -e %s ] || { echo %s >&2; exit 1; }", b, shellQuote("backup "+f.path+suffix+" is missing")),
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
	// Only the suffixes are printed, so the answer does not depend on how
	// the host spells the path back.
	script := fmt.Sprintf(`p=%s; for f in "$p"%s*; do if [ -e "$f" ]; then printf '%%s\n' "${f#"$p"}"; fi; done`,
		shellQuote(s.opts.CertPath), backupPrefix)
	out, err := s.run(ctx, "install: find backup", script, nil)
	if err != nil {
		return nil, err
	}
	var suffixes []string
	for _, line := range strings.Split(string(out), "\n") {
		if backupSuffixPattern.MatchString(line) {
			suffixes = append(suffixes, line)
		}
	}
	files := s.files()
	if len(suffixes) == 0 {
		return newHandle("", files), nil
	}
	sort.Strings(suffixes)
	suffix := suffixes[len(suffixes)-1]

	lines := make([]string, 0, len(files))
	for _, f := range files {
		lines = append(lines, fmt.Sprintf("if [ -e %s ]; then echo %s; fi", shellQuote(f.path+suffix), f.role))
	}
	out, err = s.run(ctx, "install: find backup", strings.Join(lines, "\n"), nil)
	if err != nil {
		return nil, err
	}
	existed := strings.Fields(string(out))
	for i := range files {
		files[i].had = slices.Contains(existed, files[i].role)
	}
	return newHandle(suffix, files), nil
}

// newHandle records a backup in an Installed handle.
func newHandle(suffix string, files []installedFile) driver.Installed {
	h := driver.Installed{handleSuffix: suffix}
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
	if err := s.restore(ctx, "rollback", suffix, kept, true); err != nil {
		return err
	}
	return s.reload(ctx, "rollback: reload")
}
