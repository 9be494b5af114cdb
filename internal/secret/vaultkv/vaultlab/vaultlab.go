// Package vaultlab emulates the part of the HashiCorp Vault (and OpenBao)
// HTTP API that ottr uses, as Vault's API documentation describes it, over
// HTTPS on a loopback port:
//
//   - KV version 2 reads (GET /v1/MOUNT/data/PATH) and version 1 reads
//     (GET /v1/MOUNT/PATH), with 404 for a path that holds nothing;
//   - GET /v1/sys/internal/ui/mounts/PATH, which tells a client the mount
//     and KV version of a path;
//   - GET /v1/auth/token/lookup-self;
//   - AppRole login (POST /v1/auth/MOUNT/login with role_id and
//     secret_id) and Kubernetes login (POST /v1/auth/MOUNT/login with role
//     and jwt), each answering a token with a lease; as in Vault, PUT
//     and POST both write;
//   - namespaces (X-Vault-Namespace): mounts live in one namespace.
//
// Every request but a login needs X-Vault-Token; a missing, unknown,
// revoked or expired token is answered 403 {"errors":["permission denied"]},
// as Vault answers it.
package vaultlab

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"
)

// Config sets the emulator up.
type Config struct {
	// Namespace, when set, is the namespace every mount lives in:
	// requests must name it in X-Vault-Namespace.
	Namespace string
	// Now is the clock token leases run on; time.Now when nil.
	Now func() time.Time
}

// Server is a running emulator.
type Server struct {
	cfg Config
	srv *httptest.Server

	mu          sync.Mutex
	mounts      map[string]*kvMount // by path without slashes
	tokens      map[string]*token
	appRoles    map[string]map[string]appRole // auth mount → role ID → role
	kubernetes  map[string]map[string]k8sRole // auth mount → role → role
	requests    []Request
	loginsCount int
}

// Request is one request answered.
type Request struct {
	Method, Path, Namespace string
	Status                  int
}

type kvMount struct {
	version int
	// data holds each path's versions, oldest first; a nil entry is a
	// deleted version.
	data map[string][]map[string]any
}

type token struct {
	expires  time.Time // zero: never
	ttl      time.Duration
	policies []string
	revoked  bool
}

type appRole struct {
	secretID string
	ttl      time.Duration
}

type k8sRole struct {
	jwt string
	ttl time.Duration
}

// Start serves the emulator until Close.
func Start(cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{
		cfg: cfg, mounts: map[string]*kvMount{}, tokens: map[string]*token{},
		appRoles: map[string]map[string]appRole{}, kubernetes: map[string]map[string]k8sRole{},
	}
	s.srv = httptest.NewTLSServer(s)
	return s
}

// URL is the server's address, for secrets.vault.address.
func (s *Server) URL() string { return s.srv.URL }

// CertificatePEM is the server's certificate, for secrets.vault.ca_file.
func (s *Server) CertificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}

// Close stops the server; a client then finds the connection refused.
func (s *Server) Close() { s.srv.Close() }

// Mount enables a KV secrets engine of version 1 or 2 at path.
func (s *Server) Mount(path string, version int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mounts[strings.Trim(path, "/")] = &kvMount{version: version, data: map[string][]map[string]any{}}
}

// Put writes data as the new version of the secret at mount/path.
func (s *Server) Put(mount, path string, data map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.mounts[strings.Trim(mount, "/")]
	m.data[path] = append(m.data[path], data)
}

// DeleteLatest deletes the current version of a KV 2 secret (soft delete).
func (s *Server) DeleteLatest(mount, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	versions := s.mounts[strings.Trim(mount, "/")].data[path]
	versions[len(versions)-1] = nil
}

// Token makes a token that lives ttl (0: forever).
func (s *Server) Token(ttl time.Duration) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newToken(ttl)
}

func (s *Server) newToken(ttl time.Duration) string {
	id := "hvs." + randomHex(12)
	t := &token{ttl: ttl, policies: []string{"default", "ottr"}}
	if ttl > 0 {
		t.expires = s.cfg.Now().Add(ttl)
	}
	s.tokens[id] = t
	return id
}

// RevokeAll revokes every token, as `vault token revoke` of each would.
func (s *Server) RevokeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		t.revoked = true
	}
}

// AppRole enables an AppRole whose logins get tokens living ttl.
func (s *Server) AppRole(mount, roleID, secretID string, ttl time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.appRoles[mount] == nil {
		s.appRoles[mount] = map[string]appRole{}
	}
	s.appRoles[mount][roleID] = appRole{secretID: secretID, ttl: ttl}
}

// KubernetesRole enables a Kubernetes role that takes one service account
// token (jwt).
func (s *Server) KubernetesRole(mount, role, jwt string, ttl time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kubernetes[mount] == nil {
		s.kubernetes[mount] = map[string]k8sRole{}
	}
	s.kubernetes[mount][role] = k8sRole{jwt: jwt, ttl: ttl}
}

// Logins is how many logins succeeded.
func (s *Server) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loginsCount
}

// Requests returns the requests answered so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	s.serve(rec, r)
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Namespace: r.Header.Get("X-Vault-Namespace"), Status: rec.status})
	s.mu.Unlock()
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	if !ok {
		writeErrors(w, http.StatusNotFound)
		return
	}
	if ns := strings.Trim(r.Header.Get("X-Vault-Namespace"), "/"); ns != strings.Trim(s.cfg.Namespace, "/") {
		// Nothing of this server is in another namespace.
		writeErrors(w, http.StatusForbidden, "permission denied")
		return
	}
	if strings.HasPrefix(path, "auth/") && strings.HasSuffix(path, "/login") && (r.Method == http.MethodPost || r.Method == http.MethodPut) {
		s.login(w, r, strings.TrimSuffix(strings.TrimPrefix(path, "auth/"), "/login"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := r.Header.Get("X-Vault-Token")
	t := s.tokens[id]
	if t == nil || t.revoked || (!t.expires.IsZero() && !s.cfg.Now().Before(t.expires)) {
		writeErrors(w, http.StatusForbidden, "permission denied")
		return
	}
	if r.Method != http.MethodGet {
		writeErrors(w, http.StatusMethodNotAllowed, "unsupported operation")
		return
	}
	switch {
	case path == "auth/token/lookup-self":
		s.lookupSelf(w, id, t)
	case strings.HasPrefix(path, "sys/internal/ui/mounts/"):
		s.mountInfo(w, strings.TrimPrefix(path, "sys/internal/ui/mounts/"))
	default:
		s.read(w, path)
	}
}

// mountOf returns the mount path lives under and the rest of the path.
func (s *Server) mountOf(path string) (string, *kvMount, string) {
	best := ""
	for mount := range s.mounts {
		if (path == mount || strings.HasPrefix(path, mount+"/")) && len(mount) > len(best) {
			best = mount
		}
	}
	if best == "" {
		return "", nil, ""
	}
	return best, s.mounts[best], strings.TrimPrefix(strings.TrimPrefix(path, best), "/")
}

func (s *Server) mountInfo(w http.ResponseWriter, path string) {
	mount, m, _ := s.mountOf(path)
	if m == nil {
		writeErrors(w, http.StatusBadRequest, fmt.Sprintf("preflight capability check returned 403, please ensure client's policies grant access to path %q", path+"/"))
		return
	}
	writeJSON(w, http.StatusOK, response(map[string]any{
		"path": mount + "/", "type": "kv", "description": "key/value secret storage",
		"options": map[string]any{"version": fmt.Sprint(m.version)},
	}))
}

func (s *Server) read(w http.ResponseWriter, path string) {
	_, m, rest := s.mountOf(path)
	if m == nil {
		writeErrors(w, http.StatusNotFound, fmt.Sprintf("no handler for route %q. route entry not found.", path))
		return
	}
	if m.version == 1 {
		versions := m.data[rest]
		if len(versions) == 0 || versions[len(versions)-1] == nil {
			writeErrors(w, http.StatusNotFound)
			return
		}
		answer := response(versions[len(versions)-1])
		answer["lease_duration"] = 2764800 // KV 1 answers the mount's default TTL (768h)
		writeJSON(w, http.StatusOK, answer)
		return
	}
	rest, ok := strings.CutPrefix(rest, "data/")
	if !ok {
		writeErrors(w, http.StatusNotFound, fmt.Sprintf("no handler for route %q. route entry not found.", path))
		return
	}
	versions := m.data[rest]
	if len(versions) == 0 {
		writeErrors(w, http.StatusNotFound)
		return
	}
	latest := versions[len(versions)-1]
	metadata := map[string]any{
		"created_time": s.cfg.Now().UTC().Format(time.RFC3339Nano), "custom_metadata": nil,
		"deletion_time": "", "destroyed": false, "version": len(versions),
	}
	if latest == nil {
		// A deleted current version: 404 with the metadata, data null.
		metadata["deletion_time"] = s.cfg.Now().UTC().Format(time.RFC3339Nano)
		writeJSON(w, http.StatusNotFound, response(map[string]any{"data": nil, "metadata": metadata}))
		return
	}
	writeJSON(w, http.StatusOK, response(map[string]any{"data": latest, "metadata": metadata}))
}

func (s *Server) lookupSelf(w http.ResponseWriter, id string, t *token) {
	ttl := 0
	var expire any
	if !t.expires.IsZero() {
		ttl = int(t.expires.Sub(s.cfg.Now()).Seconds())
		expire = t.expires.UTC().Format(time.RFC3339Nano)
	}
	writeJSON(w, http.StatusOK, response(map[string]any{
		"accessor": "acc." + id[len(id)-6:], "creation_ttl": int(t.ttl.Seconds()), "ttl": ttl,
		"expire_time": expire, "policies": t.policies, "renewable": t.ttl > 0, "type": "service",
	}))
}

func (s *Server) login(w http.ResponseWriter, r *http.Request, mount string) {
	var in map[string]string
	data, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err := json.Unmarshal(data, &in); err != nil {
		writeErrors(w, http.StatusBadRequest, "failed to parse JSON input")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var ttl time.Duration
	switch {
	case s.appRoles[mount] != nil:
		role, ok := s.appRoles[mount][in["role_id"]]
		if !ok {
			writeErrors(w, http.StatusBadRequest, "invalid role ID")
			return
		}
		if in["secret_id"] != role.secretID {
			writeErrors(w, http.StatusBadRequest, "invalid secret id")
			return
		}
		ttl = role.ttl
	case s.kubernetes[mount] != nil:
		role, ok := s.kubernetes[mount][in["role"]]
		if !ok {
			writeErrors(w, http.StatusBadRequest, fmt.Sprintf("invalid role name %q", in["role"]))
			return
		}
		if in["jwt"] != role.jwt {
			writeErrors(w, http.StatusForbidden, "permission denied")
			return
		}
		ttl = role.ttl
	default:
		writeErrors(w, http.StatusNotFound, fmt.Sprintf("no handler for route %q. route entry not found.", "auth/"+mount+"/login"))
		return
	}
	s.loginsCount++
	id := s.newToken(ttl)
	answer := response(nil)
	answer["auth"] = map[string]any{
		"client_token": id, "accessor": "acc." + id[len(id)-6:], "policies": []string{"default", "ottr"},
		"token_policies": []string{"default", "ottr"}, "lease_duration": int(ttl.Seconds()), "renewable": true,
		"entity_id": "", "token_type": "service", "orphan": true,
	}
	writeJSON(w, http.StatusOK, answer)
}

// response is Vault's envelope around data.
func response(data map[string]any) map[string]any {
	var d any
	if data != nil {
		d = data
	}
	return map[string]any{
		"request_id": uuid(), "lease_id": "", "renewable": false, "lease_duration": 0,
		"data": d, "wrap_info": nil, "warnings": nil, "auth": nil,
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErrors(w http.ResponseWriter, status int, errs ...string) {
	if errs == nil {
		errs = []string{}
	}
	writeJSON(w, status, map[string]any{"errors": errs})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func uuid() string {
	b := randomHex(16)
	return b[0:8] + "-" + b[8:12] + "-" + b[12:16] + "-" + b[16:20] + "-" + b[20:]
}
