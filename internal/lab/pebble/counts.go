package pebble

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
)

// Counts are what the CA has done for its clients since it started, as a
// public CA would count them against a client: the orders it created, the
// ones it was asked to finalize, and the certificates it issued. They live
// in the CA's process, so they outlast any client's crash; the kill test
// compares them with what the devices serve.
type Counts struct {
	// NewOrders is how many orders the CA created (new-order answered 201).
	NewOrders int `json:"new_orders"`
	// FinalizedOrders is how many orders a client finalized (finalize
	// answered 200).
	FinalizedOrders int `json:"finalized_orders"`
	// CertificatesIssued is how many of those orders have a certificate.
	CertificatesIssued int `json:"certificates_issued"`
	// Orders are every order created, oldest first.
	Orders []CountedOrder `json:"orders"`
}

// CountedOrder is one order the CA created.
type CountedOrder struct {
	ID string `json:"id"`
	// Names are the order's DNS identifiers.
	Names     []string `json:"names"`
	Finalized bool     `json:"finalized"`
	// CertificateSerial is the serial of the certificate issued for the
	// order, lowercase hex as verify.SerialHex writes it; empty while
	// none is.
	CertificateSerial string `json:"certificate_serial,omitempty"`
}

// Issued returns the serials of every certificate issued, oldest order
// first.
func (c Counts) Issued() []string {
	serials := make([]string, 0, c.CertificatesIssued)
	for _, o := range c.Orders {
		if o.CertificateSerial != "" {
			serials = append(serials, o.CertificateSerial)
		}
	}
	return serials
}

// IssuedExcept returns the orders whose certificate was issued and is not
// one of serials: given the serials the devices serve, the certificates
// issued and never installed.
func (c Counts) IssuedExcept(serials map[string]bool) []CountedOrder {
	var out []CountedOrder
	for _, o := range c.Orders {
		if o.CertificateSerial != "" && !serials[o.CertificateSerial] {
			out = append(out, o)
		}
	}
	return out
}

// OrdersPerName counts the orders naming each DNS name.
func (c Counts) OrdersPerName() map[string]int {
	per := map[string]int{}
	for _, o := range c.Orders {
		for _, n := range o.Names {
			per[n]++
		}
	}
	return per
}

// String describes an order by its certificate and names.
func (o CountedOrder) String() string {
	cert := o.CertificateSerial
	if cert == "" {
		cert = "order " + o.ID
	}
	return cert + " for " + strings.Join(o.Names, ",")
}

// orderCounter records the orders created and finalized, by Pebble's order
// ID. What each order holds (names, certificate) is read from Pebble's
// store when asked, so a certificate Pebble issues after the finalize
// answer is still counted.
type orderCounter struct {
	mu        sync.Mutex
	ids       []string
	finalized map[string]bool
}

// counted wraps the CA's handler to count what its answers say happened.
func (c *CA) counted(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if r.Method != http.MethodPost {
			return
		}
		switch {
		case r.URL.Path == newOrderPath && rec.status == http.StatusCreated:
			if id := orderIDOf(w.Header().Get("Location")); id != "" {
				c.counter.addCreated(id)
			}
		case strings.HasPrefix(r.URL.Path, finalizePath) && rec.status == http.StatusOK:
			c.counter.addFinalized(strings.TrimPrefix(r.URL.Path, finalizePath))
		}
	})
}

// orderIDOf returns the order ID at the end of an order URL.
func orderIDOf(orderURL string) string {
	u, err := url.Parse(orderURL)
	if err != nil || u.Path == "" {
		return ""
	}
	return path.Base(u.Path)
}

func (o *orderCounter) addCreated(id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ids = append(o.ids, id)
}

func (o *orderCounter) addFinalized(id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.finalized == nil {
		o.finalized = map[string]bool{}
	}
	o.finalized[id] = true
}

// Counts returns what the CA has done so far.
func (c *CA) Counts() Counts {
	c.counter.mu.Lock()
	ids := append([]string(nil), c.counter.ids...)
	finalized := make(map[string]bool, len(c.counter.finalized))
	for id := range c.counter.finalized {
		finalized[id] = true
	}
	c.counter.mu.Unlock()

	counts := Counts{NewOrders: len(ids), FinalizedOrders: len(finalized), Orders: make([]CountedOrder, 0, len(ids))}
	for _, id := range ids {
		counted := CountedOrder{ID: id, Finalized: finalized[id]}
		if order := c.db.GetOrderByID(id); order != nil {
			// One read lock, released before the next: Pebble's own
			// writers may be waiting for it (see settle.go).
			order.RLock()
			for _, ident := range order.Identifiers {
				counted.Names = append(counted.Names, ident.Value)
			}
			if cert := order.CertificateObject; cert != nil && cert.Cert != nil {
				counted.CertificateSerial = cert.Cert.SerialNumber.Text(16)
			}
			order.RUnlock()
		}
		if counted.CertificateSerial != "" {
			counts.CertificatesIssued++
		}
		counts.Orders = append(counts.Orders, counted)
	}
	return counts
}

// CountsHandler answers GET with Counts as JSON.
func (c *CA) CountsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			http.Error(w, "only GET reads the CA's counts", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(c.Counts())
	})
}
