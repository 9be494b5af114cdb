package script

import (
	"slices"
	"strings"
	"testing"
	"time"
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
		{"no generate_csr", valid(map[string]any{"generate_csr": nil}), []string{`option "generate_csr": is required: the absolute path of an executable`}},
		{"no install_certificate", valid(map[string]any{"install_certificate": nil}), []string{`option "install_certificate": is required`}},
		{"a relative path", valid(map[string]any{"rollback": "scripts/rollback.sh"}), []string{`option "rollback": must be an absolute path, got "scripts/rollback.sh"`}},
		{"a path that is not a string", valid(map[string]any{"current_certificate": true}), []string{`option "current_certificate": must be a string, got bool true`}},
		{"an unknown option", valid(map[string]any{"pre_hook": "/x"}), []string{`option "pre_hook": unknown option (known: current_certificate, env, generate_csr`}},
		{"a timeout without a unit", valid(map[string]any{"timeout": "120"}), []string{`option "timeout": must be a duration such as "90s" or "5m", got "120"`}},
		{"a zero timeout", valid(map[string]any{"timeout": "0s"}), []string{`option "timeout": must be positive, got 0s`}},
		{"a relative workdir", valid(map[string]any{"workdir": "tmp"}), []string{`option "workdir": must be an absolute path`}},
		{"env that is not a map", valid(map[string]any{"env": []any{"A=1"}}), []string{`option "env": must be a map of variable names to strings`}},
		{"env overriding ottr's variables", valid(map[string]any{"env": map[string]any{"OTTR_PASSWORD": "x"}}), []string{`option "env": variable OTTR_PASSWORD: names starting with OTTR_ are set by ottr`}},
		{"env with a number", valid(map[string]any{"env": map[string]any{"SSH_PORT": 22}}), []string{`option "env": variable SSH_PORT must be a string (quote numbers and booleans), got int 22`}},
		{"env with a bad name", valid(map[string]any{"env": map[string]any{"SSH-PORT": "22"}}), []string{`option "env": variable name "SSH-PORT" must be letters, digits and underscores`}},
		{"several problems at once", map[string]any{"timeout": 5, "bogus": 1}, []string{`"bogus"`, `"generate_csr"`, `"install_certificate"`, `"timeout"`}},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			err := New(Config{}).ValidateOptions(tc.options)
			if err == nil {
				t.Fatal("ValidateOptions accepted the options")
			}
			if !strings.HasPrefix(err.Error(), "script: options: ") {
				t.Errorf("error %q lacks the layer prefix", err)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
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
		"timeout": "5m", "workdir": "/var/lib/ottr", "env": map[string]string{"SSH_PORT": "2222", "CERT_PATH": "/etc/ssl/a.pem"},
	})
	if err != nil {
		t.Fatalf("valid options refused: %v", err)
	}
	if o.Timeout != 5*time.Minute || !slices.Equal(o.Env, []string{"CERT_PATH=/etc/ssl/a.pem", "SSH_PORT=2222"}) {
		t.Errorf("parsed = %+v", o)
	}
}
