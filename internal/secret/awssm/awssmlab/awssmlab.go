// Package awssmlab emulates the part of AWS Secrets Manager ottr reads:
// GetSecretValue over the AWS JSON 1.1 protocol, on a loopback HTTP
// endpoint that verifies Signature Version 4 against one access key as
// AWS does (awslab). Secrets are kept as Ottr keeps them, such as
// "{prefix}/otter/panos" holding {"username": …, "password": …} and
// "{prefix}/otter/slack" holding the raw token, each with its versions and
// staging labels (AWSCURRENT, AWSPREVIOUS, custom labels).
//
//	sm, _ := awssmlab.Start(awssmlab.Config{Secrets: map[string]string{
//		"prod/otter/panos": `{"username":"admin","password":"…"}`,
//	}})
//	defer sm.Close()
//	// point secrets.aws at sm.URL(), sm.Region(), sm.AccessKeyID(), sm.SecretAccessKey()
package awssmlab

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ottr-go/ottr/internal/awslab"
)

// Defaults of Config.
const (
	DefaultRegion      = "us-east-1"
	DefaultAccountID   = "123456789012"
	DefaultAccessKeyID = "AKIAOTTRLABSECRETS01"
	targetPrefix       = "secretsmanager."
	stageCurrent       = "AWSCURRENT"
	stagePrevious      = "AWSPREVIOUS"
)

// Config sets the emulator up.
type Config struct {
	// Secrets are SecretStrings by name, each stored as its first version,
	// staged AWSCURRENT.
	Secrets map[string]string
	// Region the requests must be signed for; DefaultRegion when empty.
	Region string
	// AccessKeyID and SecretAccessKey are the only credentials accepted;
	// DefaultAccessKeyID and a random secret key when empty.
	AccessKeyID     string
	SecretAccessKey string
	// Now is the clock signatures are checked against; time.Now when nil.
	Now func() time.Time
}

// Server is a running emulator.
type Server struct {
	cfg      Config
	verifier *awslab.Verifier
	listener net.Listener
	server   *http.Server

	mu      sync.Mutex
	secrets map[string]*storedSecret
	calls   []Call
	down    bool
}

// Call is one request the emulator answered.
type Call struct {
	// Operation is the X-Amz-Target's operation, such as GetSecretValue.
	Operation string
	// SecretID and VersionStage are what GetSecretValue asked for.
	SecretID     string
	VersionStage string
	// Status is the HTTP status of the answer.
	Status int
}

type storedSecret struct {
	name     string
	arn      string
	versions []*version // oldest first
}

type version struct {
	id      string
	value   string
	stages  []string
	created time.Time
}

// Start listens on a loopback port and serves until Close.
func Start(cfg Config) (*Server, error) {
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if cfg.AccessKeyID == "" {
		cfg.AccessKeyID = DefaultAccessKeyID
	}
	if cfg.SecretAccessKey == "" {
		cfg.SecretAccessKey = randomHex(20)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("lab secrets manager: %w", err)
	}
	s := &Server{
		cfg: cfg,
		verifier: &awslab.Verifier{
			AccessKeyID: cfg.AccessKeyID, SecretAccessKey: cfg.SecretAccessKey, Region: cfg.Region, Now: cfg.Now,
		},
		listener: ln,
		secrets:  map[string]*storedSecret{},
	}
	for name, value := range cfg.Secrets {
		s.Put(name, value)
	}
	s.server = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.server.Serve(ln) }()
	return s, nil
}

// URL is the endpoint, for secrets.aws.endpoint.
func (s *Server) URL() string { return "http://" + s.listener.Addr().String() }

// Region is the region requests must be signed for.
func (s *Server) Region() string { return s.cfg.Region }

// AccessKeyID is the access key the emulator accepts.
func (s *Server) AccessKeyID() string { return s.cfg.AccessKeyID }

// SecretAccessKey is the secret key of AccessKeyID.
func (s *Server) SecretAccessKey() string { return s.cfg.SecretAccessKey }

// Close stops the endpoint; a client then finds the connection refused.
func (s *Server) Close() error { return s.server.Close() }

// SetDown makes the endpoint, while down is true, drop every connection
// unanswered, as a store that cannot be reached does; unlike Close, it
// serves again, at the same address, once down is false.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// Put stores value as a new version of the secret name, as PutSecretValue
// does: the new version is AWSCURRENT and the one that was becomes
// AWSPREVIOUS. It returns the new version's ID.
func (s *Server) Put(name, value string, extraStages ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[name]
	if sec == nil {
		sec = &storedSecret{name: name, arn: fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s",
			s.cfg.Region, DefaultAccountID, name, randomHex(3))}
		s.secrets[name] = sec
	}
	for _, v := range sec.versions {
		v.stages = slices.DeleteFunc(v.stages, func(stage string) bool {
			return stage == stagePrevious || slices.Contains(extraStages, stage)
		})
		if i := slices.Index(v.stages, stageCurrent); i >= 0 {
			v.stages[i] = stagePrevious
		}
	}
	v := &version{id: awslab.RequestID(), value: value, stages: append([]string{stageCurrent}, extraStages...), created: s.cfg.Now()}
	sec.versions = append(sec.versions, v)
	return v.id
}

// Delete removes a secret, as a deletion without a recovery window does.
func (s *Server) Delete(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.secrets, name)
}

// Calls returns the requests answered so far, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "request body unreadable", http.StatusBadRequest)
		return
	}
	call := Call{Operation: strings.TrimPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)}
	status := s.serve(w, r, body, &call)
	call.Status = status
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, body []byte, call *Call) int {
	if r.Method != http.MethodPost {
		http.Error(w, "only POST is supported", http.StatusMethodNotAllowed)
		return http.StatusMethodNotAllowed
	}
	service, authErr := s.verifier.Verify(r, body)
	if authErr != nil {
		return writeError(w, http.StatusBadRequest, authErr.JSONCode(), authErr.Message)
	}
	if service != "secretsmanager" {
		return writeError(w, http.StatusBadRequest, "InvalidSignatureException", "Credential should be scoped to correct service: 'secretsmanager'.")
	}
	if !strings.HasPrefix(r.Header.Get("X-Amz-Target"), targetPrefix) || r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		return writeError(w, http.StatusBadRequest, "UnknownOperationException", "")
	}
	if call.Operation != "GetSecretValue" {
		return writeError(w, http.StatusBadRequest, "UnknownOperationException", "")
	}
	var in struct {
		SecretID     string `json:"SecretId"`
		VersionID    string `json:"VersionId"`
		VersionStage string `json:"VersionStage"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return writeError(w, http.StatusBadRequest, "SerializationException", "")
	}
	call.SecretID, call.VersionStage = in.SecretID, in.VersionStage
	return s.getSecretValue(w, in.SecretID, in.VersionID, in.VersionStage)
}

func (s *Server) getSecretValue(w http.ResponseWriter, id, versionID, stage string) int {
	if id == "" {
		return writeError(w, http.StatusBadRequest, "InvalidParameterException", "You must provide a SecretId.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[id]
	if sec == nil {
		for _, candidate := range s.secrets {
			if candidate.arn == id {
				sec = candidate
			}
		}
	}
	if sec == nil {
		return writeError(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
	}
	if versionID == "" && stage == "" {
		stage = stageCurrent
	}
	var found *version
	for _, v := range sec.versions {
		if (versionID == "" || v.id == versionID) && (stage == "" || slices.Contains(v.stages, stage)) {
			found = v
		}
	}
	if found == nil {
		if stage != "" {
			return writeError(w, http.StatusBadRequest, "ResourceNotFoundException",
				"Secrets Manager can't find the specified secret value for staging label: "+stage)
		}
		return writeError(w, http.StatusBadRequest, "ResourceNotFoundException",
			"Secrets Manager can't find the specified secret value for VersionId: "+versionID)
	}
	return writeJSON(w, http.StatusOK, map[string]any{
		"ARN":           sec.arn,
		"Name":          sec.name,
		"VersionId":     found.id,
		"SecretString":  found.value,
		"VersionStages": found.stages,
		"CreatedDate":   float64(found.created.UnixMilli()) / 1000,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) int {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", awslab.RequestID())
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
	return status
}

func writeError(w http.ResponseWriter, status int, code, message string) int {
	return writeJSON(w, status, map[string]string{"__type": code, "message": message})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
