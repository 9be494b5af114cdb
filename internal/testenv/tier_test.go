package testenv

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

var tiers = []Tier{PostgreSQL, RealServers, Cluster, KillTest}

// skipRecorder stands in for a test, to see whether SkipInShort skipped it
// and with what line.
type skipRecorder struct {
	testing.TB
	skips []string
}

func (r *skipRecorder) Helper() {}

func (r *skipRecorder) Skip(args ...any) { r.skips = append(r.skips, fmt.Sprint(args...)) }

// runShort sets -test.short to short for the rest of t.
func runShort(t *testing.T, short bool) {
	t.Helper()
	was := testing.Short()
	if err := flag.Set("test.short", strconv.FormatBool(short)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = flag.Set("test.short", strconv.FormatBool(was)) })
}

func TestTheShortRunSkipsEveryTierWithOneLine(t *testing.T) {
	runShort(t, true)
	seen := map[string]Tier{}
	for _, tier := range tiers {
		r := &skipRecorder{TB: t}
		SkipInShort(r, tier)
		if len(r.skips) != 1 {
			t.Errorf("tier %q: skipped %d times under -short, want once", tier, len(r.skips))
			continue
		}
		line := r.skips[0]
		if strings.Contains(line, "\n") || !strings.HasPrefix(line, "short: starts "+string(tier)) || !strings.HasSuffix(line, "; make test runs it") {
			t.Errorf("tier %q says %q, want one line: short: starts %s; make test runs it", tier, line, tier)
		}
		if other, ok := seen[line]; ok {
			t.Errorf("tiers %q and %q say the same line %q", other, tier, line)
		}
		seen[line] = tier
	}
}

func TestTheFullRunSkipsNothing(t *testing.T) {
	runShort(t, false)
	for _, tier := range tiers {
		r := &skipRecorder{TB: t}
		SkipInShort(r, tier)
		if len(r.skips) != 0 {
			t.Errorf("tier %q skipped without -short: %q", tier, r.skips)
		}
	}
}
