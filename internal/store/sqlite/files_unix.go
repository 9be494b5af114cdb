//go:build unix

package sqlite

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// access(2) modes, the same on every Unix.
const (
	accessRead    = 4
	accessWrite   = 2
	accessExecute = 1
)

// checkOwner refuses a directory of another user when ottr runs as root:
// the files it created there would be root's, and the service, running as
// the directory's owner, could no longer open them.
func checkOwner(dir string, info fs.FileInfo) error {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok || os.Geteuid() != 0 || st.Uid == 0 {
		return nil
	}
	return fmt.Errorf("sqlite: the database directory %s belongs to %s, but ottr runs as root: files it created there would be root's, "+
		"and ottr running as its owner could no longer open them. Run ottr as that user (sudo -u %s ottr ...), "+
		"or give the directory to root first (chown -R root: %s)", dir, describeUser(st.Uid), sudoUser(st.Uid), dir)
}

// mayWrite reports whether this process may read and write the file at
// path, or create files in it when it is a directory.
func mayWrite(path string, dir bool) bool {
	mode := uint32(accessRead | accessWrite)
	if dir {
		mode |= accessExecute
	}
	return syscall.Access(path, mode) == nil
}

// ownerOf describes who owns a file, for errors.
func ownerOf(info fs.FileInfo) string {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return "owner unknown"
	}
	return "owned by " + describeUser(st.Uid)
}

// accessHint says how to let ottr use the file or directory at path.
func accessHint(path string, info fs.FileInfo) string {
	uid := uint32(os.Geteuid())
	st, ok := info.Sys().(*syscall.Stat_t)
	if ok && st.Uid == uid {
		mode := "600"
		if info.IsDir() {
			mode = "700"
		}
		return fmt.Sprintf("give its owner, the user ottr runs as, read and write access: chmod %s %s", mode, path)
	}
	owner := "its owner"
	if ok {
		owner = sudoUser(st.Uid)
	}
	return fmt.Sprintf("ottr runs as %s: run it as the owner (sudo -u %s ottr ...), or give it to ottr's user (chown -R %s %s)",
		describeUser(uid), owner, chownUser(uid), path)
}

// reachHint says how to let ottr reach a path it may not even look up.
func reachHint(path string) string {
	return fmt.Sprintf("ottr runs as %s; every directory above %s must let that user through (x permission)",
		describeUser(uint32(os.Geteuid())), path)
}

// describeUser names the user with uid: "ottr (uid 999)", or "uid 999"
// when the user database has no such user.
func describeUser(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return u.Username + " (uid " + id + ")"
	}
	return "uid " + id
}

// chownUser names the user with uid as chown takes it.
func chownUser(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return u.Username
	}
	return id
}

// sudoUser names the user with uid as sudo -u takes it.
func sudoUser(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return u.Username
	}
	return "'#" + id + "'"
}
