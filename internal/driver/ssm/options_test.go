package ssm

import (
	"strings"
	"testing"
	"time"
)

func validOptions() map[string]any {
	return map[string]any{
		"region":         "eu-west-1",
		"cert_path":      "/etc/nginx/ssl/site.pem",
		"key_path":       "/etc/nginx/ssl/site.key",
		"reload_command": "systemctl reload nginx",
	}
}

func TestValidateOptions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(map[string]any)
		// want are the texts the error must contain; none: valid.
		want []string
	}{
		{name: "accepts the minimal options", change: func(map[string]any) {}},
		{name: "accepts every option", change: func(o map[string]any) {
			o["endpoint"] = "https://ssm.eu-west-1.amazonaws.com"
			o["ca_file"] = "/etc/ottr/aws-ca.pem"
			o["document"] = "Custom-RunShellScript"
			o["timeout"] = "15m"
			o["name_tag"] = "{{.DataCenter}}-{{.ShortName}}"
			o["pre_hooks_dir"] = "/opt/otter/hooks/pre"
			o["post_hooks_dir"] = ""
			o["chain_path"] = "/etc/nginx/ssl/chain.pem"
			o["work_dir"] = "/var/lib/ottr"
			o["owner"] = "www-data:www-data"
			o["mode"] = "0640"
		}},
		{name: "accepts a timeout in seconds, as JSON gives it", change: func(o map[string]any) { o["timeout"] = float64(120) }},
		{name: "accepts instance IDs from a label", change: func(o map[string]any) {
			o["instance_id_from"] = "asset-field"
			o["instance_id_field"] = "labels.ec2_id"
		}},
		{
			name:   "requires the region",
			change: func(o map[string]any) { delete(o, "region") },
			want:   []string{`option "region": is required`},
		},
		{
			name:   "refuses a region that is not one",
			change: func(o map[string]any) { o["region"] = "Ireland" },
			want:   []string{`option "region": must be an AWS region such as "us-east-1", got "Ireland"`},
		},
		{
			name:   "refuses an endpoint over plain http",
			change: func(o map[string]any) { o["endpoint"] = "http://localhost:4566" },
			want:   []string{`option "endpoint": must use https`},
		},
		{
			name:   "refuses an endpoint with user info, where a secret could hide",
			change: func(o map[string]any) { o["endpoint"] = "https://AKIA:secret@ssm.example.com" },
			want:   []string{`option "endpoint": must be a bare https URL without user info`},
		},
		{
			name:   "refuses a relative ca_file",
			change: func(o map[string]any) { o["ca_file"] = "aws-ca.pem" },
			want:   []string{`option "ca_file": must be an absolute path`},
		},
		{
			name:   "refuses a timeout beyond SSM's limits",
			change: func(o map[string]any) { o["timeout"] = "5s" },
			want:   []string{`option "timeout": must be between 30s and 48h0m0s (SSM's limits), got 5s`},
		},
		{
			name:   "refuses a timeout that is not a duration",
			change: func(o map[string]any) { o["timeout"] = "soon" },
			want:   []string{`option "timeout": must be a duration such as "10m"`},
		},
		{
			name:   "refuses a name_tag template that does not parse",
			change: func(o map[string]any) { o["name_tag"] = "{{.ShortName" },
			want:   []string{`option "name_tag": is not a valid template`},
		},
		{
			name:   "refuses a name_tag template with a misspelt field",
			change: func(o map[string]any) { o["name_tag"] = "{{.Shortname}}" },
			want:   []string{`option "name_tag": cannot be applied to asset "web1.example.com"`, ".ShortName"},
		},
		{
			name:   "refuses an unknown way to find the instance",
			change: func(o map[string]any) { o["instance_id_from"] = "ip-address" },
			want:   []string{`option "instance_id_from": must be "name-tag" or "asset-field", got "ip-address"`},
		},
		{
			name: "refuses name_tag with instance IDs from the asset",
			change: func(o map[string]any) {
				o["instance_id_from"] = "asset-field"
				o["name_tag"] = "{{.ShortName}}"
			},
			want: []string{`option "name_tag": applies only with instance_id_from "name-tag"`},
		},
		{
			name:   "refuses instance_id_field with Name tags",
			change: func(o map[string]any) { o["instance_id_field"] = "system_name" },
			want:   []string{`option "instance_id_field": applies only with instance_id_from "asset-field"`},
		},
		{
			name: "refuses an instance_id_field that is not an asset field",
			change: func(o map[string]any) {
				o["instance_id_from"] = "asset-field"
				o["instance_id_field"] = "ip_address"
			},
			want: []string{`option "instance_id_field": must be "system_name" or "labels.<key>", got "ip_address"`},
		},
		{
			name:   "refuses a relative hooks directory",
			change: func(o map[string]any) { o["pre_hooks_dir"] = "hooks/pre" },
			want:   []string{`option "pre_hooks_dir": must be an absolute path`},
		},
		{
			name:   "refuses a document name with spaces",
			change: func(o map[string]any) { o["document"] = "Run my script" },
			want:   []string{`option "document": must be an SSM document name`},
		},
		{
			name: "reports every problem at once, each naming its option",
			change: func(o map[string]any) {
				delete(o, "cert_path")
				delete(o, "reload_command")
				o["key_path"] = "site.key"
				o["mode"] = 640
				o["ssh_port"] = 22
			},
			want: []string{
				`option "ssh_port": unknown option`,
				`option "cert_path": is required`,
				`option "key_path": must be an absolute path, got "site.key"`,
				`option "reload_command": is required`,
				`option "mode": must be a quoted octal string`,
			},
		},
		{
			name:   "refuses one file for two roles",
			change: func(o map[string]any) { o["chain_path"] = o["cert_path"] },
			want:   []string{`option "chain_path": must differ from cert_path`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := validOptions()
			tc.change(o)
			err := New(Config{}).ValidateOptions(o)
			if len(tc.want) == 0 {
				if err != nil {
					t.Errorf("ValidateOptions: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("ValidateOptions accepted the options")
			}
			if !strings.HasPrefix(err.Error(), "ssm: options: ") {
				t.Errorf("error %q does not start with the driver and step", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestOptionDefaults(t *testing.T) {
	o, err := parseOptions(validOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, got, want string }{
		{"document", o.Document, "AWS-RunShellScript"},
		{"instance_id_from", o.InstanceIDFrom, "name-tag"},
		{"pre_hooks_dir", o.PreHooksDir, "/opt/otter/hooks/pre"},
		{"post_hooks_dir", o.PostHooksDir, "/opt/otter/hooks/post"},
		{"work_dir", o.WorkDir, "/etc/nginx/ssl"},
		{"mode", o.Mode, "0600"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s defaults to %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	if o.Timeout != 10*time.Minute {
		t.Errorf("timeout defaults to %s, want 10m", o.Timeout)
	}
}
