package panoslab

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// node is one element of the device's configuration (or of a command sent
// to it). PAN-OS configuration is element-only: an element holds either
// child elements or text, never both, and list items are <entry name="…">
// or <member>…</member>.
type node struct {
	tag      string
	attrs    []xml.Attr
	text     string
	children []*node
}

// parseFragment parses zero or more sibling elements, the shape of a config
// set's element parameter, and returns them as the children of a nameless
// node.
func parseFragment(s string) (*node, error) {
	dec := xml.NewDecoder(strings.NewReader(s))
	root := &node{}
	stack := []*node{root}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		top := stack[len(stack)-1]
		switch t := tok.(type) {
		case xml.StartElement:
			n := &node{tag: t.Name.Local}
			for _, a := range t.Attr {
				n.attrs = append(n.attrs, xml.Attr{Name: xml.Name{Local: a.Name.Local}, Value: a.Value})
			}
			top.children = append(top.children, n)
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			top.text += string(t)
		}
	}
	if len(stack) != 1 {
		return nil, errors.New("unexpected end of XML")
	}
	// Text is kept only on leaves; indentation between elements is not text.
	var trim func(n *node)
	trim = func(n *node) {
		if len(n.children) > 0 {
			n.text = ""
		} else {
			n.text = strings.TrimSpace(n.text)
		}
		for _, c := range n.children {
			trim(c)
		}
	}
	trim(root)
	return root, nil
}

// parseElement parses exactly one element.
func parseElement(s string) (*node, error) {
	f, err := parseFragment(s)
	if err != nil {
		return nil, err
	}
	if len(f.children) != 1 {
		return nil, fmt.Errorf("want one element, got %d", len(f.children))
	}
	return f.children[0], nil
}

// attr returns the value of the named attribute.
func (n *node) attr(name string) string {
	for _, a := range n.attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// name is the entry's name attribute.
func (n *node) name() string { return n.attr("name") }

// child returns the first child with the tag, or nil.
func (n *node) child(tag string) *node {
	if n == nil {
		return nil
	}
	for _, c := range n.children {
		if c.tag == tag {
			return c
		}
	}
	return nil
}

// entry returns the <entry name="name"> child, or nil.
func (n *node) entry(name string) *node {
	if n == nil {
		return nil
	}
	for _, c := range n.children {
		if c.tag == "entry" && c.name() == name {
			return c
		}
	}
	return nil
}

// path follows child tags from n; nil if one is missing.
func (n *node) path(tags ...string) *node {
	for _, t := range tags {
		n = n.child(t)
	}
	return n
}

// textOf returns the text of the child at tags, or "".
func (n *node) textOf(tags ...string) string {
	if c := n.path(tags...); c != nil {
		return c.text
	}
	return ""
}

// members returns the texts of n's <member> children.
func (n *node) members() []string {
	if n == nil {
		return nil
	}
	var out []string
	for _, c := range n.children {
		if c.tag == "member" {
			out = append(out, c.text)
		}
	}
	return out
}

// setChildText replaces or adds a leaf child.
func (n *node) setChildText(tag, text string) {
	if c := n.child(tag); c != nil {
		c.text, c.children = text, nil
		return
	}
	n.children = append(n.children, &node{tag: tag, text: text})
}

// removeChild drops every child with the tag.
func (n *node) removeChild(tag string) {
	kept := n.children[:0]
	for _, c := range n.children {
		if c.tag != tag {
			kept = append(kept, c)
		}
	}
	n.children = kept
}

func (n *node) clone() *node {
	if n == nil {
		return nil
	}
	c := &node{tag: n.tag, text: n.text, attrs: append([]xml.Attr(nil), n.attrs...)}
	c.children = make([]*node, len(n.children))
	for i, ch := range n.children {
		c.children[i] = ch.clone()
	}
	return c
}

// equal compares two subtrees, attributes included.
func (n *node) equal(o *node) bool {
	if n == nil || o == nil {
		return n == o
	}
	if n.tag != o.tag || n.text != o.text || len(n.attrs) != len(o.attrs) || len(n.children) != len(o.children) {
		return false
	}
	for i := range n.attrs {
		if n.attrs[i] != o.attrs[i] {
			return false
		}
	}
	for i := range n.children {
		if !n.children[i].equal(o.children[i]) {
			return false
		}
	}
	return true
}

// merge is PAN-OS "set": elements of src are added to dst; an entry or a
// container that already exists is merged into, a leaf is replaced, and
// member lists gain the members they lack.
func (n *node) merge(src *node) {
	for _, c := range src.children {
		var existing *node
		if name := c.name(); c.tag == "entry" && name != "" {
			existing = n.entry(name)
		} else if c.tag == "member" {
			if containsMember(n, c.text) {
				continue
			}
		} else {
			existing = n.child(c.tag)
		}
		switch {
		case existing == nil:
			n.children = append(n.children, c.clone())
		case len(c.children) == 0 && c.tag != "entry":
			existing.text, existing.children = c.text, nil
		default:
			existing.merge(c)
		}
	}
}

func containsMember(n *node, text string) bool {
	for _, m := range n.members() {
		if m == text {
			return true
		}
	}
	return false
}

// xmlEscaper escapes text and attribute values. Unlike xml.EscapeText it
// keeps newlines as they are, as PAN-OS does in PEM blocks.
var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")

// String renders the subtree as XML.
func (n *node) String() string {
	var b bytes.Buffer
	n.write(&b)
	return b.String()
}

func (n *node) write(b *bytes.Buffer) {
	b.WriteByte('<')
	b.WriteString(n.tag)
	for _, a := range n.attrs {
		fmt.Fprintf(b, ` %s="%s"`, a.Name.Local, xmlEscaper.Replace(a.Value))
	}
	if len(n.children) == 0 && n.text == "" {
		b.WriteString("/>")
		return
	}
	b.WriteByte('>')
	if len(n.children) == 0 {
		b.WriteString(xmlEscaper.Replace(n.text))
	}
	for _, c := range n.children {
		c.write(b)
	}
	b.WriteString("</")
	b.WriteString(n.tag)
	b.WriteByte('>')
}

// nameAttr is the attribute list of a named list item.
func nameAttr(name string) []xml.Attr {
	return []xml.Attr{{Name: xml.Name{Local: "name"}, Value: name}}
}
