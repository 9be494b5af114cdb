package ssm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/ssm/ssmlab"
)

// writeHook writes a hook script into the instance's hooks directory of
// phase. Hooks run in the instance's directory, so a relative path in them
// names a file of the instance.
func writeHook(t *testing.T, f *fixture, phase, name, body string, mode os.FileMode) string {
	t.Helper()
	dir := f.inst.LocalPath(f.target.Options[phase+"_hooks_dir"].(string))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	return f.target.Options[phase+"_hooks_dir"].(string) + "/" + name
}

// hookLog returns the lines hooks appended to hooks.log.
func hookLog(t *testing.T, f *fixture) []string {
	t.Helper()
	b, err := os.ReadFile(f.inst.LocalPath(ssmlab.DefaultPathPrefix + "/hooks.log"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

func TestHooksRunInOrderAroundTheRotation(t *testing.T) {
	f := newFixture(t)
	staged := ssmlab.DefaultPathPrefix + "/" + ssmlab.DefaultKeyPath + ".ottr-new"
	// Each hook logs its name and phase; the pre hook also says whether a
	// staged key exists yet, the post hook which file it was told about.
	writeHook(t, f, "pre", "20-second.sh", `echo "20-$OTTR_HOOK_PHASE" >> hooks.log`, 0o755)
	writeHook(t, f, "pre", "10-first.sh",
		`if [ -e `+f.inst.LocalPath(staged)+` ]; then s=staged; else s=nokey; fi; echo "10-$OTTR_HOOK_PHASE-$s" >> hooks.log`, 0o755)
	writeHook(t, f, "pre", "15-not-executable.sh", `echo "15-ran" >> hooks.log`, 0o644)
	writeHook(t, f, "pre", "30-not-a-hook.txt", `echo "30-ran" >> hooks.log`, 0o755)
	writeHook(t, f, "post", "10-reload-proxy.sh", `echo "post-$OTTR_HOOK_PHASE-$(basename "$OTTR_CERT_PATH")" >> hooks.log`, 0o755)

	sess := f.open(t, newTestDriver())
	chain := f.issue(t, sess, newCA(t))
	if got, want := strings.Join(hookLog(t, f), " "), "10-pre-nokey 20-pre"; got != want {
		t.Errorf("after GenerateCSR the hooks logged %q, want %q", got, want)
	}
	installed, err := sess.Install(context.Background(), chain)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	want := "10-pre-nokey 20-pre post-post-fullchain.pem"
	if got := strings.Join(hookLog(t, f), " "); got != want {
		t.Errorf("after Install the hooks logged %q, want %q", got, want)
	}
	if err := sess.Rollback(context.Background(), installed); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if got := strings.Join(hookLog(t, f), " "); got != want+" post-post-fullchain.pem" {
		t.Errorf("after Rollback the hooks logged %q, want the post hook to have run again", got)
	}
}

func TestAFailingPreHookFailsTheCSRWithItsNameAndOutput(t *testing.T) {
	f := newFixture(t)
	writeHook(t, f, "pre", "10-ok.sh", `echo "10" >> hooks.log`, 0o755)
	failing := writeHook(t, f, "pre", "20-window.sh", `echo "checking the maintenance window"; echo "window closed until 02:00" >&2; exit 3`, 0o755)
	writeHook(t, f, "pre", "30-never.sh", `echo "30" >> hooks.log`, 0o755)

	sess := f.open(t, newTestDriver())
	_, err := sess.GenerateCSR(context.Background(), driver.CSRRequest{
		CommonName: f.target.Asset.CommonName, DNSNames: f.target.Asset.Names(), KeyType: asset.KeyECDSA256,
	})
	t.Log(err)
	var hookErr *HookError
	if !errors.As(err, &hookErr) {
		t.Fatalf("GenerateCSR error = %v, want a *HookError", err)
	}
	if hookErr.Phase != "pre" || hookErr.Hook != failing || hookErr.ExitStatus != 3 {
		t.Errorf("HookError = %+v, want the pre hook %s with exit status 3", hookErr, failing)
	}
	for _, want := range []string{"ssm: csr: pre hook " + failing + " failed with exit status 3",
		"checking the maintenance window", "window closed until 02:00"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if got := strings.Join(hookLog(t, f), " "); got != "10" {
		t.Errorf("hooks logged %q: the hook after the failing one must not run", got)
	}
	staged := f.inst.LocalPath(ssmlab.DefaultPathPrefix + "/" + ssmlab.DefaultKeyPath + ".ottr-new")
	if _, err := os.Stat(staged); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a key was generated although a pre hook failed: %v", err)
	}
}

func TestAFailingPostHookFailsTheInstallAndRestoresThePreviousCertificate(t *testing.T) {
	f := newFixture(t)
	old := f.served(t)
	oldFile, err := os.ReadFile(f.inst.CertPath())
	if err != nil {
		t.Fatal(err)
	}
	failing := writeHook(t, f, "post", "50-check.sh", `echo "the proxy still serves the old certificate" >&2; exit 2`, 0o755)
	sess := f.open(t, newTestDriver())
	chain := f.issue(t, sess, newCA(t))

	_, err = sess.Install(context.Background(), chain)
	t.Log(err)
	var hookErr *HookError
	if !errors.As(err, &hookErr) || hookErr.Hook != failing || hookErr.Phase != "post" {
		t.Fatalf("Install error = %v, want the post hook's *HookError", err)
	}
	for _, want := range []string{"post hook " + failing + " failed with exit status 2",
		"the proxy still serves the old certificate", "the previous files were restored and reloaded"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if served := f.served(t); !served[0].Equal(old[0]) {
		t.Error("the instance serves the new certificate after a failed post hook")
	}
	if got, _ := os.ReadFile(f.inst.CertPath()); string(got) != string(oldFile) {
		t.Error("the certificate file was not restored")
	}

	// The new key is staged again: once the hook passes, the same chain
	// installs.
	writeHook(t, f, "post", "50-check.sh", "exit 0", 0o755)
	if _, err := sess.Install(context.Background(), chain); err != nil {
		t.Fatalf("Install after the hook was fixed: %v", err)
	}
	if served := f.served(t); !served[0].Equal(chain[0]) {
		t.Error("the retried Install does not serve the new certificate")
	}
}

func TestAnEmptyHooksDirectoryOptionTurnsHooksOff(t *testing.T) {
	f := newFixture(t)
	writeHook(t, f, "pre", "10-fail.sh", "exit 1", 0o755)
	writeHook(t, f, "post", "10-fail.sh", "exit 1", 0o755)
	f.target.Options["pre_hooks_dir"] = ""
	f.target.Options["post_hooks_dir"] = ""
	sess := f.open(t, newTestDriver())
	if _, err := sess.Install(context.Background(), f.issue(t, sess, newCA(t))); err != nil {
		t.Fatalf("Install with hooks turned off: %v", err)
	}
}
