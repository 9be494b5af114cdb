package ssm

import (
	"context"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/ottr-go/ottr/internal/driver"
)

const rolledBack = "@@ottr-rolled-back"

// Rollback copies the backups Install made back into place, reloads and
// runs the post hooks, in one command. It can run any number of times: the
// backups stay where they are.
func (s *session) Rollback(ctx context.Context, i driver.Installed) error {
	if id := i[handleInstanceID]; id != "" && id != s.instanceID {
		return errorf("rollback", "the install was on instance %s, but this session reaches %s: "+
			"its backups are on %s", id, s.instanceID, id)
	}
	if i[handleHadPrevious] != "true" {
		return errorf("rollback", "the instance had no certificate at %s before the install: nothing to restore, "+
			"the installed certificate was left in place", i[handleCertPath])
	}
	suffix, files, err := filesFromHandle(i)
	if err != nil {
		return wrapf("rollback", err)
	}
	o := s.opts
	lines := append(o.hookPrelude(), reloadFunc(o.ReloadCommand))
	for _, f := range files {
		p := shellQuote(f.path)
		switch {
		case f.role == "key" && !f.had:
			// The key is kept when it had no backup: removing it would
			// leave the restored certificate without any key at all.
		case !f.had:
			lines = append(lines, "rm -f -- "+p+" "+shellQuote(f.path+tmpSuffix)+" || exit 1")
		default:
			b, tmp := shellQuote(f.path+suffix), shellQuote(f.path+tmpSuffix)
			lines = append(lines,
				fmt.Sprintf("[ -e %s ] || { echo %s >&2; exit 1; }", b, shellQuote("backup "+f.path+suffix+" is missing")),
				fmt.Sprintf("cp -p -- %s %s && mv -f -- %s %s || exit 1", b, tmp, tmp, p))
		}
	}
	lines = append(lines,
		"if ! reload_service "+sectionReload+"; then echo "+reloadFailed+"; exit 1; fi",
		runHooks("post", o.PostHooksDir, "exit 1"),
		"echo "+rolledBack)
	out, err := s.run(ctx, "rollback", strings.Join(lines, "\n"))
	parsed := parseOutput(out)
	s.logHooks("post", parsed)
	if err := stepError("rollback", parsed, err); err != nil {
		return err
	}
	if !parsed.has(rolledBack) {
		return errorf("rollback", "the rollback script ended without reporting success")
	}
	return nil
}

// latestBackup returns the handle of the newest backup of cert_path, or a
// handle saying there was nothing before when there is no backup.
func (s *session) latestBackup(backups map[string][]string) driver.Installed {
	files := s.files()
	var suffixes []string
	for suffix, roles := range backups {
		if slices.Contains(roles, "cert") {
			suffixes = append(suffixes, suffix)
		}
	}
	if len(suffixes) == 0 {
		return s.newHandle("", files)
	}
	sort.Strings(suffixes)
	suffix := suffixes[len(suffixes)-1]
	for i := range files {
		files[i].had = slices.Contains(backups[suffix], files[i].role)
	}
	return s.newHandle(suffix, files)
}

// newHandle records a backup in an Installed handle.
func (s *session) newHandle(suffix string, files []installedFile) driver.Installed {
	h := driver.Installed{handleSuffix: suffix, handleInstanceID: s.instanceID}
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
