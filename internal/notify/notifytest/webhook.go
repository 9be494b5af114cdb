package notifytest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/notify"
)

// Webhook is a receiver of ottr's signed webhook that checks a delivery as
// docs/notification-channels.md tells receivers to. It refuses with 401 a
// delivery whose signature does not check or whose timestamp is more than
// WebhookTolerance from its clock, and accepts with 204 No Content.
type Webhook struct {
	*Server
	secret     []byte
	deliveries []WebhookDelivery
}

// WebhookTolerance is how far a delivery's timestamp may be from the
// receiver's clock.
const WebhookTolerance = 5 * time.Minute

// WebhookDelivery is a delivery the receiver accepted.
type WebhookDelivery struct {
	// Event is the body, decoded.
	Event notify.Event
	// Header are the request's headers.
	Header http.Header
	// Body is the request's body.
	Body []byte
}

// NewWebhook starts a receiver that checks signatures with secret.
func NewWebhook(t testing.TB, secret string) *Webhook {
	t.Helper()
	wh := &Webhook{secret: []byte(secret)}
	wh.Server = newServer(t, "webhook", wh.serve, func(_ *http.Request, status int) (string, string) {
		return "text/plain; charset=utf-8", http.StatusText(status)
	})
	return wh
}

// URL is the receiver's address, for a channel's url.
func (wh *Webhook) URL() string { return wh.srv.URL + "/hooks/ottr" }

// Deliveries returns the deliveries the receiver accepted, in order;
// a delivery sent again appears again.
func (wh *Webhook) Deliveries() []WebhookDelivery {
	wh.mu.Lock()
	defer wh.mu.Unlock()
	return slices.Clone(wh.deliveries)
}

func (wh *Webhook) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/hooks/ottr" {
		writeText(w, http.StatusNotFound, "not found")
		return
	}
	body, _, problems := readJSON(r)
	if len(problems) > 0 {
		wh.violation(r, problems)
		writeText(w, http.StatusBadRequest, strings.Join(problems, "; "))
		return
	}
	if why := wh.unsigned(r.Header, body); why != "" {
		writeText(w, http.StatusUnauthorized, why)
		return
	}
	var e notify.Event
	decoder := json.NewDecoder(bytes.NewReader(body))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&e); err != nil {
		problems = append(problems, "body is not the documented event: "+err.Error())
	}
	if !slices.Contains(notify.Kinds(), e.Kind) {
		problems = append(problems, "kind "+strconv.Quote(string(e.Kind))+" is not one of notify.Kinds()")
	}
	if got := r.Header.Get(notify.WebhookEventHeader); got != string(e.Kind) {
		problems = append(problems, notify.WebhookEventHeader+" "+strconv.Quote(got)+" is not the body's kind")
	}
	if got := r.Header.Get(notify.WebhookDeliveryHeader); got == "" || got != e.Key {
		problems = append(problems, notify.WebhookDeliveryHeader+" "+strconv.Quote(got)+" is not the body's key")
	}
	if len(problems) > 0 {
		wh.violation(r, problems)
		writeText(w, http.StatusBadRequest, strings.Join(problems, "; "))
		return
	}
	wh.mu.Lock()
	wh.deliveries = append(wh.deliveries, WebhookDelivery{Event: e, Header: r.Header.Clone(), Body: body})
	wh.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// unsigned says why a delivery's signature does not check, or "" when it
// does: the timestamp must be recent and the signature the HMAC-SHA256 of
// "<timestamp>.<body>".
func (wh *Webhook) unsigned(header http.Header, body []byte) string {
	timestamp := header.Get(notify.WebhookTimestampHeader)
	seconds, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return notify.WebhookTimestampHeader + " is not Unix seconds"
	}
	if age := time.Since(time.Unix(seconds, 0)); age > WebhookTolerance || age < -WebhookTolerance {
		return notify.WebhookTimestampHeader + " is too far from the receiver's clock"
	}
	got, ok := strings.CutPrefix(header.Get(notify.WebhookSignatureHeader), "v1=")
	signature, err := hex.DecodeString(got)
	if !ok || err != nil {
		return notify.WebhookSignatureHeader + " is not v1=<hex>"
	}
	mac := hmac.New(sha256.New, wh.secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte("."))
	mac.Write(body)
	if !hmac.Equal(signature, mac.Sum(nil)) {
		return "signature mismatch"
	}
	return ""
}
