package cli_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/config"
)

// openApp assembles ottr from the workspace's config, as a command does.
func openApp(t *testing.T, cfgPath string) *app.App {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	ap, err := app.New(context.Background(), cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// sealValues seals values in the workspace's database, as ottr does when
// it registers an ACME account or starts the API, and returns them by name.
func sealValues(t *testing.T, cfgPath string) map[string]string {
	t.Helper()
	ap := openApp(t, cfgPath)
	defer ap.Close()
	values := map[string]string{"acme-account/lets_encrypt": "account key", "api/token-signing-key/ed25519": "signing seed"}
	for name, v := range values {
		if err := ap.Vault.Put(context.Background(), name, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	return values
}

// readSealed opens the workspace's vault and returns the named values.
func readSealed(t *testing.T, cfgPath string, names ...string) map[string]string {
	t.Helper()
	ap := openApp(t, cfgPath)
	defer ap.Close()
	out := map[string]string{}
	for _, name := range names {
		v, err := ap.Vault.Get(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = string(v)
	}
	return out
}

func addAsset(t *testing.T, cfg, name string) {
	t.Helper()
	mustRun(t, "-c", cfg, "asset", "add", "--system-name", name, "--common-name", name,
		"--ip", "192.0.2.1", "--platform", "linux", "--ca", "lets_encrypt")
}

func TestCommandsThatSealNothingMakeNoMasterKey(t *testing.T) {
	cfg := workspace(t)
	keyFile := filepath.Join(filepath.Dir(cfg), "data", "master.key")
	for _, args := range [][]string{
		{"asset", "add", "--system-name", "web.example.com", "--common-name", "web.example.com", "--ip", "192.0.2.1", "--platform", "linux", "--ca", "lets_encrypt"},
		{"asset", "list"},
		{"plan"},
		{"dns", "plan"},
		{"route", "test", "web.example.com"},
		{"migrate"},
		{"backup", filepath.Join(t.TempDir(), "backup.db")},
	} {
		mustRun(t, append([]string{"-c", cfg}, args...)...)
		if _, err := os.Stat(keyFile); err == nil {
			t.Fatalf("ottr %s made a master key, though it sealed nothing", strings.Join(args, " "))
		}
	}
	if _, errOut, code := run(t, "Str0ng!pass\n", "-c", cfg, "user", "create", "admin", "--role", "ADMIN"); code != 0 {
		t.Fatal(errOut)
	}
	if _, err := os.Stat(keyFile); err == nil {
		t.Fatal("ottr user create made a master key; password hashes are not sealed")
	}
}

// Every command that opens the database, with what it needs to get that
// far.
var commandsOpeningTheDatabase = []struct {
	stdin string
	args  []string
}{
	{"", []string{"plan"}},
	{"", []string{"asset", "list"}},
	{"", []string{"asset", "get", "web.example.com"}},
	{"", []string{"asset", "add", "--system-name", "new.example.com", "--common-name", "new.example.com", "--ip", "192.0.2.2", "--platform", "linux", "--ca", "lets_encrypt"}},
	{"", []string{"asset", "delete", "web.example.com"}},
	{"", []string{"rotate", "web.example.com", "--force"}},
	{"", []string{"route", "test", "web.example.com"}},
	{"", []string{"dns", "plan"}},
	{"", []string{"user", "list"}},
	{"", []string{"user", "set-role", "admin", "--role", "DEVELOPER"}},
	{"", []string{"rotation", "list"}},
	{"", []string{"rotation", "show", "1"}},
	{"", []string{"route", "show", "linux"}},
	{"Str0ng!pass\n", []string{"user", "create", "bob", "--role", "ADMIN"}},
	{"", []string{"serve", "--listen", "127.0.0.1:0"}},
	{"", []string{"worker", "--queue", "dc1"}},
	{"", []string{"migrate"}},
	{"", []string{"master-key", "rotate"}},
}

func TestAMissingOrWrongMasterKeyStopsEveryCommandAndChangesNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		// breakKey replaces or removes the key file.
		breakKey func(t *testing.T, keyFile string)
		want     []string
	}{
		{"a missing key", func(t *testing.T, keyFile string) {
			if err := os.Remove(keyFile); err != nil {
				t.Fatal(err)
			}
		}, []string{"is missing", "Restore", "docs/deployment.md", "acme-account/lets_encrypt"}},
		{"a wrong key", func(t *testing.T, keyFile string) {
			if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(bytes.Repeat([]byte{7}, 32))+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, []string{"opens none", "Restore", "docs/deployment.md"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := workspace(t)
			root := filepath.Dir(cfg)
			keyFile := filepath.Join(root, "data", "master.key")
			addAsset(t, cfg, "web.example.com")
			sealValues(t, cfg)
			tc.breakKey(t, keyFile)
			before := treeState(t, root)
			for _, c := range commandsOpeningTheDatabase {
				out, errOut, code := run(t, c.stdin, append([]string{"-c", cfg}, c.args...)...)
				if code == 0 {
					t.Errorf("ottr %s succeeded:\n%s", strings.Join(c.args, " "), out)
					continue
				}
				for _, w := range append(tc.want, keyFile) {
					if !strings.Contains(errOut, w) {
						t.Errorf("ottr %s: error does not say %q:\n%s", strings.Join(c.args, " "), w, errOut)
					}
				}
				if n := strings.Count(errOut, "ottr:"); n != 1 {
					t.Errorf("ottr %s: %d errors, want one:\n%s", strings.Join(c.args, " "), n, errOut)
				}
			}
			if after := treeState(t, root); !slices.Equal(after, before) {
				t.Errorf("the commands changed files:\nbefore %q\nafter  %q", before, after)
			}
		})
	}
}

func TestMasterKeyRotate(t *testing.T) {
	cfg := workspace(t)
	dataDir := filepath.Join(filepath.Dir(cfg), "data")
	keyFile := filepath.Join(dataDir, "master.key")
	addAsset(t, cfg, "web.example.com")
	values := sealValues(t, cfg)
	oldKey, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}

	out := mustRun(t, "-c", cfg, "master-key", "rotate")
	if !strings.Contains(out, "sealed 2 secret(s) again under a new master key in "+keyFile) {
		t.Errorf("rotate does not say what it did:\n%s", out)
	}
	m := regexp.MustCompile(`old key is kept in (\S+):`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("rotate does not say where the old key is:\n%s", out)
	}
	if kept, err := os.ReadFile(m[1]); err != nil || !bytes.Equal(kept, oldKey) {
		t.Errorf("%s does not hold the old key (%v)", m[1], err)
	}
	if newKey, _ := os.ReadFile(keyFile); bytes.Equal(newKey, oldKey) {
		t.Fatal("the key file still holds the old key")
	}
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	if got := readSealed(t, cfg, names...); !maps.Equal(got, values) {
		t.Errorf("after the rotation the secrets read %q, want %q", got, values)
	}

	// The old key no longer opens the database: restoring it by mistake
	// is refused, naming the file.
	if err := os.WriteFile(keyFile, oldKey, 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := run(t, "", "-c", cfg, "plan")
	if code == 0 || !strings.Contains(errOut, "opens none") || !strings.Contains(errOut, keyFile) {
		t.Errorf("plan with the old key after a rotation: exit %d, %q", code, errOut)
	}
}
