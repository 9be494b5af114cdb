//go:build unix

package secret

import (
	"io/fs"
	"os"
	"syscall"
)

// chownLike gives f the owner and group of like, when they differ, so a
// key file replaced by root stays readable by the user ottr runs as.
func chownLike(f *os.File, like fs.FileInfo) error {
	st, ok := like.Sys().(*syscall.Stat_t)
	if !ok || (int(st.Uid) == os.Geteuid() && int(st.Gid) == os.Getegid()) {
		return nil
	}
	return f.Chown(int(st.Uid), int(st.Gid))
}
