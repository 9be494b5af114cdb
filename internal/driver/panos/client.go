package panos

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/driver"
)

// maxResponse bounds an answer read into memory; a saved configuration of a
// large firewall is tens of megabytes.
const maxResponse = 128 << 20

// client speaks the PAN-OS XML API to one device. Every call is a POST to
// /api/ with the parameters in the form body, never in the URL: URLs end up
// in proxy and web server logs. The API key travels in the X-PAN-KEY header,
// which the API guides for PAN-OS 9.1 and later document; a device that
// refuses the first request carrying it (as PAN-OS 8.x may, whose guides
// name only the key parameter) gets the key as a key parameter of the POST
// body from then on, as pan-python and pango v1 send it to every version.
type client struct {
	endpoint  string
	http      *http.Client
	transport *http.Transport
	key       string
	keyPlace  keyPlace
	log       *slog.Logger
}

// keyPlace is where the API key travels.
type keyPlace int

const (
	// keyUntried: in the header, which the device has not yet answered.
	keyUntried keyPlace = iota
	// keyInHeader: the device took the key from X-PAN-KEY.
	keyInHeader
	// keyInBody: the device refused the header and took the key from the
	// POST body.
	keyInBody
)

func (p keyPlace) String() string {
	if p == keyInBody {
		return "the POST body"
	}
	return "the X-PAN-KEY header"
}

// call is one XML API request: its parameters and, for an import, the
// uploaded file.
type call struct {
	params url.Values
	file   *upload
	// fresh drops idle connections first, so the answer comes over a new
	// TLS handshake.
	fresh bool
}

// upload is a file sent as a multipart form field.
type upload struct {
	field, name string
	data        []byte
}

// newClient builds a client whose TLS verifies the device against the
// system roots plus the PEM roots in caFile, for serverName.
func newClient(host string, port int, caFile, serverName string, timeout time.Duration) (*client, error) {
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if caFile != "" {
		pemData, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read ca_file: %w", err)
		}
		if !roots.AppendCertsFromPEM(pemData) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", caFile)
		}
	}
	dialer := &net.Dialer{Timeout: 20 * time.Second, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		DialContext: dialer.DialContext,
		TLSClientConfig: &tls.Config{
			RootCAs:    roots,
			ServerName: serverName,
			MinVersion: tls.VersionTLS12,
		},
		TLSHandshakeTimeout:   20 * time.Second,
		ResponseHeaderTimeout: timeout,
		IdleConnTimeout:       30 * time.Second,
		MaxIdleConnsPerHost:   2,
		ForceAttemptHTTP2:     false,
	}
	return &client{
		endpoint:  (&url.URL{Scheme: "https", Host: net.JoinHostPort(host, fmt.Sprint(port)), Path: "/api/"}).String(),
		http:      driver.NewHTTPClient(transport, timeout),
		transport: transport,
		log:       slog.New(slog.DiscardHandler),
	}, nil
}

// close drops idle connections.
func (c *client) close() { c.transport.CloseIdleConnections() }

// keygen logs in and keeps the API key. The login is in the body; the
// device answers a wrong one with HTTP 403 "Invalid Credential".
func (c *client) keygen(ctx context.Context, user, password string) error {
	r, _, err := c.post(ctx, call{params: url.Values{"type": {"keygen"}, "user": {user}, "password": {password}}}, false)
	if err != nil {
		return err
	}
	key := r.Result.text("key")
	if key == "" {
		return errors.New("the keygen answer holds no key")
	}
	c.key = key
	return nil
}

// do sends a keyed request and returns the successful answer and its raw
// text.
func (c *client) do(ctx context.Context, req call) (*response, []byte, error) {
	return c.post(ctx, req, true)
}

// post sends one request and parses the answer; status="error" becomes an
// *APIError carrying the device's messages.
func (c *client) post(ctx context.Context, req call, withKey bool) (*response, []byte, error) {
	raw, _, status, err := c.exchange(ctx, req, withKey)
	if err != nil {
		return nil, nil, err
	}
	r, perr := parseResponse(raw)
	if perr != nil && !withKey {
		// A login answer is not quoted: a broken proxy might echo the
		// request, password included.
		return nil, nil, fmt.Errorf("unexpected HTTP %d answer that is not an XML API response", status)
	}
	if perr != nil {
		return nil, nil, fmt.Errorf("unexpected HTTP %d answer that is not an XML API response: %s", status, snippet(raw))
	}
	if r.Status != "success" {
		apiErr := &APIError{HTTPStatus: status, Code: r.Code, Messages: r.messages()}
		if withKey && refused(status, r) {
			apiErr.Hint = refusedHint(req.params.Get("type"))
		}
		return nil, nil, apiErr
	}
	if status != http.StatusOK {
		return nil, nil, fmt.Errorf("unexpected HTTP %d answer: %s", status, strings.Join(r.messages(), " "))
	}
	return r, raw, nil
}

// refusedHint explains a 403 to a keyed request of type reqType.
func refusedHint(reqType string) string {
	return fmt.Sprintf("the device refused the API key, or the administrator's role does not allow XML API %s requests: "+
		"check the role's XML API permissions (ottr device check lists what the role allows)", reqType)
}

// refused reports whether an answer is PAN-OS's 403: a bad key, or a
// request type the administrator's role does not allow.
func refused(status int, r *response) bool {
	return status == http.StatusForbidden || (r != nil && r.Code == "403")
}

// exchange sends a request and, with withKey, finds out on the first
// request where the device takes the key: a 403 to the header is tried
// once more with the key in the body, and whichever the device accepted is
// kept for the session. Two 403s leave the question open (the role, not
// the key's place, may be what the device refuses).
func (c *client) exchange(ctx context.Context, req call, withKey bool) ([]byte, *tls.ConnectionState, int, error) {
	if withKey && c.key == "" {
		return nil, nil, 0, errors.New("not logged in")
	}
	place := c.keyPlace
	raw, state, status, err := c.send(ctx, req, withKey, place)
	if err != nil || !withKey || place != keyUntried {
		return raw, state, status, err
	}
	if r, _ := parseResponse(raw); !refused(status, r) {
		c.keyPlace = keyInHeader
		return raw, state, status, nil
	}
	raw2, state2, status2, err := c.send(ctx, req, withKey, keyInBody)
	if err != nil {
		return nil, nil, 0, err
	}
	if r, _ := parseResponse(raw2); refused(status2, r) {
		return raw, state, status, nil
	}
	c.keyPlace = keyInBody
	c.log.Info("the device refused the API key in the X-PAN-KEY header and took it in the POST body; sending it there from now on")
	return raw2, state2, status2, nil
}

// send does one HTTP exchange, the key (with withKey) where place says.
func (c *client) send(ctx context.Context, req call, withKey bool, place keyPlace) ([]byte, *tls.ConnectionState, int, error) {
	params := req.params
	if withKey && place == keyInBody {
		params = maps.Clone(params)
		params.Set("key", c.key)
	}
	body, contentType, err := encode(params, req.file)
	if err != nil {
		return nil, nil, 0, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, body)
	if err != nil {
		return nil, nil, 0, err
	}
	hr.Header.Set("Content-Type", contentType)
	hr.Header.Set("Accept", "application/xml")
	if withKey && place != keyInBody {
		hr.Header.Set("X-PAN-KEY", c.key)
	}
	if req.fresh {
		c.transport.CloseIdleConnections()
		hr.Close = true
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		return nil, nil, 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, nil, 0, fmt.Errorf("read answer: %w", err)
	}
	return raw, resp.TLS, resp.StatusCode, nil
}

// encode renders the parameters as a form, or with a file as a multipart
// form whose fields are the parameters (pango's CommunicateFile sends
// imports so).
func encode(params url.Values, file *upload) (io.Reader, string, error) {
	if file == nil {
		return strings.NewReader(params.Encode()), "application/x-www-form-urlencoded", nil
	}
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for _, k := range slices.Sorted(maps.Keys(params)) {
		if err := w.WriteField(k, params.Get(k)); err != nil {
			return nil, "", err
		}
	}
	part, err := w.CreateFormFile(file.field, file.name)
	if err != nil {
		return nil, "", err
	}
	if _, err := part.Write(file.data); err != nil {
		return nil, "", err
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return &body, w.FormDataContentType(), nil
}

// snippet shortens an unexpected answer for an error message.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		return "(empty)"
	}
	return s
}

// op runs an operational command.
func (c *client) op(ctx context.Context, cmd string) (*response, error) {
	r, _, err := c.do(ctx, call{params: url.Values{"type": {"op"}, "cmd": {cmd}}})
	return r, err
}

// get returns the candidate configuration's node at xpath, or nil.
func (c *client) get(ctx context.Context, xpath string) (*xnode, error) {
	return c.read(ctx, "get", xpath)
}

// show returns the running configuration's node at xpath, or nil.
func (c *client) show(ctx context.Context, xpath string) (*xnode, error) {
	return c.read(ctx, "show", xpath)
}

func (c *client) read(ctx context.Context, action, xpath string) (*xnode, error) {
	r, _, err := c.do(ctx, call{params: url.Values{"type": {"config"}, "action": {action}, "xpath": {xpath}}})
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.notPresent() {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if r.Code == "7" || r.Result == nil || len(r.Result.Nodes) == 0 {
		return nil, nil
	}
	return &r.Result.Nodes[0], nil
}

// configure sends a config change: set, edit or delete.
func (c *client) configure(ctx context.Context, action, xpath, element string) error {
	params := url.Values{"type": {"config"}, "action": {action}, "xpath": {xpath}}
	if element != "" {
		params.Set("element", element)
	}
	_, _, err := c.do(ctx, call{params: params})
	return err
}

// set merges element into the candidate at xpath.
func (c *client) set(ctx context.Context, xpath, element string) error {
	return c.configure(ctx, "set", xpath, element)
}

// edit replaces the candidate's node at xpath with element.
func (c *client) edit(ctx context.Context, xpath, element string) error {
	return c.configure(ctx, "edit", xpath, element)
}

// remove deletes the candidate's node at xpath.
func (c *client) remove(ctx context.Context, xpath string) error {
	return c.configure(ctx, "delete", xpath, "")
}

// exportCSR downloads the CSR of a certificate entry, without its key.
func (c *client) exportCSR(ctx context.Context, name string) ([]byte, error) {
	params := url.Values{
		"type": {"export"}, "category": {"certificate"}, "certificate-name": {name},
		"format": {"pkcs10"}, "include-key": {"no"},
	}
	raw, _, status, err := c.exchange(ctx, call{params: params}, true)
	if err != nil {
		return nil, err
	}
	// The CSR comes as a file; an XML answer is an error.
	if r, perr := parseResponse(raw); perr == nil {
		apiErr := &APIError{HTTPStatus: status, Code: r.Code, Messages: r.messages()}
		if refused(status, r) {
			apiErr.Hint = refusedHint("export")
		}
		return nil, apiErr
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("unexpected HTTP %d answer: %s", status, snippet(raw))
	}
	return raw, nil
}

// importCertificate uploads a PEM certificate chain into the named entry.
func (c *client) importCertificate(ctx context.Context, name string, pemChain []byte) error {
	params := url.Values{"type": {"import"}, "category": {"certificate"}, "certificate-name": {name}, "format": {"pem"}}
	_, _, err := c.do(ctx, call{params: params, file: &upload{field: "file", name: name + ".pem", data: pemChain}})
	return err
}

// commitAnswer is the device's answer to a commit request: the job to wait
// for or, when it had nothing to commit, its words.
type commitAnswer struct {
	job     string
	nothing string
}

// commit sends a commit command. An answer with neither a job nor the
// device's "no changes" message is an error quoting the answer.
func (c *client) commit(ctx context.Context, action, cmd string) (commitAnswer, error) {
	params := url.Values{"type": {"commit"}, "cmd": {cmd}}
	if action != "" {
		params.Set("action", action)
	}
	r, raw, err := c.do(ctx, call{params: params})
	if err != nil {
		return commitAnswer{}, err
	}
	if id := r.Result.text("job"); id != "" {
		return commitAnswer{job: id}, nil
	}
	for _, m := range r.messages() {
		if strings.Contains(strings.ToLower(m), "no changes to commit") {
			return commitAnswer{nothing: m}, nil
		}
	}
	return commitAnswer{}, fmt.Errorf("the commit answer holds no job ID and no message the driver knows: %s", snippet(raw))
}

// job returns the state of a job.
func (c *client) job(ctx context.Context, id string) (*job, error) {
	r, raw, err := c.do(ctx, call{params: url.Values{"type": {"op"}, "cmd": {"<show><jobs><id>" + escape(id) + "</id></jobs></show>"}}})
	if err != nil {
		return nil, err
	}
	j, err := parseJob(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, snippet(raw))
	}
	return j, nil
}

// servedChain returns the certificates the management interface presents
// to a new connection.
func (c *client) servedChain(ctx context.Context) ([]*x509.Certificate, error) {
	req := call{params: url.Values{"type": {"op"}, "cmd": {systemInfoCommand}}, fresh: true}
	_, state, _, err := c.exchange(ctx, req, true)
	if err != nil {
		return nil, err
	}
	if state == nil {
		return nil, errors.New("the connection carried no TLS state")
	}
	return state.PeerCertificates, nil
}

// systemInfoCommand is "show system info".
const systemInfoCommand = "<show><system><info/></system></show>"
