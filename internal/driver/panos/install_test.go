package panos

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/drivertest"
	"github.com/ottr-go/ottr/internal/driver/panos/panoslab"
)

const (
	managementBinding = "/config/devices/entry[@name='localhost.localdomain']/deviceconfig/system/ssl-tls-service-profile"
	ottrProfile       = "/config/shared/ssl-tls-service-profile/entry[@name='ottr']"
)

// requestsWith returns the device's requests of a type whose cmd contains
// the text.
func requestsWith(dev *panoslab.Device, reqType, cmd string) []panoslab.Request {
	var out []panoslab.Request
	for _, r := range dev.Requests() {
		if r.Type == reqType && strings.Contains(r.Cmd, cmd) {
			out = append(out, r)
		}
	}
	return out
}

func TestGenerateCSRAsksTheDeviceForAnExternallySignedKey(t *testing.T) {
	f := newFixture(t, newCA(t), panoslab.Config{})
	for _, tc := range []struct {
		keyType   string
		options   map[string]any
		algorithm string
		digest    string
		sigAlg    x509.SignatureAlgorithm
	}{
		{asset.KeyRSA2048, nil, "<RSA><rsa-nbits>2048</rsa-nbits></RSA>", "sha256", x509.SHA256WithRSA},
		{asset.KeyECDSA256, nil, "<ECDSA><ecdsa-nbits>256</ecdsa-nbits></ECDSA>", "sha256", x509.ECDSAWithSHA256},
		{asset.KeyECDSA384, nil, "<ECDSA><ecdsa-nbits>384</ecdsa-nbits></ECDSA>", "sha384", x509.ECDSAWithSHA384},
		{asset.KeyECDSA256, map[string]any{"digest": "sha512"}, "<ECDSA><ecdsa-nbits>256</ecdsa-nbits></ECDSA>", "sha512", x509.ECDSAWithSHA512},
	} {
		t.Run(fmt.Sprintf("%s with %s", tc.keyType, tc.digest), func(t *testing.T) {
			sess := f.open(t, newDriver(), f.withOptions(tc.options))
			before := len(requestsWith(f.dev, "op", "<generate>"))
			csr, err := sess.GenerateCSR(context.Background(), driver.CSRRequest{
				CommonName: deviceName, DNSNames: []string{deviceName, "vpn.example.test"}, KeyType: tc.keyType,
			})
			if err != nil {
				t.Fatalf("GenerateCSR: %v", err)
			}
			if csr.SignatureAlgorithm != tc.sigAlg {
				t.Errorf("the CSR is signed with %v, want %v", csr.SignatureAlgorithm, tc.sigAlg)
			}
			generates := requestsWith(f.dev, "op", "<generate>")
			if len(generates) != before+1 {
				t.Fatalf("the device received %d generate commands, want 1", len(generates)-before)
			}
			cmd := generates[len(generates)-1].Cmd
			for _, want := range []string{
				"<certificate-name>ottr-fw1-example-test-",
				"<name>fw1.example.test</name>",
				"<algorithm>" + tc.algorithm + "</algorithm>",
				"<digest>" + tc.digest + "</digest>",
				"<hostname><member>fw1.example.test</member><member>vpn.example.test</member></hostname>",
				"<signed-by>external</signed-by>",
				"<ca>no</ca>",
			} {
				if !strings.Contains(cmd, want) {
					t.Errorf("the generate command lacks %s: %s", want, cmd)
				}
			}
			exports := f.dev.Requests()
			last := exports[len(exports)-1]
			if last.Type != "export" || last.Category != "certificate" || last.Format != "pkcs10" || last.IncludeKey != "no" {
				t.Errorf("the CSR was fetched with %+v, want type=export category=certificate format=pkcs10 include-key=no", last)
			}
		})
	}
	if f.dev.PrivateKeyExported() {
		t.Error("a private key left the device")
	}
}

func TestInstallCommitsOnlyTheAPIAdministratorsChanges(t *testing.T) {
	f := newFixture(t, newCA(t), panoslab.Config{})
	const otherChange = "/config/shared/tag/entry[@name='pending-by-alice']"
	if err := f.dev.StageCandidate("alice", "/config/shared/tag", `<entry name="pending-by-alice"><color>color1</color></entry>`); err != nil {
		t.Fatal(err)
	}
	sess := f.open(t, newDriver(), f.target)
	if _, err := sess.Install(context.Background(), f.issue(t, sess)); err != nil {
		t.Fatalf("Install: %v", err)
	}
	commits := requestsWith(f.dev, "commit", "")
	if len(commits) != 1 {
		t.Fatalf("the device received %d commits, want 1", len(commits))
	}
	if want := "<commit><partial><admin><member>" + testUser + "</member></admin></partial></commit>"; commits[0].Cmd != want {
		t.Errorf("the commit was %s, want %s", commits[0].Cmd, want)
	}
	if _, live := f.dev.Running(otherChange); live {
		t.Error("another administrator's pending change was committed")
	}
	if _, pending := f.dev.Candidate(otherChange); !pending {
		t.Error("another administrator's pending change is gone from the candidate")
	}
	if got := f.dev.PendingChanges(testUser); len(got) != 0 {
		t.Errorf("the API administrator still has uncommitted changes: %v", got)
	}
}

func TestInstallWaitsForTheCommitJobToFinish(t *testing.T) {
	const polls = 4
	f := newFixture(t, newCA(t), panoslab.Config{CommitPolls: polls})
	sess := f.open(t, newDriver(), f.target)
	if _, err := sess.Install(context.Background(), f.issue(t, sess)); err != nil {
		t.Fatalf("Install: %v", err)
	}
	// The device answers ACT to the first polls; only the next one says FIN.
	if got := len(requestsWith(f.dev, "op", "<show><jobs><id>")); got != polls+1 {
		t.Errorf("the driver polled the commit job %d times, want %d (until FIN and no more)", got, polls+1)
	}
}

func TestAFailedCommitIsReportedAndUndoneInTheCandidate(t *testing.T) {
	f := newFixture(t, newCA(t), panoslab.Config{})
	sess := f.open(t, newDriver(), f.target)
	chain := f.issue(t, sess)
	f.dev.FailInstalls(true)
	_, err := sess.Install(context.Background(), chain)
	if err == nil {
		t.Fatal("Install succeeded although the commit failed")
	}
	for _, want := range []string{"panos: install", "commit job", "result FAIL", f.dev.FailureMessage()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	running, _ := f.dev.Running(managementBinding)
	candidate, _ := f.dev.Candidate(managementBinding)
	if candidate != running {
		t.Errorf("the candidate binding is %s after the failure, want the running %s", candidate, running)
	}
	if profile, ok := f.dev.Candidate(ottrProfile); ok {
		t.Errorf("the profile the failed install created is still in the candidate: %s", profile)
	}
}

func TestInstallKeepsTheSnapshotFromBeforeTheFirstInstall(t *testing.T) {
	f := newFixture(t, newCA(t), panoslab.Config{})
	ctx := context.Background()
	sess := f.open(t, newDriver(), f.target)
	chain := f.issue(t, sess)
	first, err := sess.Install(ctx, chain)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	snapshot := first[handleSnapshot]
	if !strings.HasPrefix(snapshot, "ottr-") || !strings.HasSuffix(snapshot, ".xml") || snapshot != first[handleCertificate]+".xml" {
		t.Errorf("the snapshot is named %q, want <certificate>.xml with the ottr- prefix", snapshot)
	}
	if saved := f.dev.SavedConfigs(); len(saved) != 1 || saved[0] != snapshot {
		t.Errorf("the device holds snapshots %v, want only %s", saved, snapshot)
	}
	for key, want := range map[string]string{
		handleBind: "management", handleProfile: "ottr",
		handlePreviousProfile: panoslab.InitialCertificateName, handlePreviousCertificate: panoslab.InitialCertificateName,
	} {
		if first[key] != want {
			t.Errorf("handle[%s] = %q, want %q", key, first[key], want)
		}
	}
	saves := len(requestsWith(f.dev, "op", "<save><config>"))
	second, err := sess.Install(ctx, chain)
	if err != nil {
		t.Fatalf("second Install: %v", err)
	}
	if got := len(requestsWith(f.dev, "op", "<save><config>")); got != saves {
		t.Error("the second Install saved the configuration again, over the snapshot from before the first")
	}
	if second[handleSnapshot] != snapshot {
		t.Errorf("the second Install's snapshot is %q, want the first's %q", second[handleSnapshot], snapshot)
	}
}

func TestRollbackFailuresCarryTheDevicesMessage(t *testing.T) {
	f := newFixture(t, newCA(t), panoslab.Config{})
	ctx := context.Background()
	sess := f.open(t, newDriver(), f.target)
	chain := f.issue(t, sess)
	installed, err := sess.Install(ctx, chain)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	for _, tc := range []struct {
		name   string
		handle driver.Installed
		fail   bool
		want   []string
	}{
		{"a handle without a snapshot is refused", driver.Installed{handleCertificate: "x"}, false, []string{"names no snapshot"}},
		{"a snapshot the device lacks fails with the device's words", driver.Installed{handleSnapshot: "ottr-gone.xml"}, false, []string{"load snapshot ottr-gone.xml", "does not exist"}},
		{"a failed rollback commit fails with the job's details", installed, true, []string{"rollback to snapshot", "result FAIL", f.dev.FailureMessage()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.dev.FailInstalls(tc.fail)
			defer f.dev.FailInstalls(false)
			err := sess.Rollback(ctx, tc.handle)
			if err == nil {
				t.Fatal("Rollback succeeded")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
	// The failures changed nothing: the rotated certificate is still served.
	if served := f.served(t); !served[0].Equal(chain[0]) {
		t.Errorf("after failed rollbacks the device serves %q (serial %x), want the installed certificate", served[0].Subject.CommonName, served[0].SerialNumber)
	}
}

func TestTheProfileAllowsTLS12AtLeastAndKeepsStricterSettings(t *testing.T) {
	for _, tc := range []struct {
		name     string
		existing string
		options  map[string]any
		wantMin  string
		wantMax  string
	}{
		{"a new profile allows TLS 1.2 and up", "", nil, "tls1-2", "max"},
		{"an older minimum is raised to TLS 1.2", "<protocol-settings><min-version>tls1-0</min-version><max-version>tls1-2</max-version></protocol-settings>", nil, "tls1-2", "tls1-2"},
		{"a TLS 1.3 minimum stays", "<protocol-settings><min-version>tls1-3</min-version></protocol-settings>", nil, "tls1-3", ""},
		{"min_tls_version tls1-3 raises a TLS 1.2 minimum", "<protocol-settings><min-version>tls1-2</min-version></protocol-settings>", map[string]any{"min_tls_version": "tls1-3"}, "tls1-3", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, newCA(t), panoslab.Config{})
			if tc.existing != "" {
				element := `<entry name="ottr">` + tc.existing + `<certificate>` + panoslab.InitialCertificateName + `</certificate></entry>`
				if err := f.dev.SetRunning("/config/shared/ssl-tls-service-profile", element); err != nil {
					t.Fatal(err)
				}
			}
			sess := f.open(t, newDriver(), f.withOptions(tc.options))
			installed, err := sess.Install(context.Background(), f.issue(t, sess))
			if err != nil {
				t.Fatalf("Install: %v", err)
			}
			profile, ok := f.dev.Running(ottrProfile)
			if !ok {
				t.Fatal("the profile is not in the running configuration")
			}
			for _, want := range []string{
				"<certificate>" + installed[handleCertificate] + "</certificate>",
				"<min-version>" + tc.wantMin + "</min-version>",
			} {
				if !strings.Contains(profile, want) {
					t.Errorf("the profile lacks %s: %s", want, profile)
				}
			}
			if tc.wantMax != "" && !strings.Contains(profile, "<max-version>"+tc.wantMax+"</max-version>") {
				t.Errorf("the profile lacks max-version %s: %s", tc.wantMax, profile)
			}
			if binding, _ := f.dev.Running(managementBinding); !strings.Contains(binding, ">ottr<") {
				t.Errorf("management is bound to %s, want the ottr profile", binding)
			}
		})
	}
}

func TestGlobalProtectBinds(t *testing.T) {
	for _, tc := range []struct {
		bind, name string
		addr       func(*panoslab.Device) string
	}{
		{"globalprotect-portal", panoslab.GlobalProtectPortal, (*panoslab.Device).PortalAddr},
		{"globalprotect-gateway", panoslab.GlobalProtectGateway, (*panoslab.Device).GatewayAddr},
	} {
		t.Run("binds the certificate to the "+tc.bind+" only", func(t *testing.T) {
			f := newFixture(t, newCA(t), panoslab.Config{ServeGlobalProtect: true})
			ctx := context.Background()
			target := f.withOptions(map[string]any{"bind": tc.bind, "globalprotect_name": tc.name, "profile_name": "ottr-gp"})
			sess := f.open(t, newDriver(), target)
			old := f.served(t)
			chain := f.issue(t, sess)
			installed, err := sess.Install(ctx, chain)
			if err != nil {
				t.Fatalf("Install: %v", err)
			}
			served, err := drivertest.ServedChain(ctx, tc.addr(f.dev), deviceName)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(served[0].Raw, chain[0].Raw) {
				t.Errorf("the %s serves %q (serial %x), want the new certificate", tc.bind, served[0].Subject.CommonName, served[0].SerialNumber)
			}
			if mgmt := f.served(t); !mgmt[0].Equal(old[0]) {
				t.Error("the management interface changed certificate too")
			}
			current, err := sess.CurrentCertificate(ctx)
			if err != nil {
				t.Fatalf("CurrentCertificate: %v", err)
			}
			if len(current) == 0 || !current[0].Equal(chain[0]) {
				t.Errorf("CurrentCertificate does not return the %s's new certificate", tc.bind)
			}
			if err := sess.Rollback(ctx, installed); err != nil {
				t.Fatalf("Rollback: %v", err)
			}
			served, err = drivertest.ServedChain(ctx, tc.addr(f.dev), deviceName)
			if err != nil {
				t.Fatal(err)
			}
			if !served[0].Equal(old[0]) {
				t.Errorf("after Rollback the %s still serves the new certificate", tc.bind)
			}
		})
	}
	t.Run("a portal the device does not have is reported by name", func(t *testing.T) {
		f := newFixture(t, newCA(t), panoslab.Config{})
		sess := f.open(t, newDriver(), f.withOptions(map[string]any{"bind": "globalprotect-portal", "globalprotect_name": "No-Such-Portal"}))
		_, err := sess.Install(context.Background(), f.issue(t, sess))
		if err == nil || !strings.Contains(err.Error(), `GlobalProtect portal "No-Such-Portal" (vsys1) does not exist`) {
			t.Fatalf("Install: %v, want an error naming the missing portal", err)
		}
	})
}

func TestCurrentCertificateFallsBackToWhatManagementServes(t *testing.T) {
	f := newFixture(t, newCA(t), panoslab.Config{})
	ctx := context.Background()
	sess := f.open(t, newDriver(), f.target)
	// Unbind management, as on a device that serves its default
	// certificate.
	if err := sess.c.remove(ctx, managementBinding); err != nil {
		t.Fatal(err)
	}
	if _, err := sess.commitMine(ctx); err != nil {
		t.Fatal(err)
	}
	current, err := sess.CurrentCertificate(ctx)
	if err != nil {
		t.Fatalf("CurrentCertificate: %v", err)
	}
	served := f.served(t)
	if len(current) == 0 || !current[0].Equal(served[0]) {
		t.Errorf("CurrentCertificate returned %d certificates, not the served %q", len(current), served[0].Subject.CommonName)
	}
}
