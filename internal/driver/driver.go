// Package driver defines how ottr talks to a device: a Driver opens a Session
// on one device, the session has the device generate its key and CSR,
// installs a signed chain and can undo that install. One folder below this
// one holds each driver; drivertest is the conformance suite they all run.
package driver

import (
	"context"
	"crypto/x509"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"

	"github.com/ottr-go/ottr/internal/asset"
)

// Driver reaches one kind of device.
type Driver interface {
	// Name is the name routes use to select the driver.
	Name() string
	// Capabilities says what the driver can do.
	Capabilities() Capabilities
	// Schema declares the route options the driver takes, once: their
	// names, kinds, defaults, which are required and which secret.
	Schema() Schema
	// ValidateOptions checks a route's options by the driver's own rules,
	// those its Schema cannot say (ranges, patterns, options that depend
	// on each other), before any rotation runs. It returns every problem,
	// each an *OptionProblem (OptionProblems.Err). Callers use
	// CheckOptions, which checks the options against the Schema first.
	ValidateOptions(options map[string]any) error
	// Open connects to the device described by t.
	Open(ctx context.Context, t Target, c Credentials) (Session, error)
}

// Session is an open connection to one device.
type Session interface {
	// CurrentCertificate returns the chain the device is configured with,
	// leaf first, or nil if it has none.
	CurrentCertificate(ctx context.Context) ([]*x509.Certificate, error)
	// GenerateCSR has the device generate a new key pair and return a CSR
	// for it. The private key stays on the device.
	GenerateCSR(ctx context.Context, r CSRRequest) (*x509.CertificateRequest, error)
	// Install puts chain (leaf first) in service and returns a handle that
	// Rollback takes to restore what was there before.
	Install(ctx context.Context, chain []*x509.Certificate) (Installed, error)
	// Rollback restores the state captured by Install.
	Rollback(ctx context.Context, i Installed) error
	// Close ends the session.
	Close() error
}

// Finalizer is a Session with work left once the installed chain has been
// verified from the network: confirming a provisional commit that the
// device would otherwise undo by itself (JunOS commit confirmed), or
// deleting the certificates the new one replaced (PAN-OS). The rotation
// calls Finalize after a successful verify; an error fails verification, so
// the rotation rolls back. Finalize must be idempotent: a resumed rotation
// may call it again, in another process, with the journaled handle.
type Finalizer interface {
	Finalize(ctx context.Context, i Installed) error
}

// Capabilities describes a driver.
type Capabilities struct {
	// OnDeviceKey: the device generates the private key itself.
	OnDeviceKey bool `json:"on_device_key"`
	// Rollback: the driver can restore the previous certificate.
	Rollback bool `json:"rollback"`
	// SANs: certificates may carry subject alternative names.
	SANs bool `json:"sans"`
	// KeyTypes lists the key types the device can generate.
	KeyTypes []string `json:"key_types"`
}

// Target is the device a session opens, with the options of its route.
type Target struct {
	Asset asset.Asset
	// Options are the matching route's options, already validated, with
	// the references of secret options resolved to the secrets: like
	// Credentials, never log them or put them in errors.
	Options map[string]any
}

// Credentials are the device login. Never log or return them in errors.
type Credentials struct {
	Username string
	Password string
	// PrivateKey is a PEM-encoded SSH or API private key.
	PrivateKey []byte
}

// String hides the secrets, so a Credentials printed by mistake leaks nothing.
func (c Credentials) String() string { return fmt.Sprintf("credentials(user=%s)", c.Username) }

// CSRRequest says what the device must put in the CSR.
type CSRRequest struct {
	CommonName string
	// DNSNames are every name the certificate must cover, the CN included.
	DNSNames []string
	// KeyType is one of asset.KeyTypes.
	KeyType string
}

// Installed is the handle Install returns and Rollback takes. It is
// journaled as JSON, so a rotation resumed in another process can still roll
// back: keep only plain strings in it.
type Installed map[string]string

// LogFunc receives progress lines a driver wants in the rotation log.
type LogFunc func(format string, args ...any)

// Registry maps route driver names to drivers.
type Registry struct {
	mu      sync.RWMutex
	drivers map[string]Driver
}

// NewRegistry returns a registry holding ds. It panics on a duplicate name:
// that is a programming error, never an operator's.
func NewRegistry(ds ...Driver) *Registry {
	r := &Registry{drivers: map[string]Driver{}}
	for _, d := range ds {
		r.Register(d)
	}
	return r
}

// Register adds d; it panics if the name is taken.
func (r *Registry) Register(d Driver) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.drivers[d.Name()]; dup {
		panic("driver: duplicate driver " + d.Name())
	}
	r.drivers[d.Name()] = d
}

// Get returns the named driver.
func (r *Registry) Get(name string) (Driver, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d, ok := r.drivers[name]
	return d, ok
}

// RedactOptions returns a route's options with the values of the options
// its driver's Schema declares secret redacted (RedactSecretOptions), for
// showing them to anyone but an ADMIN. For a driver the registry does not
// have, every value is redacted: nothing says which are secret.
func (r *Registry) RedactOptions(driverName string, options map[string]any) map[string]any {
	d, ok := r.Get(driverName)
	if !ok {
		return RedactSecretOptions(options, slices.Collect(maps.Keys(options)))
	}
	return RedactSecretOptions(options, d.Schema().SecretNames())
}

// Names returns every registered name, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.drivers))
	for n := range r.drivers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
