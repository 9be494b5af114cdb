package pebble

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/letsencrypt/pebble/v2/acme"
	"github.com/letsencrypt/pebble/v2/core"
)

// Pebble finishes two requests in goroutines of its own: a challenge POST
// hands the validation to its validation authority, and a finalize POST
// issues the certificate after answering. Those goroutines then take an
// order's, authorization's or challenge's lock for writing, while request
// handlers take the same read lock twice in a row (the order handler reads
// the order, then formats it under a second read lock). A writer that
// queues between the two reads deadlocks both, and with them every later
// request for that order: the whole CA stalls once enough orders are in
// flight. So the CA holds its one-request-at-a-time lock until the
// goroutine a request started has done its writing; no handler then ever
// runs beside one of Pebble's own writers.

// settleTimeout bounds the wait for Pebble's own goroutines. Validation
// asks the lab DNS server once; issuing signs one certificate.
const settleTimeout = 10 * time.Second

// Paths of the requests that leave work behind.
const finalizePath = "/finalize-order/"

// challengePending reports whether the challenge a request to path names
// is waiting for a client to ask for its validation.
func (c *CA) challengePending(path string) bool {
	id, ok := strings.CutPrefix(path, challengePath)
	if !ok {
		return false
	}
	chal := c.db.GetChallengeByID(id)
	if chal == nil {
		return false
	}
	chal.RLock()
	defer chal.RUnlock()
	return chal.Status == acme.StatusPending
}

// startValidation serves a request that asks for a pending challenge's
// validation. Pebble answers it while its validator may already be done,
// so its answer can say "valid" although the CA's validation time then
// holds the challenge processing, and a client that believes it finalizes
// an order that is not ready yet. So the answer waits until the
// validation has settled, and then shows the challenge as it stands.
func (c *CA) startValidation(next http.Handler, w http.ResponseWriter, r *http.Request) {
	answer := &heldResponse{header: w.Header()}
	next.ServeHTTP(answer, r)
	body := answer.body.Bytes()
	if answer.status == http.StatusOK {
		if chal := c.awaitValidation(strings.TrimPrefix(r.URL.Path, challengePath)); chal != nil {
			chal.RLock()
			settled, err := json.MarshalIndent(chal.Challenge, "", "   ")
			chal.RUnlock()
			if err == nil {
				body = settled
			}
		}
		if w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", "1")
		}
	}
	if answer.status == 0 {
		answer.status = http.StatusOK
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(answer.status)
	_, _ = w.Write(body)
}

// heldResponse keeps a handler's answer so it can be sent later. Its
// header is the real response's.
type heldResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (h *heldResponse) Header() http.Header { return h.header }

func (h *heldResponse) WriteHeader(code int) {
	if h.status == 0 {
		h.status = code
	}
}

func (h *heldResponse) Write(b []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	return h.body.Write(b)
}

// awaitValidation waits until the challenge is valid or invalid and, when
// invalid, its order carries the error. A valid challenge then stays
// processing for the CA's validation time (holdValid).
// It returns the challenge, or nil when there is none by that ID.
func (c *CA) awaitValidation(challengeID string) *core.Challenge {
	chal := c.db.GetChallengeByID(challengeID)
	if chal == nil {
		return nil
	}
	defer c.holdValid(chal)
	await(func() bool {
		chal.RLock()
		status, authz := chal.Status, chal.Authz
		chal.RUnlock()
		switch status {
		case acme.StatusValid:
			return true
		case acme.StatusInvalid:
			if authz == nil || authz.Order == nil {
				return true
			}
			authz.Order.RLock()
			defer authz.Order.RUnlock()
			return authz.Order.Error != nil
		}
		return false
	})
	return chal
}

// holdValid turns a challenge Pebble has just found valid back to
// processing, and its authorization to pending, until the CA's validation
// time has passed. Its caller and the timer hold the CA's one-request lock,
// so these writes, like settled ones, never run beside a handler. They take
// the authorization's lock before the challenge's, as Pebble's validator
// does.
func (c *CA) holdValid(chal *core.Challenge) {
	hold := time.Duration(c.validationTime.Load())
	if hold <= 0 {
		return
	}
	chal.RLock()
	authz, valid := chal.Authz, chal.Status == acme.StatusValid
	chal.RUnlock()
	if !valid || authz == nil {
		return
	}
	setStatus := func(authzStatus, chalStatus string) {
		authz.Lock()
		defer authz.Unlock()
		authz.Status = authzStatus
		chal.Lock()
		defer chal.Unlock()
		chal.Status = chalStatus
	}
	setStatus(acme.StatusPending, acme.StatusProcessing)
	time.AfterFunc(hold, func() {
		c.serial.Lock()
		defer c.serial.Unlock()
		setStatus(acme.StatusValid, acme.StatusValid)
	})
}

// awaitIssuance waits until the order's certificate is issued and filed
// by serial and, for an order that replaces another certificate, that
// certificate's order is marked replaced.
func (c *CA) awaitIssuance(orderID string) {
	order := c.db.GetOrderByID(orderID)
	if order == nil {
		return
	}
	var replaced string
	issued := await(func() bool {
		order.RLock()
		cert, replaces := order.CertificateObject, order.Replaces
		order.RUnlock()
		if cert == nil {
			return false
		}
		if _, err := c.db.GetOrderByIssuedSerial(cert.ID); err != nil {
			return false
		}
		replaced = serialHex(replaces)
		return true
	})
	if issued {
		c.issued.Add(1)
	}
	if replaced == "" {
		return
	}
	old, err := c.db.GetOrderByIssuedSerial(replaced)
	if err != nil {
		// Not a certificate of this CA: Pebble marks nothing.
		return
	}
	await(func() bool {
		old.RLock()
		defer old.RUnlock()
		return old.IsReplaced
	})
}

// serialHex is the serial of an ARI certificate ID (base64url key
// identifier "." base64url serial) in hex, as Pebble looks the replaced
// certificate's order up: with DER's leading zero byte, if the serial has
// one (see fileUnderDERSerial).
func serialHex(certID string) string {
	_, serial, ok := strings.Cut(certID, ".")
	if !ok {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(serial)
	if err != nil {
		return ""
	}
	return hex.EncodeToString(b)
}

// await polls done, quickly at first, until it is true or settleTimeout
// passes, and reports whether it came true.
func await(done func() bool) bool {
	deadline := time.Now().Add(settleTimeout)
	for wait := 50 * time.Microsecond; ; wait = min(2*wait, 5*time.Millisecond) {
		if done() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(wait)
	}
}
