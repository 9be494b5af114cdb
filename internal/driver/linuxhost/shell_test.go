package linuxhost

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestShellQuoteSurvivesTheShell(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatalf("sh is needed: %v", err)
	}
	for _, s := range []string{
		"", "plain", "two words", "it's", "''", `\'`, `"double"`, "$HOME", "$(reboot)", "`id`",
		"a;b&&c||d|e", "glob*?[x]", "new\nline", "tab\there", "~user", "#comment", "-n", "é ünïcødé",
	} {
		out, err := exec.Command(sh, "-c", "printf %s "+Quote(s)).Output()
		if err != nil {
			t.Errorf("sh failed on %q: %v", s, err)
			continue
		}
		if string(out) != s {
			t.Errorf("Quote(%q) read back as %q", s, out)
		}
	}
}

func TestTailKeepsTheLastLinesAndWithholdsKeys(t *testing.T) {
	if got := Tail([]byte("1\n2\n\n3\n4\n5\n6\n"), 5); got != "2; 3; 4; 5; 6" {
		t.Errorf("Tail = %q", got)
	}
	if got := Tail([]byte("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"), 5); strings.Contains(got, "MIIB") {
		t.Errorf("Tail kept key material: %q", got)
	}
}

func TestUploadWritesEachFileAndRefusesAnInputCutShort(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stdin   string
		wantOK  bool
		wantOut []string
	}{
		{"two empty files", uploadEnd + "\n" + uploadEnd + "\n", true, []string{"", ""}},
		{"two files with content", "a\n b \n" + uploadEnd + "\nc\n" + uploadEnd + "\n", true, []string{"a\n b \n", "c\n"}},
		{"an input that ends before the second marker", "a\n" + uploadEnd + "\nc\n", false, nil},
		{"an input that ends before any marker", "a\nb", false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			script := "set -e\n" + uploadFunc + "\nupload > one || exit 3\nupload > two || exit 4"
			cmd := exec.Command("/bin/sh", "-c", script)
			cmd.Dir = dir
			cmd.Stdin = strings.NewReader(tc.stdin)
			err := cmd.Run()
			if (err == nil) != tc.wantOK {
				t.Fatalf("upload: %v, want ok=%v", err, tc.wantOK)
			}
			for i, name := range []string{"one", "two"} {
				if i >= len(tc.wantOut) {
					break
				}
				if got, _ := os.ReadFile(filepath.Join(dir, name)); string(got) != tc.wantOut[i] {
					t.Errorf("%s = %q, want %q", name, got, tc.wantOut[i])
				}
			}
		})
	}
}

func TestUploadInputEndsEveryFileWithTheMarker(t *testing.T) {
	got := string(uploadInput([]byte("a\n"), []byte("b"), nil))
	want := "a\n" + uploadEnd + "\nb\n" + uploadEnd + "\n" + uploadEnd + "\n"
	if got != want {
		t.Errorf("uploadInput = %q, want %q", got, want)
	}
}
