package bigip

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/bigip/bigiplab"
)

func TestTheDeviceGeneratesKeyAndCSRWithEverySAN(t *testing.T) {
	f := newFixture(t, nil, bigiplab.Config{})
	sess := f.open(t, New(Config{}))
	for _, tc := range []struct {
		keyType string
		want    map[string]any
	}{
		{asset.KeyECDSA256, map[string]any{"keyType": "ec-private", "curveName": "prime256v1"}},
		{asset.KeyECDSA384, map[string]any{"keyType": "ec-private", "curveName": "secp384r1"}},
		{asset.KeyRSA2048, map[string]any{"keyType": "rsa-private", "keySize": float64(2048)}},
	} {
		t.Run(tc.keyType, func(t *testing.T) {
			before := len(f.requests(http.MethodPost, "/mgmt/tm/sys/crypto/key"))
			csr, err := sess.GenerateCSR(context.Background(), driver.CSRRequest{
				CommonName: testName, DNSNames: []string{testName, "www.example.test"}, KeyType: tc.keyType,
			})
			if err != nil {
				t.Fatalf("GenerateCSR: %v", err)
			}
			if !slices.Equal(csr.DNSNames, []string{testName, "www.example.test"}) {
				t.Errorf("the CSR's SANs are %v", csr.DNSNames)
			}
			creates := f.requests(http.MethodPost, "/mgmt/tm/sys/crypto/key")
			if len(creates) != before+1 {
				t.Fatalf("%d key creations, want one", len(creates)-before)
			}
			key := jsonBody(t, creates[len(creates)-1])
			for k, v := range tc.want {
				if key[k] != v {
					t.Errorf("key creation sent %s=%v, want %v", k, key[k], v)
				}
			}
			csrs := f.requests(http.MethodPost, "/mgmt/tm/sys/crypto/csr")
			made := jsonBody(t, csrs[len(csrs)-1])
			if made["key"] != "/Common/"+key["name"].(string) || made["commonName"] != testName {
				t.Errorf("the CSR was made with key %v and common name %v, want the new key and %s", made["key"], made["commonName"], testName)
			}
			if got := made["subjectAlternativeName"]; got != "DNS:"+testName+", DNS:www.example.test" {
				t.Errorf("the CSR was asked for subjectAlternativeName %v", got)
			}
		})
	}
	if f.dev.PrivateKeyExported() {
		t.Error("a private key left the device")
	}
}

func TestACSRWithoutTheSANsIsRefused(t *testing.T) {
	f := newFixture(t, nil, bigiplab.Config{})
	f.dev.IgnoreSANs(true)
	sess := f.open(t, New(Config{}))
	_, err := sess.GenerateCSR(context.Background(), driver.CSRRequest{
		CommonName: testName, DNSNames: []string{testName, "www.example.test"}, KeyType: asset.KeyECDSA256,
	})
	if err == nil {
		t.Fatal("GenerateCSR accepted a CSR without the SANs")
	}
	if !strings.Contains(err.Error(), "left out the subject alternative names "+testName+", www.example.test") {
		t.Errorf("error %q does not name the missing SANs", err)
	}
}

func TestInstallServesTheFullChainThroughATransaction(t *testing.T) {
	f := newFixture(t, nil, bigiplab.Config{})
	sess := f.open(t, New(Config{}))
	chain := f.issue(t, sess, asset.KeyECDSA256)
	h, err := sess.Install(context.Background(), chain)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	if served := f.served(t); !sameChain(served, chain) {
		t.Errorf("the virtual server serves %d certificates, want the leaf and its intermediate", len(served))
	}
	current, err := sess.CurrentCertificate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !sameChain(current, chain) {
		t.Errorf("CurrentCertificate returns %d certificates, want the configured leaf and intermediate", len(current))
	}
	cert, _, chainObject := f.dev.Binding()
	if cert != h[handleCertObject] || chainObject != h[handleChainObject] || chainObject == "" {
		t.Errorf("the profile uses cert %s and chain %s, the handle says %s and %s", cert, chainObject, h[handleCertObject], h[handleChainObject])
	}
	if got, _ := f.dev.Certificate(chainObject); !sameChain(got, chain[1:]) {
		t.Errorf("the chain object holds %d certificates, want the intermediate", len(got))
	}

	for _, up := range f.requests(http.MethodPost, "/mgmt/shared/file-transfer/uploads/") {
		if cr := up.Header.Get("Content-Range"); !strings.HasPrefix(cr, "0-") {
			t.Errorf("upload %s has Content-Range %q", up.Path, cr)
		}
	}
	patches := f.requests(http.MethodPatch, "/mgmt/tm/ltm/profile/client-ssl/")
	if len(patches) != 1 {
		t.Fatalf("%d profile changes, want 1", len(patches))
	}
	txID := patches[0].Header.Get("X-F5-REST-Coordination-Id")
	if txID == "" {
		t.Fatal("the profile was changed outside a transaction")
	}
	commits := f.requests(http.MethodPatch, "/mgmt/tm/transaction/"+txID)
	if len(commits) != 1 || jsonBody(t, commits[0])["state"] != "VALIDATING" {
		t.Errorf("transaction %s was not committed with state VALIDATING", txID)
	}
}

func TestEveryRotationCreatesNewObjectsAndRollsBackToTheOldOnes(t *testing.T) {
	f := newFixture(t, nil, bigiplab.Config{})
	d := New(Config{})
	sess := f.open(t, d)
	first := f.issue(t, sess, asset.KeyECDSA256)
	h1, err := sess.Install(context.Background(), first)
	if err != nil {
		t.Fatal(err)
	}
	second := f.issue(t, sess, asset.KeyECDSA256)
	h2, err := sess.Install(context.Background(), second)
	if err != nil {
		t.Fatal(err)
	}
	if h2[handleKeyObject] == h1[handleKeyObject] || h2[handleCertObject] == h1[handleCertObject] {
		t.Errorf("the second rotation reused the first one's objects: %v", h2)
	}
	if got, found := f.dev.Certificate(h1[handleCertObject]); !found || !got[0].Equal(first[0]) {
		t.Errorf("the first rotation's certificate object was changed or removed")
	}
	if n := f.dev.Overwrites(); n != 0 {
		t.Errorf("%d certificate objects were overwritten", n)
	}
	if h2[handlePreviousCert] != h1[handleCertObject] || h2[handlePreviousKey] != h1[handleKeyObject] {
		t.Errorf("the second handle goes back to %s/%s, want the first rotation's %s/%s",
			h2[handlePreviousCert], h2[handlePreviousKey], h1[handleCertObject], h1[handleKeyObject])
	}

	other := f.open(t, d)
	if err := other.Rollback(context.Background(), h2); err != nil {
		t.Fatalf("Rollback from a new session: %v", err)
	}
	if served := f.served(t); !sameChain(served, first) {
		t.Error("after rolling back the second rotation the device does not serve the first one's chain")
	}
}

func TestARepeatedInstallInANewSessionKeepsTheWayBack(t *testing.T) {
	f := newFixture(t, nil, bigiplab.Config{})
	d := New(Config{})
	original := f.served(t)
	sess := f.open(t, d)
	chain := f.issue(t, sess, asset.KeyECDSA256)
	first, err := sess.Install(context.Background(), chain)
	if err != nil {
		t.Fatal(err)
	}
	// A resumed rotation: another process, which did not generate the key.
	resumed := f.open(t, d)
	second, err := resumed.Install(context.Background(), chain)
	if err != nil {
		t.Fatalf("repeated Install in a new session: %v", err)
	}
	for _, k := range []string{handlePreviousCert, handlePreviousKey, handlePreviousChain, handleCertObject} {
		if first[k] != second[k] {
			t.Errorf("handle %s: first install %q, repeated install %q", k, first[k], second[k])
		}
	}
	if err := resumed.Rollback(context.Background(), second); err != nil {
		t.Fatal(err)
	}
	if served := f.served(t); !sameChain(served, original) {
		t.Error("rolling back with the repeated install's handle did not bring back the original chain")
	}
}

func TestRollbackRefusesToUndoALaterChange(t *testing.T) {
	f := newFixture(t, nil, bigiplab.Config{})
	sess := f.open(t, New(Config{}))
	h1, err := sess.Install(context.Background(), f.issue(t, sess, asset.KeyECDSA256))
	if err != nil {
		t.Fatal(err)
	}
	later := f.issue(t, sess, asset.KeyECDSA256)
	if _, err := sess.Install(context.Background(), later); err != nil {
		t.Fatal(err)
	}
	err = sess.Rollback(context.Background(), h1)
	if err == nil || !strings.Contains(err.Error(), "not undoing a change made since") {
		t.Fatalf("Rollback of an older install: %v, want a refusal", err)
	}
	if served := f.served(t); !served[0].Equal(later[0]) {
		t.Error("the refused rollback changed what the device serves")
	}
}

func TestFinalizeDeletesOnlyOlderObjectsOttrCreated(t *testing.T) {
	f := newFixture(t, nil, bigiplab.Config{})
	sess := f.open(t, New(Config{}))
	fin := sess.(driver.Finalizer)
	ctx := context.Background()
	var handles []driver.Installed
	for i := 0; i < 3; i++ {
		if i == 2 {
			// An abandoned attempt: a key and CSR never installed.
			f.issue(t, sess, asset.KeyECDSA256)
		}
		h, err := sess.Install(ctx, f.issue(t, sess, asset.KeyECDSA256))
		if err != nil {
			t.Fatal(err)
		}
		if err := fin.Finalize(ctx, h); err != nil {
			t.Fatalf("Finalize #%d: %v", i+1, err)
		}
		handles = append(handles, h)
	}
	keys, certs := f.dev.Objects("key"), f.dev.Objects("cert")
	for _, kept := range []string{"/Common/default.key", "/Common/default.crt", "/Common/default-chain.crt"} {
		if !slices.Contains(keys, kept) && !slices.Contains(certs, kept) {
			t.Errorf("Finalize deleted %s, which ottr did not create", kept)
		}
	}
	h1, h2, h3 := handles[0], handles[1], handles[2]
	for _, gone := range []string{h1[handleKeyObject], h1[handleCertObject], h1[handleChainObject]} {
		if slices.Contains(keys, gone) || slices.Contains(certs, gone) {
			t.Errorf("the first rotation's %s is still there after the third", gone)
		}
	}
	for _, kept := range []string{h2[handleKeyObject], h2[handleCertObject], h3[handleKeyObject], h3[handleCertObject]} {
		if !slices.Contains(keys, kept) && !slices.Contains(certs, kept) {
			t.Errorf("%s was deleted, but the current or the previous rotation uses it", kept)
		}
	}
	if len(keys) != 3 {
		t.Errorf("the device holds the keys %v, want default.key and the last two rotations' (the abandoned one deleted)", keys)
	}
	if err := sess.Rollback(ctx, h3); err != nil {
		t.Fatalf("Rollback after Finalize: %v", err)
	}
}

func TestACommitTheDeviceFinishesLaterIsPolled(t *testing.T) {
	f := newFixture(t, nil, bigiplab.Config{})
	f.dev.AsyncCommits(true)
	sess := f.open(t, New(Config{}))
	chain := f.issue(t, sess, asset.KeyECDSA256)
	if _, err := sess.Install(context.Background(), chain); err != nil {
		t.Fatalf("Install: %v", err)
	}
	if polls := len(f.requests(http.MethodGet, "/mgmt/tm/transaction/")); polls < 2 {
		t.Errorf("the transaction was polled %d times, want until the device reports COMPLETED", polls)
	}
	f.dev.FailInstalls(true)
	_, err := sess.Install(context.Background(), f.issue(t, sess, asset.KeyECDSA256))
	if err == nil || !strings.Contains(err.Error(), f.dev.FailureMessage()) {
		t.Errorf("a commit that failed later returned %v, want the device's reason", err)
	}
}

func TestTheManagementCertificateMustVerifyBeforeItIsInstalled(t *testing.T) {
	f := newFixture(t, nil, bigiplab.Config{Target: bigiplab.TargetHTTPD})
	sess := f.open(t, New(Config{}))
	before := f.served(t)
	csr, err := sess.GenerateCSR(context.Background(), driver.CSRRequest{
		CommonName: testName, DNSNames: []string{testName}, KeyType: asset.KeyECDSA256,
	})
	if err != nil {
		t.Fatal(err)
	}
	untrusted, err := newCA(t).Sign(context.Background(), csr)
	if err != nil {
		t.Fatal(err)
	}
	_, err = sess.Install(context.Background(), untrusted)
	if err == nil || !strings.Contains(err.Error(), "ca_file") {
		t.Fatalf("Install of a chain the driver cannot verify: %v, want a refusal naming ca_file", err)
	}
	if served := f.served(t); !sameChain(served, before) {
		t.Error("the refused install changed the management certificate")
	}
	if n := len(f.requests(http.MethodPatch, "/mgmt/tm/sys/httpd")); n != 0 {
		t.Errorf("sys httpd was changed %d times", n)
	}
}

func TestAnotherCertKeyChainEntryIsLeftAlone(t *testing.T) {
	f := newFixture(t, nil, bigiplab.Config{})
	f.target.Options["cert_key_chain"] = "missing"
	sess := f.open(t, New(Config{}))
	_, err := sess.Install(context.Background(), f.issue(t, sess, asset.KeyECDSA256))
	if err == nil || !strings.Contains(err.Error(), `no certKeyChain entry "missing" (it has default)`) {
		t.Fatalf("Install into a missing certKeyChain entry: %v", err)
	}
	if n := len(f.requests(http.MethodPatch, "/mgmt/tm/ltm/profile/client-ssl/")); n != 0 {
		t.Errorf("the profile was changed %d times", n)
	}
}

func TestACommitWhoseAnswerIsLostOrUnknownIsReadBack(t *testing.T) {
	lost := func(d *bigiplab.Device) { d.DropCommitAnswers(true) }
	unknown := func(d *bigiplab.Device) { d.AnswerCommitsWithState("PENDING-SOMETHING") }
	for _, tc := range []struct {
		name   string
		target string
		answer func(*bigiplab.Device)
		fail   bool
		// wantErr is what the error says; "": Install succeeds.
		wantErr string
	}{
		{"a lost answer to an applied commit counts as installed", bigiplab.TargetHTTPD, lost, false, ""},
		{"a lost answer to a failed commit counts as failed", bigiplab.TargetHTTPD, lost, true, "commit transaction"},
		{"an unknown answer to an applied commit counts as installed", bigiplab.TargetClientSSL, unknown, false, ""},
		{"an unknown answer to a commit that did not run fails with that answer", bigiplab.TargetClientSSL, unknown, true, `state "PENDING-SOMETHING"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil, bigiplab.Config{Target: tc.target})
			sess := f.open(t, New(Config{}))
			before := f.served(t)
			chain := f.issue(t, sess, asset.KeyECDSA256)
			tc.answer(f.dev)
			f.dev.FailInstalls(tc.fail)
			_, err := sess.Install(context.Background(), chain)
			if (err != nil) != (tc.wantErr != "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Install: %v, want an error saying %q", err, tc.wantErr)
			}
			want := chain
			if tc.wantErr != "" {
				want = before
			}
			if served := f.served(t); !sameChain(served, want) {
				t.Error("the device serves another chain than Install reported")
			}
		})
	}
}
