package acme

import (
	"context"
	"log/slog"
	"time"

	"github.com/go-acme/lego/v5/challenge/dns01"
	legolog "github.com/go-acme/lego/v5/log"
)

// lego keeps two settings per process rather than per client: the DNS
// resolvers used to follow _acme-challenge CNAMEs and check propagation,
// and its logger. The functions here set them; call each once, at start-up,
// before any Issuer is used.

// SetResolvers makes lego follow CNAMEs and check record propagation
// through addrs ("host:port"; ":53" is added when the port is missing).
// Empty means the system's resolvers (/etc/resolv.conf). It applies to
// every Issuer in the process.
func SetResolvers(addrs []string) {
	opts := &dns01.Options{Timeout: 5 * time.Second}
	if len(addrs) > 0 {
		opts.RecursiveNameservers = append([]string(nil), addrs...)
	}
	dns01.SetDefaultClient(dns01.NewClient(opts))
}

// SetLogger routes lego's log through l. lego's progress messages are
// logged at debug level, its warnings and errors as they are. Without
// this, lego writes text to standard output. nil discards it.
func SetLogger(l *slog.Logger) {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	legolog.SetDefault(slog.New(demoteInfo{l.Handler()}))
}

// demoteInfo logs Info records at Debug: lego narrates every step of every
// order at Info, which drowns ottr's own log when many rotations run.
type demoteInfo struct{ slog.Handler }

func (d demoteInfo) Enabled(ctx context.Context, level slog.Level) bool {
	if level == slog.LevelInfo {
		level = slog.LevelDebug
	}
	return d.Handler.Enabled(ctx, level)
}

func (d demoteInfo) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelInfo {
		r.Level = slog.LevelDebug
	}
	return d.Handler.Handle(ctx, r)
}

func (d demoteInfo) WithAttrs(attrs []slog.Attr) slog.Handler {
	return demoteInfo{d.Handler.WithAttrs(attrs)}
}

func (d demoteInfo) WithGroup(name string) slog.Handler {
	return demoteInfo{d.Handler.WithGroup(name)}
}
