package junoslab

import (
	"bufio"
	"bytes"
	"crypto/subtle"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	gliderssh "github.com/gliderlabs/ssh"
)

// NETCONF constants (RFC 6241, RFC 6242).
const (
	capBase10      = "urn:ietf:params:netconf:base:1.0"
	capBase11      = "urn:ietf:params:netconf:base:1.1"
	netconfNS      = "urn:ietf:params:xml:ns:netconf:base:1.0"
	endOfMessage   = "]]>]]>"
	junosNSVersion = "http://xml.juniper.net/junos/18.2R3/junos"
	// maxMessage bounds one request, so a broken client cannot make the
	// device buffer without end.
	maxMessage = 16 << 20
)

// capabilities are what the device announces in its hello: JunOS's list,
// trimmed to what the emulator implements.
var capabilities = []string{
	capBase10,
	"urn:ietf:params:netconf:capability:candidate:1.0",
	"urn:ietf:params:netconf:capability:confirmed-commit:1.0",
	"urn:ietf:params:netconf:capability:validate:1.0",
	"urn:ietf:params:xml:ns:netconf:base:1.0",
	"urn:ietf:params:xml:ns:netconf:capability:candidate:1.0",
	"urn:ietf:params:xml:ns:netconf:capability:confirmed-commit:1.0",
	"http://xml.juniper.net/netconf/junos/1.0",
	"http://xml.juniper.net/dmi/system/1.0",
}

func (d *Device) newSSHServer() *gliderssh.Server {
	srv := &gliderssh.Server{
		Handler: func(s gliderssh.Session) {
			// JunOS answers a plain shell with its CLI; the emulator
			// speaks only NETCONF.
			fmt.Fprintln(s.Stderr(), "this emulated JunOS device offers only the netconf subsystem")
			_ = s.Exit(1)
		},
		SubsystemHandlers: map[string]gliderssh.SubsystemHandler{"netconf": d.handleNetconf},
		HostSigners:       []gliderssh.Signer{d.hostKey},
		Version:           "OpenSSH_7.5 JUNOS",
		// A client that vanishes must not pin a goroutine forever.
		IdleTimeout: 10 * time.Minute,
	}
	if d.cfg.AuthorizedKey != nil {
		want := d.cfg.AuthorizedKey
		srv.PublicKeyHandler = func(ctx gliderssh.Context, key gliderssh.PublicKey) bool {
			d.authAttempts.Add(1)
			return ctx.User() == d.cfg.Username && gliderssh.KeysEqual(key, want)
		}
	}
	if d.cfg.Password != "" {
		want := []byte(d.cfg.Password)
		srv.PasswordHandler = func(ctx gliderssh.Context, password string) bool {
			d.authAttempts.Add(1)
			return ctx.User() == d.cfg.Username && subtle.ConstantTimeCompare([]byte(password), want) == 1
		}
	}
	return srv
}

// session is one NETCONF session.
type session struct {
	id   int
	user string
}

// handleNetconf runs one NETCONF session: hello exchange, then one reply
// per request until close-session or the end of the channel.
func (d *Device) handleNetconf(s gliderssh.Session) {
	d.mu.Lock()
	d.nextSession++
	sess := &session{id: d.nextSession, user: s.User()}
	d.mu.Unlock()
	defer d.endSession(sess)

	w := &keyScanner{w: s, found: &d.exported}
	r := bufio.NewReader(s)
	hello := newNode("hello", newNode("capabilities"), leaf("session-id", strconv.Itoa(sess.id)))
	hello.Attrs = append(hello.Attrs, xmlAttr("xmlns", netconfNS))
	caps := hello.child("capabilities")
	for _, c := range capabilities {
		caps.Children = append(caps.Children, leaf("capability", c))
	}
	if !d.cfg.Base10Only {
		caps.Children = append(caps.Children, leaf("capability", capBase11))
	}
	if _, err := io.WriteString(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"+hello.marshal()+endOfMessage); err != nil {
		return
	}
	raw, err := readEndOfMessage(r)
	if err != nil {
		return
	}
	clientHello, err := parseNode(raw)
	if err != nil || clientHello.name() != "hello" {
		return
	}
	var client10, client11 bool
	for _, c := range clientHello.child("capabilities").all("capability") {
		client10 = client10 || c.value() == capBase10
		client11 = client11 || c.value() == capBase11
	}
	if !client10 && !client11 {
		return
	}
	chunked := client11 && !d.cfg.Base10Only
	d.mu.Lock()
	d.sessions++
	d.mu.Unlock()

	for {
		var msg []byte
		if chunked {
			msg, err = readChunked(r)
		} else {
			msg, err = readEndOfMessage(r)
		}
		if err != nil {
			return
		}
		reply, closing := d.handle(sess, msg)
		if chunked {
			err = writeChunked(w, reply)
		} else {
			_, err = io.WriteString(w, reply+endOfMessage)
		}
		if err != nil || closing {
			return
		}
	}
}

// endSession releases what the session held: its lock, and with it the
// uncommitted changes it made, as leaving `configure exclusive` does.
func (d *Device) endSession(s *session) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lockSession == s.id {
		d.lockSession, d.lockUser = 0, ""
		d.candidate = d.running.clone()
	}
}

// handle answers one request with an rpc-reply and says whether the session
// ends.
func (d *Device) handle(s *session, msg []byte) (string, bool) {
	req, err := parseNode(msg)
	if err != nil || req.name() != "rpc" {
		return replyXML(nil, nil, response{errs: []loadError{{
			severity: "error", message: "syntax error, expecting <rpc> element",
		}}}), false
	}
	attrs := req.Attrs
	if len(req.Children) != 1 {
		return replyXML(attrs, nil, failure("syntax error: an <rpc> holds exactly one operation")), false
	}
	op := req.Children[0]
	d.mu.Lock()
	d.rpcNames = append(d.rpcNames, op.name())
	d.mu.Unlock()
	d.cfg.Logger.Debug("lab junos rpc", "device", d.cfg.Name, "session", s.id, "rpc", op.name())
	if op.name() == "close-session" {
		return replyXML(attrs, nil, response{}), true
	}
	handler, ok := d.ops[op.name()]
	if !ok {
		resp := failure("syntax error")
		resp.errs[0].element = op.name()
		resp.errs[0].tag = "operation-not-supported"
		return replyXML(attrs, nil, resp), false
	}
	return replyXML(attrs, op, handler(s, op)), false
}

// handler answers one operation.
type handler func(s *session, op *node) response

// response is what a handler returns: reply content and rpc-errors of any
// severity. No content and no error means <ok/>.
type response struct {
	body []*node
	errs []loadError
	// tag overrides the error-tag of errs (default operation-failed).
	tag string
}

func failure(format string, args ...any) response {
	return response{errs: []loadError{{severity: "error", message: fmt.Sprintf(format, args...)}}}
}

func output(text string) response {
	return response{body: []*node{leaf("output", text)}}
}

func (r response) failed() bool {
	for _, e := range r.errs {
		if e.severity != "warning" {
			return true
		}
	}
	return false
}

// replyXML renders an rpc-reply carrying the request's attributes
// (message-id among them), as RFC 6241 requires.
func replyXML(reqAttrs []xml.Attr, op *node, r response) string {
	reply := newNode("rpc-reply")
	reply.Attrs = append(reply.Attrs, xmlAttr("xmlns", netconfNS), xmlAttr("xmlns:junos", junosNSVersion))
	for _, a := range reqAttrs {
		if a.Name.Space == "xmlns" || a.Name.Local == "xmlns" {
			continue
		}
		reply.Attrs = append(reply.Attrs, xmlAttr(a.Name.Local, a.Value))
	}
	for _, e := range r.errs {
		if e.tag == "" {
			e.tag = r.tag
		}
		reply.Children = append(reply.Children, rpcErrorNode(e, op))
	}
	reply.Children = append(reply.Children, r.body...)
	if len(r.body) == 0 && !r.failed() {
		reply.Children = append(reply.Children, leaf("ok", ""))
	}
	return reply.marshal()
}

func rpcErrorNode(e loadError, op *node) *node {
	tag := e.tag
	if tag == "" {
		tag = "operation-failed"
	}
	n := newNode("rpc-error",
		leaf("error-type", "application"),
		leaf("error-tag", tag),
		leaf("error-severity", e.severity),
	)
	if e.path != "" {
		n.Children = append(n.Children, leaf("error-path", e.path))
	}
	element := e.element
	if element == "" && op != nil {
		element = op.name()
	}
	if element != "" {
		n.Children = append(n.Children, newNode("error-info", leaf("bad-element", element)))
	}
	n.Children = append(n.Children, leaf("error-message", e.message))
	return n
}

// readEndOfMessage reads one base:1.0 message, up to "]]>]]>".
func readEndOfMessage(r *bufio.Reader) ([]byte, error) {
	var buf bytes.Buffer
	for {
		b, err := r.ReadBytes('>')
		buf.Write(b)
		if err != nil {
			return nil, err
		}
		if buf.Len() > maxMessage {
			return nil, errors.New("message too long")
		}
		if bytes.HasSuffix(buf.Bytes(), []byte(endOfMessage)) {
			return buf.Bytes()[:buf.Len()-len(endOfMessage)], nil
		}
	}
}

// readChunked reads one base:1.1 chunked message (RFC 6242 section 4.2).
func readChunked(r *bufio.Reader) ([]byte, error) {
	var msg []byte
	for {
		header, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		if header == "\n" && len(msg) == 0 {
			// The LF that starts the first chunk header.
			continue
		}
		if header == "\n" {
			return nil, errors.New("chunk header: unexpected blank line")
		}
		size := strings.TrimSuffix(header, "\n")
		if size == "##" {
			return msg, nil
		}
		if !strings.HasPrefix(size, "#") {
			return nil, fmt.Errorf("chunk header %q", header)
		}
		n, err := strconv.ParseUint(size[1:], 10, 32)
		if err != nil || n == 0 || len(msg)+int(n) > maxMessage {
			return nil, fmt.Errorf("chunk size %q", size)
		}
		chunk := make([]byte, n)
		if _, err := io.ReadFull(r, chunk); err != nil {
			return nil, err
		}
		msg = append(msg, chunk...)
		// Each chunk but the first is preceded by the LF of its header.
		if lf, err := r.ReadByte(); err != nil || lf != '\n' {
			return nil, errors.New("chunk not followed by a header")
		}
	}
}

func writeChunked(w io.Writer, msg string) error {
	_, err := fmt.Fprintf(w, "\n#%d\n%s\n##\n", len(msg), msg)
	return err
}

// keyScanner passes writes through and records whether any held a PEM
// private key.
type keyScanner struct {
	w     io.Writer
	found *atomic.Bool
}

func (k *keyScanner) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("PRIVATE KEY-----")) {
		k.found.Store(true)
	}
	return k.w.Write(p)
}
