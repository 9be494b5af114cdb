package panos

import (
	"strings"
	"testing"
	"time"
)

func TestValidateOptions(t *testing.T) {
	d := New(Config{})
	for _, tc := range []struct {
		name    string
		options map[string]any
		// want are substrings of the error; none means valid.
		want []string
	}{
		{name: "accepts no options at all", options: nil},
		{name: "accepts every option with a valid value", options: map[string]any{
			"api_port": 8443, "ca_file": "/etc/ottr/panos-ca.pem", "tls_server_name": "fw1.example.com",
			"bind": "globalprotect-portal", "globalprotect_name": "GP Portal", "vsys": "vsys2",
			"profile_name": "ottr-gp", "min_tls_version": "tls1-3", "digest": "sha384", "commit_timeout": "15m",
		}},
		{name: "accepts a port as JSON decodes it", options: map[string]any{"api_port": float64(4443)}},
		{name: "accepts a commit timeout in seconds", options: map[string]any{"commit_timeout": 600}},
		{name: "rejects an unknown option and lists the known ones", options: map[string]any{"tls_profile": "ottr"},
			want: []string{`option "tls_profile": unknown option`, "profile_name"}},
		{name: "rejects a port out of range", options: map[string]any{"api_port": 70000},
			want: []string{`option "api_port"`, "between 1 and 65535"}},
		{name: "rejects a port that is not a number", options: map[string]any{"api_port": "https"},
			want: []string{`option "api_port"`, "whole number"}},
		{name: "rejects an empty ca_file", options: map[string]any{"ca_file": " "},
			want: []string{`option "ca_file"`, "PEM file"}},
		{name: "rejects a server name with a space", options: map[string]any{"tls_server_name": "fw 1"},
			want: []string{`option "tls_server_name"`, "DNS name"}},
		{name: "rejects an unknown bind", options: map[string]any{"bind": "web-ui"},
			want: []string{`option "bind"`, "management, globalprotect-portal, globalprotect-gateway"}},
		{name: "requires the GlobalProtect name for a GlobalProtect bind", options: map[string]any{"bind": "globalprotect-gateway"},
			want: []string{`option "globalprotect_name": is required`}},
		{name: "rejects a GlobalProtect name for the management bind", options: map[string]any{"globalprotect_name": "GP"},
			want: []string{`option "globalprotect_name": applies only`}},
		{name: "rejects a vsys for the management bind", options: map[string]any{"vsys": "vsys1"},
			want: []string{`option "vsys": applies only`}},
		{name: "rejects a malformed vsys", options: map[string]any{"bind": "globalprotect-portal", "globalprotect_name": "GP", "vsys": "shared"},
			want: []string{`option "vsys"`, "vsys1"}},
		{name: "rejects a profile name PAN-OS would truncate", options: map[string]any{"profile_name": strings.Repeat("p", 32)},
			want: []string{`option "profile_name"`, "up to 31"}},
		{name: "rejects a profile name with a quote", options: map[string]any{"profile_name": "ott'r"},
			want: []string{`option "profile_name"`}},
		{name: "rejects TLS 1.1 as the minimum", options: map[string]any{"min_tls_version": "tls1-1"},
			want: []string{`option "min_tls_version"`, "tls1-2, tls1-3"}},
		{name: "rejects an unknown digest", options: map[string]any{"digest": "md5"},
			want: []string{`option "digest"`, "sha256, sha384, sha512"}},
		{name: "rejects a commit timeout too short to commit", options: map[string]any{"commit_timeout": "1s"},
			want: []string{`option "commit_timeout"`, "between 10s and 2h"}},
		{name: "rejects a commit timeout that is not a duration", options: map[string]any{"commit_timeout": "soon"},
			want: []string{`option "commit_timeout"`, "duration"}},
		{name: "rejects a string option given as a number", options: map[string]any{"profile_name": 7},
			want: []string{`option "profile_name": must be a string`}},
		{name: "reports every bad option at once", options: map[string]any{"api_port": 0, "digest": "md5", "bind": "x"},
			want: []string{`"api_port"`, `"digest"`, `"bind"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := d.ValidateOptions(tc.options)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("ValidateOptions: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("ValidateOptions accepted the options")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestOptionDefaults(t *testing.T) {
	o, err := parseOptions(map[string]any{"bind": "globalprotect-gateway", "globalprotect_name": "GW"})
	if err != nil {
		t.Fatal(err)
	}
	if o.APIPort != 443 || o.ProfileName != "ottr" || o.VSys != "vsys1" || o.MinTLSVersion != "tls1-2" || o.CommitTimeout != 0 {
		t.Errorf("defaults are %+v", o)
	}
	if got, want := o.bindingXPath(), "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']/global-protect/global-protect-gateway/entry[@name='GW']/ssl-tls-service-profile"; got != want {
		t.Errorf("binding xpath %s, want %s", got, want)
	}
	o, err = parseOptions(map[string]any{"commit_timeout": "90s"})
	if err != nil {
		t.Fatal(err)
	}
	if o.CommitTimeout != 90*time.Second {
		t.Errorf("commit_timeout 90s parsed as %s", o.CommitTimeout)
	}
}
