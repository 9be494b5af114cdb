package acme

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/issuer"
)

// waitRecorder keeps the waits an Issuer asks for between polls.
type waitRecorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (w *waitRecorder) pause(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.waits = append(w.waits, d)
	w.mu.Unlock()
	return sleep(ctx, d)
}

func (w *waitRecorder) recorded() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.waits)
}

func TestTheCAIsPolledAtItsRetryAfterOrElseAtThePollInterval(t *testing.T) {
	const pollInterval = 100 * time.Millisecond
	tests := []struct {
		name         string
		noRetryAfter bool
		// check judges the waits between polls.
		check func(waits []time.Duration) error
	}{
		{
			name:         "without Retry-After the first wait is the poll interval, and none is lego's 5 s",
			noRetryAfter: true,
			check: func(waits []time.Duration) error {
				if waits[0] != pollInterval {
					return fmt.Errorf("the first wait is %s, want the poll interval %s", waits[0], pollInterval)
				}
				for n, w := range waits {
					if w > maxPollFactor*pollInterval || n > 0 && w < waits[n-1] {
						return fmt.Errorf("wait %d is %s: want growing from %s up to %s", n, w, pollInterval, maxPollFactor*pollInterval)
					}
				}
				return nil
			},
		},
		{
			name: "with Retry-After every wait is what the CA said",
			check: func(waits []time.Duration) error {
				for n, w := range waits {
					// The lab answers a challenge with Retry-After: 1.
					if w != time.Second {
						return fmt.Errorf("wait %d is %s, want the CA's Retry-After of 1s", n, w)
					}
				}
				return nil
			},
		},
	}
	for n, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testCA.SetNoRetryAfter(tt.noRetryAfter)
			// Long enough that the challenge is still being validated when
			// the issuer first looks, even on a loaded machine.
			testCA.SetValidationTime(3 * time.Second)
			t.Cleanup(func() {
				testCA.SetNoRetryAfter(false)
				testCA.SetValidationTime(0)
			})
			cfg := labConfig(newMemoryAccounts())
			cfg.PollInterval = pollInterval
			iss, err := New(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			var recorder waitRecorder
			iss.pause = recorder.pause
			cn := fmt.Sprintf("pace%d.lab.ottr.test", n)
			delegate(t, cn)
			chain, err := iss.Issue(context.Background(), newCSR(t, cn), issuer.IssueOptions{})
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			verifyChain(t, chain, cn)
			waits := recorder.recorded()
			if len(waits) == 0 {
				t.Fatal("the issuer never waited for the CA, which validates for 3s")
			}
			if err := tt.check(waits); err != nil {
				t.Errorf("%v (waits %v)", err, waits)
			}
		})
	}
}

func TestEveryNameIsPresentedBeforeAnyChallengeIsAnswered(t *testing.T) {
	var mu sync.Mutex
	var events []string
	record := func(event string) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, event)
	}
	cfg := labConfig(newMemoryAccounts())
	cfg.DNS01.Observe = func(u DNSUpdate) {
		if u.Err == nil {
			record(u.Operation)
		}
	}
	iss, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"together.lab.ottr.test", "www.together.lab.ottr.test", "api.together.lab.ottr.test"}
	delegate(t, names...)
	afterAnswer(t, func(path string) {
		if strings.HasPrefix(path, "/chalZ/") {
			record("answer")
		}
	})
	chain, err := iss.Issue(context.Background(), newCSR(t, names[0], names[1:]...), issuer.IssueOptions{})
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	verifyChain(t, chain, names...)

	mu.Lock()
	defer mu.Unlock()
	firstAnswer := slices.Index(events, "answer")
	if firstAnswer < 0 {
		t.Fatalf("the CA saw no challenge answer: %q", events)
	}
	if presented := slices.Index(events[firstAnswer:], "present"); presented >= 0 ||
		strings.Count(strings.Join(events[:firstAnswer], " "), "present") != len(names) {
		t.Errorf("the DNS server and the CA saw %q; want all %d records written before the first answer", events, len(names))
	}
	for _, name := range names {
		if txt := txtRecords(t, delegateName(name)); len(txt) != 0 {
			t.Errorf("challenge records left at %s: %q", delegateName(name), txt)
		}
	}
}

// TestANameAndItsWildcardAreBothValidated checks the two names that share
// one challenge record: written at once, one would replace the other's
// record and fail its validation.
func TestANameAndItsWildcardAreBothValidated(t *testing.T) {
	iss := newLabIssuer(t)
	cn := "wild.lab.ottr.test"
	delegate(t, cn, "www."+cn)
	chain, err := iss.Issue(context.Background(), newCSR(t, cn, "*."+cn, "www."+cn), issuer.IssueOptions{})
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if got := chain[0].DNSNames; !slices.Contains(got, "*."+cn) || !slices.Contains(got, cn) {
		t.Errorf("the certificate names %q, want %s and its wildcard", got, cn)
	}
	if txt := txtRecords(t, delegateName(cn)); len(txt) != 0 {
		t.Errorf("challenge records left at %s: %q", delegateName(cn), txt)
	}
}
