package linux

import (
	"context"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/driver/linux/linuxlab"
)

// TestATemplatedRouteInstallsIntoTheAssetsOwnFiles rotates through a route
// whose paths are templates of the asset's fields: the
// host serves the new certificate from the files named after the asset.
func TestATemplatedRouteInstallsIntoTheAssetsOwnFiles(t *testing.T) {
	const name = "web1.example.test"
	f := newFixture(t, linuxlab.Config{
		Name:     name,
		CertPath: "etc/ssl/ottr/" + name + ".pem",
		KeyPath:  "etc/ssl/ottr/web1-blue.key",
	})
	f.target.Asset.Labels = map[string]string{"color": "blue"}
	f.target.Options["cert_path"] = linuxlab.DefaultPathPrefix + "/etc/ssl/ottr/{{.CommonName}}.pem"
	f.target.Options["key_path"] = linuxlab.DefaultPathPrefix + `/etc/ssl/ottr/{{.ShortName}}-{{label "color"}}.key`
	if err := f.driver().ValidateOptions(f.target.Options); err != nil {
		t.Fatalf("ValidateOptions: %v", err)
	}
	sess := f.open(t, f.driver())
	chain := f.issue(t, sess, newCA(t))
	if _, err := sess.Install(context.Background(), chain); err != nil {
		t.Fatalf("Install: %v", err)
	}
	if !f.host.Served().Equal(chain[0]) {
		t.Errorf("the host serves %q (serial %s), want the new certificate", f.host.Served().Subject.CommonName, f.host.Served().SerialNumber)
	}
}

func TestOpenRefusesAnAssetTheTemplateCannotBeAppliedTo(t *testing.T) {
	f := newFixture(t, linuxlab.Config{})
	f.target.Options["cert_path"] = `/etc/ssl/{{label "site"}}.pem`
	_, err := f.driver().Open(context.Background(), f.target, f.creds)
	if err == nil {
		t.Fatal("Open accepted an asset without the label the route's cert_path uses")
	}
	for _, want := range []string{`linux: options: option "cert_path"`, `the asset has no label "site"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}
