package lighthouselab

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// csrDownloadPath is where the pending CSR is downloaded (the documented
// zip flag of GET /services/https).
const csrDownloadPath = APIBase + "/services/https?zip=true"

// keyLengths are the RSA sizes the CSR form offers.
var keyLengths = []int{2048, 3072, 4096}

// oidEmailAddress is the PKCS #9 emailAddress attribute of a subject DN,
// where openssl-based appliances put the CSR form's email.
var oidEmailAddress = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}

// subject is the distinguished name fields of the CSR form.
type subject struct {
	CommonName   string `json:"common_name"`
	Country      string `json:"country,omitempty"`
	State        string `json:"state,omitempty"`
	Locality     string `json:"locality,omitempty"`
	Organization string `json:"organization,omitempty"`
	OrgUnit      string `json:"org_unit,omitempty"`
	Email        string `json:"email,omitempty"`
}

// csrForm is https.csr of a PUT.
type csrForm struct {
	subject
	// CSR is "new" to make a new key and CSR.
	CSR               string
	KeyLength         int
	ChallengePassword string
	SANs              []string
}

// update is the https object of a PUT.
type update struct {
	subject
	KeyLength int
	Cert      string
	Key       string
	// CSR is nil when the request has no https.csr (or null).
	CSR *csrForm
}

// pendingCSR is a generated key waiting for its certificate.
type pendingCSR struct {
	form csrForm
	key  crypto.Signer
	pem  []byte
}

// parseUpdate reads a PUT body strictly: unknown members are refused as
// the appliance refuses them, naming the parameter.
func parseUpdate(body []byte, sanField bool) (*update, *apiError) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		e := errInvalidBody
		return nil, &e
	}
	for name := range top {
		if name != "https" {
			e := errInvalidParameter(name)
			return nil, &e
		}
	}
	raw, ok := top["https"]
	if !ok {
		e := errRequiredField("https")
		return nil, &e
	}
	var https map[string]json.RawMessage
	if err := json.Unmarshal(raw, &https); err != nil || https == nil {
		e := errInvalidBody
		return nil, &e
	}
	u := &update{}
	p := fieldParser{}
	for name, v := range https {
		switch name {
		case "cert":
			u.Cert = p.str(name, v)
		case "key":
			u.Key = p.str(name, v)
		case "key_length":
			u.KeyLength = p.integer(name, v)
		case "csr":
			u.CSR = p.csr(v, sanField)
		default:
			if !p.subjectField(&u.subject, name, v) {
				p.fail(errInvalidParameter(name))
			}
		}
	}
	if p.err != nil {
		return nil, p.err
	}
	return u, nil
}

// fieldParser decodes members, keeping the first error.
type fieldParser struct{ err *apiError }

func (p *fieldParser) fail(e apiError) {
	if p.err == nil {
		p.err = &e
	}
}

func (p *fieldParser) str(name string, v json.RawMessage) string {
	var s *string
	if err := json.Unmarshal(v, &s); err != nil {
		p.fail(errInvalidValue(name, string(v)))
		return ""
	}
	if s == nil {
		return ""
	}
	return *s
}

// integer accepts a JSON number or a numeric string, as the web UI sends
// either.
func (p *fieldParser) integer(name string, v json.RawMessage) int {
	var n json.Number
	if err := json.Unmarshal(bytes.Trim(v, `"`), &n); err != nil {
		p.fail(errInvalidValue(name, string(v)))
		return 0
	}
	i, err := strconv.Atoi(n.String())
	if err != nil {
		p.fail(errInvalidValue(name, n.String()))
	}
	return i
}

func (p *fieldParser) subjectField(s *subject, name string, v json.RawMessage) bool {
	target := map[string]*string{
		"common_name": &s.CommonName, "country": &s.Country, "state": &s.State, "locality": &s.Locality,
		"organization": &s.Organization, "org_unit": &s.OrgUnit, "email": &s.Email,
	}[name]
	if target == nil {
		return false
	}
	*target = p.str(name, v)
	return true
}

func (p *fieldParser) csr(v json.RawMessage, sanField bool) *csrForm {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(v, &members); err != nil {
		p.fail(errInvalidValue("csr", string(v)))
		return nil
	}
	if members == nil {
		return nil
	}
	f := &csrForm{}
	for name, v := range members {
		switch name {
		case "csr":
			f.CSR = p.str(name, v)
		case "key_length":
			f.KeyLength = p.integer(name, v)
		case "challenge_password":
			f.ChallengePassword = p.str(name, v)
		case "subject_alternative_names":
			// Not in the v3.7 reference; later releases' CSR form has
			// SANs. NoSANField gives the v3.7 answer.
			if !sanField || json.Unmarshal(v, &f.SANs) != nil {
				p.fail(errInvalidParameter(name))
			}
		default:
			if !p.subjectField(&f.subject, name, v) {
				p.fail(errInvalidParameter(name))
			}
		}
	}
	return f
}

// newCSR checks the form, makes a new RSA key and a CSR for it, and makes
// it the pending request, replacing any earlier one.
func (d *Device) newCSR(u *update) []apiError {
	f := *u.CSR
	if f.CommonName == "" {
		f.CommonName = u.CommonName
	}
	if f.KeyLength == 0 {
		f.KeyLength = u.KeyLength
	}
	if f.KeyLength == 0 {
		f.KeyLength = 2048
	}
	var errs []apiError
	if f.CommonName == "" {
		errs = append(errs, errRequiredField("common_name"))
	}
	if !slices.Contains(keyLengths, f.KeyLength) {
		errs = append(errs, errInvalidValue("key_length", f.KeyLength))
	}
	if f.Email != "" && (!strings.Contains(f.Email, "@") || strings.ContainsAny(f.Email, " \t")) {
		errs = append(errs, errBadFormat("root-1-services_https_csr_email"))
	}
	if f.Country != "" && (len(f.Country) != 2 || strings.ToUpper(f.Country) != f.Country) {
		errs = append(errs, errBadFormat("root-1-services_https_csr_country"))
	}
	tmpl := &x509.CertificateRequest{Subject: f.subject.name()}
	for _, san := range f.SANs {
		if ip := net.ParseIP(san); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if isHostname(san) {
			tmpl.DNSNames = append(tmpl.DNSNames, san)
		} else {
			errs = append(errs, errInvalidValue("subject_alternative_names", san))
		}
	}
	if len(errs) > 0 {
		return append(errs, errPushFailed)
	}
	// Made outside the lock: a 4096-bit key takes a while, and the web
	// server keeps serving meanwhile.
	key, err := rsa.GenerateKey(rand.Reader, f.KeyLength)
	if err != nil {
		return []apiError{errPushFailed}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return []apiError{errInvalidValue("common_name", f.CommonName), errPushFailed}
	}
	p := &pendingCSR{form: f, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})}
	d.mu.Lock()
	d.pending = p
	d.mu.Unlock()
	return nil
}

func (s subject) name() pkix.Name {
	n := pkix.Name{CommonName: s.CommonName}
	add := func(dst *[]string, v string) {
		if v != "" {
			*dst = append(*dst, v)
		}
	}
	add(&n.Country, s.Country)
	add(&n.Province, s.State)
	add(&n.Locality, s.Locality)
	add(&n.Organization, s.Organization)
	add(&n.OrganizationalUnit, s.OrgUnit)
	if s.Email != "" {
		n.ExtraNames = append(n.ExtraNames, pkix.AttributeTypeAndValue{Type: oidEmailAddress, Value: s.Email})
	}
	return n
}

func isHostname(name string) bool {
	name = strings.TrimPrefix(name, "*.")
	if name == "" || len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// install checks an uploaded chain against the key it must match (the
// uploaded key, the pending CSR's, or the one in service) and binds it. It
// returns the HTTP status and errors of a refusal.
func (d *Device) install(u *update) (int, []apiError) {
	chain, err := parseChain(u.Cert)
	if err != nil {
		return http.StatusBadRequest, []apiError{errBadFormat("root-1-services_https_cert"), errPushFailed}
	}
	var uploaded crypto.Signer
	if u.Key != "" {
		if uploaded, err = parseKey(u.Key); err != nil {
			return http.StatusBadRequest, []apiError{errBadFormat("root-1-services_https_key"), errPushFailed}
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var key crypto.Signer
	usesPending := false
	switch {
	case uploaded != nil:
		key = uploaded
	case d.pending != nil && samePublicKey(d.pending.key, chain[0].PublicKey):
		key, usesPending = d.pending.key, true
	case samePublicKey(d.current.key, chain[0].PublicKey):
		key = d.current.key
	}
	if key == nil || !samePublicKey(key, chain[0].PublicKey) {
		return http.StatusBadRequest, []apiError{{Type: 2, Code: 62,
			Text: "The certificate does not match the private key of the current signing request.",
			Args: map[string]any{"uuid": "root-1-services_https_cert"}}, errPushFailed}
	}
	if d.failInstalls {
		return http.StatusInternalServerError, []apiError{{Type: 2, Code: 62,
			Text: failedInstallText + ": the web server refused it (ottr lab FailInstalls)",
			Args: map[string]any{"uuid": "root-1-services_https_cert"}}, errPushFailed}
	}
	if d.cfg.KeepLeafOnly {
		chain = chain[:1]
	}
	d.bind(boundCertificate{chain: chain, key: key})
	if usesPending {
		d.pending = nil
	}
	return http.StatusOK, nil
}

func parseChain(s string) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	for rest := []byte(s); ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, errNoCertificate
	}
	return chain, nil
}

type emulatorError string

func (e emulatorError) Error() string { return string(e) }

const errNoCertificate = emulatorError("no PEM certificate")

func parseKey(s string) (crypto.Signer, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, emulatorError("no PEM key")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if signer, ok := k.(crypto.Signer); ok {
			return signer, nil
		}
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	return x509.ParseECPrivateKey(block.Bytes)
}

func samePublicKey(key crypto.Signer, pub crypto.PublicKey) bool {
	if key == nil {
		return false
	}
	k, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(pub)
}

// httpsDetails is the documented body of GET /services/https, without the
// "key" member the reference's example shows: this appliance never sends a
// private key.
type httpsDetails struct {
	ValidFrom string `json:"valid_from"`
	ValidTo   string `json:"valid_to"`
	subject
	KeyLength int                `json:"key_length"`
	SANs      []string           `json:"subject_alternative_names,omitempty"`
	Cert      string             `json:"cert"`
	CSR       *pendingCSRDetails `json:"csr,omitempty"`
}

type pendingCSRDetails struct {
	subject
	KeyLength int      `json:"key_length"`
	SANs      []string `json:"subject_alternative_names,omitempty"`
	// CSR is the download link of the request file.
	CSR string `json:"csr"`
}

// details describes the configured certificate and the pending CSR.
func (d *Device) details() httpsDetails {
	d.mu.Lock()
	defer d.mu.Unlock()
	leaf := d.current.chain[0]
	var chainPEM bytes.Buffer
	for _, c := range d.current.chain {
		_ = pem.Encode(&chainPEM, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	out := httpsDetails{
		ValidFrom: opensslTime(leaf.NotBefore),
		ValidTo:   opensslTime(leaf.NotAfter),
		subject:   subjectOf(leaf.Subject),
		KeyLength: keyBits(leaf.PublicKey),
		Cert:      chainPEM.String(),
	}
	if !d.cfg.NoSANField {
		out.SANs = leaf.DNSNames
	}
	if p := d.pending; p != nil {
		out.CSR = &pendingCSRDetails{subject: p.form.subject, KeyLength: p.form.KeyLength, SANs: p.form.SANs, CSR: csrDownloadPath}
	}
	return out
}

func subjectOf(n pkix.Name) subject {
	first := func(v []string) string {
		if len(v) == 0 {
			return ""
		}
		return v[0]
	}
	s := subject{
		CommonName: n.CommonName, Country: first(n.Country), State: first(n.Province), Locality: first(n.Locality),
		Organization: first(n.Organization), OrgUnit: first(n.OrganizationalUnit),
	}
	for _, a := range n.Names {
		if a.Type.Equal(oidEmailAddress) {
			s.Email, _ = a.Value.(string)
		}
	}
	return s
}

func keyBits(pub crypto.PublicKey) int {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return k.N.BitLen()
	case *ecdsa.PublicKey:
		return k.Curve.Params().BitSize
	}
	return 0
}

// opensslTime formats t as openssl prints certificate dates.
func opensslTime(t time.Time) string {
	return t.UTC().Format("Jan _2 15:04:05 2006") + " GMT"
}
