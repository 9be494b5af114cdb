package notify

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/ottr-go/ottr/internal/config"
)

// CheckConfig checks what the config package leaves to this one: each
// channel's kind and each rule's kinds of event, which notify owns. It
// returns nil or a *config.Error whose problems name their lines.
func CheckConfig(cfg *config.Config) error {
	n := cfg.Notifications
	var problems []config.Problem
	add := func(path, format string, args ...any) {
		problems = append(problems, config.Problem{Line: cfg.Line(path), Path: path, Message: fmt.Sprintf(format, args...)})
	}
	kinds := ChannelKinds()
	for _, name := range slices.Sorted(maps.Keys(n.Channels)) {
		path := "notifications.channels." + name + ".kind"
		switch kind := n.Channels[name].Kind; {
		case kind == "":
			add(path, "is required: one of %s", strings.Join(kinds, ", "))
		case !slices.Contains(kinds, kind):
			add(path, "%q is not a kind of channel; use one of %s", kind, strings.Join(kinds, ", "))
		}
	}
	for i, r := range n.Rules {
		for j, kind := range r.Events {
			if !slices.Contains(Kinds(), Kind(kind)) {
				add(fmt.Sprintf("notifications.rules[%d].events[%d]", i, j), "%q is not a kind of event; use one of %s", kind, kindList())
			}
		}
	}
	return configError(cfg, problems)
}

func kindList() string {
	names := make([]string, 0, len(Kinds()))
	for _, k := range Kinds() {
		names = append(names, string(k))
	}
	return strings.Join(names, ", ")
}

// configError returns problems as the *config.Error of cfg's file, in the
// file's order, or nil when there are none.
func configError(cfg *config.Config, problems []config.Problem) error {
	if len(problems) == 0 {
		return nil
	}
	sort.SliceStable(problems, func(i, j int) bool { return problems[i].Line < problems[j].Line })
	return &config.Error{Source: cfg.Source(), Problems: problems}
}

// Constructor builds a channel from its settings; NewChannel is the one
// ottr uses, tests give their own.
type Constructor func(name string, c config.NotifyChannel, o ChannelOptions) (Channel, error)

// BuildChannels builds the named channels of cfg — every one when names is
// empty — with build. Each secret is resolved first, so a missing one is
// reported at its own setting's line, saying how to provide it; every
// problem of every channel comes back at once, as a *config.Error.
//
// A channel with a secret in a secret store (aws-sm:, vault:) reads its
// secrets again at each send, through o.Resolve and its cache, so a value
// rotated in the store is picked up. A store that cannot be read now does
// not stop the build: the channel is built at its first send instead, and
// each send fails until the store answers.
func BuildChannels(cfg *config.Config, names []string, build Constructor, o ChannelOptions) (map[string]Channel, error) {
	configured := cfg.Notifications.Channels
	if len(names) == 0 {
		names = slices.Sorted(maps.Keys(configured))
	}
	var problems []config.Problem
	channels := make(map[string]Channel, len(names))
	for _, name := range names {
		path := "notifications.channels." + name
		c, ok := configured[name]
		if !ok {
			known := slices.Sorted(maps.Keys(configured))
			if len(known) == 0 {
				known = []string{"none"}
			}
			return nil, fmt.Errorf("notify: no channel named %q in notifications.channels of %s (configured: %s)", name, cfg.Source(), strings.Join(known, ", "))
		}
		stored := o.Resolve != nil && hasStoredSecret(c)
		unresolved, unread := false, false
		for _, s := range c.Secrets() {
			if o.Resolve == nil {
				break
			}
			_, err := o.Resolve(s.Ref)
			switch {
			case err == nil:
			case isStoreRef(s.Ref):
				unread = true
				if o.Logger != nil {
					o.Logger.Warn("a notification channel's secret cannot be read now; its deliveries fail until it can",
						"channel", name, "setting", path+"."+s.Setting, "error", err)
				}
			default:
				unresolved = true
				problems = append(problems, config.Problem{
					Line: cfg.Line(path + "." + s.Setting), Path: path + "." + s.Setting,
					Message: fmt.Sprintf("%s: provide it to the processes that send notifications, or change the reference", strings.TrimPrefix(err.Error(), "secret: ")),
				})
			}
		}
		if unresolved {
			continue
		}
		if stored {
			ch := &storedChannel{name: name, settings: c, build: build, options: o}
			if !unread {
				// Built now, so a setting that is wrong is told at start.
				if _, err := ch.current(); err != nil {
					problems = append(problems, buildProblem(cfg, path, err))
					continue
				}
			}
			channels[name] = ch
			continue
		}
		ch, err := build(name, c, o)
		if err != nil {
			problems = append(problems, buildProblem(cfg, path, err))
			continue
		}
		channels[name] = ch
	}
	if err := configError(cfg, problems); err != nil {
		return nil, err
	}
	return channels, nil
}

// buildProblem is a constructor's refusal of the channel at path. Its
// message may start with the channel's path, which the problem names
// already.
func buildProblem(cfg *config.Config, path string, err error) config.Problem {
	msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "notify: "), path+": ")
	return config.Problem{Line: cfg.Line(path), Path: path, Message: msg}
}
