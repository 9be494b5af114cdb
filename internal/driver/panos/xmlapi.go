package panos

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
)

// xnode is any element of an XML API answer.
type xnode struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []xnode    `xml:",any"`
}

// child returns the first child with the tag, or nil.
func (n *xnode) child(tag string) *xnode {
	if n == nil {
		return nil
	}
	for i := range n.Nodes {
		if n.Nodes[i].XMLName.Local == tag {
			return &n.Nodes[i]
		}
	}
	return nil
}

// path follows child tags; nil when one is missing.
func (n *xnode) path(tags ...string) *xnode {
	for _, t := range tags {
		n = n.child(t)
	}
	return n
}

// text returns the trimmed text of the element at tags below n, or "".
func (n *xnode) text(tags ...string) string {
	if c := n.path(tags...); c != nil {
		return strings.TrimSpace(c.Text)
	}
	return ""
}

// attr returns an attribute's value.
func (n *xnode) attr(name string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// entries returns the <entry> children.
func (n *xnode) entries() []*xnode {
	if n == nil {
		return nil
	}
	var out []*xnode
	for i := range n.Nodes {
		if n.Nodes[i].XMLName.Local == "entry" {
			out = append(out, &n.Nodes[i])
		}
	}
	return out
}

// texts collects the text of every leaf below n, in document order: the
// lines of a <msg> or of a job's <details>, however deeply PAN-OS nests
// them.
func (n *xnode) texts() []string {
	if n == nil {
		return nil
	}
	if len(n.Nodes) == 0 {
		if t := strings.TrimSpace(n.Text); t != "" {
			return []string{t}
		}
		return nil
	}
	var out []string
	for i := range n.Nodes {
		out = append(out, n.Nodes[i].texts()...)
	}
	return out
}

// response is the envelope of every XML API answer.
type response struct {
	XMLName xml.Name `xml:"response"`
	Status  string   `xml:"status,attr"`
	Code    string   `xml:"code,attr"`
	Msg     *xnode   `xml:"msg"`
	Result  *xnode   `xml:"result"`
}

// messages returns the answer's message lines: <msg> and <result><msg>.
func (r *response) messages() []string {
	out := r.Msg.texts()
	if r.Result != nil {
		out = append(out, r.Result.child("msg").texts()...)
	}
	return out
}

func parseResponse(body []byte) (*response, error) {
	var r response
	if err := xml.NewDecoder(bytes.NewReader(body)).Decode(&r); err != nil {
		return nil, err
	}
	return &r, nil
}

// APIError is an error answer from the device: the XML API's status
// "error", with the device's own message lines.
type APIError struct {
	// HTTPStatus is the answer's HTTP status (403 for a bad login or key).
	HTTPStatus int
	// Code is PAN-OS's error code, when the answer carries one.
	Code string
	// Messages are the <msg>/<line> texts, in order.
	Messages []string
	// Hint says what to check, when the driver knows more than the
	// device's words.
	Hint string
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("PAN-OS error")
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if len(e.Messages) == 0 {
		fmt.Fprintf(&b, " (HTTP %d, no message)", e.HTTPStatus)
	} else {
		b.WriteString(": " + strings.Join(e.Messages, " "))
	}
	if e.Hint != "" {
		b.WriteString(" (" + e.Hint + ")")
	}
	return b.String()
}

// notPresent reports whether the error says the object does not exist
// (code 7), which callers reading the configuration treat as "absent".
func (e *APIError) notPresent() bool {
	return e.Code == "7" || strings.Contains(strings.Join(e.Messages, " "), "No such node")
}

// job is the part of <show><jobs><id> the driver reads.
type job struct {
	ID       string
	Status   string // ACT, PEND or FIN
	Result   string // PEND, OK or FAIL
	Progress string
	Details  []string
	Warnings []string
}

func parseJob(r *response) (*job, error) {
	j := r.Result.child("job")
	if j == nil {
		return nil, fmt.Errorf("the answer holds no <job>")
	}
	return &job{
		ID:       j.text("id"),
		Status:   j.text("status"),
		Result:   j.text("result"),
		Progress: j.text("progress"),
		Details:  j.child("details").texts(),
		Warnings: j.child("warnings").texts(),
	}, nil
}

// JobError is a commit job that finished without result OK.
type JobError struct {
	ID     string
	Result string
	// Details are the job's detail lines: the device's reasons.
	Details []string
}

func (e *JobError) Error() string {
	msg := fmt.Sprintf("commit job %s finished with result %s", e.ID, e.Result)
	if len(e.Details) > 0 {
		msg += ": " + strings.Join(e.Details, " ")
	}
	return msg
}

// marshalNode renders n for a config edit: tags, the name attribute and
// text. The bookkeeping attributes a candidate read adds (admin, dirtyId,
// time) are left out.
func marshalNode(n *xnode) string {
	var b strings.Builder
	var write func(n *xnode)
	write = func(n *xnode) {
		b.WriteString("<" + n.XMLName.Local)
		if name := n.attr("name"); name != "" {
			b.WriteString(` name="` + escape(name) + `"`)
		}
		b.WriteString(">")
		if len(n.Nodes) == 0 {
			b.WriteString(escape(strings.TrimSpace(n.Text)))
		}
		for i := range n.Nodes {
			write(&n.Nodes[i])
		}
		b.WriteString("</" + n.XMLName.Local + ">")
	}
	write(n)
	return b.String()
}

// escape returns s as XML text or attribute content.
func escape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
