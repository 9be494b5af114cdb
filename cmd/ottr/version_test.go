package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// `make build` stamps the version and commit git gives into the binary,
// and `ottr version` and `ottr --version` print them with the Go release.
func TestMakeBuildStampsTheVersion(t *testing.T) {
	root := filepath.Join("..", "..")
	git := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("git", append([]string{"-C", root}, args...)...).Output()
		if err != nil {
			t.Fatalf("git %s: %v (the test needs git and a checkout)", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out))
	}
	bin := filepath.Join(t.TempDir(), "ottr")
	if out, err := exec.Command("make", "-C", root, "build", "BIN="+bin).CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	// Read after the build, as the Makefile did: a file changed meanwhile
	// would change "-dirty".
	wantVersion, wantCommit := git("describe", "--tags", "--always", "--dirty"), git("rev-parse", "HEAD")

	out, err := exec.Command(bin, "version", "-o", "json").Output()
	if err != nil {
		t.Fatalf("ottr version -o json: %v", err)
	}
	var v struct{ Version, Commit, Go string }
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("ottr version -o json: %v\n%s", err, out)
	}
	if v.Version != wantVersion || v.Commit != wantCommit || v.Go != runtime.Version() {
		t.Errorf("ottr version says %+v, want version %s, commit %s, %s", v, wantVersion, wantCommit, runtime.Version())
	}

	text, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	flag, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "ottr " + wantVersion + "\ncommit  " + wantCommit + "\ngo      " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"; string(text) != want || string(flag) != want {
		t.Errorf("ottr version printed\n%s\nottr --version printed\n%s\nwant\n%s", text, flag, want)
	}
}
