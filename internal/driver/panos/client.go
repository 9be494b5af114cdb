package panos

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/driver"
)

// maxResponse bounds an answer read into memory; a saved configuration of a
// large firewall is tens of megabytes.
const maxResponse = 128 << 20

// client speaks the PAN-OS XML API to one device. Every call is a POST to
// /api/ with the parameters in the form body, never in the URL: URLs end up
// in proxy and web server logs. The API key travels only in the X-PAN-KEY
// header.
type client struct {
	endpoint  string
	http      *http.Client
	transport *http.Transport
	key       string
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
	}, nil
}

// close drops idle connections.
func (c *client) close() { c.transport.CloseIdleConnections() }

// keygen logs in and keeps the API key. The login is in the body; the
// device answers a wrong one with HTTP 403 "Invalid Credential".
func (c *client) keygen(ctx context.Context, user, password string) error {
	form := url.Values{"type": {"keygen"}, "user": {user}, "password": {password}}
	r, err := c.post(ctx, strings.NewReader(form.Encode()), "application/x-www-form-urlencoded", false)
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

// call sends a form request and returns the successful answer.
func (c *client) call(ctx context.Context, form url.Values) (*response, error) {
	return c.post(ctx, strings.NewReader(form.Encode()), "application/x-www-form-urlencoded", true)
}

// post sends one request and parses the answer; status="error" becomes an
// *APIError carrying the device's messages.
func (c *client) post(ctx context.Context, body io.Reader, contentType string, withKey bool) (*response, error) {
	raw, _, status, err := c.send(ctx, body, contentType, withKey, false)
	if err != nil {
		return nil, err
	}
	r, perr := parseResponse(raw)
	if perr != nil && !withKey {
		// A login answer is not quoted: a broken proxy might echo the
		// request, password included.
		return nil, fmt.Errorf("unexpected HTTP %d answer that is not an XML API response", status)
	}
	if perr != nil {
		return nil, fmt.Errorf("unexpected HTTP %d answer that is not an XML API response: %s", status, snippet(raw))
	}
	if r.Status != "success" {
		return nil, &APIError{HTTPStatus: status, Code: r.Code, Messages: r.messages()}
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("unexpected HTTP %d answer: %s", status, strings.Join(r.messages(), " "))
	}
	return r, nil
}

// send does the HTTP exchange. With fresh, it first drops idle connections,
// so the answer comes over a new TLS handshake.
func (c *client) send(ctx context.Context, body io.Reader, contentType string, withKey, fresh bool) ([]byte, *tls.ConnectionState, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, body)
	if err != nil {
		return nil, nil, 0, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/xml")
	if withKey {
		if c.key == "" {
			return nil, nil, 0, errors.New("not logged in")
		}
		req.Header.Set("X-PAN-KEY", c.key)
	}
	if fresh {
		c.transport.CloseIdleConnections()
		req.Close = true
	}
	resp, err := c.http.Do(req)
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
	return c.call(ctx, url.Values{"type": {"op"}, "cmd": {cmd}})
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
	r, err := c.call(ctx, url.Values{"type": {"config"}, "action": {action}, "xpath": {xpath}})
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

// set merges element into the candidate at xpath.
func (c *client) set(ctx context.Context, xpath, element string) error {
	_, err := c.call(ctx, url.Values{"type": {"config"}, "action": {"set"}, "xpath": {xpath}, "element": {element}})
	return err
}

// edit replaces the candidate's node at xpath with element.
func (c *client) edit(ctx context.Context, xpath, element string) error {
	_, err := c.call(ctx, url.Values{"type": {"config"}, "action": {"edit"}, "xpath": {xpath}, "element": {element}})
	return err
}

// remove deletes the candidate's node at xpath.
func (c *client) remove(ctx context.Context, xpath string) error {
	_, err := c.call(ctx, url.Values{"type": {"config"}, "action": {"delete"}, "xpath": {xpath}})
	return err
}

// exportCSR downloads the CSR of a certificate entry, without its key.
func (c *client) exportCSR(ctx context.Context, name string) ([]byte, error) {
	form := url.Values{
		"type": {"export"}, "category": {"certificate"}, "certificate-name": {name},
		"format": {"pkcs10"}, "include-key": {"no"},
	}
	raw, _, status, err := c.send(ctx, strings.NewReader(form.Encode()), "application/x-www-form-urlencoded", true, false)
	if err != nil {
		return nil, err
	}
	// The CSR comes as a file; an XML answer is an error.
	if r, perr := parseResponse(raw); perr == nil {
		return nil, &APIError{HTTPStatus: status, Code: r.Code, Messages: r.messages()}
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("unexpected HTTP %d answer: %s", status, snippet(raw))
	}
	return raw, nil
}

// importCertificate uploads a PEM certificate chain into the named entry
// (multipart, as the API wants files).
func (c *client) importCertificate(ctx context.Context, name string, pemChain []byte) error {
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for _, kv := range [][2]string{{"type", "import"}, {"category", "certificate"}, {"certificate-name", name}, {"format", "pem"}} {
		if err := w.WriteField(kv[0], kv[1]); err != nil {
			return err
		}
	}
	part, err := w.CreateFormFile("file", name+".pem")
	if err != nil {
		return err
	}
	if _, err := part.Write(pemChain); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	_, err = c.post(ctx, &body, w.FormDataContentType(), true)
	return err
}

// commitPartial commits the changes of one administrator and returns the
// job's ID, or "" when the device says there is nothing to commit.
func (c *client) commitPartial(ctx context.Context, admin string) (string, error) {
	cmd := "<commit><partial><admin><member>" + escape(admin) + "</member></admin></partial></commit>"
	r, err := c.call(ctx, url.Values{"type": {"commit"}, "action": {"partial"}, "cmd": {cmd}})
	if err != nil {
		return "", err
	}
	if id := r.Result.text("job"); id != "" {
		return id, nil
	}
	for _, m := range r.messages() {
		if strings.Contains(strings.ToLower(m), "no changes to commit") {
			return "", nil
		}
	}
	return "", fmt.Errorf("the commit answer holds no job ID: %s", strings.Join(r.messages(), " "))
}

// job returns the state of a job.
func (c *client) job(ctx context.Context, id string) (*job, error) {
	r, err := c.op(ctx, "<show><jobs><id>"+escape(id)+"</id></jobs></show>")
	if err != nil {
		return nil, err
	}
	return parseJob(r)
}

// servedChain returns the certificates the management interface presents
// to a new connection.
func (c *client) servedChain(ctx context.Context) ([]*x509.Certificate, error) {
	form := url.Values{"type": {"op"}, "cmd": {"<show><system><info/></system></show>"}}
	_, state, _, err := c.send(ctx, strings.NewReader(form.Encode()), "application/x-www-form-urlencoded", true, true)
	if err != nil {
		return nil, err
	}
	if state == nil {
		return nil, errors.New("the connection carried no TLS state")
	}
	return state.PeerCertificates, nil
}
