package notify

import (
	"strings"
	"testing"
)

func TestATestMessageSaysNothingHappened(t *testing.T) {
	days := 3
	e := Event{Kind: RotationFailed, Test: true, Asset: &Asset{SystemName: "fw1.example.com", DaysLeft: &days}}
	if got := title(e); !strings.HasPrefix(got, "Test message from ottr") || !strings.Contains(got, "fw1.example.com") {
		t.Errorf("title %q: want it marked as a test, naming the device", got)
	}
}

func TestADigestCountsWhatItDoesNotList(t *testing.T) {
	d := Digest{States: map[string]int{"ok": 70}, Failed: []Asset{{SystemName: "a"}, {SystemName: "b"}}, FailedTotal: 70}
	lists := digestLists(d)
	failed := strings.Join(lists[1].lines(), "\n")
	if !strings.Contains(failed, "and 68 more") {
		t.Errorf("failed list:\n%s\nwant the 68 assets the digest did not list counted", failed)
	}
}
