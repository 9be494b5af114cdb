package ottrimport

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/ottr-go/ottr/internal/route"
)

// section is the part of ottr.yaml the import writes.
type section struct {
	Credentials   map[string]Credential `yaml:"credentials"`
	Routes        []route.Route         `yaml:"routes"`
	Notifications *notifications        `yaml:"notifications,omitempty"`
}

type notifications struct {
	Channels map[string]slackChannel `yaml:"channels"`
}

type slackChannel struct {
	Kind    string `yaml:"kind"`
	Token   string `yaml:"token"`
	Channel string `yaml:"channel"`
}

// SlackChannelName is the notification channel the import adds for Ottr's
// Slack bot.
const SlackChannelName = "otter-slack"

// Section returns the ottr.yaml section of the plan: its credentials (the
// secrets as aws-sm: references), its routes and, when asked, the Slack
// channel, after comments saying what else to configure. source names the
// export in the first comment.
func (p *Plan) Section(source string) ([]byte, error) {
	s := section{Credentials: p.Credentials, Routes: p.Routes}
	if p.SlackChannel != "" {
		s.Notifications = &notifications{Channels: map[string]slackChannel{
			SlackChannelName: {Kind: "slack", Token: p.SlackToken, Channel: p.SlackChannel},
		}}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Ottr's routes and device logins, converted by 'ottr import ottr' from %s.\n", source)
	b.WriteString("# Merge it into ottr.yaml: its credentials, routes and notifications go under\n")
	b.WriteString("# the keys of the same names. Secrets stay in AWS Secrets Manager: each is an\n")
	b.WriteString("# aws-sm: reference, read when a rotation needs it.\n")
	if len(p.CertificateAuthorities) > 0 {
		fmt.Fprintf(&b, "# Certificate authorities route.json names (each needs a profile under\n# certificate_authorities): %s\n", strings.Join(p.CertificateAuthorities, ", "))
	}
	if len(p.Zones) > 0 {
		fmt.Fprintf(&b, "# Hosted zones (each needs its delegate zone under dns.zones): %s\n", strings.Join(p.Zones, ", "))
	}
	if _, ok := p.Credentials[ssmCredential]; ok {
		fmt.Fprintf(&b, "# %s is empty: Ottr reached its Linux hosts through SSM with its task's IAM\n# role; an empty login takes the AWS SDK's default credentials.\n", ssmCredential)
	}
	for _, platform := range p.Pending {
		fmt.Fprintf(&b, "# Platform %q is PENDING in route.json: Ottr had no executor for it and\n# this section routes none; add a route (the script driver runs your own scripts).\n", platform)
	}
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("ottrimport: section: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("ottrimport: section: %w", err)
	}
	return b.Bytes(), nil
}

// Merge returns the configuration base with section merged in: mappings
// merge key by key, the section's list items follow base's (its routes come
// after the routes base has, so those still match first), and a setting
// both give a different value is an error naming it. Comments of base are
// kept.
func Merge(base, section []byte) ([]byte, error) {
	var b, s yaml.Node
	if err := yaml.Unmarshal(base, &b); err != nil {
		return nil, fmt.Errorf("ottrimport: the config: %w", err)
	}
	if err := yaml.Unmarshal(section, &s); err != nil {
		return nil, fmt.Errorf("ottrimport: the section: %w", err)
	}
	if len(s.Content) == 0 {
		return base, nil
	}
	if len(b.Content) == 0 {
		return section, nil
	}
	if err := mergeNode(b.Content[0], s.Content[0], ""); err != nil {
		return nil, fmt.Errorf("ottrimport: merge the section into the config: %w", err)
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&b); err != nil {
		return nil, fmt.Errorf("ottrimport: merge: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("ottrimport: merge: %w", err)
	}
	return out.Bytes(), nil
}

func mergeNode(dst, src *yaml.Node, path string) error {
	// An empty value in the config ("channels: {}", "routes:") takes the
	// section's.
	if dst.Kind == yaml.ScalarNode && (dst.Tag == "!!null" || dst.Value == "") && src.Kind != yaml.ScalarNode {
		*dst = *src
		return nil
	}
	if dst.Kind != src.Kind {
		return fmt.Errorf("%s: the config and the section give it different kinds of value", orTop(path))
	}
	switch dst.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(src.Content); i += 2 {
			key, value := src.Content[i], src.Content[i+1]
			j := mappingIndex(dst, key.Value)
			if j < 0 {
				dst.Content = append(dst.Content, key, value)
				continue
			}
			if err := mergeNode(dst.Content[j+1], value, join(path, key.Value)); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		// An item the config has already (a section merged before) is
		// not added twice.
		for _, item := range src.Content {
			if !slices.ContainsFunc(dst.Content, func(have *yaml.Node) bool { return sameNode(have, item) }) {
				dst.Content = append(dst.Content, item)
			}
		}
		// A flow list ([a, b]) of the config stays readable as a block.
		dst.Style &^= yaml.FlowStyle
	case yaml.ScalarNode:
		if dst.Value != src.Value {
			return fmt.Errorf("%s: the config has another value than the section's; rename or remove one", orTop(path))
		}
	default:
		return errors.New(orTop(path) + ": aliases and documents cannot be merged")
	}
	return nil
}

// sameNode reports whether two nodes hold the same value, whatever their
// style or comments.
func sameNode(a, b *yaml.Node) bool {
	var av, bv any
	if a.Decode(&av) != nil || b.Decode(&bv) != nil {
		return false
	}
	return reflect.DeepEqual(av, bv)
}

func mappingIndex(m *yaml.Node, key string) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return i
		}
	}
	return -1
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orTop(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}
