package notify

import (
	"slices"
	"testing"

	"github.com/ottr-go/ottr/internal/config"
)

func TestRouter(t *testing.T) {
	channels := map[string]config.NotifyChannel{"pager": {}, "chat": {}, "mail": {}}
	rules := []config.NotifyRule{
		{Events: []string{"rotation.failed", "rotation.recovered"}, Match: config.NotifyMatch{DataCenter: "dc1", Labels: map[string]string{"team": "network"}}, Channels: []string{"pager", "chat"}},
		{Events: []string{"rotation.failed"}, Match: config.NotifyMatch{Platform: "panos"}, Channels: []string{"chat"}},
		{Events: []string{"digest", "certificate.expiring"}, Channels: []string{"mail"}},
	}
	network := &Asset{SystemName: "fw1", DataCenter: "DC1", Platform: "panos", Labels: map[string]string{"team": "network", "tier": "1"}}
	other := &Asset{SystemName: "fw2", DataCenter: "dc2", Platform: "panos"}
	tests := []struct {
		name  string
		rules []config.NotifyRule
		event Event
		want  []string
	}{
		{"sends every event to every channel without rules", nil, Event{Kind: CertificateDrift, Asset: other}, []string{"chat", "mail", "pager"}},
		{"takes the first rule that matches, like routes", rules, Event{Kind: RotationFailed, Asset: network}, []string{"pager", "chat"}},
		{"matches a data center whatever its case", rules, Event{Kind: RotationRecovered, Asset: network}, []string{"pager", "chat"}},
		{"goes on to the next rule when the labels differ", rules, Event{Kind: RotationFailed, Asset: other}, []string{"chat"}},
		{"sends an event no rule takes nowhere", rules, Event{Kind: RotationRecovered, Asset: other}, nil},
		{"takes a digest by a rule without a match", rules, Event{Kind: DigestKind}, []string{"mail"}},
		{"takes no digest by a rule that matches assets", []config.NotifyRule{{Match: config.NotifyMatch{Platform: "panos"}, Channels: []string{"chat"}}}, Event{Kind: DigestKind}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRouter(config.Notifications{Channels: channels, Rules: tt.rules})
			if got := r.Channels(tt.event); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
