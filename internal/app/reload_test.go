package app_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/route"
)

// startFile is the configuration the reload tests start from. Its CA is
// never contacted: profiles are built on first use.
const startFile = `data_dir: data
certificate_authorities:
  lets_encrypt:
    directory: https://127.0.0.1:1/directory
credentials:
  default:
    username: ottr
    private_key: file:id_ed25519
routes:
  - name: linux
    match: {platform: linux}
    driver: linux
    options: {cert_path: /etc/ssl/c.pem, key_path: /etc/ssl/k.pem, reload_command: "systemctl reload nginx"}
`

// parse reads text as the file path would hold it.
func parse(t *testing.T, path, text string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(text), path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func routeNames(routes []route.Route) []string {
	names := make([]string, len(routes))
	for i, r := range routes {
		names[i] = r.Name
	}
	return names
}

func TestReload(t *testing.T) {
	withPanos := startFile + `  - name: panos
    match: {platform: panos}
    driver: linux
    options: {cert_path: /etc/ssl/p.pem, key_path: /etc/ssl/p.key, reload_command: "true"}
`
	tests := []struct {
		name string
		// file is the configuration reloaded; wantErr, when set, is what
		// its refusal must say.
		file    string
		wantErr string
		// What the app must hold after the reload.
		wantRoutes      []string
		wantChanged     []string
		wantNeedRestart []string
		check           func(t *testing.T, ap *app.App)
	}{
		{name: "swaps in a route added to the file",
			file: withPanos, wantRoutes: []string{"linux", "panos"}, wantChanged: []string{"routes (2)"}},
		{name: "refuses a route whose driver rejects its options and keeps the table in place",
			file: strings.Replace(withPanos, "cert_path: /etc/ssl/p.pem, ", "", 1), wantErr: "cert_path",
			wantRoutes: []string{"linux"}},
		{name: "refuses a route to a driver this build does not have",
			file:    strings.Replace(withPanos, "driver: linux\n    options: {cert_path: /etc/ssl/p.pem", "driver: netscaler\n    options: {cert_path: /etc/ssl/p.pem", 1),
			wantErr: `unknown driver "netscaler"`, wantRoutes: []string{"linux"}},
		{name: "swaps in credentials and CA profiles",
			file: strings.Replace(strings.Replace(startFile, "username: ottr", "username: rotator", 1),
				"certificate_authorities:\n", "certificate_authorities:\n  staging:\n    directory: https://127.0.0.1:1/staging\n", 1),
			wantRoutes: []string{"linux"}, wantChanged: []string{"certificate_authorities", "credentials"},
			check: func(t *testing.T, ap *app.App) {
				if got := ap.Current().Credentials["default"].Username; got != "rotator" {
					t.Errorf("the default login is %q, want the reloaded rotator", got)
				}
				if cas := ap.Rules().CAs; !cas["staging"] {
					t.Errorf("assets may name CAs %v, want the reloaded staging among them", cas)
				}
			}},
		{name: "keeps the workers and the policy until a restart, naming them",
			file:       startFile + "workers: {concurrency: 7}\npolicy: {fixed_days: 30}\n",
			wantRoutes: []string{"linux"}, wantNeedRestart: []string{"workers", "policy"},
			check: func(t *testing.T, ap *app.App) {
				if got := ap.Current().Workers.Concurrency; got != ap.Config.Workers.Concurrency {
					t.Errorf("workers.concurrency in effect is %d, want %d until a restart", got, ap.Config.Workers.Concurrency)
				}
			}},
		{name: "changes nothing for the same file", file: startFile, wantRoutes: []string{"linux"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ottr.yaml")
			ap, err := app.New(context.Background(), parse(t, path, startFile), app.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer ap.Close()

			next, err := config.Parse([]byte(tt.file), path)
			var res app.Reloaded
			if err == nil {
				res, err = ap.Reload(next)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("reload: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("reload: %v, want a refusal saying %q", err, tt.wantErr)
			}
			if got := routeNames(ap.Routes.Routes()); !slices.Equal(got, tt.wantRoutes) {
				t.Errorf("routes in place %v, want %v", got, tt.wantRoutes)
			}
			if !slices.Equal(res.Changed, tt.wantChanged) || !slices.Equal(res.NeedRestart, tt.wantNeedRestart) {
				t.Errorf("changed %q, need restart %q; want %q and %q", res.Changed, res.NeedRestart, tt.wantChanged, tt.wantNeedRestart)
			}
			if tt.check != nil {
				tt.check(t, ap)
			}
		})
	}
}
