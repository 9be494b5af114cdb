package queue

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
)

// stopAwareHandler passes River's log on, except that once the queue is
// stopping, an error or warning caused by River's own cancellation (a
// maintenance service that was still starting, say) becomes a debug line:
// it is how a stop looks from inside, not something for an operator.
type stopAwareHandler struct {
	inner    slog.Handler
	stopping *atomic.Bool
}

func (h stopAwareHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

func (h stopAwareHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn && h.stopping.Load() && causedByCancel(r) {
		if !h.inner.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r.Level = slog.LevelDebug
	}
	return h.inner.Handle(ctx, r)
}

func (h stopAwareHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return stopAwareHandler{inner: h.inner.WithAttrs(attrs), stopping: h.stopping}
}

func (h stopAwareHandler) WithGroup(name string) slog.Handler {
	return stopAwareHandler{inner: h.inner.WithGroup(name), stopping: h.stopping}
}

// causedByCancel reports whether the record's error is a cancelled
// context.
func causedByCancel(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "error" && a.Key != "err" {
			return true
		}
		switch v := a.Value.Any().(type) {
		case error:
			found = errors.Is(v, context.Canceled)
		case string:
			found = strings.Contains(v, context.Canceled.Error())
		}
		return !found
	})
	return found
}
