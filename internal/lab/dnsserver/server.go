// Package dnsserver is the lab's authoritative DNS server: it serves a few
// zones from memory over UDP and TCP and accepts TSIG-signed RFC 2136
// dynamic updates for the zones that are marked updatable, which is how the
// ACME client writes DNS-01 challenge records into a delegate zone.
//
// It answers the way the embedded Pebble CA needs: Pebble's validator sends
// one TXT query and does not follow CNAMEs, so an answer for a name that is
// a CNAME carries the CNAME and the target's records when the target is in
// one of the served zones.
package dnsserver

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Config tunes Start. The zero value of every field means its documented
// default.
type Config struct {
	// Addr is the host:port served over both UDP and TCP. Default
	// "127.0.0.1:0", a free port.
	Addr string
	// Zones are the zones answered authoritatively, e.g. "lab.ottr.test."
	// (the device zone) and "acme.ottr.test." (the delegate zone). Each
	// gets a SOA and an NS record at its apex.
	Zones []string
	// UpdatableZones are the zones, among Zones, that accept dynamic
	// updates. Updates to any other zone are refused.
	UpdatableZones []string
	// TSIG maps a key name to its base64 secret. Updates must be signed
	// with one of these keys using HMAC-SHA256 (or SHA384/SHA512).
	TSIG map[string]string
	// Logger receives one line per update and, at debug level, per query.
	// Default: discard.
	Logger *slog.Logger
}

// Server is a running lab DNS server. It is safe for concurrent use.
type Server struct {
	addr   string
	log    *slog.Logger
	udp    *dns.Server
	tcp    *dns.Server
	zones  *zoneSet
	closed sync.Once
}

// Start listens on cfg.Addr (UDP and TCP, same port) and serves until
// Close. ctx bounds the start-up only.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	secrets, err := tsigSecrets(cfg.TSIG)
	if err != nil {
		return nil, err
	}
	pc, ln, err := listenBoth(ctx, cfg.Addr)
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(pc.LocalAddr().String())
	zones, err := newZoneSet(cfg.Zones, cfg.UpdatableZones, net.ParseIP(host))
	if err != nil {
		_ = pc.Close()
		_ = ln.Close()
		return nil, err
	}
	s := &Server{addr: pc.LocalAddr().String(), log: cfg.Logger, zones: zones}

	udpStarted, tcpStarted := make(chan struct{}), make(chan struct{})
	s.udp = &dns.Server{
		PacketConn:        pc,
		UDPSize:           dns.DefaultMsgSize,
		Handler:           s,
		TsigSecret:        secrets,
		MsgAcceptFunc:     acceptQueriesAndUpdates,
		NotifyStartedFunc: func() { close(udpStarted) },
	}
	s.tcp = &dns.Server{
		Listener:          ln,
		Handler:           s,
		TsigSecret:        secrets,
		MsgAcceptFunc:     acceptQueriesAndUpdates,
		NotifyStartedFunc: func() { close(tcpStarted) },
		// Pebble's validator keeps no connection open; idle TCP clients
		// should not hold a goroutine for the default 8 s after Close.
		IdleTimeout: func() time.Duration { return 2 * time.Second },
	}
	serveErr := make(chan error, 2)
	go func() { serveErr <- s.udp.ActivateAndServe() }()
	go func() { serveErr <- s.tcp.ActivateAndServe() }()
	for _, started := range []chan struct{}{udpStarted, tcpStarted} {
		select {
		case <-started:
		case err := <-serveErr:
			_ = s.Close()
			return nil, fmt.Errorf("dnsserver: serve: %w", err)
		case <-ctx.Done():
			_ = s.Close()
			return nil, fmt.Errorf("dnsserver: start: %w", ctx.Err())
		}
	}
	s.log.Info("dnsserver: listening", "addr", s.addr, "zones", zones.names(), "updatable", cfg.UpdatableZones)
	return s, nil
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Addr is the host:port the server answers on, over UDP and TCP.
func (s *Server) Addr() string { return s.addr }

// Close stops both listeners. It is safe to call more than once.
func (s *Server) Close() error {
	var err error
	s.closed.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = errors.Join(shutdown(ctx, s.udp), shutdown(ctx, s.tcp))
	})
	return err
}

func shutdown(ctx context.Context, srv *dns.Server) error {
	if srv == nil {
		return nil
	}
	err := srv.ShutdownContext(ctx)
	if err != nil && strings.Contains(err.Error(), "not started") {
		// Start failed before this listener ran; its socket is closed below.
		err = nil
	}
	if srv.PacketConn != nil {
		_ = srv.PacketConn.Close()
	}
	if srv.Listener != nil {
		_ = srv.Listener.Close()
	}
	if err != nil {
		return fmt.Errorf("dnsserver: shutdown: %w", err)
	}
	return nil
}

// ServeDNS answers one request; it implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	var reply *dns.Msg
	switch req.Opcode {
	case dns.OpcodeQuery:
		reply = s.answerQuery(req)
	case dns.OpcodeUpdate:
		reply = s.applyUpdate(req, w.TsigStatus())
	default:
		reply = new(dns.Msg).SetRcode(req, dns.RcodeNotImplemented)
	}
	if _, isUDP := w.LocalAddr().(*net.UDPAddr); isUDP {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = int(opt.UDPSize())
		}
		reply.Truncate(size)
	}
	if err := w.WriteMsg(reply); err != nil {
		s.log.Debug("dnsserver: write reply", "remote", w.RemoteAddr().String(), "err", err)
	}
}

// acceptQueriesAndUpdates is dns.DefaultMsgAcceptFunc widened to UPDATE,
// whose prerequisite and update sections may carry any number of records.
func acceptQueriesAndUpdates(dh dns.Header) dns.MsgAcceptAction {
	const qrBit = 1 << 15
	if dh.Bits&qrBit != 0 {
		return dns.MsgIgnore
	}
	opcode := int(dh.Bits>>11) & 0xF
	if opcode == dns.OpcodeUpdate {
		if dh.Qdcount != 1 {
			return dns.MsgReject
		}
		return dns.MsgAccept
	}
	return dns.DefaultMsgAcceptFunc(dh)
}

// tsigSecrets checks every secret decodes and returns the map keyed the way
// miekg/dns looks keys up: canonical, fully qualified names.
func tsigSecrets(keys map[string]string) (map[string]string, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(keys))
	for name, secret := range keys {
		if _, err := base64.StdEncoding.DecodeString(secret); err != nil || secret == "" {
			// The secret itself stays out of the error.
			return nil, fmt.Errorf("dnsserver: TSIG key %q: the secret is not base64", name)
		}
		out[dns.CanonicalName(name)] = secret
	}
	return out, nil
}

// listenBoth opens UDP and TCP on the same port. With port 0 the kernel
// picks the UDP port and TCP may find it taken, so it tries a few times.
func listenBoth(ctx context.Context, addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dnsserver: address %q: %w", addr, err)
	}
	var lc net.ListenConfig
	for attempt := 0; ; attempt++ {
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dnsserver: listen udp: %w", err)
		}
		udpPort := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(udpPort)))
		if err == nil {
			return pc, ln, nil
		}
		_ = pc.Close()
		if port != "0" || attempt >= 10 {
			return nil, nil, fmt.Errorf("dnsserver: listen tcp: %w", err)
		}
	}
}
