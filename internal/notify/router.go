package notify

import (
	"maps"
	"slices"
	"strings"

	"github.com/ottr-go/ottr/internal/config"
)

// Router chooses the channels of an event from the notification rules.
type Router struct {
	rules []config.NotifyRule
	// all are every channel, for a configuration without rules.
	all []string
}

// NewRouter returns the router of n's rules and channels.
func NewRouter(n config.Notifications) Router {
	return Router{rules: n.Rules, all: slices.Sorted(maps.Keys(n.Channels))}
}

// Channels returns the channels e goes to: those of the first rule that
// matches it, like routes, or every channel when there are no rules. An
// event no rule matches goes nowhere.
func (r Router) Channels(e Event) []string {
	if len(r.rules) == 0 {
		return r.all
	}
	for _, rule := range r.rules {
		if matches(rule, e) {
			return rule.Channels
		}
	}
	return nil
}

// matches reports whether rule takes e: its kind is among the rule's
// events (any kind when it lists none), and its asset has the data
// center, platform and labels the rule names. A rule that names any of
// those takes no event without an asset (a digest).
func matches(rule config.NotifyRule, e Event) bool {
	if len(rule.Events) > 0 && !slices.Contains(rule.Events, string(e.Kind)) {
		return false
	}
	m := rule.Match
	if m.DataCenter == "" && m.Platform == "" && len(m.Labels) == 0 {
		return true
	}
	a := e.Asset
	if a == nil {
		return false
	}
	if m.DataCenter != "" && !strings.EqualFold(m.DataCenter, a.DataCenter) {
		return false
	}
	if m.Platform != "" && !strings.EqualFold(m.Platform, a.Platform) {
		return false
	}
	for k, v := range m.Labels {
		if got, ok := a.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
