package bigiplab

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Request is one request the device received, kept when
// Config.RecordRequests is set so tests can check what a client sent
// (URLs, headers, bodies).
type Request struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
}

// Call names the request the way the bigip driver's request table
// (driver.Request.Call) does: method and path, the token of a token
// deletion left out, and for util bash the command it runs.
func (r Request) Call() string {
	call := r.Method + " " + redactPath(r.Path)
	if r.Path == tmPath+"util/bash" {
		var req utilRequest
		if json.Unmarshal(r.Body, &req) == nil {
			if words, err := bashWords(req.UtilCmdArgs); err == nil {
				call += " " + strings.Join(words, " ")
			}
		}
	}
	return call
}

// Calls returns the calls received so far (Config.RecordRequests), each as
// Request.Call renders it.
func (d *Device) Calls() []string {
	reqs := d.Requests()
	calls := make([]string, len(reqs))
	for i, r := range reqs {
		calls[i] = r.Call()
	}
	return calls
}

// f5Error is an error the REST API reports in F5's shape.
type f5Error struct {
	code int
	msg  string
}

func (e *f5Error) Error() string { return e.msg }

func errorf(code int, format string, args ...any) *f5Error {
	return &f5Error{code: code, msg: fmt.Sprintf(format, args...)}
}

// reply is a response: a status and a JSON body.
type reply struct {
	status int
	body   any
}

func ok(body any) reply { return reply{status: http.StatusOK, body: body} }

// tmError is the body of an error from the /mgmt/tm tree.
func tmError(e *f5Error) reply {
	return reply{status: e.code, body: map[string]any{
		"code": e.code, "message": e.msg, "errorStack": []string{}, "apiError": 3,
	}}
}

// sharedError is the body of an error from restjavad's own workers
// (/mgmt/shared), which carry no errorStack.
func (d *Device) sharedError(r *http.Request, code int, msg string, extra map[string]any) reply {
	body := map[string]any{
		"code": code, "message": msg, "referer": remoteIP(r),
		"restOperationId": d.restOperationID(), "kind": ":resterrorresponse",
	}
	for k, v := range extra {
		body[k] = v
	}
	return reply{status: code, body: body}
}

func (d *Device) restOperationID() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.opID++
	return d.opID
}

func remoteIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return host
}

// maxBody bounds what the emulator reads of a request: uploads of
// certificate chains are kilobytes.
const maxBody = 8 << 20

// ServeHTTP answers the iControl REST API.
func (d *Device) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		http.Error(w, "reading the request failed", http.StatusBadRequest)
		return
	}
	if d.cfg.RecordRequests {
		d.mu.Lock()
		d.requests = append(d.requests, Request{
			Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
			Header: r.Header.Clone(), Body: append([]byte(nil), body...),
		})
		d.mu.Unlock()
	}
	res := d.serve(r, body)
	if d.dropCommitAnswers.Load() && r.Method == http.MethodPatch && strings.HasPrefix(r.URL.Path, tmPath+"transaction/") {
		// The commit ran; the answer is lost, as when httpd restarts
		// under a client.
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	var out []byte
	if res.body != nil {
		if out, err = json.Marshal(res.body); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	// Every byte the device sends is checked for a private key, so tests
	// can prove that no key ever left it.
	if bytes.Contains(out, []byte("PRIVATE KEY-----")) {
		d.exported.Store(true)
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(res.status)
	_, _ = w.Write(out)
	d.log.Debug("bigip lab: request", "device", d.cfg.Name, "method", r.Method, "path", redactPath(r.URL.Path), "status", res.status)
}

// redactPath keeps tokens out of the emulator's own log.
func redactPath(p string) string {
	if strings.HasPrefix(p, tokensPath) {
		return tokensPath + "<token>"
	}
	return p
}

const (
	loginPath   = "/mgmt/shared/authn/login"
	tokensPath  = "/mgmt/shared/authz/tokens/"
	uploadsPath = "/mgmt/shared/file-transfer/uploads/"
	tmPath      = "/mgmt/tm/"
)

func (d *Device) serve(r *http.Request, body []byte) reply {
	if r.URL.Path == loginPath && r.Method == http.MethodPost {
		return d.login(r, body)
	}
	if !strings.HasPrefix(r.URL.Path, "/mgmt/") {
		return reply{status: http.StatusNotFound, body: map[string]any{"code": 404, "message": "Not Found"}}
	}
	user, res, authenticated := d.authenticate(r)
	if !authenticated {
		return res
	}
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, tokensPath) && r.Method == http.MethodDelete:
		return d.deleteToken(r, strings.TrimPrefix(p, tokensPath), user)
	case strings.HasPrefix(p, uploadsPath) && r.Method == http.MethodPost:
		return d.upload(r, strings.TrimPrefix(p, uploadsPath), body)
	case p == tmPath+"transaction" || strings.HasPrefix(p, tmPath+"transaction/"):
		return d.transactionEndpoint(r, strings.TrimPrefix(strings.TrimPrefix(p, tmPath+"transaction"), "/"), body)
	case p == tmPath+"util/bash" && r.Method == http.MethodPost:
		return d.bash(body)
	case p == tmPath+"util/unix-rm" && r.Method == http.MethodPost:
		return d.unixRm(body)
	case p == tmPath+"sys/config":
		return d.sysConfig(r, body)
	case p == tmPath+"sys/version" && r.Method == http.MethodGet:
		return ok(d.versionJSON())
	case strings.HasPrefix(p, tmPath+"auth/user/") && r.Method == http.MethodGet:
		return d.authUser(strings.TrimPrefix(p, tmPath+"auth/user/"))
	case strings.HasPrefix(p, tmPath+"auth/partition/") && r.Method == http.MethodGet:
		return d.authPartition(strings.TrimPrefix(p, tmPath+"auth/partition/"))
	case strings.HasPrefix(p, tmPath):
		return d.tm(r, strings.TrimPrefix(p, tmPath), body)
	}
	return d.notRegistered(r)
}

func (d *Device) notRegistered(r *http.Request) reply {
	return d.sharedError(r, http.StatusNotFound, fmt.Sprintf(
		"URI path %s not registered.  Please verify URI is supported and wait for /available suffix to be responsive.", r.URL.Path), nil)
}

// Authentication.

// authToken is a token restjavad issued.
type authToken struct {
	token   string
	user    string
	expires time.Time
}

// tokenTimeout is BIG-IP's default token lifetime.
const tokenTimeout = 1200 * time.Second

type loginRequest struct {
	Username          string `json:"username"`
	Password          string `json:"password"`
	LoginProviderName string `json:"loginProviderName"`
}

func (d *Device) login(r *http.Request, body []byte) reply {
	var req loginRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return d.sharedError(r, http.StatusBadRequest, "Found invalid JSON body in the request.", nil)
	}
	// restjavad echoes the request without the password.
	echo, _ := json.Marshal(map[string]any{
		"username": req.Username, "loginProviderName": req.LoginProviderName, "generation": 0, "lastUpdateMicros": 0,
	})
	if req.LoginProviderName != "" && req.LoginProviderName != "tmos" {
		return d.sharedError(r, http.StatusBadRequest, fmt.Sprintf("Login provider %s not found.", req.LoginProviderName),
			map[string]any{"originalRequestBody": string(echo)})
	}
	if !d.credentialsMatch(req.Username, req.Password) {
		return d.sharedError(r, http.StatusUnauthorized, "Authentication failed.",
			map[string]any{"originalRequestBody": string(echo)})
	}
	tok := &authToken{token: newToken(), user: req.Username, expires: d.cfg.Now().Add(tokenTimeout)}
	d.mu.Lock()
	d.tokens[tok.token] = tok
	d.mu.Unlock()
	return ok(map[string]any{
		"username":          req.Username,
		"loginReference":    map[string]any{"link": "https://localhost/mgmt/cm/system/authn/providers/tmos/1f44a60e-11a7-3c51-a49f-82983026b41b/login"},
		"loginProviderName": "tmos",
		"token":             d.tokenJSON(tok),
		"generation":        0,
		"lastUpdateMicros":  0,
	})
}

func (d *Device) tokenJSON(tok *authToken) map[string]any {
	return map[string]any{
		"token": tok.token, "name": tok.token, "userName": tok.user, "authProviderName": "tmos",
		"timeout": int(tokenTimeout / time.Second), "expirationMicros": tok.expires.UnixMicro(),
		"kind":     "shared:authz:tokens:authtokenitemstate",
		"selfLink": "https://localhost" + tokensPath + tok.token,
	}
}

func (d *Device) credentialsMatch(user, password string) bool {
	u := subtle.ConstantTimeCompare([]byte(user), []byte(d.cfg.Username))
	p := subtle.ConstantTimeCompare([]byte(password), []byte(d.cfg.Password))
	return u&p == 1
}

// authenticate accepts a live X-F5-Auth-Token or, as BIG-IP does, HTTP
// basic authentication.
func (d *Device) authenticate(r *http.Request) (user string, res reply, authenticated bool) {
	if t := r.Header.Get("X-F5-Auth-Token"); t != "" {
		d.mu.Lock()
		tok, found := d.tokens[t]
		if found && !d.cfg.Now().Before(tok.expires) {
			delete(d.tokens, t)
			d.mu.Unlock()
			return "", d.sharedError(r, http.StatusUnauthorized, "X-F5-Auth-Token has expired.", nil), false
		}
		d.mu.Unlock()
		if !found {
			return "", d.sharedError(r, http.StatusUnauthorized, "X-F5-Auth-Token does not exist.", nil), false
		}
		return tok.user, reply{}, true
	}
	if u, p, basic := r.BasicAuth(); basic {
		if d.credentialsMatch(u, p) {
			return u, reply{}, true
		}
		return "", d.sharedError(r, http.StatusUnauthorized, "Authentication failed.", nil), false
	}
	return "", d.sharedError(r, http.StatusUnauthorized, "Authorization failed: no user authentication header or token detected. Uri:"+
		r.URL.Path+" Referrer:"+remoteIP(r)+" Sender:"+remoteIP(r), nil), false
}

func (d *Device) deleteToken(r *http.Request, token, user string) reply {
	d.mu.Lock()
	tok, found := d.tokens[token]
	if found && tok.user == user {
		delete(d.tokens, token)
	}
	d.mu.Unlock()
	if !found || tok.user != user {
		return d.sharedError(r, http.StatusNotFound, "Object not found.", nil)
	}
	return ok(d.tokenJSON(tok))
}

// newToken makes a token shaped like restjavad's: 26 upper-case letters
// and digits.
func newToken() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 26)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// The /mgmt/tm configuration tree.

// op is one configuration request, run directly or queued in a
// transaction and run at commit.
type op struct {
	method string
	path   string // below /mgmt/tm/
	body   []byte
	// inTransaction: the op runs as part of a commit.
	inTransaction bool
	// pregenerated key material for a sys crypto key create, made before
	// the device lock is taken so a slow RSA key does not stall the device.
	pregenerated *generatedKey
}

func isMutation(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

func (d *Device) tm(r *http.Request, path string, body []byte) reply {
	o := op{method: r.Method, path: path, body: body}
	if id := r.Header.Get("X-F5-REST-Coordination-Id"); id != "" && isMutation(r.Method) {
		return d.queue(id, o)
	}
	if o.method == http.MethodPost && o.path == "sys/crypto/key" {
		g, err := pregenerate(body)
		if err != nil {
			return tmError(err)
		}
		o.pregenerated = g
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	res, err := d.apply(d.st, o)
	if err != nil {
		return tmError(err)
	}
	if isMutation(r.Method) {
		d.refreshVirtual()
	}
	return ok(res)
}

// collections the emulator serves, longest first where one prefixes another.
var collections = []string{
	"sys/crypto/key", "sys/crypto/csr", "sys/crypto/cert",
	"sys/file/ssl-cert", "sys/file/ssl-key",
	"ltm/profile/client-ssl", "ltm/data-group/internal",
}

// apply runs o against st. The caller holds d.mu.
func (d *Device) apply(st *state, o op) (any, *f5Error) {
	if o.path == "sys/httpd" {
		switch o.method {
		case http.MethodGet:
			return d.httpdJSON(st), nil
		case http.MethodPatch, http.MethodPut:
			return d.patchHTTPD(st, o)
		}
		return nil, errorf(http.StatusMethodNotAllowed, "Method %s is not supported on /tm/sys/httpd.", o.method)
	}
	for _, c := range collections {
		switch {
		case o.path == c:
			return d.collection(st, c, o)
		case strings.HasPrefix(o.path, c+"/"):
			name := strings.TrimPrefix(o.path, c+"/")
			if strings.Contains(name, "/") {
				break
			}
			return d.item(st, c, name, o)
		}
	}
	return nil, errorf(http.StatusNotFound, "URI path /mgmt/tm/%s not registered.  Please verify URI is supported and wait for /available suffix to be responsive.", o.path)
}

func (d *Device) collection(st *state, c string, o op) (any, *f5Error) {
	switch {
	case o.method == http.MethodGet:
		return d.list(st, c), nil
	case o.method == http.MethodPost && c == "sys/crypto/key":
		return d.createKey(st, o)
	case o.method == http.MethodPost && c == "sys/crypto/csr":
		return d.createCSR(st, o)
	case o.method == http.MethodPost && c == "sys/crypto/cert":
		return d.installCert(st, o)
	case o.method == http.MethodPost && c == "ltm/data-group/internal":
		return d.createDataGroup(st, o)
	}
	return nil, errorf(http.StatusMethodNotAllowed, "Method %s is not supported on /tm/%s.", o.method, c)
}

func (d *Device) item(st *state, c, name string, o op) (any, *f5Error) {
	fullPath, err := resolveName(name, "")
	if err != nil {
		return nil, errorf(http.StatusNotFound, "%s", err.msg)
	}
	switch o.method {
	case http.MethodGet:
		return d.get(st, c, fullPath)
	case http.MethodPatch, http.MethodPut:
		switch c {
		case "ltm/profile/client-ssl":
			return d.patchProfile(st, fullPath, o)
		case "ltm/data-group/internal":
			return d.patchDataGroup(st, fullPath, o)
		}
	case http.MethodDelete:
		return d.remove(st, c, fullPath)
	}
	return nil, errorf(http.StatusMethodNotAllowed, "Method %s is not supported on /tm/%s.", o.method, c)
}

// decode reads a JSON body, refusing what BIG-IP refuses.
func decode(body []byte, v any) *f5Error {
	if err := json.Unmarshal(body, v); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) || len(bytes.TrimSpace(body)) == 0 {
			return errorf(http.StatusBadRequest, "Found invalid JSON body in the request.")
		}
		return errorf(http.StatusBadRequest, "one or more properties must be specified: %v", err)
	}
	return nil
}

// selfLink is how BIG-IP links an object.
func (d *Device) selfLink(path string) string {
	return "https://localhost/mgmt/tm/" + path + "?ver=" + d.cfg.Version
}

// urlName is a full path as it appears in a URL: /Common/x -> ~Common~x.
func urlName(fullPath string) string { return strings.ReplaceAll(fullPath, "/", "~") }
