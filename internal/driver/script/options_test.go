package script

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/driver"
)

func TestOptionsAreValidatedWithTheOptionAndTheRuleNamed(t *testing.T) {
	valid := func(extra map[string]any) map[string]any {
		o := map[string]any{"generate_csr": "/opt/ottr/gen.sh", "install_certificate": "/opt/ottr/install.sh"}
		for k, v := range extra {
			if v == nil {
				delete(o, k)
				continue
			}
			o[k] = v
		}
		return o
	}
	for _, tc := range []struct {
		name    string
		options map[string]any
		want    []string
	}{
		{"no generate_csr", valid(map[string]any{"generate_csr": nil}), []string{`option "generate_csr": is required: the absolute path of the executable`}},
		{"no install_certificate", valid(map[string]any{"install_certificate": nil}), []string{`option "install_certificate": is required`}},
		{"a misspelt install_certificate alone", valid(map[string]any{"install_certificate": nil, "install_certficate": "/x"}),
			[]string{`option "install_certficate": unknown option (did you mean "install_certificate"?)`}},
		{"a relative path", valid(map[string]any{"rollback": "scripts/rollback.sh"}), []string{`option "rollback": must be an absolute path, got "scripts/rollback.sh"`}},
		{"a path that is not a string", valid(map[string]any{"current_certificate": true}), []string{`option "current_certificate": must be an absolute path, got bool true`}},
		{"an unknown option", valid(map[string]any{"pre_hook": "/x"}), []string{`option "pre_hook": unknown option (known: current_certificate, env, generate_csr`}},
		{"a timeout that is no duration", valid(map[string]any{"timeout": "soon"}), []string{`option "timeout": must be a duration such as "90s" or "10m", or a number of seconds, got "soon"`}},
		{"a zero timeout", valid(map[string]any{"timeout": "0s"}), []string{`option "timeout": must be positive, got 0s`}},
		{"a relative workdir", valid(map[string]any{"workdir": "tmp"}), []string{`option "workdir": must be an absolute path`}},
		{"plain_env that is not a map", valid(map[string]any{"plain_env": []any{"A=1"}}), []string{`option "plain_env": must be a map of names to strings, got []interface {} [A=1]`}},
		{"plain_env overriding ottr's variables", valid(map[string]any{"plain_env": map[string]any{"OTTR_PASSWORD": "x"}}), []string{`option "plain_env": OTTR_PASSWORD: names starting with OTTR_ are set by ottr`}},
		{"plain_env with a number", valid(map[string]any{"plain_env": map[string]any{"SSH_PORT": 22}}), []string{`option "plain_env": SSH_PORT: must be a string (quote numbers and booleans), got int 22`}},
		{"plain_env with a bad name", valid(map[string]any{"plain_env": map[string]any{"SSH-PORT": "22"}}), []string{`option "plain_env": SSH-PORT: a variable name must be letters, digits and underscores`}},
		{"env overriding ottr's variables", valid(map[string]any{"env": map[string]any{"OTTR_PASSWORD": "env:PW"}}), []string{`option "env": OTTR_PASSWORD: names starting with OTTR_ are set by ottr`}},
		{"env that is not a map", valid(map[string]any{"env": []any{"TOKEN=t0k"}}), []string{`option "env": must be a map of names to strings, got a value of type []interface {}`}},
		{"env with a secret written out", valid(map[string]any{"env": map[string]any{"API_TOKEN": "t0k-written-out"}}), []string{
			`option "env": API_TOKEN: holds a secret written out in the configuration, which is refused: write a reference in its place`,
			"env:API_TOKEN", "file:/absolute/path", `values that are not secret, such as paths, go under "plain_env" instead`}},
		{"env with a number", valid(map[string]any{"env": map[string]any{"PIN": 4711}}), []string{`option "env": PIN: must be a reference such as env:PIN, got a value of type int`}},
		{"env with a relative file reference", valid(map[string]any{"env": map[string]any{"API_TOKEN": "file:secrets/token"}}), []string{`option "env": API_TOKEN: a file: reference needs an absolute path, such as file:/etc/ottr/api_token`}},
		{"env with an env reference to a bad name", valid(map[string]any{"env": map[string]any{"API_TOKEN": "env:API-TOKEN"}}), []string{`option "env": API_TOKEN: an env: reference needs an environment variable name of letters, digits and underscores, such as env:API_TOKEN`}},
		{"a variable in both env and plain_env", valid(map[string]any{"env": map[string]any{"SITE": "env:SITE"}, "plain_env": map[string]any{"SITE": "ams"}}), []string{`option "env": SITE: is set in plain_env too; set it in one`}},
		{"several problems at once", map[string]any{"timeout": "5", "bogus": 1, "workdir": "tmp"}, []string{`"bogus"`, `"generate_csr"`, `"install_certificate"`, `"workdir"`}},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			err := driver.CheckOptions(New(Config{}), tc.options)
			if err == nil {
				t.Fatal("CheckOptions accepted the options")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			for _, secret := range []string{"t0k", "4711"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q quotes the value of env", err)
				}
			}
		})
	}
}

func TestEnvTakesReferencesAndIsDeclaredSecret(t *testing.T) {
	d := New(Config{})
	err := driver.CheckOptions(d, map[string]any{
		"generate_csr": "/opt/ottr/gen.sh", "install_certificate": "/opt/ottr/install.sh",
		"env":       map[string]any{"API_TOKEN": "env:DEVICE_API_TOKEN", "PIN": "file:/etc/ottr/device.pin"},
		"plain_env": map[string]any{"SITE": "ams"},
	})
	if err != nil {
		t.Errorf("references refused: %v", err)
	}
	if got := d.Schema().SecretNames(); !slices.Equal(got, []string{"env"}) {
		t.Errorf("secret options %v, want [env]", got)
	}
}

func TestOptionsDefaultsAndAcceptedForms(t *testing.T) {
	o, err := parseOptions(map[string]any{"generate_csr": "/opt/ottr/gen.sh", "install_certificate": "/opt/ottr/../ottr/install.sh"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Timeout != 2*time.Minute || o.Rollback != "" || o.Workdir != "" || len(o.Env) != 0 || o.InstallCertificate != "/opt/ottr/install.sh" {
		t.Errorf("defaults = %+v", o)
	}
	o, err = parseOptions(map[string]any{
		"generate_csr": "/g", "install_certificate": "/i", "rollback": "/r", "current_certificate": "/c",
		"timeout": "5m", "workdir": "/var/lib/ottr", "plain_env": map[string]string{"SSH_PORT": "2222", "CERT_PATH": "/etc/ssl/a.pem"},
		"env": map[string]any{"TOKEN": "resolved-token"},
	})
	if err != nil {
		t.Fatalf("valid options refused: %v", err)
	}
	if o.Timeout != 5*time.Minute || !slices.Equal(o.PlainEnv, []string{"CERT_PATH=/etc/ssl/a.pem", "SSH_PORT=2222"}) ||
		!slices.Equal(o.Env, []string{"TOKEN=resolved-token"}) || !slices.Equal(o.Secrets, []string{"resolved-token"}) {
		t.Errorf("parsed = %+v", o)
	}
}
