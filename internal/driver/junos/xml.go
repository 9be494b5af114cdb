package junos

import (
	"bytes"
	"encoding/xml"
	"strings"
)

// node is one element of an rpc-reply. Replies are element trees whose lists
// are keyed by a <name> child, so one generic type reads them all.
type node struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []*node    `xml:",any"`
}

func parseNode(b []byte) (*node, error) {
	var n node
	if err := xml.Unmarshal(b, &n); err != nil {
		return nil, err
	}
	return &n, nil
}

func (n *node) name() string { return n.XMLName.Local }

// marshal renders n as XML, for errors that quote a reply.
func (n *node) marshal() string {
	b, err := xml.Marshal(n)
	if err != nil {
		return "<" + n.name() + "> (not printable: " + err.Error() + ")"
	}
	return string(b)
}

func (n *node) value() string { return strings.TrimSpace(n.Text) }

func (n *node) attr(key string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == key {
			return a.Value
		}
	}
	return ""
}

// child returns the first child named name; nil-safe, so lookups chain.
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

func (n *node) childText(name string) string {
	if c := n.child(name); c != nil {
		return c.value()
	}
	return ""
}

func (n *node) all(name string) []*node {
	if n == nil {
		return nil
	}
	var out []*node
	for _, c := range n.Children {
		if c.name() == name {
			out = append(out, c)
		}
	}
	return out
}

// descendants returns every element below n named name, depth first: JunOS
// puts rpc-error elements directly in the reply or inside the operation's
// results (load-configuration-results, commit-results).
func (n *node) descendants(name string) []*node {
	var out []*node
	for _, c := range n.Children {
		if c.name() == name {
			out = append(out, c)
		}
		out = append(out, c.descendants(name)...)
	}
	return out
}

// allText concatenates the text of n and every element below it.
func (n *node) allText() string {
	var b strings.Builder
	b.WriteString(n.Text)
	for _, c := range n.Children {
		b.WriteString(c.allText())
	}
	return b.String()
}

// lookup follows steps from n.
func (n *node) lookup(steps []pathStep) *node {
	cur := n
	for _, s := range steps {
		var next *node
		for _, c := range cur.Children {
			if c.name() == s.Name && (s.Key == "" || c.childText("name") == s.Key) {
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

// esc escapes s for XML text or a double-quoted attribute.
func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// element renders <name>esc(text)</name>.
func element(name, text string) string {
	return "<" + name + ">" + esc(text) + "</" + name + ">"
}

// pathStep is one element of a configuration path: a statement and, for
// list entries, the key.
type pathStep struct {
	Name string
	Key  string
}

// wrapPath nests inner in the elements of steps: steps a, b[name='x'] and
// inner "<c/>" give "<a><b><name>x</name><c/></b></a>".
func wrapPath(steps []pathStep, inner string) string {
	var b strings.Builder
	for _, s := range steps {
		b.WriteString("<" + s.Name + ">")
		if s.Key != "" {
			b.WriteString(element("name", s.Key))
		}
	}
	b.WriteString(inner)
	for i := len(steps) - 1; i >= 0; i-- {
		b.WriteString("</" + steps[i].Name + ">")
	}
	return b.String()
}

// filterTree builds a subtree filter from several paths, merging the
// elements they share, so one get-configuration asks for all of them.
type filterTree struct {
	step     pathStep
	children []*filterTree
}

func (f *filterTree) add(steps []pathStep) {
	cur := f
	for _, s := range steps {
		var next *filterTree
		for _, c := range cur.children {
			if c.step == s {
				next = c
				break
			}
		}
		if next == nil {
			next = &filterTree{step: s}
			cur.children = append(cur.children, next)
		}
		cur = next
	}
}

func (f *filterTree) render(b *strings.Builder) {
	for _, c := range f.children {
		b.WriteString("<" + c.step.Name + ">")
		if c.step.Key != "" {
			b.WriteString(element("name", c.step.Key))
		}
		c.render(b)
		b.WriteString("</" + c.step.Name + ">")
	}
}

// configurationFilter returns a <configuration> subtree filter selecting
// each path's last element whole.
func configurationFilter(paths ...[]pathStep) string {
	root := &filterTree{}
	for _, p := range paths {
		root.add(p)
	}
	var b strings.Builder
	b.WriteString("<configuration>")
	root.render(&b)
	b.WriteString("</configuration>")
	return b.String()
}
