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

// runAsOwnerHint says how to let ottr use path.
func runAsOwnerHint(path string) string {
	uid := uint32(os.Geteuid())
	return fmt.Sprintf("ottr runs as %s; run it as the owner of %s, or give %s to ottr's user (chown -R %d %s)",
		describeUser(uid), path, path, uid, path)
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

// sudoUser names the user with uid as sudo -u takes it.
func sudoUser(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return u.Username
	}
	return "'#" + id + "'"
}
