package panoslab

import (
	"errors"
	"fmt"
	"strings"
)

// step is one step of an absolute config xpath: a tag, and for list items
// the name predicate ([@name='…']).
type step struct {
	tag  string
	name string
}

func (s step) String() string {
	if s.name == "" {
		return s.tag
	}
	return fmt.Sprintf("%s[@name='%s']", s.tag, s.name)
}

// xpath is a parsed absolute path below /config.
type xpath []step

func (p xpath) String() string {
	parts := make([]string, len(p))
	for i, s := range p {
		parts[i] = s.String()
	}
	return "/" + strings.Join(parts, "/")
}

// tags returns the path's tags without predicates, for schema checks.
func (p xpath) tags() []string {
	out := make([]string, len(p))
	for i, s := range p {
		out[i] = s.tag
	}
	return out
}

// errBadXPath is PAN-OS's code 6.
var errBadXPath = errors.New("bad xpath")

// parseXPath accepts the absolute paths the XML API documents for config
// requests: /config/a/b/entry[@name='x']/c, with single or double quotes.
// Quoted names may contain slashes.
func parseXPath(s string) (xpath, error) {
	if !strings.HasPrefix(s, "/") {
		return nil, errBadXPath
	}
	var out xpath
	rest := s[1:]
	for rest != "" {
		end := 0
		inQuote := byte(0)
		for end < len(rest) {
			c := rest[end]
			if inQuote != 0 {
				if c == inQuote {
					inQuote = 0
				}
			} else if c == '\'' || c == '"' {
				inQuote = c
			} else if c == '/' {
				break
			}
			end++
		}
		if inQuote != 0 {
			return nil, errBadXPath
		}
		st, err := parseStep(rest[:end])
		if err != nil {
			return nil, err
		}
		out = append(out, st)
		rest = strings.TrimPrefix(rest[end:], "/")
	}
	if len(out) == 0 || out[0] != (step{tag: "config"}) {
		return nil, errBadXPath
	}
	return out, nil
}

func parseStep(s string) (step, error) {
	tag, pred, hasPred := strings.Cut(s, "[")
	if !validTag(tag) {
		return step{}, errBadXPath
	}
	if !hasPred {
		return step{tag: tag}, nil
	}
	pred, ok := strings.CutSuffix(pred, "]")
	if !ok {
		return step{}, errBadXPath
	}
	value, ok := strings.CutPrefix(pred, "@name=")
	if !ok || len(value) < 2 || (value[0] != '\'' && value[0] != '"') || value[len(value)-1] != value[0] {
		return step{}, errBadXPath
	}
	return step{tag: tag, name: value[1 : len(value)-1]}, nil
}

func validTag(t string) bool {
	if t == "" {
		return false
	}
	for _, c := range t {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// find returns the node at p in the tree rooted at root (the <config>
// element), or nil.
func find(root *node, p xpath) *node {
	n := root
	for _, s := range p[1:] {
		if s.name != "" {
			n = childEntry(n, s)
		} else {
			n = n.child(s.tag)
		}
		if n == nil {
			return nil
		}
	}
	return n
}

// childEntry finds a named list item; PAN-OS lists other than <entry> also
// take names, so the tag is matched too.
func childEntry(n *node, s step) *node {
	for _, c := range n.children {
		if c.tag == s.tag && c.name() == s.name {
			return c
		}
	}
	return nil
}

// ensure returns the node at p, creating it and its missing ancestors.
func ensure(root *node, p xpath) *node {
	n := root
	for _, s := range p[1:] {
		var next *node
		if s.name != "" {
			next = childEntry(n, s)
		} else {
			next = n.child(s.tag)
		}
		if next == nil {
			next = &node{tag: s.tag}
			if s.name != "" {
				next.attrs = nameAttr(s.name)
			}
			n.children = append(n.children, next)
		}
		n = next
	}
	return n
}

// remove deletes the node at p; it reports whether there was one.
func remove(root *node, p xpath) bool {
	if len(p) < 2 {
		return false
	}
	parent := find(root, p[:len(p)-1])
	target := find(root, p)
	if parent == nil || target == nil {
		return false
	}
	kept := parent.children[:0]
	for _, c := range parent.children {
		if c != target {
			kept = append(kept, c)
		}
	}
	parent.children = kept
	return true
}

// replace puts a copy of n at p, creating ancestors as needed.
func replace(root *node, p xpath, n *node) {
	if len(p) == 1 {
		*root = *n.clone()
		return
	}
	parent := ensure(root, p[:len(p)-1])
	c := n.clone()
	for i, ch := range parent.children {
		last := p[len(p)-1]
		if ch.tag == last.tag && ch.name() == last.name {
			parent.children[i] = c
			return
		}
	}
	parent.children = append(parent.children, c)
}

// schema is the part of the PAN-OS configuration schema the emulator knows:
// every path a config request may address, by tag. "*" accepts any subtree.
// Requests outside it fail as they would on a device that does not know the
// node.
var schemaPaths = []string{
	"config/mgt-config/*",
	"config/shared/certificate/entry/*",
	"config/shared/ssl-tls-service-profile/entry/certificate",
	"config/shared/ssl-tls-service-profile/entry/protocol-settings/min-version",
	"config/shared/ssl-tls-service-profile/entry/protocol-settings/max-version",
	"config/shared/ssl-tls-service-profile/entry/protocol-settings/*",
	"config/shared/address/*",
	"config/shared/tag/*",
	"config/devices/entry/deviceconfig/system/hostname",
	"config/devices/entry/deviceconfig/system/ssl-tls-service-profile",
	"config/devices/entry/deviceconfig/system/ip-address",
	"config/devices/entry/deviceconfig/system/netmask",
	"config/devices/entry/deviceconfig/system/default-gateway",
	"config/devices/entry/deviceconfig/system/timezone",
	"config/devices/entry/network/*",
	"config/devices/entry/vsys/entry/address/*",
	"config/devices/entry/vsys/entry/rulebase/*",
	"config/devices/entry/vsys/entry/zone/*",
	"config/devices/entry/vsys/entry/global-protect/global-protect-portal/entry/portal-config/ssl-tls-service-profile",
	"config/devices/entry/vsys/entry/global-protect/global-protect-portal/entry/portal-config/local-address/*",
	"config/devices/entry/vsys/entry/global-protect/global-protect-portal/entry/client-config/*",
	"config/devices/entry/vsys/entry/global-protect/global-protect-gateway/entry/ssl-tls-service-profile",
	"config/devices/entry/vsys/entry/global-protect/global-protect-gateway/entry/local-address/*",
	"config/devices/entry/vsys/entry/global-protect/global-protect-gateway/entry/remote-user-tunnel-configs/*",
}

// inSchema reports whether the tag path names a node the schema knows: a
// prefix of a schema path, or a path below a "*".
func inSchema(tags []string) bool {
	for _, sp := range schemaPaths {
		known := strings.Split(sp, "/")
		ok := true
		for i, t := range tags {
			if i >= len(known) {
				ok = false
				break
			}
			if known[i] == "*" {
				break
			}
			if known[i] != t {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// checkElement checks every element below base against the schema and
// returns PAN-OS's complaint for the first unknown one.
func checkElement(base []string, n *node) error {
	for _, c := range n.children {
		tags := append(append([]string(nil), base...), c.tag)
		if !inSchema(tags) {
			return fmt.Errorf("%s unexpected here", c.tag)
		}
		if err := checkElement(tags, c); err != nil {
			return err
		}
	}
	return nil
}
