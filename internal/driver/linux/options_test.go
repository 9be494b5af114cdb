package linux

import (
	"strings"
	"testing"
)

func validOptions() map[string]any {
	return map[string]any{
		"cert_path":      "/etc/nginx/ssl/site.pem",
		"key_path":       "/etc/nginx/ssl/site.key",
		"reload_command": "systemctl reload nginx",
	}
}

func TestValidateOptions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(o map[string]any)
		want   []string // substrings of the error; none means valid
	}{
		{"accepts the three required options", func(map[string]any) {}, nil},
		{"accepts every option", func(o map[string]any) {
			o["ssh_port"], o["address"], o["chain_path"], o["sudo"] = 2222, "10.1.2.3", "/etc/nginx/ssl/chain.pem", true
			o["work_dir"], o["owner"], o["mode"] = "/var/lib/ottr", "www-data:www-data", "0640"
		}, nil},
		{"accepts a port decoded from JSON as a float", func(o map[string]any) { o["ssh_port"] = float64(2222) }, nil},
		{"requires cert_path", func(o map[string]any) { delete(o, "cert_path") }, []string{`"cert_path": is required`}},
		{"requires key_path", func(o map[string]any) { delete(o, "key_path") }, []string{`"key_path": is required`}},
		{"requires reload_command", func(o map[string]any) { delete(o, "reload_command") }, []string{`"reload_command": is required`}},
		{"refuses an empty reload_command", func(o map[string]any) { o["reload_command"] = " " }, []string{`"reload_command": must not be empty`}},
		{"refuses a relative cert_path", func(o map[string]any) { o["cert_path"] = "ssl/site.pem" }, []string{`"cert_path": must be an absolute path`}},
		{"refuses a directory as key_path", func(o map[string]any) { o["key_path"] = "/etc/ssl/" }, []string{`"key_path": must name a file`}},
		{"accepts one file for the key and the certificate, a bundle", func(o map[string]any) { o["key_path"] = o["cert_path"] }, nil},
		{"refuses one file for the certificate and the chain", func(o map[string]any) { o["chain_path"] = o["cert_path"] }, []string{`"chain_path": must differ from cert_path`}},
		{"refuses a port that is not a number", func(o map[string]any) { o["ssh_port"] = true }, []string{`"ssh_port": must be a whole number`}},
		{"refuses a fractional port", func(o map[string]any) { o["ssh_port"] = 22.5 }, []string{`"ssh_port": must be a whole number`}},
		{"refuses a port out of range", func(o map[string]any) { o["ssh_port"] = 70000 }, []string{`"ssh_port": must be between 1 and 65535`}},
		{"accepts a number of backups to keep", func(o map[string]any) { o["keep_backups"] = 10 }, nil},
		{"refuses keeping no backup", func(o map[string]any) { o["keep_backups"] = 0 }, []string{`"keep_backups": must be between 1 and 100 (the backup rollback restores is always kept), got 0`}},
		{"refuses sudo as a string", func(o map[string]any) { o["sudo"] = "yes" }, []string{`"sudo": must be true or false`}},
		{"refuses a mode given as a number", func(o map[string]any) { o["mode"] = 416 }, []string{`"mode": must be a quoted octal string`}},
		{"refuses a mode that is not octal", func(o map[string]any) { o["mode"] = "0988" }, []string{`"mode": must be an octal mode`}},
		{"refuses an owner with shell characters", func(o map[string]any) { o["owner"] = "root;reboot" }, []string{`"owner": must be "user" or "user:group"`}},
		{"refuses a multi-line command", func(o map[string]any) { o["reload_command"] = "a\nb" }, []string{`"reload_command": must be a single line`}},
		{"refuses an unknown option, naming the known ones", func(o map[string]any) { o["cert_file"] = "/x" }, []string{`"cert_file": unknown option`, "cert_path"}},
		{"accepts paths and a reload command templated on the asset's fields", func(o map[string]any) {
			o["cert_path"], o["key_path"] = "/etc/nginx/ssl/{{.CommonName}}.pem", "/etc/nginx/ssl/{{.ShortName}}-{{label \"site\"}}.key"
			o["chain_path"], o["work_dir"] = "/etc/nginx/ssl/{{.SystemName}}.chain", "/var/lib/ottr/{{.DataCenter}}"
			o["reload_command"] = "systemctl reload nginx@{{.ShortName}}"
		}, nil},
		{"refuses a template that does not parse, naming the option", func(o map[string]any) { o["cert_path"] = "/etc/ssl/{{.CommonName" }, []string{`"cert_path": is not a valid template`}},
		{"refuses a template with an unknown field, naming the fields", func(o map[string]any) { o["key_path"] = "/etc/ssl/{{.Hostname}}.key" }, []string{`"key_path": cannot be applied`, ".CommonName", `{{label "key"}}`}},
		{"refuses a template of a relative path, saying it was rendered", func(o map[string]any) { o["cert_path"] = "{{.CommonName}}.pem" }, []string{`"cert_path": must be an absolute path, got "web1.example.com.pem" (the template's value for an asset named web1.example.com)`}},
		{"refuses templates that give the certificate and the chain one file", func(o map[string]any) {
			o["cert_path"], o["chain_path"] = "/etc/ssl/{{.CommonName}}", "/etc/ssl/{{.SystemName}}"
		}, []string{`"chain_path": must differ from cert_path`}},
		{"refuses a template of an unusable reload command", func(o map[string]any) { o["reload_command"] = "{{.Nope}}" }, []string{`"reload_command": cannot be applied`}},
		{"reports every bad option at once", func(o map[string]any) { delete(o, "cert_path"); o["ssh_port"] = "x" }, []string{"cert_path", "ssh_port"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := validOptions()
			tc.change(o)
			err := New(Config{}).ValidateOptions(o)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("ValidateOptions: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("ValidateOptions accepted the options")
			}
			if !strings.HasPrefix(err.Error(), "linux: options: ") {
				t.Errorf("error %q lacks the driver prefix", err)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestWorkDirDefaultsToTheKeysDirectory(t *testing.T) {
	o, err := parseOptions(validOptions())
	if err != nil {
		t.Fatal(err)
	}
	if o.WorkDir != "/etc/nginx/ssl" || o.StagedKeyPath() != "/etc/nginx/ssl/site.key.ottr-new" || o.SSHPort != 22 {
		t.Errorf("work_dir %q, staged key %q, port %d", o.WorkDir, o.StagedKeyPath(), o.SSHPort)
	}
}
