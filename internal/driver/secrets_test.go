package driver

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/secret"
)

func TestSecretOptionsMustBeReferences(t *testing.T) {
	schema := Schema{
		{Name: "token", Kind: OptionString, Secret: true, Doc: "the API token"},
		{Name: "env", Kind: OptionStringMap, Secret: true, Doc: "secret variables"},
		{Name: "cert_path", Kind: OptionPath, Doc: "the certificate"},
	}
	for _, tc := range []struct {
		name    string
		options map[string]any
		want    []string // the option paths refused
	}{
		{"env and absolute file references pass", map[string]any{"token": "env:DEVICE_TOKEN", "env": map[string]any{"A": "file:/etc/ottr/a"}}, nil},
		{"a string written out is refused", map[string]any{"token": "t0k3n"}, []string{"token"}},
		{"a map value written out is refused by its entry", map[string]any{"env": map[string]any{"A": "env:A", "B": "t0k3n"}}, []string{"env.B"}},
		{"a map of strings is read too", map[string]any{"env": map[string]string{"B": "t0k3n"}}, []string{"env.B"}},
		{"a relative file reference is refused", map[string]any{"token": "file:token.txt"}, []string{"token"}},
		{"an env reference without a name is refused", map[string]any{"token": "env:"}, []string{"token"}},
		{"options that are not secret are not looked at", map[string]any{"cert_path": "/etc/x"}, nil},
		{"a value of another type is refused by its type alone", map[string]any{"token": 42}, []string{"token"}},
		{"a map value of another type is refused by its type alone", map[string]any{"env": map[string]any{"PIN": 4711}}, []string{"env.PIN"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, p := range schema.Validate(tc.options) {
				for _, secret := range []string{"t0k3n", "4711", "42"} {
					if strings.Contains(p.Error(), secret) {
						t.Errorf("problem %q quotes the value", p.Error())
					}
				}
				got = append(got, p.OptionPath())
			}
			if !slices.Equal(tc.want, got) {
				t.Errorf("refused paths %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSecretOptionsAreResolvedIntoACopy(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(file, []byte("4711\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DEVICE_TOKEN": "tok-from-env"}
	resolve := func(ref string) (string, error) {
		return secret.NewResolver(secret.ResolverOptions{Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}).Resolve(ref)
	}
	table := map[string]any{
		"cert_path": "/etc/x",
		"env":       map[string]any{"TOKEN": "env:DEVICE_TOKEN", "PIN": "file:" + file},
	}
	got, err := ResolveSecretOptions(table, []string{"env"}, resolve)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"cert_path": "/etc/x", "env": map[string]any{"TOKEN": "tok-from-env", "PIN": "4711"}}
	if !reflect.DeepEqual(want, got) {
		t.Errorf("resolved options %v, want %v", got, want)
	}
	if table["env"].(map[string]any)["TOKEN"] != "env:DEVICE_TOKEN" {
		t.Error("resolving changed the routing table's own options")
	}

	delete(env, "DEVICE_TOKEN")
	_, err = ResolveSecretOptions(table, []string{"env"}, resolve)
	if err == nil || !strings.Contains(err.Error(), `option "env": TOKEN: secret: environment variable DEVICE_TOKEN is not set`) {
		t.Errorf("an unset variable: %v", err)
	}
	if _, err := ResolveSecretOptions(table, []string{"env"}, nil); err == nil {
		t.Error("secret references with nothing to resolve them passed through")
	}
	if got, err := ResolveSecretOptions(map[string]any{"cert_path": "/x"}, []string{"env"}, nil); err != nil || got["cert_path"] != "/x" {
		t.Errorf("options without secrets: %v, %v", got, err)
	}
}

func TestSecretOptionsAreRedactedKeepingTheirNames(t *testing.T) {
	table := map[string]any{
		"cert_path": "/etc/x",
		"token":     "env:DEVICE_TOKEN",
		"env":       map[string]any{"TOKEN": "env:DEVICE_TOKEN", "PIN": 4711},
		"other":     map[string]string{"A": "file:/a"},
	}
	got := RedactSecretOptions(table, []string{"token", "env", "other", "absent"})
	want := map[string]any{
		"cert_path": "/etc/x",
		"token":     Redacted,
		"env":       map[string]any{"TOKEN": Redacted, "PIN": Redacted},
		"other":     map[string]any{"A": Redacted},
	}
	if !reflect.DeepEqual(want, got) {
		t.Errorf("redacted options %v, want %v", got, want)
	}
	if table["token"] != "env:DEVICE_TOKEN" {
		t.Error("redacting changed the routing table's own options")
	}
}
