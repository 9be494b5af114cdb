package junoslab

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // JunOS prints a SHA-1 fingerprint beside the SHA-256 one.
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// certificateIDPattern is what the emulator accepts as a certificate-id:
// JunOS names key pairs and certificates with short identifiers.
var certificateIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$`)

// keySizes are the sizes `request security pki generate-key-pair` offers
// per type, the default first (Juniper/yang, junos-es-rpc-request,
// generate-pki-key-pair: size 256 and 384 for ECDSA, 512 to 4096 for RSA,
// no 3072).
var keySizes = map[string][]int{"rsa": {2048, 512, 1024, 4096}, "ecdsa": {256, 384}}

// pkiFailure is a failed PKI command: an rpc-error, or with
// Config.PKIErrorsAsOutput the plain <output> text some commands answer
// with instead.
func (d *Device) pkiFailure(format string, args ...any) response {
	if d.cfg.PKIErrorsAsOutput {
		return output("error: " + fmt.Sprintf(format, args...))
	}
	return failure(format, args...)
}

// singleLeaf returns the text of op's leaf name, refusing it given twice as
// JunOS refuses a leaf its schema does not make a list.
func singleLeaf(op *node, name string) (string, *response) {
	all := op.all(name)
	if len(all) > 1 {
		r := failure("syntax error: %s is given %d times; it takes one value", name, len(all))
		r.errs[0].element = name
		return "", &r
	}
	if len(all) == 0 {
		return "", nil
	}
	return all[0].value(), nil
}

func (d *Device) certificateID(op *node) (string, *response) {
	id := op.childText("certificate-id")
	if !certificateIDPattern.MatchString(id) {
		r := failure("certificate-id %q: invalid value: use up to 32 letters, digits, '.', '_' or '-'", id)
		r.errs[0].element = "certificate-id"
		return "", &r
	}
	return id, nil
}

// filePath resolves a file name as JunOS does: relative names are in the
// user's home directory.
func filePath(s *session, name string) (string, bool) {
	if name == "" || strings.ContainsRune(name, 0) {
		return "", false
	}
	if !path.IsAbs(name) {
		name = "/var/home/" + s.user + "/" + name
	}
	return path.Clean(name), true
}

// generateKeyPair is `request security pki generate-key-pair certificate-id
// ID type (rsa|ecdsa) size N`.
func (d *Device) generateKeyPair(_ *session, op *node) response {
	id, bad := d.certificateID(op)
	if bad != nil {
		return *bad
	}
	kind := op.childText("type")
	if kind == "" {
		kind = "rsa"
	}
	sizes, ok := keySizes[kind]
	if !ok {
		return failure("type %q: invalid value (rsa or ecdsa)", kind)
	}
	size := sizes[0]
	if s := op.childText("size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || !slices.Contains(sizes, n) {
			return failure("size %q: invalid value for type %s (one of %v)", s, kind, sizes)
		}
		size = n
	}
	d.mu.Lock()
	_, exists := d.keyPairs[id]
	d.mu.Unlock()
	if exists {
		return d.pkiFailure("Key pair for certificate-id %s already exists", id)
	}
	// Generation runs outside the lock: RSA-4096 takes seconds, and the
	// device keeps answering other sessions meanwhile.
	var key crypto.Signer
	var err error
	switch {
	case kind == "ecdsa" && size == 384:
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case kind == "ecdsa":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		key, err = rsa.GenerateKey(rand.Reader, size)
	}
	if err != nil {
		return failure("key pair generation failed: %v", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, exists := d.keyPairs[id]; exists {
		return d.pkiFailure("Key pair for certificate-id %s already exists", id)
	}
	d.keyPairs[id] = &keyPair{key: key, kind: kind, size: size}
	return output(fmt.Sprintf("Generated key pair %s, key size %d bits", id, size))
}

// clearKeyPair is `clear security pki key-pair certificate-id ID`: the key
// pair goes, and the local certificate made for it.
func (d *Device) clearKeyPair(_ *session, op *node) response {
	id, bad := d.certificateID(op)
	if bad != nil {
		return *bad
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.keyPairs[id]; !ok {
		return output("No key pair found for certificate-id " + id)
	}
	delete(d.keyPairs, id)
	delete(d.localCerts, id)
	return output("Key pair " + id + " deleted")
}

// clearLocalCertificate is `clear security pki local-certificate
// certificate-id ID`: the certificate goes, the key pair stays.
func (d *Device) clearLocalCertificate(_ *session, op *node) response {
	id, bad := d.certificateID(op)
	if bad != nil {
		return *bad
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.localCerts[id]; !ok {
		return output("No local certificate found for certificate-id " + id)
	}
	delete(d.localCerts, id)
	return output("Local certificate " + id + " deleted")
}

// generateCertificateRequest is `request security pki
// generate-certificate-request certificate-id ID subject DN [domain-name
// NAME] [ip-address A] [email E] [digest sha-1|sha-256|sha-384] [filename
// F]`. domain-name, ip-address and email are single leaves in JunOS's
// schema (Juniper/yang, junos-es-rpc-request, generate-pki-certificate-request):
// one of each becomes a SAN, and a second one is refused. The digest
// defaults to sha-1 for RSA and sha-256 for ECDSA; sha-384 is for ECDSA
// only. The CSR is printed in the reply's output and, with filename, also
// saved there.
func (d *Device) generateCertificateRequest(s *session, op *node) response {
	id, bad := d.certificateID(op)
	if bad != nil {
		return *bad
	}
	subject, err := parseSubject(op.childText("subject"))
	if err != nil {
		r := failure("subject %q: %v", op.childText("subject"), err)
		r.errs[0].element = "subject"
		return r
	}
	tmpl := &x509.CertificateRequest{Subject: subject}
	fields := map[string]string{}
	for _, name := range []string{"domain-name", "ip-address", "email", "digest"} {
		v, bad := singleLeaf(op, name)
		if bad != nil {
			return *bad
		}
		fields[name] = v
	}
	if n := fields["domain-name"]; n != "" {
		tmpl.DNSNames = []string{n}
	}
	if a := fields["ip-address"]; a != "" {
		ip := net.ParseIP(a)
		if ip == nil {
			return failure("ip-address %q: invalid value", a)
		}
		tmpl.IPAddresses = []net.IP{ip}
	}
	if e := fields["email"]; e != "" {
		tmpl.EmailAddresses = []string{e}
	}
	digest := fields["digest"]
	d.mu.Lock()
	kp, ok := d.keyPairs[id]
	d.mu.Unlock()
	if !ok {
		return d.pkiFailure("Key pair for certificate-id %s not found", id)
	}
	switch {
	case digest == "sha-1" && kp.kind == "rsa", digest == "" && kp.kind == "rsa":
		tmpl.SignatureAlgorithm = x509.SHA1WithRSA
	case digest == "sha-256", digest == "" && kp.kind == "ecdsa":
		tmpl.SignatureAlgorithm = map[string]x509.SignatureAlgorithm{"rsa": x509.SHA256WithRSA, "ecdsa": x509.ECDSAWithSHA256}[kp.kind]
	case digest == "sha-384" && kp.kind == "ecdsa":
		tmpl.SignatureAlgorithm = x509.ECDSAWithSHA384
	default:
		return failure("digest %q: invalid value for a %s key (sha-1 and sha-256 for RSA, sha-256 and sha-384 for ECDSA)", digest, kp.kind)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, kp.key)
	if err != nil {
		return failure("certificate request generation failed: %v", err)
	}
	csrPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	sum1, sum256 := sha1.Sum(der), sha256.Sum256(der) //nolint:gosec // display only
	text := "Generated certificate request\n" + string(csrPEM) +
		"Fingerprint:\n" + colonHex(sum1[:]) + " (sha1)\n" + colonHex(sum256[:]) + " (sha256)"
	if name := op.childText("filename"); name != "" {
		p, ok := filePath(s, name)
		if !ok {
			return failure("filename %q: invalid value", name)
		}
		d.mu.Lock()
		d.files[p] = csrPEM
		d.mu.Unlock()
	}
	return output(text)
}

// parseSubject reads a JunOS subject: "CN=name,OU=unit,O=org,L=city,ST=state,C=US,DC=example".
func parseSubject(s string) (pkix.Name, error) {
	var name pkix.Name
	if strings.TrimSpace(s) == "" {
		return name, fmt.Errorf("missing")
	}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || v == "" {
			return name, fmt.Errorf("%q is not TYPE=value", part)
		}
		switch strings.ToUpper(k) {
		case "CN":
			name.CommonName = v
		case "O":
			name.Organization = append(name.Organization, v)
		case "OU":
			name.OrganizationalUnit = append(name.OrganizationalUnit, v)
		case "L":
			name.Locality = append(name.Locality, v)
		case "ST":
			name.Province = append(name.Province, v)
		case "C":
			name.Country = append(name.Country, v)
		case "DC":
			// Domain components describe the owner for IKE; a web
			// certificate has no use for them.
		default:
			return name, fmt.Errorf("unknown attribute %q", k)
		}
	}
	if name.CommonName == "" {
		return name, fmt.Errorf("no CN")
	}
	return name, nil
}

func colonHex(b []byte) string {
	h := hex.EncodeToString(b)
	parts := make([]string, 0, len(b))
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

// firstCertificate parses the first certificate of a PEM (or DER) file.
func firstCertificate(b []byte) (*x509.Certificate, error) {
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type == "CERTIFICATE" {
			return x509.ParseCertificate(block.Bytes)
		}
	}
	return x509.ParseCertificate(b)
}

// loadLocalCertificate is `request security pki local-certificate load
// certificate-id ID filename F`: the certificate must be for ID's key pair.
func (d *Device) loadLocalCertificate(s *session, op *node) response {
	id, bad := d.certificateID(op)
	if bad != nil {
		return *bad
	}
	p, ok := filePath(s, op.childText("filename"))
	d.mu.Lock()
	defer d.mu.Unlock()
	content, exists := d.files[p]
	if !ok || !exists {
		return d.pkiFailure("Failed to read file %s: no such file", op.childText("filename"))
	}
	cert, err := firstCertificate(content)
	if err != nil {
		return d.pkiFailure("Failed to load local certificate %s: the file holds no certificate (%v)", id, err)
	}
	kp, ok := d.keyPairs[id]
	if !ok {
		return d.pkiFailure("Key pair for certificate-id %s not found", id)
	}
	if !publicKeysEqual(cert.PublicKey, kp.key.Public()) {
		return d.pkiFailure("Failed to load local certificate %s: its public key does not match key pair %s", id, id)
	}
	if _, loaded := d.localCerts[id]; loaded {
		return d.pkiFailure("Local certificate %s already exists; clear it before loading another", id)
	}
	if !d.dropLoads.Load() {
		d.localCerts[id] = cert
	}
	return output("Local certificate loaded successfully")
}

// exportLocalCertificate is `request security pki local-certificate export
// certificate-id ID filename F type pem|der`. Only the certificate is
// written; the key pair never leaves the device.
func (d *Device) exportLocalCertificate(s *session, op *node) response {
	id, bad := d.certificateID(op)
	if bad != nil {
		return *bad
	}
	p, ok := filePath(s, op.childText("filename"))
	if !ok {
		return failure("filename: missing or invalid")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	cert, exists := d.localCerts[id]
	if !exists {
		return d.pkiFailure("Local certificate %s does not exist", id)
	}
	switch t := op.childText("type"); t {
	case "", "pem":
		d.files[p] = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	case "der":
		d.files[p] = bytes.Clone(cert.Raw)
	default:
		return failure("type %q: invalid value (pem or der)", t)
	}
	return output("Local certificate " + id + " exported to " + p)
}

// loadCACertificate is `request security pki ca-certificate load ca-profile
// P filename F`; the CA profile must be in the committed configuration.
func (d *Device) loadCACertificate(s *session, op *node) response {
	profile := op.childText("ca-profile")
	p, ok := filePath(s, op.childText("filename"))
	d.mu.Lock()
	defer d.mu.Unlock()
	if !slices.Contains(caProfiles(d.running), profile) {
		return d.pkiFailure("CA profile %s is not configured", profile)
	}
	content, exists := d.files[p]
	if !ok || !exists {
		return d.pkiFailure("Failed to read file %s: no such file", op.childText("filename"))
	}
	cert, err := firstCertificate(content)
	if err != nil {
		return d.pkiFailure("Failed to load CA certificate: the file holds no certificate (%v)", err)
	}
	if !cert.IsCA {
		return d.pkiFailure("Failed to load CA certificate for profile %s: not a CA certificate", profile)
	}
	if existing, loaded := d.caCerts[profile]; loaded {
		if existing.Equal(cert) {
			return output("CA certificate for profile " + profile + " is already loaded")
		}
		return d.pkiFailure("CA certificate for profile %s already exists; clear it before loading another", profile)
	}
	if !d.dropLoads.Load() {
		d.caCerts[profile] = cert
	}
	return output("CA certificate for profile " + profile + " loaded successfully")
}

// filePut is <file-put>: write a file, base64 or ascii encoded.
func (d *Device) filePut(s *session, op *node) response {
	p, ok := filePath(s, op.childText("filename"))
	if !ok {
		return failure("filename: missing or invalid")
	}
	raw := op.child("file-contents")
	if raw == nil {
		return failure("file-contents: missing")
	}
	var content []byte
	switch enc := op.childText("encoding"); enc {
	case "base64":
		var err error
		content, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(raw.Text), ""))
		if err != nil {
			return failure("file-contents: invalid base64: %v", err)
		}
	case "ascii", "":
		content = []byte(raw.Text)
	default:
		return failure("encoding %q: invalid value (base64 or ascii)", enc)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, exists := d.files[p]; exists && op.child("delete-if-exist") == nil {
		return failure("%s: file already exists", p)
	}
	d.files[p] = content
	return response{}
}

// fileShow is <file-show>: the file's content in <file-content>.
func (d *Device) fileShow(s *session, op *node) response {
	p, ok := filePath(s, op.childText("filename"))
	d.mu.Lock()
	defer d.mu.Unlock()
	content, exists := d.files[p]
	if !ok || !exists {
		return failure("could not resolve file: %s", op.childText("filename"))
	}
	n := leaf("file-content", string(content))
	n.Attrs = append(n.Attrs, xmlAttr("filename", p))
	return response{body: []*node{n}}
}

// fileDelete is <file-delete>. A file that is not there is reported in
// <output>, as PyEZ's utils/fs.py rm expects of a failed delete.
func (d *Device) fileDelete(s *session, op *node) response {
	p, ok := filePath(s, op.childText("path"))
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, exists := d.files[p]; !ok || !exists {
		return output("rm: " + op.childText("path") + ": No such file or directory")
	}
	delete(d.files, p)
	return response{}
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// keyKind names a public key's type as JunOS's key pair types.
func keyKind(pub crypto.PublicKey) string {
	if _, ok := pub.(*ecdsa.PublicKey); ok {
		return "ecdsa"
	}
	return "rsa"
}
