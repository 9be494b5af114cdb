package secret

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// restoreHint is where the operator learns to back up and restore the key.
const restoreHint = `see "The master key" in docs/deployment.md`

// OpenVault returns a vault over backend sealing under the key in file,
// after checking that the key fits what backend holds:
//
//   - a key file that exists must open the values already sealed, or
//     OpenVault fails naming the file (a wrong key);
//   - a missing key file is an error when values are sealed, naming where
//     the key was expected and how to restore it: a new key could open
//     none of them;
//   - a missing key file with nothing sealed is no error: the vault reads
//     the key, or creates it if file.MayCreate, when it first needs one,
//     so a command that seals nothing never makes a key.
//
// It changes nothing: no key file is written, no value rewritten.
func OpenVault(ctx context.Context, file KeyFile, backend Storage) (*Vault, error) {
	names, err := backend.SecretNames(ctx)
	if err != nil {
		return nil, fmt.Errorf("secret: list the sealed values: %w", err)
	}
	key, err := readKeyFile(file.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && len(names) == 0:
		return &Vault{backend: backend, file: file}, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, missingKeyError(file.Path, names)
	case err != nil:
		return nil, err
	}
	box, err := NewBox(key)
	if err != nil {
		return nil, err
	}
	opened, err := countOpening(ctx, backend, box, names)
	if err != nil {
		return nil, err
	}
	// A key that opens some values but not others is the right key: the
	// others were altered, and say so when they are read.
	if len(names) > 0 && opened == 0 {
		return nil, wrongKeyError(ctx, file.Path, names, backend)
	}
	return &Vault{backend: backend, file: file, box: box}, nil
}

// countOpening returns how many of the named values open with box.
func countOpening(ctx context.Context, backend Backend, box *Box, names []string) (int, error) {
	opened := 0
	for _, name := range names {
		sealed, err := backend.GetSecret(ctx, name)
		if err != nil {
			return 0, fmt.Errorf("secret: read %q: %w", name, err)
		}
		if _, err := box.Open(sealed, []byte(name)); err == nil {
			opened++
		}
	}
	return opened, nil
}

// describeNames lists a few of the sealed values' names: they say what
// would be lost (ACME accounts, the API's signing key), and are no secret.
func describeNames(names []string) string {
	const shown = 3
	if len(names) <= shown {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:shown], ", "), len(names)-shown)
}

func missingKeyError(path string, names []string) error {
	return fmt.Errorf("secret: the master key file %s is missing, but the database holds %d sealed value(s) (%s) "+
		"that open only with the key they were sealed under. Restore that file from your backup of the key "+
		"(owner only, mode 0600, owned by the user ottr runs as; in a cluster, copy it from another machine), "+
		"or set master_key_file to where it is; %s. ottr will not make a new key while sealed values exist",
		path, len(names), describeNames(names), restoreHint)
}

// wrongKeyError reports a key file that opens none of the sealed values.
// When a rotation left its new key beside the old one (RotateKey), and
// that key opens them, it says how to finish the rotation.
func wrongKeyError(ctx context.Context, path string, names []string, backend Backend) error {
	if pending, err := readKeyFile(pendingKeyPath(path)); err == nil {
		if box, err := NewBox(pending); err == nil {
			if opened, err := countOpening(ctx, backend, box, names); err == nil && opened > 0 {
				return fmt.Errorf("secret: the master key in %s does not open the database's sealed values, but %s does: "+
					"'ottr master-key rotate' sealed them under it and stopped before installing it. Finish the rotation: mv %s %s",
					path, pendingKeyPath(path), pendingKeyPath(path), path)
			}
		}
	}
	return fmt.Errorf("secret: the master key in %s opens none of the %d sealed value(s) in the database (%s): "+
		"it is not the key they were sealed under. Restore the right key file from your backup "+
		"(the one kept with this database), or set master_key_file to where it is; %s. Nothing was changed",
		path, len(names), describeNames(names), restoreHint)
}

// pendingKeyPath is where RotateKey keeps the new key until the values are
// sealed under it.
func pendingKeyPath(path string) string { return path + ".new" }

// Rotation is what RotateKey did.
type Rotation struct {
	// Resealed counts the values sealed again under the new key.
	Resealed int
	// OldKeyFile keeps the replaced key. Backups of the database made
	// before the rotation open only with it.
	OldKeyFile string
}

// RotateKey replaces the master key in the file at path by a new random
// key, and seals every value of backend again under it in one transaction.
// It needs the current key, and fails, changing nothing, unless that key
// opens every value.
//
// At no moment is the key the values are sealed under missing from disk:
// the current key is first linked to OldKeyFile (path.old-TIME), the new
// key is written to path.new, the values are sealed again, and only then
// does path.new replace path. A rotation that stops after sealing leaves
// path.new, which OpenVault's error then points at. The new file keeps the
// old one's mode and owner.
//
// Processes holding the old key keep sealing under it: stop every ottr
// process using backend before rotating.
func RotateKey(ctx context.Context, path string, backend Storage, now time.Time) (Rotation, error) {
	oldKey, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Rotation{}, fmt.Errorf("secret: there is no master key at %s yet, so nothing to rotate: ottr makes it when it first seals a value", path)
	}
	if err != nil {
		return Rotation{}, err
	}
	info, err := os.Stat(path)
	if err != nil {
		return Rotation{}, fmt.Errorf("secret: key file: %w", err)
	}
	oldBox, err := NewBox(oldKey)
	if err != nil {
		return Rotation{}, err
	}
	names, err := backend.SecretNames(ctx)
	if err != nil {
		return Rotation{}, fmt.Errorf("secret: list the sealed values: %w", err)
	}
	if opened, err := countOpening(ctx, backend, oldBox, names); err != nil {
		return Rotation{}, err
	} else if len(names) > 0 && opened == 0 {
		return Rotation{}, wrongKeyError(ctx, path, names, backend)
	}
	// The current key opens the values, so a path.new left by an earlier
	// rotation never got them sealed under it.
	pending := pendingKeyPath(path)
	if err := os.Remove(pending); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Rotation{}, fmt.Errorf("secret: remove the unused %s: %w", pending, err)
	}

	backup, err := keepOldKey(path, now)
	if err != nil {
		return Rotation{}, err
	}
	newKey := newKey()
	newBox, err := NewBox(newKey)
	if err != nil {
		return Rotation{}, err
	}
	tmp, err := writeTempKey(path, newKey, info)
	if err != nil {
		os.Remove(backup)
		return Rotation{}, fmt.Errorf("secret: write the new key beside %s: %w", path, err)
	}
	if err := os.Rename(tmp, pending); err != nil {
		os.Remove(tmp)
		os.Remove(backup)
		return Rotation{}, fmt.Errorf("secret: write the new key: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return Rotation{}, err
	}

	n, err := backend.ResealSecrets(ctx, func(name string, sealed []byte) ([]byte, error) {
		plaintext, err := oldBox.Open(sealed, []byte(name))
		if err != nil {
			return nil, fmt.Errorf("%q does not open with the key in %s (%w), so it cannot be sealed again: "+
				"delete it (its owner makes a new one: a new ACME account, a new API signing key) and rotate again", name, path, err)
		}
		return newBox.Seal(plaintext, []byte(name)), nil
	})
	if err != nil {
		return Rotation{}, abandonRotation(ctx, path, backup, names, backend, newBox, err)
	}
	if err := os.Rename(pending, path); err != nil {
		return Rotation{}, fmt.Errorf("secret: the values are sealed under the new key in %s, but it could not replace %s (%w): mv %s %s",
			pending, path, err, pending, path)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return Rotation{}, err
	}
	return Rotation{Resealed: n, OldKeyFile: backup}, nil
}

// abandonRotation cleans up after a reseal that failed. Whether its
// transaction committed is not always known (a connection lost during the
// commit), so the new key is deleted only when the values are seen to
// still open with the old one.
func abandonRotation(ctx context.Context, path, backup string, names []string, backend Backend, newBox *Box, cause error) error {
	pending := pendingKeyPath(path)
	if opened, err := countOpening(ctx, backend, newBox, names); err != nil || (len(names) > 0 && opened > 0) {
		return fmt.Errorf("secret: rotate the master key: %w. The new key is kept in %s: if ottr later reports that the key in %s opens none of the values, run mv %s %s",
			cause, pending, path, pending, path)
	}
	os.Remove(pending)
	os.Remove(backup)
	return fmt.Errorf("secret: rotate the master key: %w; nothing was changed", cause)
}

// keepOldKey links the key file at path to path.old-TIME and returns that
// name; a link is atomic and keeps the file's mode and owner.
func keepOldKey(path string, now time.Time) (string, error) {
	base := path + ".old-" + now.UTC().Format("20060102T150405Z")
	name := base
	for i := 2; ; i++ {
		err := os.Link(path, name)
		if err == nil {
			return name, syncDir(filepath.Dir(path))
		}
		if !errors.Is(err, fs.ErrExist) || i > 100 {
			return "", fmt.Errorf("secret: keep the old key: %w", err)
		}
		name = fmt.Sprintf("%s-%d", base, i)
	}
}
