package lighthouse

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/lighthouse/lighthouselab"
)

func TestTheCSRDownloadIsReadInEachFormAnApplianceMayAnswerWith(t *testing.T) {
	for _, tc := range []struct {
		name string
		form lighthouselab.CSRDownload
		// wantErr lists what the error says; none means the CSR is read.
		wantErr []string
	}{
		{name: "a zip archive holding the request", form: lighthouselab.CSRZip},
		{name: "the PEM request itself", form: lighthouselab.CSRPEM},
		{name: "the JSON details of a release that ignores the flag is a failed step quoting them", form: lighthouselab.CSRDetails,
			wantErr: []string{"lighthouse: csr: the CSR download (GET /services/https?zip=true): ",
				"neither a zip archive nor a PEM certificate request; the appliance answered: {\"https\":"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, newCA(t), lighthouselab.Config{CSRDownload: tc.form})
			sess := f.open(t, New(Config{}))
			csr, err := sess.GenerateCSR(context.Background(), driver.CSRRequest{
				CommonName: applianceName, DNSNames: f.target.Asset.Names(), KeyType: asset.KeyRSA2048,
			})
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("GenerateCSR: %v", err)
				}
				if csr.Subject.CommonName != applianceName || len(csr.DNSNames) != 2 {
					t.Errorf("the CSR is for %s with SANs %v", csr.Subject.CommonName, csr.DNSNames)
				}
				return
			}
			if err == nil {
				t.Fatal("GenerateCSR took an answer that holds no CSR")
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if strings.Contains(err.Error(), adminPassword) {
				t.Error("the error carries the password")
			}
		})
	}
}

// csrPEM is a PEM certificate request for a fresh RSA key.
func csrPEM(t *testing.T) []byte {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: applianceName}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// archive is a zip archive of the given files, in order.
func archive(t *testing.T, files ...[2]string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, f := range files {
		w, err := zw.Create(f[0])
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte(f[1]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestADownloadedArchiveYieldsItsRequestAndNeverAKey(t *testing.T) {
	const key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0secret\n-----END RSA PRIVATE KEY-----\n"
	request := string(csrPEM(t))
	block, _ := pem.Decode([]byte(request))
	for _, tc := range []struct {
		name    string
		answer  []byte
		wantCSR bool
		wantErr []string
		warned  int
	}{
		{name: "the request beside a private key is read and the key ignored", wantCSR: true, warned: 1,
			answer: archive(t, [2]string{"lh.key", key}, [2]string{"lh.csr", request})},
		{name: "a DER request is read", wantCSR: true,
			answer: archive(t, [2]string{"lh.der", string(block.Bytes)})},
		{name: "an archive of a key alone names its files, not the key", warned: 1,
			answer:  archive(t, [2]string{"lh.key", key}),
			wantErr: []string{"the zip archive holds no certificate request; its files: lh.key (a private key, ignored)"}},
		{name: "an archive of other files quotes them",
			answer:  archive(t, [2]string{"readme.txt", "nothing here"}),
			wantErr: []string{"its files: readme.txt (nothing here)"}},
		{name: "a broken archive says so",
			answer:  []byte("PK\x03\x04 not really"),
			wantErr: []string{"looks like a zip archive but cannot be read"}},
		{name: "bytes that are not text are described, not dumped",
			answer:  []byte{0x1f, 0x8b, 0x08, 0x00, 0x01, 0x02},
			wantErr: []string{"neither a zip archive nor a PEM certificate request; the appliance answered: 6 bytes that are not text, starting 1f 8b 08 00 01 02"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &logRecorder{}
			c := stubClient(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(tc.answer) }, logs)
			s := &session{client: c, log: slog.New(logs)}
			csr, err := s.pendingCSR(context.Background())
			if tc.wantCSR {
				if err != nil || csr.Subject.CommonName != applianceName {
					t.Fatalf("pendingCSR = %v, %v", csr, err)
				}
			} else {
				if err == nil {
					t.Fatal("pendingCSR took an answer without a request")
				}
				for _, want := range tc.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %q", err, want)
					}
				}
				if strings.Contains(err.Error(), "0secret") {
					t.Error("the error carries the key")
				}
			}
			if got := logs.count("lighthouse: the CSR archive held a private key; the driver ignored it"); got != tc.warned {
				t.Errorf("%d warnings about a key, want %d", got, tc.warned)
			}
		})
	}
}

func TestQuotedAnswersHoldNoKeyOrSecretAndStayShort(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer string
		want   string
	}{
		{"a whole key is redacted", "a -----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY----- b", "a [private key redacted] b"},
		{"a key cut short, as in the reference's example, is redacted to the end",
			`{"key": "-----BEGIN PRIVATE KEY-----...", "cert": "x"}`, `{"key": "[private key redacted]`},
		{"the password and token are redacted", "echo " + adminPassword + " 0123456789abcdef", "echo [redacted] [redacted]"},
		{"white space is collapsed", "a\n\n  b\tc", "a b c"},
		{"a long answer is cut", strings.Repeat("x", 300), strings.Repeat("x", maxQuote) + "…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := quote([]byte(tc.answer), adminPassword, "0123456789abcdef"); got != tc.want {
				t.Errorf("quote = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAnApplianceThatKeepsOnlyTheLeafOfTheChainFailsTheInstall(t *testing.T) {
	for _, tc := range []struct {
		name string
		// trustIntermediate puts the intermediate CA in ca_file, so the
		// leaf alone verifies for the driver.
		trustIntermediate bool
		want              []string
	}{
		{name: "the served leaf that does not verify ends the wait at once",
			want: []string{"serves the new certificate in 1 of the 2 certificates uploaded", "unknown authority"}},
		{name: "a leaf that verifies without its chain is caught reading the certificate back", trustIntermediate: true,
			want: []string{"the appliance kept 1 of the 2 certificates uploaded in https.cert"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, newCA(t), lighthouselab.Config{KeepLeafOnly: true})
			sess := f.open(t, New(Config{}))
			chain := f.issue(t, sess, f.ca)
			if len(chain) < 2 {
				t.Fatalf("the test CA issued a chain of %d; the test needs an intermediate", len(chain))
			}
			if tc.trustIntermediate {
				caFile := f.target.Options["ca_file"].(string)
				roots, _ := os.ReadFile(caFile)
				roots = append(roots, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: chain[1].Raw})...)
				if err := os.WriteFile(caFile, roots, 0o600); err != nil {
					t.Fatal(err)
				}
				sess = f.open(t, New(Config{}))
			}
			_, err := sess.Install(context.Background(), chain)
			if err == nil {
				t.Fatal("Install succeeded though the appliance dropped the chain")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

func TestACSRWithoutTheSANsAskedForSaysWhatToChange(t *testing.T) {
	// A CSR without SANs, as a release that ignores the field makes.
	csr, err := x509.ParseCertificateRequest(mustDER(t, csrPEM(t)))
	if err != nil {
		t.Fatal(err)
	}
	err = checkCSR(csr, applianceName, []string{applianceName, "console.example.test"}, asset.KeyRSA2048, true)
	if err == nil || !strings.Contains(err.Error(), "it lacks SAN lh1.example.test") || !strings.Contains(err.Error(), "set the route option sans: false") {
		t.Errorf("checkCSR error = %v", err)
	}
	err = checkCSR(csr, applianceName, []string{applianceName}, asset.KeyRSA4096, false)
	if err == nil || !strings.Contains(err.Error(), "its key is RSA-2048, RSA-4096 was requested: this release does not make RSA-4096 keys") {
		t.Errorf("checkCSR error = %v", err)
	}
}

func mustDER(t *testing.T, p []byte) []byte {
	t.Helper()
	block, _ := pem.Decode(p)
	if block == nil {
		t.Fatal("no PEM block")
	}
	return block.Bytes
}
