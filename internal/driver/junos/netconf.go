package junos

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// NETCONF constants (RFC 6241, RFC 6242).
const (
	capBase10      = "urn:ietf:params:netconf:base:1.0"
	capBase11      = "urn:ietf:params:netconf:base:1.1"
	capCandidate   = "urn:ietf:params:netconf:capability:candidate:1.0"
	capConfirmed   = "urn:ietf:params:netconf:capability:confirmed-commit:1.0"
	capJunos       = "http://xml.juniper.net/netconf/junos/1.0"
	netconfNS      = "urn:ietf:params:xml:ns:netconf:base:1.0"
	endOfMessage   = "]]>]]>"
	maxReplyLength = 64 << 20
)

// clientHello announces both framings; RFC 6242 picks chunks when both
// peers can.
const clientHello = `<?xml version="1.0" encoding="UTF-8"?><hello xmlns="` + netconfNS + `"><capabilities>` +
	`<capability>` + capBase10 + `</capability><capability>` + capBase11 + `</capability>` +
	`</capabilities></hello>` + endOfMessage

// rpcError is one <rpc-error> of severity error from the device.
type rpcError struct {
	Tag     string
	Path    string
	Element string
	Message string
}

// deviceError is a failed RPC: the operation and the device's own words.
type deviceError struct {
	Operation string
	Errors    []rpcError
}

func (e *deviceError) Error() string {
	parts := make([]string, 0, len(e.Errors))
	for _, r := range e.Errors {
		msg := strings.Join(strings.Fields(r.Message), " ")
		if r.Path != "" {
			msg += " (at " + strings.Join(strings.Fields(r.Path), " ") + ")"
		}
		parts = append(parts, msg)
	}
	return fmt.Sprintf("<%s>: device says: %s", e.Operation, strings.Join(parts, "; "))
}

// netconf is one NETCONF session over an SSH "netconf" subsystem. Calls
// are serialized: NETCONF answers in order, one reply per request.
type netconf struct {
	conn   net.Conn // the TCP connection, closed to interrupt a blocked read
	client *ssh.Client
	stdin  io.WriteCloser
	stdout *bufio.Reader
	log    *slog.Logger

	chunked      bool
	capabilities []string
	rpcTimeout   time.Duration

	mu     sync.Mutex
	nextID int
	// broken is why the session can no longer be used: a request
	// interrupted mid-reply leaves the stream out of step.
	broken error
}

// startNetconf opens the netconf subsystem on client and exchanges hellos.
func startNetconf(ctx context.Context, conn net.Conn, client *ssh.Client, rpcTimeout time.Duration, log *slog.Logger) (*netconf, error) {
	sess, err := client.NewSession()
	if err != nil {
		return nil, fmt.Errorf("open SSH session: %w", err)
	}
	stdin, err := sess.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("SSH session stdin: %w", err)
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("SSH session stdout: %w", err)
	}
	if err := sess.RequestSubsystem("netconf"); err != nil {
		return nil, fmt.Errorf("start the netconf subsystem (is `set system services netconf ssh` configured?): %w", err)
	}
	nc := &netconf{
		conn: conn, client: client, stdin: stdin, stdout: bufio.NewReader(stdout),
		log: log, rpcTimeout: rpcTimeout,
	}

	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	hello, err := nc.exchangeHellos()
	if !stop() {
		return nil, fmt.Errorf("NETCONF hello: %w", context.Cause(ctx))
	}
	if err != nil {
		return nil, fmt.Errorf("NETCONF hello: %w", err)
	}
	for _, c := range hello.child("capabilities").all("capability") {
		nc.capabilities = append(nc.capabilities, c.value())
	}
	nc.chunked = slices.Contains(nc.capabilities, capBase11)
	if !nc.chunked && !slices.Contains(nc.capabilities, capBase10) {
		return nil, errors.New("NETCONF hello: the device offers neither base:1.0 nor base:1.1")
	}
	log.Debug("NETCONF session open", "session_id", hello.childText("session-id"), "chunked", nc.chunked)
	return nc, nil
}

func (nc *netconf) exchangeHellos() (*node, error) {
	if _, err := io.WriteString(nc.stdin, clientHello); err != nil {
		return nil, err
	}
	raw, err := readEndOfMessage(nc.stdout)
	if err != nil {
		return nil, err
	}
	hello, err := parseNode(raw)
	if err != nil {
		return nil, fmt.Errorf("parse the device's hello: %w", err)
	}
	if hello.name() != "hello" {
		return nil, fmt.Errorf("the device sent <%s> instead of <hello>", hello.name())
	}
	return hello, nil
}

// has reports whether the device announced capability c.
func (nc *netconf) has(c string) bool { return slices.Contains(nc.capabilities, c) }

// call sends one operation (the XML inside <rpc>) and returns the
// rpc-reply. An rpc-error of severity error becomes a *deviceError; warnings
// are logged. ctx and the RPC timeout bound the whole exchange.
func (nc *netconf) call(ctx context.Context, operation string) (*node, error) {
	nc.mu.Lock()
	defer nc.mu.Unlock()
	name := operationName(operation)
	if nc.broken != nil {
		return nil, fmt.Errorf("<%s>: the NETCONF session is unusable after an earlier failure: %w", name, nc.broken)
	}
	if err := ctx.Err(); err != nil {
		// Not sent, so the session stays usable.
		return nil, fmt.Errorf("<%s>: %w", name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, nc.rpcTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = nc.conn.Close() })
	nc.nextID++
	id := strconv.Itoa(nc.nextID)
	raw, err := nc.exchange(`<rpc message-id="` + id + `" xmlns="` + netconfNS + `">` + operation + `</rpc>`)
	if !stop() {
		nc.broken = fmt.Errorf("<%s> interrupted: %w", name, context.Cause(ctx))
		return nil, nc.broken
	}
	if err != nil {
		nc.broken = fmt.Errorf("<%s>: %w", name, err)
		return nil, nc.broken
	}
	reply, err := parseNode(raw)
	if err != nil {
		nc.broken = fmt.Errorf("<%s>: parse the reply: %w", name, err)
		return nil, nc.broken
	}
	if reply.name() != "rpc-reply" || reply.attr("message-id") != id {
		nc.broken = fmt.Errorf("<%s>: expected the rpc-reply to message %s, got <%s message-id=%q>", name, id, reply.name(), reply.attr("message-id"))
		return nil, nc.broken
	}
	nc.log.Debug("NETCONF rpc", "rpc", name)
	var failed []rpcError
	for _, e := range reply.descendants("rpc-error") {
		re := rpcError{
			Tag:     e.childText("error-tag"),
			Path:    e.childText("error-path"),
			Element: e.child("error-info").childText("bad-element"),
			Message: e.childText("error-message"),
		}
		if e.childText("error-severity") == "warning" {
			nc.log.Debug("device warning", "rpc", name, "message", re.Message)
			continue
		}
		failed = append(failed, re)
	}
	if len(failed) > 0 {
		return reply, &deviceError{Operation: name, Errors: failed}
	}
	return reply, nil
}

func (nc *netconf) exchange(msg string) ([]byte, error) {
	if nc.chunked {
		if _, err := fmt.Fprintf(nc.stdin, "\n#%d\n%s\n##\n", len(msg), msg); err != nil {
			return nil, err
		}
		return readChunked(nc.stdout)
	}
	if _, err := io.WriteString(nc.stdin, msg+endOfMessage); err != nil {
		return nil, err
	}
	return readEndOfMessage(nc.stdout)
}

// close ends the session politely when it still works, then closes the
// connection.
func (nc *netconf) close() error {
	nc.mu.Lock()
	usable := nc.broken == nil
	nc.mu.Unlock()
	if usable {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = nc.call(ctx, "<close-session/>")
		cancel()
	}
	nc.mu.Lock()
	if nc.broken == nil {
		nc.broken = errors.New("session closed")
	}
	nc.mu.Unlock()
	if err := nc.client.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// operationName is the element name an operation starts with, for errors
// and logs.
func operationName(op string) string {
	op = strings.TrimPrefix(op, "<")
	if i := strings.IndexAny(op, " />"); i >= 0 {
		return op[:i]
	}
	return op
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
		if buf.Len() > maxReplyLength {
			return nil, errors.New("reply longer than 64 MiB")
		}
		if bytes.HasSuffix(buf.Bytes(), []byte(endOfMessage)) {
			return buf.Bytes()[:buf.Len()-len(endOfMessage)], nil
		}
	}
}

// readChunked reads one base:1.1 chunked message (RFC 6242 section 4.2):
// LF #size LF data ... LF ## LF.
func readChunked(r *bufio.Reader) ([]byte, error) {
	var msg []byte
	if lf, err := r.ReadByte(); err != nil {
		return nil, err
	} else if lf != '\n' {
		return nil, fmt.Errorf("chunked framing: expected LF, got %q", lf)
	}
	for {
		header, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		header = strings.TrimSuffix(header, "\n")
		if header == "##" {
			return msg, nil
		}
		size, ok := strings.CutPrefix(header, "#")
		n, err := strconv.ParseUint(size, 10, 32)
		if !ok || err != nil || n == 0 {
			return nil, fmt.Errorf("chunked framing: bad chunk header %q", header)
		}
		if len(msg)+int(n) > maxReplyLength {
			return nil, errors.New("reply longer than 64 MiB")
		}
		start := len(msg)
		msg = append(msg, make([]byte, n)...)
		if _, err := io.ReadFull(r, msg[start:]); err != nil {
			return nil, err
		}
		if lf, err := r.ReadByte(); err != nil {
			return nil, err
		} else if lf != '\n' {
			return nil, fmt.Errorf("chunked framing: expected LF after a chunk, got %q", lf)
		}
	}
}
