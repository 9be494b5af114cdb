package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// runner runs the ottr command line, in this process or in another.
type runner func(t *testing.T, args ...string) (stdout, stderr string, code int)

func runHere(t *testing.T, args ...string) (string, string, int) { return run(t, "", args...) }

func TestBadDatabaseFilesGetOneClearErrorAndChangeNothing(t *testing.T) {
	asRoot := os.Geteuid() == 0
	type badCase struct {
		name string
		// breakFiles damages the workspace whose data directory is data
		// and returns how to run ottr, and what the error must say
		// besides the file it names.
		breakFiles func(t *testing.T, data string) (runner, []string)
		named      string // the file or directory the error names, under data
	}
	cases := []badCase{
		{"a database of garbage bytes", func(t *testing.T, data string) (runner, []string) {
			if err := os.WriteFile(filepath.Join(data, "ottr.db"), bytes.Repeat([]byte("garbage!"), 512), 0o600); err != nil {
				t.Fatal(err)
			}
			return runHere, []string{"not a usable SQLite database", "restore the database from a backup", "docs/deployment.md"}
		}, "ottr.db"},
		{"a database ottr may not read", func(t *testing.T, data string) (runner, []string) {
			if err := os.Chmod(filepath.Join(data, "ottr.db"), 0o000); err != nil {
				t.Fatal(err)
			}
			if asRoot {
				// Root reads anything: the user the file belongs to
				// cannot.
				chownTree(t, filepath.Dir(data), nobody)
				return runAsNobody, []string{"cannot read and write", "mode 0000", "chmod 600"}
			}
			return runHere, []string{"cannot read and write", "mode 0000", "chmod 600"}
		}, "ottr.db"},
		{"a data directory ottr may not write in", func(t *testing.T, data string) (runner, []string) {
			if asRoot {
				// Root's directory, to ottr running as another user.
				return runAsNobody, []string{"cannot create files", "owned by root (uid 0)", "sudo -u root", "chown -R "}
			}
			if err := os.Chmod(data, 0o500); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(data, 0o700) })
			return runHere, []string{"cannot create files", "mode 0500", "chmod 700"}
		}, ""},
	}
	if asRoot {
		cases = append(cases, badCase{"a data directory of another user, when ottr runs as root", func(t *testing.T, data string) (runner, []string) {
			chownTree(t, data, nobody)
			return runHere, []string{"belongs to", "uid 65534", "runs as root", "sudo -u"}
		}, ""})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := openWorkspace(t)
			root := filepath.Dir(cfg)
			data := filepath.Join(root, "data")
			addAsset(t, cfg, "web.example.com")
			runOttr, want := tc.breakFiles(t, data)
			before := treeState(t, root)

			out, errOut, code := runOttr(t, "-c", cfg, "plan")
			if code == 0 {
				t.Fatalf("plan succeeded:\n%s", out)
			}
			for _, w := range append(want, filepath.Join(data, tc.named)) {
				if !strings.Contains(errOut, w) {
					t.Errorf("the error does not say %q:\n%s", w, errOut)
				}
			}
			if n := strings.Count(errOut, "ottr:"); n != 1 {
				t.Errorf("%d errors, want one:\n%s", n, errOut)
			}
			if after := treeState(t, root); !slices.Equal(after, before) {
				t.Errorf("plan changed files:\nbefore %q\nafter  %q", before, after)
			}
		})
	}
}
