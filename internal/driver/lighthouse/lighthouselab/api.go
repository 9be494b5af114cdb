package lighthouselab

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// maxBody bounds request bodies; a certificate chain is a few kilobytes.
const maxBody = 1 << 20

// apiError is one entry of Lighthouse's error list.
type apiError struct {
	Type  int            `json:"type"`
	Code  int            `json:"code"`
	Text  string         `json:"text"`
	Args  map[string]any `json:"args"`
	Level int            `json:"level"`
}

// The errors below are those of the v3.7 reference, with its types and
// codes.
var (
	errInvalidSession = apiError{Type: 7, Code: 43, Text: "Invalid session ID."}
	errInvalidLogin   = apiError{Type: 7, Code: 41, Text: "Invalid login credentials"}
	errInvalidBody    = apiError{Type: 4, Code: 39, Text: "Invalid request body"}
	errPushFailed     = apiError{Type: 1, Code: 33, Text: "Push command failed"}
	errPermission     = apiError{Type: 7, Code: 47, Text: "Permission denied"}
)

func errRequiredField(name string) apiError {
	return apiError{Type: 4, Code: 40, Text: fmt.Sprintf("Required field '%s' was not provided in the request.", name),
		Args: map[string]any{"param": name}}
}

func errInvalidParameter(name string) apiError {
	return apiError{Type: 4, Code: 48, Text: fmt.Sprintf("Invalid parameter '%s' was provided.", name),
		Args: map[string]any{"param": name}}
}

func errInvalidValue(name string, value any) apiError {
	return apiError{Type: 4, Code: 50, Text: fmt.Sprintf("Invalid value '%v' for parameter '%s' was provided.", value, name),
		Args: map[string]any{"param": name, "value": value}}
}

func errBadFormat(uuid string) apiError {
	return apiError{Type: 2, Code: 14, Text: "String did not conform to the expected format.",
		Args: map[string]any{"uuid": uuid}}
}

func errNotFound(uuid string) apiError {
	return apiError{Type: 5, Code: 29, Text: fmt.Sprintf("Could not find element with UUID '%s'.", uuid),
		Args: map[string]any{"uuid": uuid}}
}

// failedInstallText is the message of an upload refused by FailInstalls.
// The reference lists no code for it; 62 is the emulator's.
const failedInstallText = "Unable to apply the HTTPS certificate"

func writeErrors(w http.ResponseWriter, status int, errs ...apiError) {
	for i := range errs {
		if errs[i].Args == nil {
			errs[i].Args = map[string]any{}
		}
		errs[i].Level = 1
	}
	writeJSON(w, status, map[string]any{"error": errs})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// routes returns the API's handler: the documented endpoints, behind a
// recorder that keeps each request and scans each response for keys.
func (d *Device) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+APIBase+"/sessions", d.createSession)
	mux.HandleFunc("GET "+APIBase+"/sessions/{id}", d.authenticated(d.getSession))
	mux.HandleFunc("DELETE "+APIBase+"/sessions/{id}", d.authenticated(d.deleteSession))
	mux.HandleFunc("GET "+APIBase+"/system/version", d.authenticated(d.getVersion))
	mux.HandleFunc("GET "+APIBase+"/services/https", d.authenticated(d.permitted(d.getHTTPS)))
	mux.HandleFunc("PUT "+APIBase+"/services/https", d.authenticated(d.permitted(d.putHTTPS)))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErrors(w, http.StatusNotFound, errNotFound(strings.TrimPrefix(r.URL.Path, APIBase+"/")))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		d.record(r)
		d.cfg.Logger.Debug("lab lighthouse: request", "name", d.cfg.Name, "method", r.Method, "path", r.URL.Path)
		mux.ServeHTTP(&keyScanner{ResponseWriter: w, found: &d.exported}, r)
	})
}

// record keeps the request, with the https members of a certificate
// service update; the body stays readable for the handler.
func (d *Device) record(r *http.Request) {
	rec := Request{Method: r.Method, URL: r.URL.RequestURI(), Header: r.Header.Clone()}
	if r.Method == http.MethodPut && r.URL.Path == APIBase+"/services/https" {
		body, err := io.ReadAll(r.Body)
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{err}))
		var top struct {
			HTTPS map[string]json.RawMessage `json:"https"`
		}
		if json.Unmarshal(body, &top) == nil {
			for name := range top.HTTPS {
				rec.Members = append(rec.Members, name)
			}
			slices.Sort(rec.Members)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.requests) >= maxRecorded {
		d.requests = append(d.requests[:0], d.requests[1:]...)
	}
	d.requests = append(d.requests, rec)
}

// errReader ends a replayed body with the error reading it met, so a body
// over the limit is still refused by the handler.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	return 0, io.EOF
}

// keyScanner passes a response through and records whether it held a PEM
// private key. Responses are small JSON documents written in one piece.
type keyScanner struct {
	http.ResponseWriter
	found interface{ Store(bool) }
}

func (k *keyScanner) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("PRIVATE KEY")) {
		k.found.Store(true)
	}
	return k.ResponseWriter.Write(p)
}

// authenticated admits requests carrying "Authorization: Token <session>"
// of an open session.
func (d *Device) authenticated(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Token ")
		d.mu.Lock()
		_, open := d.sessions[token]
		d.mu.Unlock()
		if !ok || !open {
			writeErrors(w, http.StatusUnauthorized, errInvalidSession)
			return
		}
		next(w, r)
	}
}

// permitted answers "Permission denied" when the account's role lacks the
// HTTPS certificate settings (Config.DenyHTTPS).
func (d *Device) permitted(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if d.cfg.DenyHTTPS {
			writeErrors(w, http.StatusForbidden, errPermission)
			return
		}
		next(w, r)
	}
}

// getVersion is GET /system/version: the firmware and REST API versions.
func (d *Device) getVersion(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"system_version": map[string]string{
		"rest_api_version": "v3.7", "firmware_version": d.cfg.Firmware,
	}})
}

type credentials struct {
	Username *string `json:"username"`
	Password *string `json:"password"`
}

type sessionState struct {
	State           string `json:"state"`
	PasswordExpired bool   `json:"password_expired,omitempty"`
	Session         string `json:"session"`
	User            string `json:"user,omitempty"`
}

func (d *Device) createSession(w http.ResponseWriter, r *http.Request) {
	var c credentials
	if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
		writeErrors(w, http.StatusBadRequest, errInvalidBody)
		return
	}
	var missing []apiError
	if c.Username == nil {
		missing = append(missing, errRequiredField("username"))
	}
	if c.Password == nil {
		missing = append(missing, errRequiredField("password"))
	}
	if len(missing) > 0 {
		writeErrors(w, http.StatusBadRequest, missing...)
		return
	}
	userOK := subtle.ConstantTimeCompare([]byte(*c.Username), []byte(d.cfg.Username)) == 1
	passOK := subtle.ConstantTimeCompare([]byte(*c.Password), []byte(d.cfg.Password)) == 1
	if !userOK || !passOK {
		writeErrors(w, http.StatusUnauthorized, errInvalidLogin)
		return
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	token := hex.EncodeToString(id)
	d.mu.Lock()
	d.sessions[token] = *c.Username
	d.mu.Unlock()
	writeJSON(w, http.StatusOK, sessionState{State: "authenticated", Session: token, User: *c.Username})
}

func (d *Device) getSession(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d.mu.Lock()
	user, ok := d.sessions[id]
	d.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, sessionState{State: "unknown", Session: id})
		return
	}
	writeJSON(w, http.StatusOK, sessionState{State: "authenticated", Session: id, User: user})
}

func (d *Device) deleteSession(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d.mu.Lock()
	user, ok := d.sessions[id]
	delete(d.sessions, id)
	d.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, sessionState{State: "unknown", Session: id})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"session": id, "success": "true", "state": "deleted", "user": user})
}

// getHTTPS returns the certificate details, or with ?zip=true the pending
// CSR as a file, in the form Config.CSRDownload names.
func (d *Device) getHTTPS(w http.ResponseWriter, r *http.Request) {
	zipFlag := r.URL.Query().Get("zip")
	if (zipFlag != "true" && zipFlag != "1") || d.cfg.CSRDownload == CSRDetails {
		writeJSON(w, http.StatusOK, map[string]any{"https": d.details()})
		return
	}
	d.mu.Lock()
	pending := d.pending
	d.mu.Unlock()
	if pending == nil {
		writeErrors(w, http.StatusNotFound, errNotFound("services_https_csr"))
		return
	}
	if d.cfg.CSRDownload == CSRPEM {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="`+d.cfg.Name+`.csr"`)
		_, _ = w.Write(pending.pem)
		return
	}
	archive, err := zipped(d.cfg.Name+".csr", pending.pem)
	if err != nil {
		writeErrors(w, http.StatusInternalServerError, errNotFound("services_https_csr"))
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+d.cfg.Name+`-csr.zip"`)
	_, _ = w.Write(archive)
}

// zipped returns a zip archive holding one file.
func zipped(name string, content []byte) ([]byte, error) {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	f, err := zw.Create(name)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(content); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// putHTTPS applies the documented update: a https.cert matching the
// pending CSR installs the certificate; a https.csr with csr "new" makes a
// new key and CSR; no https.csr at all cancels the pending CSR.
func (d *Device) putHTTPS(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeErrors(w, http.StatusBadRequest, errInvalidBody)
		return
	}
	req, apiErr := parseUpdate(body, !d.cfg.NoSANField)
	if apiErr != nil {
		writeErrors(w, http.StatusBadRequest, *apiErr)
		return
	}
	switch {
	case req.Cert != "":
		status, errs := d.install(req)
		if len(errs) > 0 {
			writeErrors(w, status, errs...)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"https": d.details()})
		d.scheduleRestart()
	case req.CSR != nil && req.CSR.CSR == "new":
		if errs := d.newCSR(req); len(errs) > 0 {
			writeErrors(w, http.StatusBadRequest, errs...)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"https": d.details()})
	default:
		if req.CSR == nil {
			d.mu.Lock()
			d.pending = nil
			d.mu.Unlock()
		}
		writeJSON(w, http.StatusOK, map[string]any{"https": d.details()})
	}
}

// scheduleRestart restarts the web server once the current response is
// done, as the appliance does after a certificate change.
func (d *Device) scheduleRestart() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.wg.Add(1)
	go d.restartWebServer()
}
