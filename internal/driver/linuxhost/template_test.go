package linuxhost

import (
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/asset"
)

func TestForAssetRendersEachTemplatedOption(t *testing.T) {
	a := asset.Asset{
		SystemName: "web7.dc2.example.com", CommonName: "shop.example.com", DataCenter: "dc2", IPAddress: "192.0.2.7",
		Labels: map[string]string{"vhost": "it's; reboot"},
	}
	for _, tc := range []struct {
		name, option, template, want string
	}{
		{"a path takes the common name", "cert_path", "/etc/nginx/ssl/{{.CommonName}}.pem", "/etc/nginx/ssl/shop.example.com.pem"},
		{"a path takes the short name and the data center", "key_path", "/etc/ssl/{{.DataCenter}}/{{.ShortName}}.key", "/etc/ssl/dc2/web7.key"},
		{"a path takes a label as it is", "chain_path", `/etc/ssl/{{label "vhost"}}.chain`, "/etc/ssl/it's; reboot.chain"},
		{"the reload command takes every value shell-quoted", "reload_command", `systemctl reload nginx@{{.ShortName}} && echo {{label "vhost"}}`,
			`systemctl reload nginx@` + Quote("web7") + ` && echo ` + Quote("it's; reboot")},
		{"an option without a template is left alone", "work_dir", "/var/lib/ottr", "/var/lib/ottr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := map[string]any{tc.option: tc.template}
			got, err := ForAsset(raw, a)
			if err != nil {
				t.Fatalf("ForAsset: %v", err)
			}
			if got[tc.option] != tc.want {
				t.Errorf("%s renders %q, want %q", tc.option, got[tc.option], tc.want)
			}
			if raw[tc.option] != tc.template {
				t.Errorf("ForAsset changed the route's own options: %q", raw[tc.option])
			}
		})
	}
}

func TestForAssetRefusesWhatTheAssetCannotFill(t *testing.T) {
	a := asset.Asset{SystemName: "web1.example.com", CommonName: "../../../root/.ssh/authorized_keys"}
	for _, tc := range []struct {
		name, option, template, want string
	}{
		{"a label the asset lacks", "cert_path", `/etc/ssl/{{label "site"}}.pem`, `option "cert_path": cannot be applied to asset "web1.example.com"`},
		{"a value that climbs out of the directory", "key_path", "/etc/ssl/{{.CommonName}}", `option "key_path": gives "/etc/ssl/../../../root/.ssh/authorized_keys"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ForAsset(map[string]any{tc.option: tc.template}, a)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ForAsset: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
