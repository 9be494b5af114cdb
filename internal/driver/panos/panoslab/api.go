package panoslab

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
)

// apiError is an error answer: PAN-OS's numeric code and its message lines.
type apiError struct {
	httpStatus int
	code       string
	lines      []string
}

func (e *apiError) Error() string { return strings.Join(e.lines, " ") }

// newAPIError makes an error answer with HTTP 200, as PAN-OS sends most of
// them.
func newAPIError(code string, lines ...string) *apiError {
	return &apiError{httpStatus: http.StatusOK, code: code, lines: lines}
}

// PAN-OS error codes (XML API documentation, "API Error Codes").
const (
	codeUnknownCommand   = "1"
	codeBadXPath         = "6"
	codeObjectNotPresent = "7"
	codeReferenceCount   = "10"
	codeInvalidObject    = "12"
	codeInvalidCommand   = "17"
	codeMalformed        = "18"
	codeSuccess          = "19"
	codeSuccessCommand   = "20"
)

// invalidCredential is the answer to a bad login, a bad API key, and a
// request the administrator's role does not allow (ansible-pan issue #264:
// an admin role without XML API access gets this 403 too).
const invalidCredential = `<response status = 'error' code = '403'><result><msg>Invalid Credential</msg></result></response>`

// maxUpload bounds a multipart import held in memory.
const maxUpload = 1 << 20

// ServeHTTP answers /api/ requests.
func (d *Device) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/" && r.URL.Path != "/api" {
		http.NotFound(w, r)
		return
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		if err := r.ParseMultipartForm(maxUpload); err != nil {
			d.writeError(w, newAPIError(codeMalformed, "Malformed Request"))
			return
		}
	} else if err := r.ParseForm(); err != nil {
		d.writeError(w, newAPIError(codeMalformed, "Malformed Request"))
		return
	}
	reqType := r.FormValue("type")
	d.record(r)
	d.log.Debug("api request", "method", r.Method, "type", reqType, "action", r.FormValue("action"))

	if reqType == "keygen" {
		d.keygen(w, r)
		return
	}
	user, ok := d.authenticate(r)
	if !ok || !d.allowed(user, r) {
		writeXML(w, http.StatusForbidden, invalidCredential)
		return
	}
	var (
		body string
		err  error
	)
	switch reqType {
	case "config":
		body, err = d.config(user, r)
	case "op":
		body, err = d.op(user, r.FormValue("cmd"))
	case "commit":
		body, err = d.commit(user, r.FormValue("cmd"))
	case "import":
		body, err = d.importFile(user, r)
	case "export":
		d.export(w, r)
		return
	case "":
		err = &apiError{httpStatus: http.StatusBadRequest, code: "400", lines: []string{"Missing request type"}}
	default:
		err = &apiError{httpStatus: http.StatusBadRequest, code: "400", lines: []string{"Invalid request type " + reqType}}
	}
	if err != nil {
		d.writeError(w, err)
		return
	}
	writeXML(w, http.StatusOK, body)
}

// record keeps what the request looked like on the wire, minus the secret
// form values.
func (d *Device) record(r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.requests) >= maxRequests {
		d.requests = append(d.requests[:0], d.requests[len(d.requests)-maxRequests/2:]...)
	}
	d.requests = append(d.requests, Request{
		Method:          r.Method,
		URI:             r.RequestURI,
		Header:          r.Header.Clone(),
		KeyIn:           keyPlaces(r),
		Type:            r.FormValue("type"),
		Action:          r.FormValue("action"),
		XPath:           r.FormValue("xpath"),
		Cmd:             r.FormValue("cmd"),
		Category:        r.FormValue("category"),
		CertificateName: r.FormValue("certificate-name"),
		Format:          r.FormValue("format"),
		IncludeKey:      r.FormValue("include-key"),
	})
}

// keygen returns the administrator's API key. Like PAN-OS, the same login
// gets the same key until the device restarts.
func (d *Device) keygen(w http.ResponseWriter, r *http.Request) {
	if r.FormValue("user") != d.cfg.Username || r.FormValue("password") != d.cfg.Password {
		writeXML(w, http.StatusForbidden, invalidCredential)
		return
	}
	d.mu.Lock()
	key := ""
	for k, u := range d.apiKeys {
		if u == d.cfg.Username {
			key = k
		}
	}
	if key == "" {
		raw := make([]byte, 48)
		_, _ = rand.Read(raw)
		key = "LUFRPT" + base64.StdEncoding.EncodeToString(raw)
		d.apiKeys[key] = d.cfg.Username
	}
	d.mu.Unlock()
	writeXML(w, http.StatusOK, `<response status = 'success'><result><key>`+key+`</key></result></response>`)
}

// authenticate accepts the key in the X-PAN-KEY header or, as PAN-OS also
// does, in a key parameter of the query or the body. With
// Config.IgnoreKeyHeader the header counts for nothing.
func (d *Device) authenticate(r *http.Request) (string, bool) {
	key := r.Header.Get("X-PAN-KEY")
	if key == "" || d.cfg.IgnoreKeyHeader {
		key = r.FormValue("key")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	user, ok := d.apiKeys[key]
	return user, ok && key != ""
}

func (d *Device) writeError(w http.ResponseWriter, err error) {
	e, ok := err.(*apiError)
	if !ok {
		e = &apiError{httpStatus: http.StatusOK, code: "13", lines: []string{err.Error()}}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<response status="error" code="%s"><msg>`, e.code)
	for _, l := range e.lines {
		fmt.Fprintf(&b, "<line><![CDATA[ %s]]></line>", strings.ReplaceAll(l, "]]>", "]]]]><![CDATA[>"))
	}
	b.WriteString("</msg></response>")
	writeXML(w, e.httpStatus, b.String())
}

func writeXML(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/xml; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// success is the answer to a config change.
func success() string {
	return `<response status="success" code="20"><msg>command succeeded</msg></response>`
}

// successResult wraps inner XML in a successful result.
func successResult(inner string) string {
	return `<response status="success"><result>` + inner + `</result></response>`
}

// config handles type=config: get (candidate), show (running), set, edit,
// delete.
func (d *Device) config(user string, r *http.Request) (string, error) {
	action := r.FormValue("action")
	raw := r.FormValue("xpath")
	if raw == "" {
		return "", newAPIError(codeMalformed, "Malformed Request: xpath is missing")
	}
	p, err := parseXPath(raw)
	if err != nil {
		return "", newAPIError(codeBadXPath, "Bad Xpath: "+raw)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if holders := lockedBy(d.configLocks, user); len(holders) > 0 && action != "get" && action != "show" {
		return "", newAPIError("14", "Config is locked by "+strings.Join(holders, ", "))
	}
	switch action {
	case "get", "show":
		root := d.candidate
		if action == "show" {
			root = d.running
		}
		n := find(root, p)
		if n == nil {
			if action == "show" {
				return "", newAPIError(codeObjectNotPresent, "No such node")
			}
			return `<response status="success" code="7"><result/></response>`, nil
		}
		if action == "show" {
			return successResult(n.String()), nil
		}
		return `<response status="success" code="19"><result total-count="1" count="1">` + n.String() + `</result></response>`, nil
	case "set", "edit":
		if !inSchema(p.tags()) {
			return "", newAPIError(codeBadXPath, "Could not get schema node for xpath "+raw)
		}
		frag, err := parseFragment(r.FormValue("element"))
		if err != nil || len(frag.children) == 0 {
			return "", newAPIError(codeMalformed, "Malformed Request: element is not well-formed XML")
		}
		if action == "set" {
			return d.set(user, p, frag)
		}
		return d.edit(user, p, frag)
	case "delete":
		if len(p) < 2 {
			return "", newAPIError(codeBadXPath, "Bad Xpath: "+raw)
		}
		if refs := d.referencesTo(p); len(refs) > 0 {
			lines := append([]string{fmt.Sprintf("%s cannot be deleted because of references from:", p[len(p)-1].name)}, refs...)
			return "", newAPIError(codeReferenceCount, lines...)
		}
		if remove(d.candidate, p) {
			d.recordChange(user, p)
		}
		return success(), nil
	case "":
		return "", newAPIError(codeMalformed, "Malformed Request: action is missing")
	default:
		return "", newAPIError(codeUnknownCommand, "Unknown action "+action)
	}
}

// set merges frag into the candidate at p.
func (d *Device) set(user string, p xpath, frag *node) (string, error) {
	if err := checkElement(p.tags(), frag); err != nil {
		return "", newAPIError(codeInvalidObject, err.Error(), p[len(p)-1].tag+" is invalid")
	}
	ensure(d.candidate, p).merge(frag)
	for _, c := range changedPaths(p, frag) {
		d.recordChange(user, c)
	}
	return success(), nil
}

// edit replaces the candidate's node at p with the one element of frag,
// which must be that node (same tag, same name).
func (d *Device) edit(user string, p xpath, frag *node) (string, error) {
	last := p[len(p)-1]
	el := frag.children[0]
	if len(frag.children) != 1 || el.tag != last.tag || el.name() != last.name {
		return "", newAPIError(codeInvalidObject, "edit breaks config validity: the element must be the node the xpath names")
	}
	if err := checkElement(p.tags(), el); err != nil {
		return "", newAPIError(codeInvalidObject, err.Error(), last.tag+" is invalid")
	}
	replace(d.candidate, p, el)
	d.recordChange(user, p)
	return success(), nil
}

// referencesTo lists, PAN-OS style, what in the candidate names the
// certificate or SSL/TLS service profile at p.
func (d *Device) referencesTo(p xpath) []string {
	tags := p.tags()
	last := p[len(p)-1]
	var refs []string
	switch {
	case len(tags) == 4 && tags[1] == "shared" && tags[2] == "certificate":
		for _, prof := range d.candidate.path("shared", "ssl-tls-service-profile").children {
			if prof.textOf("certificate") == last.name {
				refs = append(refs, fmt.Sprintf("shared -> ssl-tls-service-profile -> %s -> certificate", prof.name()))
			}
		}
	case len(tags) == 4 && tags[1] == "shared" && tags[2] == "ssl-tls-service-profile":
		for _, b := range serviceBindings() {
			bp, _ := parseXPath(b.xpath)
			if n := find(d.candidate, bp); n != nil && n.text == last.name {
				refs = append(refs, b.what)
			}
		}
	}
	return refs
}

// changedPaths are the paths a set of frag at p changes: one per top-level
// element, so that two administrators adding entries to one list change
// different objects, as PAN-OS tracks them.
func changedPaths(p xpath, frag *node) []xpath {
	var out []xpath
	for _, c := range frag.children {
		if c.tag == "member" {
			// A member list changes as a whole.
			return []xpath{append(xpath(nil), p...)}
		}
		st := step{tag: c.tag}
		if c.tag == "entry" && c.name() != "" {
			st.name = c.name()
		}
		out = append(out, append(append(xpath(nil), p...), st))
	}
	return out
}

// recordChange notes that admin changed the candidate at p. A path below
// one already recorded adds nothing; one above replaces those below it.
func (d *Device) recordChange(admin string, p xpath) {
	s := p.String()
	var kept []xpath
	for _, q := range d.changes[admin] {
		qs := q.String()
		if qs == s || strings.HasPrefix(s, qs+"/") {
			return
		}
		if !strings.HasPrefix(qs, s+"/") {
			kept = append(kept, q)
		}
	}
	d.changes[admin] = append(kept, append(xpath(nil), p...))
}
