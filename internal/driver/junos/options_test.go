package junos

import (
	"strings"
	"testing"
)

func TestValidateOptions(t *testing.T) {
	tests := []struct {
		name    string
		options map[string]any
		// want lists text the error must contain; empty means valid.
		want []string
	}{
		{name: "no options at all are valid: every option has a default", options: nil},
		{name: "every option set well is valid", options: map[string]any{
			"netconf_port": 830, "confirm_minutes": 10, "upload_dir": "/var/tmp/ottr",
			"bind_path": "services/ssl/termination/profile[name='portal']/server-certificate",
		}},
		{name: "numbers decoded from JSON as floats are accepted", options: map[string]any{"netconf_port": float64(2830), "confirm_minutes": float64(3)}},
		{name: "a quoted port is accepted", options: map[string]any{"netconf_port": "830"}},
		{name: "an unknown option is named with the known ones", options: map[string]any{"comit": "full"},
			want: []string{`option "comit": unknown option (known: bind_path, confirm_minutes, netconf_port, upload_dir)`}},
		{name: "ca_file is refused with the reason: the API is SSH", options: map[string]any{"ca_file": "/etc/ottr/ca.pem"},
			want: []string{`option "ca_file": not used by the junos driver`, "known_hosts"}},
		{name: "a port out of range is refused", options: map[string]any{"netconf_port": 70000},
			want: []string{`option "netconf_port": must be between 1 and 65535, got 70000`}},
		{name: "a port that is not a number is refused", options: map[string]any{"netconf_port": true},
			want: []string{`option "netconf_port": must be a whole number`}},
		{name: "zero confirm minutes are refused: the device would never roll back", options: map[string]any{"confirm_minutes": 0},
			want: []string{`option "confirm_minutes": must be between 1 and 65535, got 0`}},
		{name: "fractional confirm minutes are refused", options: map[string]any{"confirm_minutes": 2.5},
			want: []string{`option "confirm_minutes": must be a whole number`}},
		{name: "a bind path of one statement is refused", options: map[string]any{"bind_path": "pki-local-certificate"},
			want: []string{`option "bind_path": must name a statement inside a container`}},
		{name: "a bind path ending in a list entry is refused", options: map[string]any{"bind_path": "services/ssl/termination/profile[name='x']"},
			want: []string{`option "bind_path": must end with the statement that takes the certificate-id`}},
		{name: "a bind path in CLI words is refused with the path syntax", options: map[string]any{"bind_path": "system services web-management"},
			want: []string{`option "bind_path": "system services web-management" is not a configuration statement name`}},
		{name: "a malformed list predicate is refused with its syntax", options: map[string]any{"bind_path": "a/b[x]/c"},
			want: []string{`option "bind_path": list entries are selected as [name='key']`}},
		{name: "a list key with quotes inside is refused", options: map[string]any{"bind_path": `a/b[name='x"y']/c`},
			want: []string{`option "bind_path": list key "x\"y" must be`}},
		{name: "a relative upload directory is refused", options: map[string]any{"upload_dir": "tmp"},
			want: []string{`option "upload_dir": must be an absolute path, got "tmp"`}},
		{name: "an upload directory climbing out with .. is refused", options: map[string]any{"upload_dir": "/var/tmp/../../etc"},
			want: []string{`option "upload_dir": must be an absolute directory`}},
		{name: "every problem is reported at once", options: map[string]any{"netconf_port": 0, "confirm_minutes": -1, "tls_server_name": "x"},
			want: []string{`"netconf_port"`, `"confirm_minutes"`, `"tls_server_name"`}},
	}
	d := New(Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := d.ValidateOptions(tt.options)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("ValidateOptions = %v, want no error", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateOptions accepted %v", tt.options)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestOptionDefaults(t *testing.T) {
	o, err := parseOptions(nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.NetconfPort != 830 || o.ConfirmMinutes != 5 || o.BindPath != DefaultBindPath || o.UploadDir != "/var/tmp" {
		t.Errorf("defaults = %+v, want port 830, 5 minutes, J-Web's https and /var/tmp", o)
	}
}

func TestSlotIDs(t *testing.T) {
	tests := []struct {
		name, cn, bindPath string
		want               string
	}{
		{"ids carry the ottr prefix and the first label", "srx1.example.test", DefaultBindPath, "ottr-srx1-"},
		{"a wildcard says so", "*.example.test", DefaultBindPath, "ottr-wildcard-ex"},
		{"a long first label is cut to stay short", "a-very-long-firewall-name.example.test", DefaultBindPath, "ottr-a-very-long-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			slots := slotIDs(tt.cn, tt.bindPath)
			for _, id := range slots {
				if !strings.HasPrefix(id, tt.want) || len(id) > 32 {
					t.Errorf("slot %q does not start with %q or is longer than 32 characters", id, tt.want)
				}
			}
			if slots[0] == slots[1] {
				t.Errorf("both slots are %q", slots[0])
			}
		})
	}
	if slotIDs("a.example.test", DefaultBindPath) == slotIDs("a.example.org", DefaultBindPath) {
		t.Error("two names with the same first label share slots")
	}
	if slotIDs("a.example.test", DefaultBindPath) == slotIDs("a.example.test", "x/y") {
		t.Error("one name bound at two places shares slots")
	}
}
