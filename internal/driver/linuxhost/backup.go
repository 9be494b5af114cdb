package linuxhost

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/ottr-go/ottr/internal/driver"
)

// Backups: Install copies each file it replaces to a hidden file in the
// file's directory, named by the install's time, so services that load
// every file of a directory (HAProxy's crt DIR) never take a backup for a
// certificate of their own.
const (
	backupPrefix = ".ottr-backup-"
	// backupTimeFormat has a fixed width, so the newest backup sorts last.
	backupTimeFormat = "20060102T150405.000000000Z"
)

var backupSuffixPattern = regexp.MustCompile(`^\.ottr-backup-[0-9]{8}T[0-9]{6}(\.[0-9]+)?Z$`)

// backupPath is where the backup of p with suffix lives: a hidden file in
// p's directory.
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

// pruneLine is the script line that removes the oldest backups of p until
// the install's own backup, made next, brings them to keep_backups: old
// private keys go with them.
func (h *Host) pruneLine(p string) string {
	return fmt.Sprintf("prune %s %d || { echo %s >&2; exit 1; }",
		Quote(backupPath(p, backupPrefix)), h.opts.KeepBackups-1, Quote("could not remove the old backups of "+p))
}

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
	// installs made them before backups were hidden (the linux-ssm
	// driver's until it was built on this package).
	handleLayout = "backup_layout"
	layoutHidden = "hidden"
)

// installedFile is one file Install replaces and Rollback restores.
type installedFile struct {
	role string // "cert", "key" or "chain"
	path string
	had  bool // it existed before the install, so a backup exists
}

// files lists the files the route's options make Install replace: a
// bundle is one file, its role "cert".
func (h *Host) files() []installedFile {
	files := []installedFile{{role: "cert", path: h.opts.CertPath}}
	if !h.opts.Bundle() {
		files = append(files, installedFile{role: "key", path: h.opts.KeyPath})
	}
	if h.opts.ChainPath != "" {
		files = append(files, installedFile{role: "chain", path: h.opts.ChainPath})
	}
	return files
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

// filesFromHandle reads the backup and the files an Installed handle
// recorded, checking every value before it reaches a script.
func filesFromHandle(h driver.Installed) (layout, suffix string, files []installedFile, err error) {
	suffix = h[handleSuffix]
	if !backupSuffixPattern.MatchString(suffix) {
		return "", "", nil, fmt.Errorf("handle has no valid %s (got %q)", handleSuffix, suffix)
	}
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
			return "", "", nil, fmt.Errorf("handle's %s is not an absolute path: %q", f.pathKey, p)
		}
		files = append(files, installedFile{role: f.role, path: p, had: h[f.hadKey] == "true"})
	}
	return h[handleLayout], suffix, files, nil
}

// backupMarker + role + " " + suffix: a backup of that file exists.
const backupMarker = "@@ottr-backup "

// listBackupsLines is the script part that prints, for every backup of
// cert_path, its suffix and the roles that have a backup with that suffix.
// Only suffixes are printed, so the answer does not depend on how the
// host spells the path back.
func (h *Host) listBackupsLines() []string {
	lines := []string{
		fmt.Sprintf(`p=%s; for f in "$p"%s*; do`, Quote(backupPath(h.opts.CertPath, "")), backupPrefix),
		`	[ -e "$f" ] || continue`,
		`	s=${f#"$p"}`,
	}
	for _, f := range h.files() {
		lines = append(lines, fmt.Sprintf(`	if [ -e %s"$s" ]; then printf '%%s\n' "%s%s $s"; fi`,
			Quote(backupPath(f.path, "")), backupMarker, f.role))
	}
	return append(lines, "done")
}

// backupsListed maps each backup suffix listBackupsLines printed to the
// roles that have a backup with it.
func backupsListed(out *Output) map[string][]string {
	backups := map[string][]string{}
	for _, m := range out.markers {
		rest, ok := strings.CutPrefix(m, backupMarker)
		if !ok {
			continue
		}
		role, suffix, ok := strings.Cut(rest, " ")
		if ok && backupSuffixPattern.MatchString(suffix) {
			backups[suffix] = append(backups[suffix], role)
		}
	}
	return backups
}

// latestBackup returns the handle of the newest backup of cert_path among
// backups, or a handle saying there was nothing before when there is none.
func (h *Host) latestBackup(backups map[string][]string) driver.Installed {
	files := h.files()
	var suffixes []string
	for suffix, roles := range backups {
		if slices.Contains(roles, "cert") {
			suffixes = append(suffixes, suffix)
		}
	}
	if len(suffixes) == 0 {
		return newHandle("", files)
	}
	sort.Strings(suffixes)
	suffix := suffixes[len(suffixes)-1]
	for i := range files {
		files[i].had = slices.Contains(backups[suffix], files[i].role)
	}
	return newHandle(suffix, files)
}
