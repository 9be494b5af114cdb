package notify_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/notify"
	"github.com/ottr-go/ottr/internal/notify/notifytest"
)

// sendTimeout bounds one delivery in a test: generous, for a loaded
// machine.
const sendTimeout = 60 * time.Second

// secretsFrom resolves env:NAME references from vars, as secret.Resolve
// does from the environment, and takes anything else literally.
func secretsFrom(vars map[string]string) func(string) (string, error) {
	return func(ref string) (string, error) {
		name, ok := strings.CutPrefix(ref, "env:")
		if !ok {
			return ref, nil
		}
		v, ok := vars[name]
		if !ok {
			return "", fmt.Errorf("secret: environment variable %s is not set", name)
		}
		return v, nil
	}
}

// newChannel builds a channel whose secrets are read from vars.
func newChannel(t *testing.T, name string, c config.NotifyChannel, vars map[string]string) notify.Channel {
	t.Helper()
	ch, err := notify.NewChannel(name, c, notify.ChannelOptions{Resolve: secretsFrom(vars)})
	if err != nil {
		t.Fatalf("NewChannel(%s): %v", name, err)
	}
	if ch.Name() != name || ch.Kind() != c.Kind {
		t.Fatalf("NewChannel(%s) made channel %s of kind %s, want %s of kind %s", name, ch.Name(), ch.Kind(), name, c.Kind)
	}
	return ch
}

func send(t *testing.T, ch notify.Channel, e notify.Event) (notify.Receipt, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	return ch.Send(ctx, e)
}

// mustSend sends e and fails the test if the channel did not deliver it.
func mustSend(t *testing.T, ch notify.Channel, e notify.Event) notify.Receipt {
	t.Helper()
	r, err := send(t, ch, e)
	if err != nil {
		t.Fatalf("send %s: %v", e.Kind, err)
	}
	return r
}

// sendOne sends e and returns the one thing the destination recorded for
// it; recorded lists what the destination has recorded so far.
func sendOne[T any](t *testing.T, ch notify.Channel, e notify.Event, recorded func() []T) (notify.Receipt, T) {
	t.Helper()
	before := len(recorded())
	receipt := mustSend(t, ch, e)
	after := recorded()
	if len(after) != before+1 {
		t.Fatalf("the destination recorded %d new items for one %s, want 1", len(after)-before, e.Kind)
	}
	return receipt, after[len(after)-1]
}

// event is the sample of kind (the first, for rotation.failed).
func event(t *testing.T, kind notify.Kind) notify.Event {
	t.Helper()
	for _, e := range notifytest.SampleEvents(time.Now()) {
		if e.Kind == kind {
			return e
		}
	}
	t.Fatalf("no sample event of kind %s", kind)
	return notify.Event{}
}

// sampleName names a sample event for a subtest.
func sampleName(e notify.Event) string {
	if e.Escalated {
		return string(e.Kind) + " escalated"
	}
	return string(e.Kind)
}

// kindPhrases are what the title of each kind of event says.
var kindPhrases = map[notify.Kind]string{
	notify.RotationFailed:      "Rotation failed",
	notify.RotationRolledBack:  "Rotation rolled back",
	notify.RotationRecovered:   "Rotation recovered",
	notify.CertificateExpiring: "Certificate expires in",
	notify.CertificateDrift:    "serves another certificate",
	notify.DigestKind:          "daily digest",
}

// wantShown are the words a message about e must show: its title's
// phrase and its facts.
func wantShown(e notify.Event) []string {
	want := []string{kindPhrases[e.Kind]}
	if e.Escalated {
		want = append(want, "escalated")
	}
	return append(want, wantFacts(e)...)
}

// wantFacts are the facts a message about e must show, wherever it is
// read: what Ottr's Slack message showed of the device, and what the kind
// of event adds.
func wantFacts(e notify.Event) []string {
	want := []string{e.Summary}
	if a := e.Asset; a != nil {
		want = append(want, a.SystemName, a.IPAddress, a.Platform, a.OSVersion, a.CA, a.DataCenter,
			a.NotAfter.UTC().Format("2006-01-02 15:04 UTC"), strconv.Itoa(*a.DaysLeft))
	}
	if r := e.Rotation; r != nil {
		want = append(want, "#"+strconv.FormatInt(r.ID, 10), r.Step, r.Error, strconv.Itoa(r.Attempts))
	}
	if e.FailureCount > 0 {
		want = append(want, strconv.Itoa(e.FailureCount))
	}
	if e.Kind == notify.CertificateExpiring {
		want = append(want, e.Reason, strconv.Itoa(e.ThresholdDays)+" days")
	}
	if d := e.Drift; d != nil {
		want = append(want, d.RecordedSerial, d.ServedSerial, d.SeenBy)
	}
	if d := e.Digest; d != nil {
		for _, n := range d.States {
			want = append(want, strconv.Itoa(n))
		}
		for _, a := range append(d.Expiring, d.Failed...) {
			want = append(want, a.SystemName)
		}
		want = append(want, "Expiring in the next 14 days", "Failed")
	}
	return nonEmpty(want)
}

func nonEmpty(words []string) []string {
	var out []string
	for _, w := range words {
		if w != "" {
			out = append(out, w)
		}
	}
	return out
}

// assertShows fails unless shown holds every word.
func assertShows(t *testing.T, shown string, words []string) {
	t.Helper()
	for _, w := range words {
		if !strings.Contains(shown, w) {
			t.Errorf("the message does not show %q; it shows:\n%s", w, shown)
		}
	}
}

// assertRetryable fails unless err is a *RetryableError that asks for after.
func assertRetryable(t *testing.T, err error, after time.Duration) {
	t.Helper()
	got, ok := notify.Retryable(err)
	if !ok {
		t.Fatalf("error %v is final, want retryable", err)
	}
	if got != after {
		t.Errorf("retry after %s, want %s (error: %v)", got, after, err)
	}
}

// assertFinal fails unless err is an error that is not worth retrying.
func assertFinal(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("delivered, want a final error")
	}
	if _, ok := notify.Retryable(err); ok {
		t.Fatalf("error %v is retryable, want final", err)
	}
}

// assertNoSecret fails if text shows any of the secrets.
func assertNoSecret(t *testing.T, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%q shows the secret %q", text, s)
		}
	}
}

// assertSays fails unless err's text holds every word.
func assertSays(t *testing.T, err error, words ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one saying %q", words)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

// failures are the refusals every HTTP channel must tell apart.
var failures = []struct {
	name       string
	status     int
	retryAfter time.Duration
	retryable  bool
}{
	{"a 429 with Retry-After is retried after it", 429, 30 * time.Second, true},
	{"a 429 without Retry-After is retried", 429, 0, true},
	{"a 500 is retried", 500, 0, true},
	{"a 503 with Retry-After is retried after it", 503, 2 * time.Minute, true},
}

// refusable is an emulator that can be told to refuse.
type refusable interface {
	FailNext(n, status int, retryAfter time.Duration)
	Received() int
}

// testRefusals proves that ch tells the emulator's refusals apart, and
// that the next delivery after them goes through.
func testRefusals(t *testing.T, ch notify.Channel, emulator refusable, secrets ...string) {
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			before := emulator.Received()
			emulator.FailNext(1, f.status, f.retryAfter)
			_, err := send(t, ch, event(t, notify.RotationFailed))
			assertRetryable(t, err, f.retryAfter)
			assertSays(t, err, strconv.Itoa(f.status))
			assertNoSecret(t, err.Error(), secrets...)
			mustSend(t, ch, event(t, notify.RotationFailed))
			if got := emulator.Received() - before; got != 2 {
				t.Errorf("the emulator received %d requests, want 2 (the refused one and the next)", got)
			}
		})
	}
}
