package app

import (
	"context"
	"log/slog"
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestMemoryLimitRisesAboveWhatTheProcessHolds(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	memoryLimit(ctx, 64, slog.New(slog.DiscardHandler))
	if got := debug.SetMemoryLimit(-1); got != 64<<20 {
		t.Fatalf("limit = %d, want 64 MiB", got)
	}
	// Hold more than the limit: the collector would otherwise run
	// without end.
	held := make([][]byte, 96)
	for i := range held {
		held[i] = make([]byte, 1<<20)
		held[i][0] = 1
	}
	runtime.GC()
	deadline := time.Now().Add(10 * time.Second)
	for debug.SetMemoryLimit(-1) < 120<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("limit = %d MiB while 96 MiB are held, want it raised above them", debug.SetMemoryLimit(-1)>>20)
		}
		time.Sleep(100 * time.Millisecond)
	}
	runtime.KeepAlive(held)
	cancel()
	deadline = time.Now().Add(10 * time.Second)
	for debug.SetMemoryLimit(-1) != math.MaxInt64 {
		if time.Now().After(deadline) {
			t.Fatal("the limit stays after the app is closed")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestGOMEMLIMITWinsOverTheSetting(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	t.Setenv("GOMEMLIMIT", "1GiB")
	before := debug.SetMemoryLimit(-1)
	memoryLimit(t.Context(), 64, slog.New(slog.DiscardHandler))
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("limit = %d, want it left at %d", got, before)
	}
}
