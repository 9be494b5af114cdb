package ui

import (
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// parsedPage is a page's HTML as a browser would build it.
func parsedPage(t testing.TB, path, body string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatalf("%s is not HTML: %v", path, err)
	}
	return doc
}

// elements are the elements of the tree under n named one of tags ("*"
// for any), in document order.
func elements(n *html.Node, tags ...string) []*html.Node {
	var found []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			for _, tag := range tags {
				if n.Data == tag || tag == "*" {
					found = append(found, n)
					break
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return found
}

// attr is the value of an element's attribute, and whether it has it.
func attr(n *html.Node, name string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}

// describe names an element as a reader would find it in the source.
func describe(n *html.Node) string {
	var b strings.Builder
	b.WriteString("<" + n.Data)
	for _, a := range n.Attr {
		if a.Key == "id" || a.Key == "name" || a.Key == "type" || a.Key == "href" {
			b.WriteString(" " + a.Key + `="` + a.Val + `"`)
		}
	}
	b.WriteString(">")
	return b.String()
}
