package bigip

import (
	"context"
	"crypto/x509"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/bigip/bigiplab"
)

// rotate has the device make a key and CSR, installs the signed chain and
// finalizes it, as a successful rotation does.
func (f *fixture) rotate(t *testing.T, sess driver.Session) ([]*x509.Certificate, driver.Installed) {
	t.Helper()
	chain := f.issue(t, sess, asset.KeyECDSA256)
	h, err := sess.Install(context.Background(), chain)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	if err := sess.(driver.Finalizer).Finalize(context.Background(), h); err != nil {
		t.Fatalf("Finalize: %v", err)
	}
	return chain, h
}

func (f *fixture) reboot(t *testing.T) {
	t.Helper()
	if err := f.dev.Reboot(); err != nil {
		t.Fatalf("the rebooted device did not load its saved configuration: %v", err)
	}
}

func TestARebootedDeviceStillServesTheRotatedCertificate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target string
		// operatorSaves saves the configuration after the first rotation,
		// as an operator's `tmsh save sys config` would.
		operatorSaves bool
	}{
		{name: "a client-ssl profile rotated once", target: bigiplab.TargetClientSSL},
		{name: "a client-ssl profile rotated three times after an operator's save", target: bigiplab.TargetClientSSL, operatorSaves: true},
		{name: "the management interface rotated once", target: bigiplab.TargetHTTPD},
		{name: "the management interface rotated three times after an operator's save", target: bigiplab.TargetHTTPD, operatorSaves: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil, bigiplab.Config{Target: tc.target})
			sess := f.open(t, New(Config{}))
			chain, _ := f.rotate(t, sess)
			if tc.operatorSaves {
				f.dev.SaveConfig()
				for range 2 {
					chain, _ = f.rotate(t, sess)
				}
			}
			f.reboot(t)
			if served := f.served(t); !sameChain(served, chain) {
				t.Errorf("after a reboot the device serves serial %x, want the rotated certificate's %x", served[0].SerialNumber, chain[0].SerialNumber)
			}
		})
	}
}

func TestARebootedDeviceServesWhatARollbackBroughtBack(t *testing.T) {
	f := newFixture(t, nil, bigiplab.Config{})
	original := f.served(t)
	sess := f.open(t, New(Config{}))
	h, err := sess.Install(context.Background(), f.issue(t, sess, asset.KeyECDSA256))
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Rollback(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	f.reboot(t)
	if served := f.served(t); !sameChain(served, original) {
		t.Error("after rolling back and a reboot the device does not serve the original certificate")
	}
}

func TestAFailedSaveFailsTheStepWithTheDevicesAnswer(t *testing.T) {
	f := newFixture(t, nil, bigiplab.Config{})
	original := f.served(t)
	sess := f.open(t, New(Config{}))

	f.dev.FailSaves(true)
	_, err := sess.Install(context.Background(), f.issue(t, sess, asset.KeyECDSA256))
	if err == nil || !strings.Contains(err.Error(), f.dev.SaveFailureMessage()) {
		t.Fatalf("Install whose save failed: %v, want the device's answer %q", err, f.dev.SaveFailureMessage())
	}
	if served := f.served(t); !sameChain(served, original) {
		t.Error("Install failed, but the device serves the new certificate: it would lose it at the next reboot")
	}

	f.dev.FailSaves(false)
	_, h := f.rotate(t, sess)
	f.dev.FailSaves(true)
	if err := sess.Rollback(context.Background(), h); err == nil || !strings.Contains(err.Error(), f.dev.SaveFailureMessage()) {
		t.Errorf("Rollback whose save failed: %v, want the device's answer", err)
	}

	// Finalize deletes an abandoned key here; a saved configuration still
	// naming it would not load after a reboot.
	f.dev.FailSaves(false)
	f.rotate(t, sess)
	f.issue(t, sess, asset.KeyECDSA256)
	h, err = sess.Install(context.Background(), f.issue(t, sess, asset.KeyECDSA256))
	if err != nil {
		t.Fatal(err)
	}
	f.dev.FailSaves(true)
	if err := sess.(driver.Finalizer).Finalize(context.Background(), h); err == nil || !strings.Contains(err.Error(), f.dev.SaveFailureMessage()) {
		t.Errorf("Finalize whose save failed: %v, want the device's answer", err)
	}
}

func TestProfileChangesCarryOnlyNameCertKeyAndChain(t *testing.T) {
	f := newFixture(t, nil, bigiplab.Config{})
	sess := f.open(t, New(Config{}))
	chain := f.issue(t, sess, asset.KeyECDSA256)
	// The leaf alone: the entry then has no chain, which is sent as "none".
	h, err := sess.Install(context.Background(), chain[:1])
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	if err := sess.Rollback(context.Background(), h); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	patches := f.requests(http.MethodPatch, "/mgmt/tm/ltm/profile/client-ssl/")
	if len(patches) != 2 {
		t.Fatalf("%d profile changes, want the install's and the rollback's", len(patches))
	}
	for i, p := range patches {
		body := jsonBody(t, p)
		if len(body) != 1 || body["certKeyChain"] == nil {
			t.Errorf("change %d sends %v, want only certKeyChain", i+1, body)
		}
		entries, _ := body["certKeyChain"].([]any)
		for _, e := range entries {
			entry := e.(map[string]any)
			var keys []string
			for k := range entry {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, []string{"cert", "chain", "key", "name"}) {
				t.Errorf("change %d sends an entry with %v, want name, cert, key and chain only", i+1, keys)
			}
		}
		if i == 0 && entries[0].(map[string]any)["chain"] != "none" {
			t.Errorf("the install of a leaf without intermediates sends chain %v, want \"none\"", entries[0].(map[string]any)["chain"])
		}
	}
}

func TestAnEntryWhoseKeyHasAPassphraseIsNotRotated(t *testing.T) {
	f := newFixture(t, nil, bigiplab.Config{InitialKeyPassphrase: "Key-Passw0rd"})
	original := f.served(t)
	sess := f.open(t, New(Config{}))
	_, err := sess.Install(context.Background(), f.issue(t, sess, asset.KeyECDSA256))
	if err == nil || !strings.Contains(err.Error(), "passphrase") {
		t.Fatalf("Install over an entry whose key has a passphrase: %v, want a refusal naming the passphrase", err)
	}
	if n := len(f.requests(http.MethodPatch, "/mgmt/tm/ltm/profile/client-ssl/")); n != 0 {
		t.Errorf("the profile was changed %d times", n)
	}
	if served := f.served(t); !sameChain(served, original) {
		t.Error("the refused install changed what the device serves")
	}
}
