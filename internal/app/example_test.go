package app_test

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/asset"
)

// exampleSecrets are the files the example's secret references name,
// relative to its directory, and what the test puts in them.
var exampleSecrets = map[string]string{
	"secrets/tsig.key":             "c2VjcmV0LW9mLXRoZS1leGFtcGxlLXRzaWcta2V5",
	"secrets/delegations-tsig.key": "c2VjcmV0LW9mLXRoZS1kZWxlZ2F0aW9ucy1rZXk=",
	"secrets/ottr_ed25519":         "-----BEGIN OPENSSH PRIVATE KEY-----\nnot read before a rotation\n-----END OPENSSH PRIVATE KEY-----\n",
}

// exampleApp builds ottr from the repository's ottr.example.yaml as a user
// who copied it beside its secrets would, with edit applied to the file's
// text and env as the environment.
func exampleApp(t *testing.T, edit func(string) string, env map[string]string) *app.App {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("..", "..", "ottr.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Its relative paths (data_dir, database, the key files and the
	// secrets) are under the directory the file is in.
	dir := t.TempDir()
	for name, content := range exampleSecrets {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := parse(t, filepath.Join(dir, "ottr.yaml"), edit(string(text)))
	lookupEnv := func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
	ap, err := app.New(context.Background(), cfg, app.Options{Env: lookupEnv})
	if err != nil {
		t.Fatalf("ottr does not start from the example: %v", err)
	}
	t.Cleanup(func() { ap.Close() })
	return ap
}

// TestTheExampleConfig starts ottr from ottr.example.yaml and checks what
// a user of the file would: the routes, CA profiles, drivers and
// notification channels it names are there, an asset like the one its
// comments describe takes its first route, and its secrets resolve.
func TestTheExampleConfig(t *testing.T) {
	// The example's own secrets; they never leave the test.
	env := map[string]string{"OTTR_FIREWALL_PASSWORD": "firewall-password", "OTTR_ROUTE53_SECRET": "route53-secret"}
	stores := []struct {
		name     string
		postgres bool
	}{
		{name: "on SQLite, in its data directory"},
		{name: "on PostgreSQL, its URL given as the example suggests", postgres: true},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			env := maps.Clone(env)
			edit := func(text string) string { return text }
			if st.postgres {
				env["OTTR_DATABASE_URL"] = pg.NewDatabase(t)
				edit = func(text string) string {
					const sqlite = "database: ./ottr-data/ottr.db"
					if !strings.Contains(text, sqlite) {
						t.Fatalf("the example no longer sets %q", sqlite)
					}
					return strings.Replace(text, sqlite, "database: env:OTTR_DATABASE_URL", 1)
				}
			}
			ap := exampleApp(t, edit, env)
			if ap.Clustered() != st.postgres {
				t.Errorf("the app is clustered: %v, want %v for its database %s", ap.Clustered(), st.postgres, ap.Config.Database)
			}
			if !st.postgres {
				if _, err := os.Stat(filepath.Join(ap.Config.DataDir, "ottr.db")); err != nil {
					t.Errorf("the database is not in the data directory: %v", err)
				}
			}
			checkExample(t, ap, env)
		})
	}
}

// checkExample checks ap against what ottr.example.yaml says.
func checkExample(t *testing.T, ap *app.App, env map[string]string) {
	ctx := context.Background()
	t.Run("has the routes the example writes, each with a driver of this build", func(t *testing.T) {
		routes := ap.Routes.Routes()
		if got, want := routeNames(routes), []string{"linux-web", "linux-staging"}; !slices.Equal(got, want) {
			t.Errorf("routes %v, want %v", got, want)
		}
		for _, r := range routes {
			if _, ok := ap.Drivers.Get(r.Driver); !ok || r.Driver != "linux" {
				t.Errorf("route %s takes driver %q, want linux, which this build has", r.Name, r.Driver)
			}
		}
		// The route the example leaves commented out, for a user to
		// uncomment, names one too.
		if _, ok := ap.Drivers.Get("panos"); !ok {
			t.Errorf("this build has drivers %v, not the example's panos", ap.Drivers.Names())
		}
	})
	t.Run("has the CA profiles the example writes, the staging one from its preset", func(t *testing.T) {
		cas := ap.Current().CertificateAuthorities
		if got := slices.Sorted(maps.Keys(cas)); !slices.Equal(got, []string{"lets_encrypt", "lets_encrypt_staging"}) {
			t.Errorf("CA profiles %v", got)
		}
		if got := cas["lets_encrypt_staging"].Directory; !strings.Contains(got, "acme-staging") {
			t.Errorf("lets_encrypt_staging's directory is %q, want Let's Encrypt's staging one", got)
		}
		if got := cas["lets_encrypt"].Email; got != "pki@example.com" {
			t.Errorf("lets_encrypt's account email is %q", got)
		}
	})
	t.Run("has no notification channel, as the example sets none", func(t *testing.T) {
		channels, err := ap.Channels()
		if err != nil || len(channels) != 0 {
			t.Errorf("channels %v, %v", channels, err)
		}
	})
	t.Run("routes a host like the one the example describes by its first route", func(t *testing.T) {
		web := asset.Asset{SystemName: "web1.example.com", CommonName: "web1.example.com", IPAddress: "192.0.2.10", HostPlatform: "linux", OSVersion: "22.04", CertificateAuthority: "lets_encrypt"}
		prepared, err := ap.Prepare(web)
		if err != nil {
			t.Fatalf("the example refuses the asset: %v", err)
		}
		if err := ap.Store.CreateAsset(ctx, prepared); err != nil {
			t.Fatal(err)
		}
		stored, err := ap.Store.GetAsset(ctx, web.SystemName)
		if err != nil {
			t.Fatal(err)
		}
		r, index, ok := ap.Routes.Match(stored)
		if !ok || index != 0 || r.Name != "linux-web" || r.Options["reload_command"] != "systemctl reload nginx" {
			t.Errorf("the asset takes route %d %q (%v) with options %v, want the first, linux-web", index, r.Name, ok, r.Options)
		}
		staging := web
		staging.CertificateAuthority = "lets_encrypt_staging"
		if r, _, _ := ap.Routes.Match(staging); r.Name != "linux-staging" {
			t.Errorf("on the staging CA it takes route %q, want linux-staging", r.Name)
		}
		firewall := web
		firewall.HostPlatform = "panos"
		if r, _, ok := ap.Routes.Match(firewall); ok {
			t.Errorf("a firewall takes route %q, while the example's panos route is commented out", r.Name)
		}
	})
	t.Run("resolves the secrets the example references", func(t *testing.T) {
		dns, err := ap.DNS01()
		if err != nil {
			t.Fatalf("the DNS settings: %v", err)
		}
		if dns.TSIGSecret != exampleSecrets["secrets/tsig.key"] {
			t.Errorf("dns.rfc2136.tsig_secret is %q, want the file's", dns.TSIGSecret)
		}
		if dns.Providers["acme.example.net"] == nil {
			t.Errorf("no provider writes acme.example.net: %v", dns.Providers)
		}
		login := ap.Current().Credentials["firewalls"].Password
		if got, err := ap.Resolve(login); err != nil || got != env["OTTR_FIREWALL_PASSWORD"] {
			t.Errorf("credentials.firewalls.password resolves to %q, %v", got, err)
		}
	})
}
