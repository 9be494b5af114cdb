package panoslab

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// certificateName is what PAN-OS accepts as a certificate name on a
// firewall: up to 63 characters, letters, digits, and . _ - and space.
var certificateName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._ -]{0,62}$`)

// generate runs <request><certificate><generate>: a key pair made on the
// device and, with <signed-by>external</signed-by>, a CSR waiting for the
// CA's certificate. The entry lands in the candidate configuration.
func (d *Device) generate(user string, g *node) (string, error) {
	name := g.textOf("certificate-name")
	cn := g.textOf("name")
	switch {
	case name == "":
		return "", newAPIError(codeInvalidCommand, "generate -> certificate-name is missing")
	case !certificateName.MatchString(name):
		return "", newAPIError(codeInvalidObject, fmt.Sprintf("certificate-name '%s' is not a valid name", name))
	case cn == "":
		return "", newAPIError(codeInvalidCommand, "generate -> name is missing")
	case g.textOf("signed-by") != "external":
		return "", newAPIError(codeInvalidCommand, "the emulator signs no certificates itself: set signed-by to external")
	case g.textOf("ca") == "yes":
		return "", newAPIError(codeInvalidCommand, "the emulator makes no CA certificates")
	}
	key, algorithm, err := generateKey(g.child("algorithm"))
	if err != nil {
		return "", err
	}
	sigAlg, err := signatureAlgorithm(key, g.textOf("digest"))
	if err != nil {
		return "", err
	}
	tmpl := &x509.CertificateRequest{
		Subject:            subject(g, cn),
		SignatureAlgorithm: sigAlg,
	}
	tmpl.DNSNames = g.child("hostname").members()
	for _, ip := range g.child("ip").members() {
		parsed := net.ParseIP(ip)
		if parsed == nil {
			return "", newAPIError(codeInvalidObject, fmt.Sprintf("ip '%s' is not a valid IP address", ip))
		}
		tmpl.IPAddresses = append(tmpl.IPAddresses, parsed)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return "", newAPIError(codeInvalidObject, "Failed to generate certificate: "+err.Error())
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	certs := ensure(d.candidate, certificatesPath())
	if certs.entry(name) != nil {
		return "", newAPIError(codeInvalidObject, fmt.Sprintf("Certificate '%s' already exists", name))
	}
	entry := &node{tag: "entry", attrs: nameAttr(name)}
	entry.setChildText("common-name", cn)
	entry.setChildText("algorithm", algorithm)
	entry.setChildText("ca", "no")
	entry.setChildText("csr", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})))
	entry.setChildText("private-key", d.storeKey(key))
	certs.children = append(certs.children, entry)
	d.recordChange(user, entryPath(name))
	return successResult(fmt.Sprintf("Successfully generated certificate %s", xmlEscaper.Replace(name))), nil
}

func certificatesPath() xpath {
	return xpath{{tag: "config"}, {tag: "shared"}, {tag: "certificate"}}
}

func entryPath(name string) xpath {
	return append(certificatesPath(), step{tag: "entry", name: name})
}

// generateKey makes the key <algorithm> asks for; the sizes are the ones
// PAN-OS offers for server certificates.
func generateKey(a *node) (crypto.Signer, string, error) {
	switch {
	case a.child("RSA") != nil:
		bits, err := strconv.Atoi(a.textOf("RSA", "rsa-nbits"))
		if err != nil || (bits != 2048 && bits != 3072 && bits != 4096) {
			return nil, "", newAPIError(codeInvalidObject, fmt.Sprintf("rsa-nbits '%s' is not one of 2048, 3072, 4096", a.textOf("RSA", "rsa-nbits")))
		}
		k, err := rsa.GenerateKey(rand.Reader, bits)
		return k, "RSA", err
	case a.child("ECDSA") != nil:
		var curve elliptic.Curve
		switch a.textOf("ECDSA", "ecdsa-nbits") {
		case "256":
			curve = elliptic.P256()
		case "384":
			curve = elliptic.P384()
		default:
			return nil, "", newAPIError(codeInvalidObject, fmt.Sprintf("ecdsa-nbits '%s' is not one of 256, 384", a.textOf("ECDSA", "ecdsa-nbits")))
		}
		k, err := ecdsa.GenerateKey(curve, rand.Reader)
		return k, "EC", err
	default:
		return nil, "", newAPIError(codeInvalidCommand, "generate -> algorithm is missing: RSA or ECDSA")
	}
}

func signatureAlgorithm(key crypto.Signer, digest string) (x509.SignatureAlgorithm, error) {
	_, isEC := key.Public().(*ecdsa.PublicKey)
	switch digest {
	case "sha256", "":
		if isEC {
			return x509.ECDSAWithSHA256, nil
		}
		return x509.SHA256WithRSA, nil
	case "sha384":
		if isEC {
			return x509.ECDSAWithSHA384, nil
		}
		return x509.SHA384WithRSA, nil
	case "sha512":
		if isEC {
			return x509.ECDSAWithSHA512, nil
		}
		return x509.SHA512WithRSA, nil
	default:
		return 0, newAPIError(codeInvalidObject, fmt.Sprintf("digest '%s' is not one of sha256, sha384, sha512", digest))
	}
}

func subject(g *node, cn string) pkix.Name {
	s := pkix.Name{CommonName: cn}
	add := func(dst *[]string, v string) {
		if v != "" {
			*dst = append(*dst, v)
		}
	}
	add(&s.Country, g.textOf("country-code"))
	add(&s.Province, g.textOf("state"))
	add(&s.Locality, g.textOf("locality"))
	add(&s.Organization, g.textOf("organization"))
	s.OrganizationalUnit = g.child("organization-unit").members()
	return s
}

// export handles type=export&category=certificate. A CSR (format=pkcs10)
// or a certificate without its key (format=pem, include-key=no) is sent as
// a file; anything that would carry the private key is refused, and the
// attempt recorded.
func (d *Device) export(w http.ResponseWriter, r *http.Request) {
	if r.FormValue("category") != "certificate" {
		d.writeError(w, newAPIError(codeInvalidCommand, "Invalid category for export: "+r.FormValue("category")))
		return
	}
	format := r.FormValue("format")
	if r.FormValue("include-key") == "yes" || format == "pkcs12" {
		d.exported.Store(true)
		d.writeError(w, newAPIError("15", "Operation denied: the lab device does not export private keys"))
		return
	}
	name := r.FormValue("certificate-name")
	d.mu.Lock()
	entry := d.candidate.path("shared", "certificate").entry(name)
	var body, missing string
	switch {
	case entry == nil:
		missing = fmt.Sprintf("Certificate '%s' does not exist", name)
	case format == "pkcs10":
		if body = entry.textOf("csr"); body == "" {
			missing = fmt.Sprintf("Certificate '%s' has no certificate signing request", name)
		}
	case format == "pem":
		if body = entry.textOf("public-key"); body == "" {
			missing = fmt.Sprintf("Certificate '%s' has no certificate yet", name)
		}
	default:
		missing = "Invalid export format " + format
	}
	d.mu.Unlock()
	if missing != "" {
		d.writeError(w, newAPIError(codeObjectNotPresent, missing))
		return
	}
	ext := ".csr"
	if format == "pem" {
		ext = ".crt"
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name+ext))
	_, _ = io.WriteString(w, body)
}

// importFile handles type=import&category=certificate&format=pem: the
// uploaded file is a certificate, optionally followed by its chain. When the
// named entry holds a private key, one of the certificates must be for it;
// it becomes the leaf of the stored chain.
func (d *Device) importFile(user string, r *http.Request) (string, error) {
	if r.FormValue("category") != "certificate" {
		return "", newAPIError(codeInvalidCommand, "Invalid category for import: "+r.FormValue("category"))
	}
	if f := r.FormValue("format"); f != "pem" {
		return "", newAPIError(codeInvalidCommand, "Invalid import format "+f)
	}
	name := r.FormValue("certificate-name")
	if !certificateName.MatchString(name) {
		return "", newAPIError(codeInvalidObject, fmt.Sprintf("certificate-name '%s' is not a valid name", name))
	}
	if r.MultipartForm == nil || len(r.MultipartForm.File["file"]) == 0 {
		return "", newAPIError(codeMalformed, "Malformed Request: no file uploaded")
	}
	f, err := r.MultipartForm.File["file"][0].Open()
	if err != nil {
		return "", newAPIError(codeMalformed, "Malformed Request: "+err.Error())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxUpload))
	_ = f.Close()
	if err != nil {
		return "", newAPIError(codeMalformed, "Malformed Request: "+err.Error())
	}
	if strings.Contains(string(data), "PRIVATE KEY") {
		return "", newAPIError(codeInvalidObject, "Import of "+name+" failed: a private key was uploaded as a certificate")
	}
	chain := parseCertificates(data)
	if len(chain) == 0 {
		return "", newAPIError(codeInvalidObject, "Import of "+name+" failed. Invalid certificate format")
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	certs := ensure(d.candidate, certificatesPath())
	entry := certs.entry(name)
	if entry == nil {
		entry = &node{tag: "entry", attrs: nameAttr(name)}
		certs.children = append(certs.children, entry)
	}
	if key := d.keyFor(entry.textOf("private-key")); key != nil {
		leaf := -1
		for i, c := range chain {
			if samePublicKey(c.PublicKey, key.Public()) {
				leaf = i
				break
			}
		}
		if leaf < 0 {
			return "", newAPIError(codeInvalidObject, fmt.Sprintf("Import of %s failed. The certificate does not match the private key of the certificate signing request", name))
		}
		chain = append(append([]*x509.Certificate{chain[leaf]}, chain[:leaf]...), chain[leaf+1:]...)
	}
	var bundle []byte
	for _, c := range chain {
		bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	entry.setChildText("public-key", string(bundle))
	describeCertificate(entry, chain[0])
	d.recordChange(user, entryPath(name))
	return `<response status="success"><result>Successfully imported ` + xmlEscaper.Replace(name) +
		` into candidate configuration</result></response>`, nil
}

func samePublicKey(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}
