package acme

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ottr-go/ottr/internal/lab/dnsserver"
	"github.com/ottr-go/ottr/internal/lab/pebble"
)

// The lab every test in this package shares: one Pebble (its validator
// goroutines never stop) and one DNS server with a device zone whose
// _acme-challenge names are CNAMEs into an updatable delegate zone.
const (
	deviceZone   = "lab.ottr.test."
	delegateZone = "acme.ottr.test."
	tsigKey      = "ottr-acme."
	eabKID       = "kid-ottr"
)

var (
	// Throwaway lab secrets, random per run.
	tsigSecret = base64.StdEncoding.EncodeToString(randomBytes(32))
	eabHMAC    = base64.RawURLEncoding.EncodeToString(randomBytes(32))

	testDNS *dnsserver.Server
	testCA  *pebble.CA
)

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func TestMain(m *testing.M) {
	os.Exit(runWithLab(m))
}

func runWithLab(m *testing.M) int {
	ctx := context.Background()
	SetLogger(slog.New(slog.DiscardHandler))
	var err error
	testDNS, err = dnsserver.Start(ctx, dnsserver.Config{
		Zones:          []string{deviceZone, delegateZone},
		UpdatableZones: []string{delegateZone},
		TSIG:           map[string]string{tsigKey: tsigSecret},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testDNS.Close()
	testCA, err = pebble.Start(ctx, pebble.Config{
		DNSResolver:    testDNS.Addr(),
		AlternateRoots: 1,
		RequireEAB:     true,
		EABKeys:        map[string]string{eabKID: eabHMAC},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testCA.Close()
	SetResolvers([]string{testDNS.Addr()})
	return m.Run()
}

// delegate adds, for each device name, the CNAME from its _acme-challenge
// name into the delegate zone, as an operator would.
func delegate(tb testing.TB, names ...string) {
	tb.Helper()
	for _, name := range names {
		rr := fmt.Sprintf("_acme-challenge.%s. 60 IN CNAME %s", name, delegateName(name))
		if err := testDNS.AddRecord(rr); err != nil {
			tb.Fatal(err)
		}
	}
}

// delegateName is where name's challenge TXT record is written.
func delegateName(name string) string {
	return "_acme-challenge." + strings.TrimSuffix(name, "."+strings.TrimSuffix(deviceZone, ".")) + "." + delegateZone
}

// labConfig is an issuer configuration for the lab.
func labConfig(accounts AccountStore) Config {
	return Config{
		Name:         "lab",
		DirectoryURL: testCA.DirectoryURL(),
		EAB:          &EAB{KID: eabKID, HMACKey: eabHMAC},
		RootPool:     testCA.TLSRoots(),
		Profile:      "default",
		Accounts:     accounts,
		DNS01: DNS01Config{
			Nameserver:         testDNS.Addr(),
			TSIGKey:            tsigKey,
			TSIGSecret:         tsigSecret,
			Zones:              []string{delegateZone},
			PollingInterval:    50 * time.Millisecond,
			PropagationTimeout: 10 * time.Second,
			CheckResolversOnly: true,
		},
	}
}

func newLabIssuer(tb testing.TB) *Issuer {
	tb.Helper()
	iss, err := New(context.Background(), labConfig(newMemoryAccounts()))
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return iss
}

// newCSR makes a device-style CSR: an ECDSA key, the common name, and the
// common name plus sans as DNS names.
func newCSR(tb testing.TB, cn string, sans ...string) *x509.CertificateRequest {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: cn},
		DNSNames: append([]string{cn}, sans...),
	}, key)
	if err != nil {
		tb.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		tb.Fatal(err)
	}
	return csr
}

// txtRecords asks the lab DNS server, as a resolver would, for the TXT
// records at name.
func txtRecords(tb testing.TB, name string) []string {
	tb.Helper()
	// The lab answers at once, but a loaded machine can hold a UDP reply
	// back past the client's default two seconds.
	client := &dns.Client{Timeout: 10 * time.Second}
	r, _, err := client.Exchange(new(dns.Msg).SetQuestion(name, dns.TypeTXT), testDNS.Addr())
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, rr := range r.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			out = append(out, txt.Txt...)
		}
	}
	return out
}

// memoryAccounts is an AccountStore in memory.
type memoryAccounts struct {
	mu    sync.Mutex
	data  map[string][]byte
	saves int
}

func newMemoryAccounts() *memoryAccounts { return &memoryAccounts{data: map[string][]byte{}} }

func (m *memoryAccounts) LoadAccount(_ context.Context, name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	data, ok := m.data[name]
	if !ok {
		return nil, fmt.Errorf("memory: account %q: %w", name, fs.ErrNotExist)
	}
	return data, nil
}

func (m *memoryAccounts) SaveAccount(_ context.Context, name string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data[name] = data
	m.saves++
	return nil
}
