package panos

import (
	"context"
	"crypto/tls"
	"slices"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/driver/panos/panoslab"
)

func TestFinalizeDeletesOnlyOlderUnusedOttrCertificatesOfTheSameName(t *testing.T) {
	ca := newCA(t)
	f := newFixture(t, ca, panoslab.Config{})
	ctx := context.Background()

	const (
		corpRoot     = "corp-root"
		olderUnused  = "ottr-fw1-example-test-20200101-000000-aaaa"
		olderInUse   = "ottr-fw1-example-test-20200102-000000-bbbb"
		otherName    = "ottr-other-example-test-20200101-000000-cccc"
		newer        = "ottr-fw1-example-test-29990101-000000-dddd"
		lookalike    = "ottr-fw1-example-test-old"
		handMade     = "fw1-example-test-20200101"
		legacyTLS    = "legacy-tls"
		olderUnused2 = "ottr-fw1-example-test-20200103-000000-eeee"
	)
	withKey := signedCertificate(t, ca, deviceName)
	caOnly := &tls.Certificate{Certificate: withKey.Certificate[1:]}
	for name, cert := range map[string]*tls.Certificate{
		corpRoot: caOnly, olderUnused: withKey, olderInUse: withKey, otherName: withKey,
		newer: withKey, lookalike: withKey, handMade: withKey, olderUnused2: withKey,
	} {
		if err := f.dev.AddCertificate(name, cert); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.dev.SetRunning("/config/shared/ssl-tls-service-profile",
		`<entry name="`+legacyTLS+`"><certificate>`+olderInUse+`</certificate></entry>`); err != nil {
		t.Fatal(err)
	}
	// Another administrator's pending change points the profile elsewhere:
	// the certificate is unused in the candidate but still in service.
	if err := f.dev.StageCandidate("alice", "/config/shared/ssl-tls-service-profile/entry[@name='"+legacyTLS+"']",
		`<certificate>`+handMade+`</certificate>`); err != nil {
		t.Fatal(err)
	}

	sess := f.open(t, newDriver(), f.target)
	// The snapshot taken before the older certificate's own install goes
	// with it.
	if _, err := sess.c.op(ctx, "<save><config><to>"+olderUnused+".xml</to></config></save>"); err != nil {
		t.Fatal(err)
	}
	chain := f.issue(t, sess)
	installed, err := sess.Install(ctx, chain)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	current := installed[handleCertificate]

	for i := 1; i <= 2; i++ {
		if err := sess.Finalize(ctx, installed); err != nil {
			t.Fatalf("Finalize #%d: %v", i, err)
		}
		got := f.dev.Certificates()
		want := []string{corpRoot, handMade, panoslab.InitialCertificateName, current, olderInUse, lookalike, otherName, newer}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("after Finalize #%d the device holds %v, want %v", i, got, want)
		}
	}
	saved := f.dev.SavedConfigs()
	if slices.Contains(saved, olderUnused+".xml") {
		t.Error("the snapshot of the deleted certificate is still on the device")
	}
	if !slices.Contains(saved, installed[handleSnapshot]) {
		t.Errorf("the new certificate's snapshot %s is gone: %v", installed[handleSnapshot], saved)
	}
	if served := f.served(t); !served[0].Equal(chain[0]) {
		t.Error("after Finalize the device no longer serves the new certificate")
	}
	// The deletions were committed, not left in the candidate.
	if pending := f.dev.PendingChanges(testUser); len(pending) != 0 {
		t.Errorf("Finalize left uncommitted changes: %v", pending)
	}
}

func TestFinalizeRefusesAHandleItDidNotMake(t *testing.T) {
	f := newFixture(t, newCA(t), panoslab.Config{})
	sess := f.open(t, newDriver(), f.target)
	for _, name := range []string{"", panoslab.InitialCertificateName, "ottr-x"} {
		err := sess.Finalize(context.Background(), map[string]string{handleCertificate: name})
		if err == nil || !strings.Contains(err.Error(), "not a name ottr makes") {
			t.Errorf("Finalize with certificate %q: %v, want a refusal", name, err)
		}
	}
	if got := f.dev.Certificates(); !slices.Equal(got, []string{panoslab.InitialCertificateName}) {
		t.Errorf("the device holds %v after refused finalizes", got)
	}
}
