package sqlite

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// The database holds the inventory, the audit trail and password hashes:
// its files are the owner's alone. SQLite creates a new database file
// 0644 (less the umask), and its -wal and -shm files with the database
// file's mode, fixing up what the umask took away. So Open creates the
// database file 0600 before SQLite opens it, and brings files that exist
// already, from older versions or copied in by hand, to 0600.

// privateMode is the mode of every file of the database.
const privateMode fs.FileMode = 0o600

// companions are the files SQLite keeps beside the database file.
var companions = []string{"-wal", "-shm", "-journal"}

// sqliteHeader begins every SQLite database file.
var sqliteHeader = []byte("SQLite format 3\x00")

// prepareFiles readies the database at path for SQLite: it checks, before
// changing anything, that ottr may use the directory and the files in it
// and that an existing file is a SQLite database, then creates the
// directory (0700) and the file (0600) if missing and makes existing files
// private. A directory open to group or others is logged as a warning.
func prepareFiles(path string, log *slog.Logger) error {
	dir := filepath.Dir(path)
	dirExists, err := checkDirectory(dir, log)
	if err != nil {
		return err
	}
	if dirExists {
		if err := checkDatabaseFile(path); err != nil {
			return err
		}
		for _, suffix := range companions {
			if err := checkAccess(path + suffix); err != nil {
				return err
			}
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("sqlite: create the database directory: %w", err)
	}
	if err := createPrivate(path); err != nil {
		return err
	}
	for _, suffix := range append([]string{""}, companions...) {
		if err := makePrivate(path+suffix, log); err != nil {
			return err
		}
	}
	return nil
}

// checkDirectory reports whether dir exists, and refuses one ottr could
// not (or should not) create files in.
func checkDirectory(dir string, log *slog.Logger) (bool, error) {
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case errors.Is(err, fs.ErrPermission):
		return false, fmt.Errorf("sqlite: cannot reach the database directory %s (%w): %s",
			dir, fs.ErrPermission, reachHint(dir))
	case err != nil:
		return false, fmt.Errorf("sqlite: database directory: %w", err)
	case !info.IsDir():
		return false, fmt.Errorf("sqlite: %s is not a directory: set database (or data_dir) to a path in a directory", dir)
	}
	if err := checkOwner(dir, info); err != nil {
		return true, err
	}
	if !mayWrite(dir, true) {
		return true, fmt.Errorf("sqlite: cannot create files in the database directory %s (%s, mode %04o): ottr needs it writable for the database and its -wal and -shm files: %s",
			dir, ownerOf(info), info.Mode().Perm(), accessHint(dir, info))
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		log.Warn("sqlite: the database directory is open to group or others; the database files are private (0600), but run chmod 700 on it",
			"directory", dir, "mode", fmt.Sprintf("%04o", perm))
	}
	return true, nil
}

// checkDatabaseFile refuses an existing database file ottr cannot read
// and write, or that is not a SQLite database. A missing file is fine: Open
// creates it.
func checkDatabaseFile(path string) error {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite: database file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("sqlite: %s is not a regular file: set database to a SQLite file", path)
	}
	if err := checkAccess(path); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("sqlite: database file: %w", err)
	}
	defer f.Close()
	head := make([]byte, len(sqliteHeader))
	n, err := io.ReadFull(f, head)
	if n == 0 && errors.Is(err, io.EOF) {
		return nil // empty: SQLite makes it a new database
	}
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("sqlite: read %s: %w", path, err)
	}
	if !bytes.Equal(head[:n], sqliteHeader) {
		return notADatabase(path)
	}
	return nil
}

// notADatabase explains a database file SQLite cannot use.
func notADatabase(path string) error {
	return fmt.Errorf("sqlite: %s is not a usable SQLite database (damaged, or another kind of file); ottr left it as it is: "+
		"restore the database from a backup (see \"Backup and restore\" in docs/deployment.md), or set database to another file", path)
}

// checkAccess refuses a file ottr may not both read and write. A missing
// file is fine.
func checkAccess(path string) error {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	if !mayWrite(path, false) {
		return fmt.Errorf("sqlite: ottr cannot read and write %s (%s, mode %04o): %s",
			path, ownerOf(info), info.Mode().Perm(), accessHint(path, info))
	}
	return nil
}

// createPrivate creates an empty database file 0600 if there is none.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, privateMode)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite: create the database file: %w", err)
	}
	return f.Close()
}

// makePrivate gives an existing file mode 0600.
func makePrivate(path string, log *slog.Logger) error {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	if perm := info.Mode().Perm(); perm != privateMode {
		if err := os.Chmod(path, privateMode); err != nil {
			return fmt.Errorf("sqlite: make %s private: %w: run chmod 600 %s as its owner", path, err, path)
		}
		if perm&0o077 != 0 {
			log.Warn("sqlite: a database file was open to group or others; it is now private (0600)",
				"file", path, "was", fmt.Sprintf("%04o", perm))
		}
	}
	return nil
}
