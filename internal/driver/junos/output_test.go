package junos

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/drivertest"
	"github.com/ottr-go/ottr/internal/driver/junos/junoslab"
)

func TestOutputTextThatReportsAFailureIsAFailedStep(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply string
		names []string
		want  string // the failure's text; "" for none
	}{
		{"a refusal in words", `<rpc-reply><output>error: Key pair for certificate-id ottr-a already exists</output></rpc-reply>`, nil,
			"error: Key pair for certificate-id ottr-a already exists"},
		{"a missing file", `<rpc-reply><output>rm: /var/tmp/x.crt: No such file or directory</output></rpc-reply>`, nil,
			"rm: /var/tmp/x.crt: No such file or directory"},
		{"a failure inside the answer of one routing engine",
			`<rpc-reply><multi-routing-engine-results><multi-routing-engine-item><output>Failed to load local certificate</output></multi-routing-engine-item></multi-routing-engine-results></rpc-reply>`,
			nil, "Failed to load local certificate"},
		{"a success", `<rpc-reply><output>Local certificate loaded successfully</output></rpc-reply>`, nil, ""},
		{"a success naming an identifier that holds a failure word",
			`<rpc-reply><output>Generated key pair ottr-error-page-0a1b2c-a, key size 2048 bits</output></rpc-reply>`,
			[]string{"ottr-error-page-0a1b2c-a"}, ""},
		{"a CSR whose base64 spells failure words",
			"<rpc-reply><output>Generated certificate request\n-----BEGIN CERTIFICATE REQUEST-----\nMIIB/error+fail/invalid+AAAA\n-----END CERTIFICATE REQUEST-----\nFingerprint:\n0a:1b (sha256)</output></rpc-reply>",
			nil, ""},
		{"no output at all", `<rpc-reply><ok/></rpc-reply>`, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reply, err := parseNode([]byte(tc.reply))
			if err != nil {
				t.Fatal(err)
			}
			err = failedOutput("load-pki-local-certificate", reply, tc.names...)
			if tc.want == "" {
				if err != nil {
					t.Errorf("a success was taken for a failure: %v", err)
				}
				return
			}
			if err == nil || err.Error() != "<load-pki-local-certificate>: device says: "+tc.want {
				t.Errorf("error = %v, want the device's words %q", err, tc.want)
			}
		})
	}
}

func TestAnInstallFailsWhenTheDeviceSaysSoInWordsOrSilentlyKeepsNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  junoslab.Config
		// chain returns what is installed, given the chain the CA issued.
		chain func(t *testing.T, ca *drivertest.TestCA, issued []*x509.Certificate) []*x509.Certificate
		drop  bool
		want  []string
	}{
		{
			name: "a CA certificate the device refuses in <output> text alone",
			cfg:  junoslab.Config{PKIErrorsAsOutput: true},
			// A leaf where the CA certificate belongs.
			chain: func(t *testing.T, ca *drivertest.TestCA, issued []*x509.Certificate) []*x509.Certificate {
				return []*x509.Certificate{issued[0], initialCertificate(t, ca).Leaf}
			},
			want: []string{"error: Failed to load CA certificate", "not a CA certificate"},
		},
		{
			name: "a load answered as done that kept nothing",
			chain: func(_ *testing.T, _ *drivertest.TestCA, issued []*x509.Certificate) []*x509.Certificate {
				return issued
			},
			drop: true,
			want: []string{"back after loading it", "does not exist"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca := newCA(t)
			f := newFixture(t, ca, tc.cfg)
			before := f.served(t)[0]
			sess := f.open(t, f.driver())
			chain := tc.chain(t, ca, f.issue(t, sess, ca))
			f.dev.DropCertificateLoads(tc.drop)

			_, err := sess.Install(context.Background(), chain)
			if err == nil {
				t.Fatal("Install succeeded")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if got := f.served(t)[0]; !got.Equal(before) {
				t.Error("the device serves another certificate after a failed install")
			}
			if id, _ := f.dev.Committed(DefaultBindPath); id != junoslab.InitialID {
				t.Errorf("the device binds %q after a failed install", id)
			}
		})
	}
}

func TestACertificateForSeveralNamesIsRefusedBeforeTheDeviceIsAsked(t *testing.T) {
	f := newFixture(t, nil, junoslab.Config{})
	sess := f.open(t, f.driver())
	before := len(f.dev.RPCs())
	_, err := sess.GenerateCSR(context.Background(), driver.CSRRequest{
		CommonName: deviceName, DNSNames: []string{deviceName, "vpn.example.test"}, KeyType: asset.KeyECDSA256,
	})
	for _, want := range []string{"must also cover vpn.example.test", "one DNS name", "single domain-name"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("GenerateCSR error = %v, want it to say %q", err, want)
		}
	}
	if after := len(f.dev.RPCs()); after != before {
		t.Errorf("the driver sent %d RPCs", after-before)
	}
}
