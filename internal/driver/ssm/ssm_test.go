package ssm

import (
	"context"
	"crypto/x509"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/drivertest"
	"github.com/ottr-go/ottr/internal/driver/ssm/ssmlab"
)

// The emulated endpoint's key pair. The secret is recognisable, so tests
// can look for it where it must not be.
const (
	testAccessKeyID     = "AKIAOTTRLABTEST00001"
	testSecretAccessKey = "ottr-lab-secret-wJalrXUtnFEMI/K7MDENG"
)

// fixture is one emulated endpoint with one instance, and everything needed
// to open a session on the instance.
type fixture struct {
	svc    *ssmlab.Service
	inst   *ssmlab.Instance
	target driver.Target
	creds  driver.Credentials
}

// newService starts an emulated endpoint that accepts the test key pair.
// The test's temporary directory, where its instances live, is made first:
// its removal is registered with the first TempDir call, and cleanups run
// last first, so it is removed after the endpoint has stopped their
// commands.
func newService(t testing.TB, cfg ssmlab.Config) *ssmlab.Service {
	t.Helper()
	requireTools(t)
	_ = t.TempDir()
	cfg.AccessKeyID, cfg.SecretAccessKey = testAccessKeyID, testSecretAccessKey
	svc, err := ssmlab.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return svc
}

// addInstance adds an instance with the Name tag name whose TLS service is
// host.
func addInstance(t testing.TB, svc *ssmlab.Service, name, host string) *ssmlab.Instance {
	t.Helper()
	inst, err := svc.AddInstance(ssmlab.InstanceConfig{
		Name: name, HostName: host, Dir: filepath.Join(t.TempDir(), name),
	})
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

// newFixture starts an endpoint with the instance web1 (web1.example.test).
func newFixture(t testing.TB) *fixture {
	t.Helper()
	svc := newService(t, ssmlab.Config{RecordRequests: true})
	inst := addInstance(t, svc, "web1", "web1.example.test")
	return &fixture{
		svc:  svc,
		inst: inst,
		target: driver.Target{
			Asset: asset.Asset{
				SystemName:             "web1.example.test",
				CommonName:             "web1.example.test",
				SubjectAlternativeName: []string{"web1.example.test", "www.example.test"},
				IPAddress:              "127.0.0.1",
			},
			Options: routeOptions(t, svc, inst),
		},
		creds: driver.Credentials{Username: testAccessKeyID, Password: testSecretAccessKey},
	}
}

// routeOptions returns the instance's route options with a ca_file that
// trusts the endpoint.
func routeOptions(t testing.TB, svc *ssmlab.Service, inst *ssmlab.Instance) map[string]any {
	t.Helper()
	caFile := filepath.Join(t.TempDir(), "endpoint-ca.pem")
	if err := os.WriteFile(caFile, svc.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	options := inst.RouteOptions()
	options["ca_file"] = caFile
	return options
}

// requireTools fails (never skips) when the emulated instance cannot run
// what the driver sends it.
func requireTools(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"openssl", "cp", "mv", "rm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the emulated instance needs %s on PATH: %v", tool, err)
		}
	}
}

// newTestDriver polls fast: the emulator answers within milliseconds.
func newTestDriver() *Driver {
	return New(Config{PollInterval: 5 * time.Millisecond, MaxPollInterval: 50 * time.Millisecond})
}

func (f *fixture) open(t testing.TB, d *Driver) driver.Session {
	t.Helper()
	sess, err := d.Open(context.Background(), f.target, f.creds)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = sess.Close() })
	return sess
}

// issue has the instance make a CSR and signs it with ca.
func (f *fixture) issue(t testing.TB, sess driver.Session, ca *drivertest.TestCA) []*x509.Certificate {
	t.Helper()
	ctx := context.Background()
	csr, err := sess.GenerateCSR(ctx, driver.CSRRequest{
		CommonName: f.target.Asset.CommonName, DNSNames: f.target.Asset.Names(), KeyType: asset.KeyECDSA256,
	})
	if err != nil {
		t.Fatalf("GenerateCSR: %v", err)
	}
	chain, err := ca.Sign(ctx, csr)
	if err != nil {
		t.Fatal(err)
	}
	return chain
}

func newCA(t testing.TB) *drivertest.TestCA {
	t.Helper()
	ca, err := drivertest.NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func (f *fixture) served(t testing.TB) []*x509.Certificate {
	t.Helper()
	chain, err := drivertest.ServedChain(context.Background(), f.inst.TLSAddr(), f.target.Asset.CommonName)
	if err != nil {
		t.Fatal(err)
	}
	return chain
}

func TestConformance(t *testing.T) {
	log := &drivertest.CallLog{}
	drivertest.Run(t, drivertest.Harness{
		Driver: newTestDriver(),
		NewDevice: func(t *testing.T) *drivertest.Device {
			f := newFixture(t)
			log.Add(f.svc.Calls)
			return newConformanceDeviceOf(f)
		},
		AimAt: aimAtEndpoint,
	})
	drivertest.RequireListed(t, Requests(), log.Calls())
}

// TestNoCredentialFollowsARedirectOfTheSSMEndpoint runs the suite's
// redirect checks through the SDK's SSM client: the conformance run finds
// the instance by its Name tag, so its first call is the hand-written EC2
// DescribeInstances; with the instance ID taken from the asset, the first
// call is SendCommand.
func TestNoCredentialFollowsARedirectOfTheSSMEndpoint(t *testing.T) {
	drivertest.RunRedirects(t, drivertest.Harness{
		Driver:    newTestDriver(),
		NewDevice: newConformanceDevice,
		AimAt: func(target driver.Target, e drivertest.Endpoint) driver.Target {
			target = aimAtEndpoint(target, e)
			target.Options["instance_id_from"] = "asset-field"
			target.Asset.Labels = map[string]string{"instance_id": "i-0123456789abcdef0"}
			return target
		},
	})
}

func newConformanceDevice(t *testing.T) *drivertest.Device {
	return newConformanceDeviceOf(newFixture(t))
}

// newConformanceDeviceOf is the suite's view of f's instance.
func newConformanceDeviceOf(f *fixture) *drivertest.Device {
	return &drivertest.Device{
		Target:      f.target,
		Credentials: f.creds,
		Served: func(ctx context.Context) ([]*x509.Certificate, error) {
			return drivertest.ServedChain(ctx, f.inst.TLSAddr(), f.target.Asset.CommonName)
		},
		PrivateKeyExported: f.inst.PrivateKeyExported,
		FailInstalls:       f.inst.FailInstalls,
		FailureMessage:     f.inst.FailureMessage(),
	}
}

// aimAtEndpoint points the route's endpoint, for both SSM and EC2, at e.
func aimAtEndpoint(target driver.Target, e drivertest.Endpoint) driver.Target {
	target.Options = maps.Clone(target.Options)
	target.Options["endpoint"] = e.URL
	target.Options["ca_file"] = e.CAFile
	return target
}
