package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
)

func TestRiversCancellationErrorsAreDebugOnceTheQueueStops(t *testing.T) {
	var buf bytes.Buffer
	var stopping atomic.Bool
	log := slog.New(stopAwareHandler{inner: slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}), stopping: &stopping})
	canceled := fmt.Errorf("start transaction: %w", context.Canceled)

	log.Error("while running", "error", canceled)
	stopping.Store(true)
	log.Error("while stopping", "error", canceled)
	log.Error("while stopping, as text", "error", canceled.Error())
	log.Error("another failure while stopping", "error", errors.New("disk full"))
	log.With("queue", "dc1").Warn("through a derived logger", "err", canceled)

	out := buf.String()
	for _, want := range []string{`level=ERROR msg="while running"`, `level=ERROR msg="another failure while stopping"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	for _, hidden := range []string{`msg="while stopping"`, "as text", "derived logger"} {
		if strings.Contains(out, hidden) {
			t.Errorf("a cancellation while stopping reached an info-level log (%s):\n%s", hidden, out)
		}
	}
}
