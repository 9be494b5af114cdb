package ssm

import (
	"context"
	"path"
	"strings"
	"testing"
)

// TestATemplatedRouteInstallsIntoTheFilesItNamesForTheAsset names the
// instance's files through labels of the asset: the install reaches the
// files the service loads, so the instance serves the new certificate.
func TestATemplatedRouteInstallsIntoTheFilesItNamesForTheAsset(t *testing.T) {
	f := newFixture(t)
	f.target.Asset.Labels = map[string]string{}
	for _, option := range []string{"cert_path", "key_path"} {
		p := f.target.Options[option].(string)
		f.target.Asset.Labels[option] = path.Base(p)
		f.target.Options[option] = path.Dir(p) + `/{{label "` + option + `"}}`
	}
	if err := newTestDriver().ValidateOptions(f.target.Options); err != nil {
		t.Fatalf("ValidateOptions: %v", err)
	}
	sess := f.open(t, newTestDriver())
	chain := f.issue(t, sess, newCA(t))
	if _, err := sess.Install(context.Background(), chain); err != nil {
		t.Fatalf("Install: %v", err)
	}
	if served := f.served(t); !served[0].Equal(chain[0]) {
		t.Errorf("the instance serves serial %s, want the new certificate's", served[0].SerialNumber)
	}

	delete(f.target.Asset.Labels, "key_path")
	_, err := newTestDriver().Open(context.Background(), f.target, f.creds)
	if err == nil || !strings.Contains(err.Error(), `option "key_path"`) || !strings.Contains(err.Error(), `the asset has no label "key_path"`) {
		t.Errorf("Open of an asset without the label key_path's template uses: %v, want an error naming the option and the label", err)
	}
}
