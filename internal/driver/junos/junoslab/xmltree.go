package junoslab

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
)

// node is one XML element. JunOS configuration and RPCs are element trees
// whose lists are keyed by a <name> child, so one generic type holds both.
type node struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []*node    `xml:",any"`
}

// parseNode decodes one element.
func parseNode(b []byte) (*node, error) {
	var n node
	if err := xml.Unmarshal(b, &n); err != nil {
		return nil, err
	}
	return &n, nil
}

func newNode(name string, children ...*node) *node {
	return &node{XMLName: xml.Name{Local: name}, Children: children}
}

func leaf(name, text string) *node {
	return &node{XMLName: xml.Name{Local: name}, Text: text}
}

func xmlAttr(name, value string) xml.Attr {
	return xml.Attr{Name: xml.Name{Local: name}, Value: value}
}

func (n *node) name() string { return n.XMLName.Local }

// value is the element's text without the indentation pretty-printed XML
// carries.
func (n *node) value() string { return strings.TrimSpace(n.Text) }

// attr returns the value of the attribute with local name key.
func (n *node) attr(key string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == key {
			return a.Value
		}
	}
	return ""
}

// child returns the first child named name, or nil.
func (n *node) child(name string) *node {
	if n == nil {
		return nil
	}
	for _, c := range n.Children {
		if c.name() == name {
			return c
		}
	}
	return nil
}

// childText returns the trimmed text of the first child named name.
func (n *node) childText(name string) string {
	if c := n.child(name); c != nil {
		return c.value()
	}
	return ""
}

// all returns every child named name.
func (n *node) all(name string) []*node {
	var out []*node
	for _, c := range n.Children {
		if c.name() == name {
			out = append(out, c)
		}
	}
	return out
}

// key is the list key of a JunOS configuration element: its <name> child.
func (n *node) key() string { return n.childText("name") }

// isLeaf reports whether n holds a value rather than other statements.
func (n *node) isLeaf() bool { return len(n.Children) == 0 }

// clone returns a deep copy of n without the operation attributes a load
// request carries.
func (n *node) clone() *node {
	if n == nil {
		return nil
	}
	c := &node{XMLName: xml.Name{Local: n.name()}, Text: n.Text}
	if n.isLeaf() {
		c.Text = n.value()
	} else {
		c.Text = ""
	}
	for _, ch := range n.Children {
		c.Children = append(c.Children, ch.clone())
	}
	return c
}

// equal compares two trees by names, keys, values and order of children.
func (n *node) equal(o *node) bool {
	if n.name() != o.name() || n.value() != o.value() || len(n.Children) != len(o.Children) {
		return false
	}
	for i := range n.Children {
		if !n.Children[i].equal(o.Children[i]) {
			return false
		}
	}
	return true
}

// matches reports whether existing is the statement req names: same element
// and, for list entries, same key.
func matches(existing, req *node) bool {
	return existing.name() == req.name() && existing.key() == req.key()
}

// find returns the child of n that req names, or nil.
func (n *node) find(req *node) *node {
	for _, c := range n.Children {
		if matches(c, req) {
			return c
		}
	}
	return nil
}

// remove deletes the child that req names and reports whether it was there.
func (n *node) remove(req *node) bool {
	for i, c := range n.Children {
		if matches(c, req) {
			n.Children = append(n.Children[:i], n.Children[i+1:]...)
			return true
		}
	}
	return false
}

// marshal writes n as XML without namespaces, indented like JunOS output.
func (n *node) marshal() string {
	var b bytes.Buffer
	n.write(&b, 0)
	return b.String()
}

func (n *node) write(b *bytes.Buffer, depth int) {
	indent := strings.Repeat("    ", depth)
	b.WriteString(indent + "<" + n.name())
	for _, a := range n.Attrs {
		name := a.Name.Local
		if a.Name.Space != "" && a.Name.Space != "xmlns" {
			// Attributes the emulator sets itself carry their prefix in
			// Space (junos:commit-seconds); namespaces of parsed input
			// were dropped by clone.
			name = a.Name.Space + ":" + name
		}
		fmt.Fprintf(b, " %s=\"%s\"", name, escape(a.Value))
	}
	switch {
	case !n.isLeaf():
		b.WriteString(">\n")
		for _, c := range n.Children {
			c.write(b, depth+1)
		}
		b.WriteString(indent + "</" + n.name() + ">\n")
	case n.value() == "":
		b.WriteString("/>\n")
	default:
		b.WriteString(">" + escape(n.value()) + "</" + n.name() + ">\n")
	}
}

func escape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// pathStep is one element of a configuration path: a statement name and,
// for list entries, the key.
type pathStep struct {
	Name string
	Key  string
}

// parsePath reads a slash-separated configuration path whose list entries
// carry a name predicate: "services/ssl/termination/profile[name='web']/server-certificate".
func parsePath(p string) ([]pathStep, error) {
	var steps []pathStep
	for _, part := range strings.Split(strings.Trim(p, "/"), "/") {
		step := pathStep{Name: part}
		if i := strings.IndexByte(part, '['); i >= 0 {
			pred := part[i:]
			step.Name = part[:i]
			key, ok := strings.CutPrefix(pred, "[name=")
			key, ok2 := strings.CutSuffix(key, "]")
			if !ok || !ok2 || len(key) < 2 || (key[0] != '\'' && key[0] != '"') || key[len(key)-1] != key[0] {
				return nil, fmt.Errorf("bad predicate %q in %q", pred, p)
			}
			step.Key = key[1 : len(key)-1]
		}
		if step.Name == "" {
			return nil, fmt.Errorf("empty element in %q", p)
		}
		steps = append(steps, step)
	}
	return steps, nil
}

// lookup follows steps from n and returns the element they lead to, or nil.
func (n *node) lookup(steps []pathStep) *node {
	cur := n
	for _, s := range steps {
		var next *node
		for _, c := range cur.Children {
			if c.name() == s.Name && (s.Key == "" || c.key() == s.Key) {
				next = c
				break
			}
		}
		if next == nil {
			return nil
		}
		cur = next
	}
	return cur
}
