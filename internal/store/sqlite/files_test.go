package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/ottr-go/ottr/internal/asset"
)

// withUmask sets the process's umask for the test, and restores it after.
// Tests that use it must not run in parallel.
func withUmask(t *testing.T, mask int) {
	t.Helper()
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

// perm returns the permission bits of the file at path.
func perm(t *testing.T, path string) os.FileMode {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode().Perm()
}

// treeState lists every file under root with its size and mode, so a test
// can tell that nothing in it changed.
func treeState(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%s %s %d", path, info.Mode(), info.Size()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOpenKeepsTheDatabaseFilesPrivateWhateverTheUmask(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		umask int
		// setUp prepares dir, the database's directory, and returns the
		// database's path.
		setUp    func(t *testing.T, dir string) string
		wantWarn bool
	}{
		{"a new directory and file under umask 000", 0o000, func(t *testing.T, dir string) string {
			return filepath.Join(dir, "new", "ottr.db")
		}, false},
		{"a new file in an existing private directory under umask 022", 0o022, func(t *testing.T, dir string) string {
			if err := os.Chmod(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(dir, "ottr.db")
		}, false},
		{"a new file in a directory others may read, under umask 000, with a warning", 0o000, func(t *testing.T, dir string) string {
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(dir, "ottr.db")
		}, true},
		{"files an older version left readable by everyone", 0o000, func(t *testing.T, dir string) string {
			path := filepath.Join(dir, "ottr.db")
			s, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			// Keep the -wal and -shm files: copy the three while open.
			must(t, s.CreateAsset(ctx, asset.Asset{SystemName: "fw1"}))
			for _, name := range []string{"ottr.db", "ottr.db-wal", "ottr.db-shm"} {
				data, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				old := filepath.Join(dir, "old")
				if err := os.MkdirAll(old, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(old, name), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			must(t, s.Close())
			return filepath.Join(dir, "old", "ottr.db")
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.setUp(t, t.TempDir())
			withUmask(t, tc.umask)
			var logs bytes.Buffer
			s, err := Open(ctx, path, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			// Write through both pools, so SQLite has its -wal and -shm.
			must(t, s.CreateAsset(ctx, asset.Asset{SystemName: "fw2"}))
			if _, err := s.GetAsset(ctx, "fw2"); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{path, path + "-wal", path + "-shm"} {
				if got := perm(t, name); got != 0o600 {
					t.Errorf("%s has mode %04o, want 0600", filepath.Base(name), got)
				}
			}
			dir := filepath.Dir(path)
			if tc.name == "a new directory and file under umask 000" {
				if got := perm(t, dir); got != 0o700 {
					t.Errorf("the directory Open made has mode %04o, want 0700", got)
				}
			}
			warnings := strings.Count(logs.String(), "open to group or others; the database files are private")
			if tc.wantWarn && warnings != 1 {
				t.Errorf("%d warnings about the open directory, want one:\n%s", warnings, logs.String())
			}
			if !tc.wantWarn && warnings != 0 {
				t.Errorf("a warning about a private directory:\n%s", logs.String())
			}
		})
	}
}

func TestOpenRefusesAFileItCannotUseAndChangesNothing(t *testing.T) {
	ctx := context.Background()
	type refusal struct {
		name string
		// setUp makes the bad database in dir and returns its path and
		// what the error must name: the file, or the directory when that
		// is what is wrong.
		setUp func(t *testing.T, dir string) (path, named string)
		want  []string
	}
	garbage := func(data []byte) func(t *testing.T, dir string) (string, string) {
		return func(t *testing.T, dir string) (string, string) {
			path := filepath.Join(dir, "ottr.db")
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			return path, path
		}
	}
	cases := []refusal{
		{"a file of garbage bytes", garbage(bytes.Repeat([]byte("garbage!"), 1000)), []string{"not a usable SQLite database", "restore", "docs/deployment.md"}},
		{"a file cut short inside the header", garbage([]byte("SQLite for")), []string{"not a usable SQLite database"}},
		{"a database whose pages are damaged", func(t *testing.T, dir string) (string, string) {
			path := filepath.Join(dir, "ottr.db")
			s, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			must(t, s.CreateAsset(ctx, asset.Asset{SystemName: "fw1"}))
			must(t, s.Close())
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// Keep the 100-byte header, wreck the schema after it.
			copy(data[100:], bytes.Repeat([]byte{0xa5}, 3000))
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			return path, path
		}, []string{"not a usable SQLite database", "restore"}},
		{"a directory where the file should be", func(t *testing.T, dir string) (string, string) {
			path := filepath.Join(dir, "ottr.db")
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
			return path, path
		}, []string{"not a regular file"}},
		{"a file where the directory should be", func(t *testing.T, dir string) (string, string) {
			if err := os.WriteFile(filepath.Join(dir, "data"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(dir, "data", "ottr.db"), filepath.Join(dir, "data")
		}, []string{"is not a directory"}},
	}
	if os.Geteuid() == 0 {
		cases = append(cases, refusal{"a directory of another user, when ottr runs as root", func(t *testing.T, dir string) (string, string) {
			data := filepath.Join(dir, "data")
			if err := os.Mkdir(data, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(data, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(data, "ottr.db"), data
		}, []string{"belongs to", "uid 65534", "runs as root", "sudo -u"}})
	} else {
		// Root may read and write anything, so these only happen to others.
		cases = append(cases,
			refusal{"a file ottr may not read", func(t *testing.T, dir string) (string, string) {
				path := filepath.Join(dir, "ottr.db")
				if err := os.WriteFile(path, nil, 0o000); err != nil {
					t.Fatal(err)
				}
				return path, path
			}, []string{"cannot read and write", "mode 0000", "chmod 600"}},
			refusal{"a directory ottr may not write in", func(t *testing.T, dir string) (string, string) {
				data := filepath.Join(dir, "data")
				if err := os.Mkdir(data, 0o500); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.Chmod(data, 0o700) })
				return filepath.Join(data, "ottr.db"), data
			}, []string{"cannot create files", "mode 0500", "chmod 700"}},
		)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			path, named := tc.setUp(t, root)
			before := treeState(t, root)
			contents, _ := os.ReadFile(path)
			s, err := Open(ctx, path)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			for _, w := range append(tc.want, named) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if after := treeState(t, root); !slices.Equal(after, before) {
				t.Errorf("files changed:\nbefore %q\nafter  %q", before, after)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, contents) {
				t.Error("the database file was changed")
			}
		})
	}
}
