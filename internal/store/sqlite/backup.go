package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrBackupExists is returned by Backup for a file that exists, when it
// may not be replaced.
var ErrBackupExists = errors.New("the backup file exists")

// Backup writes a consistent copy of the whole database (the inventory,
// rotations, secrets, users, audit trail and the job queue) to the file at
// path, mode 0600, while this and other processes go on reading and
// writing it. It refuses to replace an existing file unless overwrite is
// set, and never replaces the database itself. A backup that fails leaves
// no file at path.
//
// It uses SQLite's VACUUM INTO, which reads one snapshot of the database:
// in WAL mode writers are not held up. The copy is written to a temporary
// file beside path, synced, and then moved into place.
func (s *Store) Backup(ctx context.Context, path string, overwrite bool) error {
	path, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	for _, suffix := range append([]string{""}, companions...) {
		if same, err := sameFile(path, s.path+suffix); err != nil {
			return fmt.Errorf("sqlite: backup: %w", err)
		} else if same {
			return fmt.Errorf("sqlite: backup: %s is a file of the database itself: name another file", path)
		}
	}
	if _, err := os.Lstat(path); err == nil && !overwrite {
		return fmt.Errorf("sqlite: backup to %s: %w", path, ErrBackupExists)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	// VACUUM INTO writes into an empty file as it finds it, so the copy
	// keeps the temporary file's 0600.
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	if err := os.Chmod(tmpName, privateMode); err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	// On the read-write pool: the read-only connections refuse VACUUM
	// INTO. It only reads the database, so it takes no write lock.
	if _, err := s.db.ExecContext(ctx, `VACUUM INTO ?`, tmpName); err != nil {
		return fmt.Errorf("sqlite: backup to %s: %w", path, err)
	}
	// SQLite does not sync the copy it makes.
	if err := syncFile(tmpName); err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	if overwrite {
		err = os.Rename(tmpName, path)
	} else {
		// A link fails if the file appeared meanwhile; a rename would
		// replace it.
		err = os.Link(tmpName, path)
		if errors.Is(err, fs.ErrExist) {
			err = ErrBackupExists
		}
	}
	if err != nil {
		return fmt.Errorf("sqlite: backup to %s: %w", path, err)
	}
	return syncFile(filepath.Dir(path))
}

// sameFile reports whether the files at a and b are one file; a missing
// file is no other.
func sameFile(a, b string) (bool, error) {
	ia, err := os.Stat(a)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	ib, err := os.Stat(b)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(ia, ib), nil
}

// syncFile flushes the file or directory at path to disk.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	return nil
}
