package rotation_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/issuer/acme"
	"github.com/ottr-go/ottr/internal/lab/dnsserver"
	"github.com/ottr-go/ottr/internal/lab/pebble"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/route"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/store/sqlite"
	"github.com/ottr-go/ottr/internal/verify"
)

// The embedded Pebble CA and the lab DNS server, started by the first test
// that needs them and shared by the whole test binary: Pebble's validator
// goroutines never stop.
const (
	labDeviceZone   = "lab.ottr.test."
	labDelegateZone = "acme.ottr.test."
	labTSIGKey      = "ottr-rotation."
)

var (
	labOnce    sync.Once
	labErr     error
	labCA      *pebble.CA
	labDNS     *dnsserver.Server
	labTSIG    string
	labCounter struct {
		sync.Mutex
		n int
	}
)

func TestMain(m *testing.M) {
	code := m.Run()
	if labCA != nil {
		_ = labCA.Close()
	}
	if labDNS != nil {
		_ = labDNS.Close()
	}
	os.Exit(code)
}

func startLab(t *testing.T) {
	t.Helper()
	labOnce.Do(func() {
		secret := make([]byte, 32)
		_, _ = rand.Read(secret)
		labTSIG = base64.StdEncoding.EncodeToString(secret)
		ctx := context.Background()
		labDNS, labErr = dnsserver.Start(ctx, dnsserver.Config{
			Zones:          []string{labDeviceZone, labDelegateZone},
			UpdatableZones: []string{labDelegateZone},
			TSIG:           map[string]string{labTSIGKey: labTSIG},
		})
		if labErr != nil {
			return
		}
		if labCA, labErr = pebble.Start(ctx, pebble.Config{DNSResolver: labDNS.Addr()}); labErr != nil {
			return
		}
		acme.SetLogger(slog.New(slog.DiscardHandler))
		acme.SetResolvers([]string{labDNS.Addr()})
	})
	if labErr != nil {
		t.Fatalf("start the lab CA and DNS server: %v", labErr)
	}
}

// caCounts is what the lab CA has done: the orders it created and the
// certificates it issued.
type caCounts struct{ orders, issued int }

func countAtCA() caCounts { return caCounts{orders: labCA.Orders(), issued: labCA.Issued()} }

func (c caCounts) since(before caCounts) caCounts {
	return caCounts{orders: c.orders - before.orders, issued: c.issued - before.issued}
}

// memoryAccounts keeps the ACME account between the processes a test
// plays, as ottr's store does.
type memoryAccounts struct {
	mu   sync.Mutex
	data map[string][]byte
}

func (m *memoryAccounts) LoadAccount(_ context.Context, name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d, ok := m.data[name]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("account %q: %w", name, fs.ErrNotExist)
}

func (m *memoryAccounts) SaveAccount(_ context.Context, name string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data[name] = data
	return nil
}

// labHarness rotates one asset of the lab zone, whose fake device keeps
// its key, with certificates from the lab CA.
type labHarness struct {
	name     string
	store    store.Store
	dev      *fakeDevice
	accounts *memoryAccounts
	roots    *x509.CertPool
	// now is the clock of the processes made from then on; nil is the
	// real one.
	now func() time.Time
}

func newLabHarness(t *testing.T) *labHarness {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ottr.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newLabHarnessOn(t, st)
}

// newLabHarnessOn is a labHarness keeping its state in st.
func newLabHarnessOn(t *testing.T, st store.Store) *labHarness {
	t.Helper()
	startLab(t)
	labCounter.Lock()
	labCounter.n++
	label := fmt.Sprintf("r%d", labCounter.n)
	labCounter.Unlock()
	name := label + "." + strings.TrimSuffix(labDeviceZone, ".")
	if err := labDNS.AddRecord(fmt.Sprintf("_acme-challenge.%s. 60 IN CNAME _acme-challenge.%s.%s", name, label, labDelegateZone)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a := asset.Asset{SystemName: name, CommonName: name, SubjectAlternativeName: []string{name}, CertificateAuthority: "lab",
		HostPlatform: "fake", IPAddress: "192.0.2.1", Origin: "API"}
	if err := st.CreateAsset(ctx, a); err != nil {
		t.Fatal(err)
	}
	roots, err := labCA.IssuanceRoots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h := &labHarness{name: name, store: st, dev: &fakeDevice{}, accounts: &memoryAccounts{data: map[string][]byte{}}, roots: x509.NewCertPool()}
	for _, root := range roots {
		h.roots.AddCert(root)
	}
	return h
}

// process is one ottr process: its own ACME client (the account is the
// one the harness keeps) and Runner, over st.
type process struct {
	runner *rotation.Runner
}

func (h *labHarness) process(t *testing.T, st store.Store) *process {
	t.Helper()
	iss, err := acme.New(context.Background(), acme.Config{
		Name:         "lab",
		DirectoryURL: labCA.DirectoryURL(),
		RootPool:     labCA.TLSRoots(),
		Profile:      "default",
		Accounts:     h.accounts,
		DNS01: acme.DNS01Config{
			Nameserver:         labDNS.Addr(),
			TSIGKey:            labTSIGKey,
			TSIGSecret:         labTSIG,
			Zones:              []string{labDelegateZone},
			PollingInterval:    50 * time.Millisecond,
			PropagationTimeout: 10 * time.Second,
			CheckResolversOnly: true,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	profile := &rotation.CAProfile{Name: "lab", Issuer: iss, Roots: h.roots, MinLifetime: 24 * time.Hour, Profile: "default"}
	runner, err := rotation.NewRunner(rotation.Deps{
		Store:   st,
		Drivers: driver.NewRegistry(fakeDriver{h.dev}),
		Routes:  fixedRoutes{ok: true},
		CAs: func(_ context.Context, name string) (*rotation.CAProfile, error) {
			if name != "lab" {
				return nil, fmt.Errorf("no CA profile %q", name)
			}
			return profile, nil
		},
		Credentials:    func(asset.Asset, route.Route) (driver.Credentials, error) { return driver.Credentials{}, nil },
		Now:            h.now,
		VerifyInterval: time.Millisecond,
		Verify: func(_ context.Context, e verify.Expectation) (verify.Result, error) {
			h.dev.mu.Lock()
			served := h.dev.installed
			h.dev.mu.Unlock()
			if len(served) == 0 || served[0].SerialNumber.Cmp(e.Issued[0].SerialNumber) != 0 {
				return verify.Result{}, &verify.MismatchError{Check: "serial", Want: verify.SerialHex(e.Issued[0]), Got: "another"}
			}
			return verify.Result{Leaf: served[0], NotAfter: served[0].NotAfter, Serial: verify.SerialHex(served[0]), Issuer: served[0].Issuer.CommonName}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &process{runner: runner}
}

// stopAt calls stop once the lab CA has handled a request whose path
// starts with prefix, until the test ends.
func stopAt(t *testing.T, prefix string, stop func()) {
	labCA.AfterAnswer(func(path string) {
		if strings.HasPrefix(path, prefix) {
			stop()
		}
	})
	t.Cleanup(func() { labCA.AfterAnswer(nil) })
}

// served returns the chain the device has installed.
func (h *labHarness) served() []*x509.Certificate {
	h.dev.mu.Lock()
	defer h.dev.mu.Unlock()
	return h.dev.installed
}

// checkServesTheCAsCertificate fails t unless the device serves a
// certificate of the lab CA for its own key, and the asset records it.
func (h *labHarness) checkServesTheCAsCertificate(t *testing.T) {
	t.Helper()
	chain := h.served()
	if len(chain) == 0 {
		t.Fatal("the device serves no certificate")
	}
	opts := x509.VerifyOptions{Roots: h.roots, Intermediates: x509.NewCertPool(), DNSName: h.name}
	for _, c := range chain[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := chain[0].Verify(opts); err != nil {
		t.Errorf("the served certificate does not verify to the lab CA: %v", err)
	}
	h.dev.mu.Lock()
	key := h.dev.key
	h.dev.mu.Unlock()
	if !key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(chain[0].PublicKey) {
		t.Error("the served certificate is not for the device's key")
	}
	a, err := h.store.GetAsset(context.Background(), h.name)
	if err != nil {
		t.Fatal(err)
	}
	if a.CertificateSerial != verify.SerialHex(chain[0]) {
		t.Errorf("the asset records serial %s, the device serves %s", a.CertificateSerial, verify.SerialHex(chain[0]))
	}
}

// journalHook is a store whose journal writes a test can stop a process
// at: before returns an error to fail the write with (nil to let it
// happen); after is told of every write made.
type journalHook struct {
	store.Store
	mu     sync.Mutex
	before func(e store.JournalEntry) error
	after  func(e store.JournalEntry)
}

func (j *journalHook) AppendJournal(ctx context.Context, id int64, e store.JournalEntry) error {
	j.mu.Lock()
	before, after := j.before, j.after
	j.mu.Unlock()
	if before != nil {
		if err := before(e); err != nil {
			return err
		}
	}
	if err := j.Store.AppendJournal(ctx, id, e); err != nil {
		return err
	}
	if after != nil {
		after(e)
	}
	return nil
}
