package script

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/drivertest"
)

const (
	deviceName     = "appliance.example.test"
	devicePassword = "device-Pa55word"
)

// testDevice is a device made of a directory: the scripts in
// testdata/device write its cert.pem and key.pem, and its TLS listener
// loads them at every handshake, keeping the last good pair while a script
// is between writing the two.
type testDevice struct {
	dir  string
	ln   net.Listener
	last atomic.Pointer[tls.Certificate]
}

func startTestDevice(t testing.TB) *testDevice {
	t.Helper()
	for _, tool := range []string{"sh", "openssl", "sed", "cut", "cmp", "cp", "mv"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the test device's scripts need %s on PATH: %v", tool, err)
		}
	}
	d := &testDevice{dir: t.TempDir()}
	writeSelfSigned(t, d.dir, deviceName)
	if err := os.WriteFile(filepath.Join(d.dir, "password"), []byte(devicePassword), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.load(); err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return d.load() },
		MinVersion:     tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	d.ln = ln
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				_ = conn.(*tls.Conn).Handshake()
				_ = conn.Close()
			}()
		}
	}()
	return d
}

// load reads the device's files, or keeps the last good pair.
func (d *testDevice) load() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(d.dir, "cert.pem"), filepath.Join(d.dir, "key.pem"))
	if err != nil {
		if last := d.last.Load(); last != nil {
			return last, nil
		}
		return nil, err
	}
	d.last.Store(&cert)
	return &cert, nil
}

func (d *testDevice) port() int { return d.ln.Addr().(*net.TCPAddr).Port }

// failInstalls makes the install script refuse certificates.
func (d *testDevice) failInstalls(fail bool) {
	flag := filepath.Join(d.dir, "fail")
	if fail {
		_ = os.WriteFile(flag, nil, 0o600)
	} else {
		_ = os.Remove(flag)
	}
}

func (d *testDevice) served(ctx context.Context) ([]*x509.Certificate, error) {
	return drivertest.ServedChain(ctx, d.ln.Addr().String(), deviceName)
}

// target routes to the test device's scripts.
func (d *testDevice) target(t testing.TB) driver.Target {
	t.Helper()
	scripts, err := filepath.Abs(filepath.Join("testdata", "device"))
	if err != nil {
		t.Fatal(err)
	}
	return driver.Target{
		Asset: asset.Asset{
			SystemName:             deviceName,
			CommonName:             deviceName,
			SubjectAlternativeName: []string{deviceName, "www.example.test"},
			IPAddress:              "127.0.0.1",
			Port:                   d.port(),
			DataCenter:             "dc1",
			HostPlatform:           "appliance",
		},
		Options: map[string]any{
			"generate_csr":        filepath.Join(scripts, "generate_csr.sh"),
			"install_certificate": filepath.Join(scripts, "install_certificate.sh"),
			"rollback":            filepath.Join(scripts, "rollback.sh"),
			"current_certificate": filepath.Join(scripts, "current_certificate.sh"),
			"plain_env":           map[string]any{"DEVICE_DIR": d.dir},
		},
	}
}

func writeSelfSigned(t testing.TB, dir, name string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(30 * 24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestConformance(t *testing.T) {
	drivertest.Run(t, drivertest.Harness{
		Driver: New(Config{}),
		NewDevice: func(t *testing.T) *drivertest.Device {
			d := startTestDevice(t)
			return &drivertest.Device{
				Target:         d.target(t),
				Credentials:    driver.Credentials{Username: "operator", Password: devicePassword},
				Served:         d.served,
				FailInstalls:   d.failInstalls,
				FailureMessage: "certificate refused (lab fault)",
			}
		},
	})
}

func TestCurrentCertificateWithoutAScriptReadsTheServedChain(t *testing.T) {
	d := startTestDevice(t)
	target := d.target(t)
	delete(target.Options, "current_certificate")
	sess, err := New(Config{}).Open(context.Background(), target, driver.Credentials{Username: "operator"})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	chain, err := sess.CurrentCertificate(context.Background())
	if err != nil {
		t.Fatalf("CurrentCertificate: %v", err)
	}
	served, _ := d.served(context.Background())
	if len(chain) != 1 || !chain[0].Equal(served[0]) {
		t.Errorf("CurrentCertificate returned %d certificates, not the served one", len(chain))
	}

}
