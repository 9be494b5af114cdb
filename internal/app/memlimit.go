package app

import (
	"context"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"time"
)

// A Go process grows its heap to twice what survived the last collection
// (GOGC=100) before it collects again: with thousands of rotations in
// flight that headroom is most of ottr's memory. A soft memory limit makes
// the collector run earlier as the process nears it, at the cost of CPU;
// a limit below what the rotations in flight really hold would make it run
// without end. So the limit in effect never falls below what the process
// holds after a collection plus a quarter: past that, the heap grows again
// as it would without a limit.

// memoryFloorCheck is how often the limit is checked against what the
// process holds.
const memoryFloorCheck = time.Second

// memoryLimit applies limitMiB (0: none) as the Go runtime's soft memory
// limit, unless GOMEMLIMIT is set, which wins, and keeps it above what the
// process needs until ctx ends.
func memoryLimit(ctx context.Context, limitMiB int, log *slog.Logger) {
	if limitMiB <= 0 {
		return
	}
	if _, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		log.Info("memory_limit_mib is ignored: GOMEMLIMIT is set")
		return
	}
	limit := int64(limitMiB) << 20
	debug.SetMemoryLimit(limit)
	go keepAboveNeed(ctx, limit, log)
}

// keepAboveNeed raises the memory limit when what the process holds comes
// near it, and lowers it back to limit when the need falls.
func keepAboveNeed(ctx context.Context, limit int64, log *slog.Logger) {
	t := time.NewTicker(memoryFloorCheck)
	defer t.Stop()
	defer debug.SetMemoryLimit(math.MaxInt64)
	current := limit
	warned := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		want := max(limit, memoryNeed()*5/4)
		if want != current {
			if want > limit && !warned {
				// Once: a fleet near its limit would repeat it each second.
				warned = true
				log.Warn("ottr holds more than memory_limit_mib allows without collecting garbage constantly; the limit is raised while it does",
					"limit_mib", limit>>20, "raised_to_mib", want>>20)
			}
			debug.SetMemoryLimit(want)
			current = want
		}
	}
}

// memoryNeed is what the process holds that a collection cannot free: the
// heap live at the last collection and the memory the runtime holds outside
// the heap (goroutine stacks, its own structures).
func memoryNeed() int64 {
	s := []rtmetrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}
	rtmetrics.Read(s)
	v := func(i int) int64 {
		if s[i].Value.Kind() != rtmetrics.KindUint64 {
			return 0
		}
		return int64(s[i].Value.Uint64())
	}
	outsideHeap := v(1) - v(2) - v(3) - v(4) - v(5)
	return v(0) + max(outsideHeap, 0)
}
