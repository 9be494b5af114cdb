// Package notifytest emulates the services ottr's notification channels
// deliver to: Slack's Web API (chat.postMessage) and incoming webhooks,
// PagerDuty's Events API v2, a Microsoft Teams Workflows webhook, and a
// receiver of ottr's signed webhook. Each serves HTTPS on loopback, checks
// every request as its vendor documents it (method, path, credential,
// content type, the JSON's required fields and their types), answers as
// the vendor does, and records what it accepted. A request ottr should
// never send (a missing field, a wrong type) also fails the test. Told to,
// an emulator refuses the next requests with 429 and Retry-After, or a
// 5xx, to prove that deliveries are retried.
//
// A channel reaches an emulator through its settings alone: the
// emulator's address, and its CAFile as the channel's ca_file.
package notifytest

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Server is what every emulator has: the HTTPS server, the count of
// requests, and the refusals it was told to answer with.
type Server struct {
	t      testing.TB
	vendor string
	srv    *httptest.Server
	caFile string
	// refusal answers a refused request as the vendor would.
	refusal func(r *http.Request, status int) (contentType, body string)

	mu       sync.Mutex
	received int
	refusals []refusal
}

type refusal struct {
	status     int
	retryAfter time.Duration
}

// newServer starts an emulator that serves handler; it stops when the
// test ends.
func newServer(t testing.TB, vendor string, handler http.HandlerFunc, refuse func(*http.Request, int) (string, string)) *Server {
	t.Helper()
	s := &Server{t: t, vendor: vendor, refusal: refuse}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.refused(w, r) {
			return
		}
		handler(w, r)
	}))
	t.Cleanup(s.srv.Close)
	s.caFile = filepath.Join(t.TempDir(), vendor+"-ca.pem")
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
	if err := os.WriteFile(s.caFile, pemCert, 0o644); err != nil {
		t.Fatalf("notifytest: %s: %v", vendor, err)
	}
	return s
}

// CAFile is a PEM file with the certificate the emulator serves, for a
// channel's ca_file.
func (s *Server) CAFile() string { return s.caFile }

// Received counts the requests the emulator got, refused ones included.
func (s *Server) Received() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received
}

// FailNext answers the next n requests with status (429, 500, 503, ...),
// in the vendor's words, before checking them, and does not record them.
// With retryAfter above zero the answer carries Retry-After, in whole
// seconds rounded up.
func (s *Server) FailNext(n, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.refusals = append(s.refusals, refusal{status: status, retryAfter: retryAfter})
	}
}

// refused counts r and answers it with the next queued refusal, if any.
func (s *Server) refused(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	s.received++
	if len(s.refusals) == 0 {
		s.mu.Unlock()
		return false
	}
	next := s.refusals[0]
	s.refusals = s.refusals[1:]
	s.mu.Unlock()
	if next.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(next.retryAfter.Seconds()))))
	}
	contentType, body := s.refusal(r, next.status)
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(next.status)
	_, _ = w.Write([]byte(body))
	return true
}

// violation fails the test: the request is one the vendor documents as
// wrong, which ottr must never send.
func (s *Server) violation(r *http.Request, problems []string) {
	s.t.Errorf("notifytest: %s: %s %s breaks the vendor's API: %q", s.vendor, r.Method, r.URL.Path, problems)
}

// readJSON checks that r is a POST of a JSON object and decodes it; the
// problems say what is wrong otherwise.
func readJSON(r *http.Request) (body []byte, doc map[string]any, problems []string) {
	if r.Method != http.MethodPost {
		problems = append(problems, "method "+r.Method+", want POST")
	}
	if mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mediaType != "application/json" {
		problems = append(problems, fmt.Sprintf("Content-Type %q, want application/json", r.Header.Get("Content-Type")))
	}
	body, err := readBody(r)
	if err != nil {
		return nil, nil, append(problems, "body: "+err.Error())
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc == nil {
		problems = append(problems, "body is not a JSON object")
	}
	return body, doc, problems
}

// maxBody bounds what an emulator reads; every vendor refuses far less.
const maxBody = 1 << 20

func readBody(r *http.Request) ([]byte, error) {
	defer r.Body.Close()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("larger than %d bytes", maxBody)
	}
	return body, nil
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeText answers with a line of plain text.
func writeText(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(text))
}

// Button is a link a message offers: Slack's button, Teams' Action.OpenUrl.
type Button struct {
	Text string
	URL  string
}
