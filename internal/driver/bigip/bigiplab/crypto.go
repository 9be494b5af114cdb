package bigiplab

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// sys crypto key, csr and cert, and the sys file views of them.

// keyRequest is the body of POST /mgmt/tm/sys/crypto/key (and, for the
// subject fields, of POST /mgmt/tm/sys/crypto/csr).
type keyRequest struct {
	Name                   string              `json:"name"`
	Partition              string              `json:"partition"`
	Command                string              `json:"command"`
	FromLocalFile          string              `json:"fromLocalFile"`
	Key                    string              `json:"key"`
	KeyType                string              `json:"keyType"`
	KeySize                any                 `json:"keySize"`
	CurveName              string              `json:"curveName"`
	SecurityType           string              `json:"securityType"`
	CommonName             string              `json:"commonName"`
	SubjectAlternativeName string              `json:"subjectAlternativeName"`
	Organization           string              `json:"organization"`
	OU                     string              `json:"ou"`
	City                   string              `json:"city"`
	State                  string              `json:"state"`
	Country                string              `json:"country"`
	EmailAddress           string              `json:"emailAddress"`
	Options                []map[string]string `json:"options"`
}

// decodeStrict reads a create body as BIG-IP does: tmsh-style hyphenated
// names are accepted alongside camelCase ones, and unknown properties are
// refused.
func decodeStrict(body []byte, where string, v any) *f5Error {
	var raw map[string]json.RawMessage
	if err := decode(body, &raw); err != nil {
		return err
	}
	normalized := make(map[string]json.RawMessage, len(raw))
	for k, val := range raw {
		normalized[camel(k)] = val
	}
	b, _ := json.Marshal(normalized)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, "Found unexpected json pair at configuration item %s: %v", where, err)
	}
	return nil
}

// camel turns "subject-alternative-name" into "subjectAlternativeName".
func camel(s string) string {
	parts := strings.Split(s, "-")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			r := []rune(parts[i])
			r[0] = unicode.ToUpper(r[0])
			parts[i] = string(r)
		}
	}
	return strings.Join(parts, "")
}

// generatedKey is key material made for a sys crypto key create.
type generatedKey struct {
	keyType   string
	keySize   int
	curveName string
	signer    crypto.Signer
}

// curves BIG-IP names for EC keys.
var curves = map[string]elliptic.Curve{
	"prime256v1": elliptic.P256(),
	"secp384r1":  elliptic.P384(),
	"secp521r1":  elliptic.P521(),
}

// pregenerate checks a key create request and generates its key; it
// returns nil for requests that generate nothing (installs).
func pregenerate(body []byte) (*generatedKey, *f5Error) {
	var req keyRequest
	if err := decodeStrict(body, "/sys/crypto/key", &req); err != nil {
		return nil, err
	}
	if req.Command != "" {
		return nil, nil
	}
	return generate(req)
}

func generate(req keyRequest) (*generatedKey, *f5Error) {
	if req.SecurityType != "" && req.SecurityType != "normal" {
		return nil, errorf(http.StatusBadRequest, "01070734:3: Configuration error: security-type %s needs an HSM, which this device has not", req.SecurityType)
	}
	g := &generatedKey{keyType: req.KeyType}
	switch req.KeyType {
	case "", "rsa-private":
		g.keyType = "rsa-private"
		size := 2048
		if req.KeySize != nil {
			n, err := strconv.Atoi(fmt.Sprint(req.KeySize))
			if err != nil {
				return nil, errorf(http.StatusBadRequest, "invalid property value \"keySize\":%v", req.KeySize)
			}
			size = n
		}
		switch size {
		case 1024, 2048, 3072, 4096:
		default:
			return nil, errorf(http.StatusBadRequest, "01070734:3: Configuration error: invalid key size %d for an RSA key", size)
		}
		key, err := rsa.GenerateKey(rand.Reader, size)
		if err != nil {
			return nil, errorf(http.StatusInternalServerError, "key generation failed: %v", err)
		}
		g.keySize, g.signer = size, key
	case "ec-private":
		name := req.CurveName
		if name == "" {
			name = "prime256v1"
		}
		curve, known := curves[name]
		if !known {
			return nil, errorf(http.StatusBadRequest, "invalid property value \"curveName\":%q", req.CurveName)
		}
		key, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			return nil, errorf(http.StatusInternalServerError, "key generation failed: %v", err)
		}
		g.curveName, g.keySize, g.signer = name, curve.Params().BitSize, key
	default:
		return nil, errorf(http.StatusBadRequest, "invalid property value \"keyType\":%q", req.KeyType)
	}
	return g, nil
}

func (d *Device) createKey(st *state, o op) (any, *f5Error) {
	var req keyRequest
	if err := decodeStrict(o.body, "/sys/crypto/key", &req); err != nil {
		return nil, err
	}
	if req.Command != "" {
		// The emulator exists to prove keys are made on the device.
		return nil, errorf(http.StatusBadRequest, "command %q on sys crypto key is not supported by this device: generate keys on the device", req.Command)
	}
	fullPath, err := resolveName(req.Name, req.Partition)
	if err != nil {
		return nil, err
	}
	if _, exists := st.keys[fullPath]; exists {
		return nil, alreadyExists("Certificate Key File", fullPath)
	}
	csrPath := ""
	for _, opt := range req.Options {
		for k, v := range opt {
			switch k {
			case "gen-csr":
				if v == "" {
					v = req.Name
				}
				p, err := resolveName(v, req.Partition)
				if err != nil {
					return nil, err
				}
				csrPath = p
			default:
				return nil, errorf(http.StatusBadRequest, "option %q of sys crypto key is not supported by this device", k)
			}
		}
	}
	if _, exists := st.csrs[csrPath]; csrPath != "" && exists {
		return nil, alreadyExists("Certificate Signing Request", csrPath)
	}
	g := o.pregenerated
	if g == nil {
		var ferr *f5Error
		if g, ferr = generate(req); ferr != nil {
			return nil, ferr
		}
	}
	keyPEM, encErr := encodeKey(g.signer)
	if encErr != nil {
		return nil, errorf(http.StatusInternalServerError, "%v", encErr)
	}
	gen := st.nextGeneration()
	key := &keyObject{
		fullPath: fullPath, keyType: g.keyType, keySize: g.keySize, curveName: g.curveName,
		signer: g.signer, cachePath: st.filestorePath("certificate_key_d", fullPath, gen), generation: gen,
	}
	if csrPath != "" {
		csr, err := d.makeCSR(st, csrPath, key, req)
		if err != nil {
			return nil, err
		}
		st.csrs[csrPath] = csr
	}
	st.keys[fullPath] = key
	st.files[key.cachePath] = keyPEM
	return d.keyJSON(key), nil
}

func (d *Device) createCSR(st *state, o op) (any, *f5Error) {
	var req keyRequest
	if err := decodeStrict(o.body, "/sys/crypto/csr", &req); err != nil {
		return nil, err
	}
	fullPath, err := resolveName(req.Name, req.Partition)
	if err != nil {
		return nil, err
	}
	if _, exists := st.csrs[fullPath]; exists {
		return nil, alreadyExists("Certificate Signing Request", fullPath)
	}
	keyPath, err := resolveName(req.Key, req.Partition)
	if err != nil {
		return nil, err
	}
	key, found := st.keys[keyPath]
	if !found {
		return nil, notFound("Certificate Key File", keyPath)
	}
	csr, ferr := d.makeCSR(st, fullPath, key, req)
	if ferr != nil {
		return nil, ferr
	}
	st.csrs[fullPath] = csr
	return d.csrJSON(csr), nil
}

// makeCSR has the key sign a CSR with the request's subject and SANs.
func (d *Device) makeCSR(st *state, fullPath string, key *keyObject, req keyRequest) (*csrObject, *f5Error) {
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: req.CommonName}}
	for field, value := range map[*[]string]string{
		&tmpl.Subject.Organization: req.Organization, &tmpl.Subject.OrganizationalUnit: req.OU,
		&tmpl.Subject.Locality: req.City, &tmpl.Subject.Province: req.State, &tmpl.Subject.Country: req.Country,
	} {
		if value != "" {
			*field = []string{value}
		}
	}
	if req.EmailAddress != "" {
		tmpl.EmailAddresses = []string{req.EmailAddress}
	}
	if req.SubjectAlternativeName != "" && !d.ignoreSANs.Load() {
		for _, part := range strings.Split(req.SubjectAlternativeName, ",") {
			kind, value, _ := strings.Cut(strings.TrimSpace(part), ":")
			switch strings.ToUpper(kind) {
			case "DNS":
				tmpl.DNSNames = append(tmpl.DNSNames, value)
			case "IP":
				ip := net.ParseIP(value)
				if ip == nil {
					return nil, errorf(http.StatusBadRequest, "01070734:3: Configuration error: invalid subject-alternative-name IP %q", value)
				}
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			case "EMAIL":
				tmpl.EmailAddresses = append(tmpl.EmailAddresses, value)
			default:
				return nil, errorf(http.StatusBadRequest, "01070734:3: Configuration error: invalid subject-alternative-name %q", part)
			}
		}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key.signer)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "01070734:3: Configuration error: CSR: %v", err)
	}
	gen := st.nextGeneration()
	return &csrObject{
		fullPath: fullPath, key: key.fullPath, der: der, commonName: req.CommonName, san: req.SubjectAlternativeName,
		cachePath: st.filestorePath("certificate_request_d", fullPath, gen), generation: gen,
	}, nil
}

// certRequest is the body of POST /mgmt/tm/sys/crypto/cert.
type certRequest struct {
	Name          string `json:"name"`
	Partition     string `json:"partition"`
	Command       string `json:"command"`
	FromLocalFile string `json:"fromLocalFile"`
}

func (d *Device) installCert(st *state, o op) (any, *f5Error) {
	var req certRequest
	if err := decodeStrict(o.body, "/sys/crypto/cert", &req); err != nil {
		return nil, err
	}
	if req.Command != "install" {
		return nil, errorf(http.StatusBadRequest, "command %q on sys crypto cert is not supported by this device; use install", req.Command)
	}
	fullPath, err := resolveName(req.Name, req.Partition)
	if err != nil {
		return nil, err
	}
	data, found := d.downloads[req.FromLocalFile]
	if !found {
		return nil, errorf(http.StatusBadRequest, "01070712:3: Caught configuration exception (0), unable to open file %s.", req.FromLocalFile)
	}
	certs, perr := parseCerts(data)
	if perr != nil {
		return nil, errorf(http.StatusBadRequest, "01070712:3: Values (%s) specified for certificate file object: %v", fullPath, perr)
	}
	if prev, exists := st.certs[fullPath]; exists {
		// install replaces an existing object, as tmsh does.
		delete(st.files, prev.cachePath)
		d.overwrites++
	}
	gen := st.nextGeneration()
	cert := &certObject{fullPath: fullPath, certs: certs, cachePath: st.filestorePath("certificate_d", fullPath, gen), generation: gen}
	st.certs[fullPath] = cert
	st.files[cert.cachePath] = encodeCerts(certs)
	return d.certJSON(cert), nil
}

// Reading and deleting.

var collectionKinds = map[string]string{
	"sys/crypto/key":          "tm:sys:crypto:key:keycollectionstate",
	"sys/crypto/csr":          "tm:sys:crypto:csr:csrcollectionstate",
	"sys/crypto/cert":         "tm:sys:crypto:cert:certcollectionstate",
	"sys/file/ssl-cert":       "tm:sys:file:ssl-cert:ssl-certcollectionstate",
	"sys/file/ssl-key":        "tm:sys:file:ssl-key:ssl-keycollectionstate",
	"ltm/profile/client-ssl":  "tm:ltm:profile:client-ssl:client-sslcollectionstate",
	"ltm/data-group/internal": "tm:ltm:data-group:internal:internalcollectionstate",
}

func (d *Device) list(st *state, c string) any {
	var paths []string
	switch c {
	case "sys/crypto/key", "sys/file/ssl-key":
		paths = sortedKeys(st.keys)
	case "sys/crypto/csr":
		paths = sortedKeys(st.csrs)
	case "sys/crypto/cert", "sys/file/ssl-cert":
		paths = sortedKeys(st.certs)
	case "ltm/profile/client-ssl":
		paths = sortedKeys(st.profiles)
	case "ltm/data-group/internal":
		paths = sortedKeys(st.dataGroups)
	}
	items := make([]any, 0, len(paths))
	for _, p := range paths {
		item, _ := d.get(st, c, p)
		items = append(items, item)
	}
	return map[string]any{"kind": collectionKinds[c], "selfLink": d.selfLink(c), "items": items}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (d *Device) get(st *state, c, fullPath string) (any, *f5Error) {
	switch c {
	case "sys/crypto/key":
		if k, found := st.keys[fullPath]; found {
			return d.keyJSON(k), nil
		}
		return nil, notFound("Certificate Key File", fullPath)
	case "sys/file/ssl-key":
		if k, found := st.keys[fullPath]; found {
			return d.keyFileJSON(k), nil
		}
		return nil, notFound("Certificate Key File", fullPath)
	case "sys/crypto/csr":
		if r, found := st.csrs[fullPath]; found {
			return d.csrJSON(r), nil
		}
		return nil, notFound("Certificate Signing Request", fullPath)
	case "sys/crypto/cert":
		if cert, found := st.certs[fullPath]; found {
			return d.certJSON(cert), nil
		}
		return nil, notFound("Certificate File", fullPath)
	case "sys/file/ssl-cert":
		if cert, found := st.certs[fullPath]; found {
			return d.certFileJSON(cert), nil
		}
		return nil, notFound("Certificate File", fullPath)
	case "ltm/profile/client-ssl":
		if p, found := st.profiles[fullPath]; found {
			return d.profileJSON(p), nil
		}
		return nil, notFound("ClientSSL Profile", fullPath)
	case "ltm/data-group/internal":
		if g, found := st.dataGroups[fullPath]; found {
			return d.dataGroupJSON(g), nil
		}
		return nil, notFound("value list", fullPath)
	}
	return nil, errorf(http.StatusNotFound, "URI path /mgmt/tm/%s not registered.", c)
}

func (d *Device) remove(st *state, c, fullPath string) (any, *f5Error) {
	switch c {
	case "sys/crypto/key", "sys/file/ssl-key":
		k, found := st.keys[fullPath]
		if !found {
			return nil, notFound("Certificate Key File", fullPath)
		}
		if user := st.inUse(fullPath, k.cachePath); user != "" {
			return nil, errorf(http.StatusBadRequest, "01071349:3: File object by name (%s) is in use by %s.", fullPath, user)
		}
		delete(st.keys, fullPath)
		delete(st.files, k.cachePath)
	case "sys/crypto/cert", "sys/file/ssl-cert":
		cert, found := st.certs[fullPath]
		if !found {
			return nil, notFound("Certificate File", fullPath)
		}
		if user := st.inUse(fullPath, cert.cachePath); user != "" {
			return nil, errorf(http.StatusBadRequest, "01071349:3: File object by name (%s) is in use by %s.", fullPath, user)
		}
		delete(st.certs, fullPath)
		delete(st.files, cert.cachePath)
	case "sys/crypto/csr":
		if _, found := st.csrs[fullPath]; !found {
			return nil, notFound("Certificate Signing Request", fullPath)
		}
		delete(st.csrs, fullPath)
	case "ltm/data-group/internal":
		if _, found := st.dataGroups[fullPath]; !found {
			return nil, notFound("value list", fullPath)
		}
		delete(st.dataGroups, fullPath)
	default:
		return nil, errorf(http.StatusMethodNotAllowed, "Method DELETE is not supported on /tm/%s.", c)
	}
	return nil, nil
}

func notFound(what, fullPath string) *f5Error {
	return errorf(http.StatusNotFound, "01020036:3: The requested %s (%s) was not found.", what, fullPath)
}

func alreadyExists(what, fullPath string) *f5Error {
	partition, _ := splitFullPath(fullPath)
	return errorf(http.StatusConflict, "01020066:3: The requested %s (%s) already exists in partition %s.", what, fullPath, partition)
}

// JSON views.

func (d *Device) objectJSON(kind, collection, fullPath string, generation int64) map[string]any {
	partition, name := splitFullPath(fullPath)
	return map[string]any{
		"kind": kind, "name": name, "partition": partition, "fullPath": fullPath,
		"generation": generation, "selfLink": d.selfLink(collection + "/" + urlName(fullPath)),
	}
}

func (d *Device) keyJSON(k *keyObject) map[string]any {
	m := d.objectJSON("tm:sys:crypto:key:keystate", "sys/crypto/key", k.fullPath, k.generation)
	m["keyType"], m["keySize"], m["securityType"] = k.keyType, strconv.Itoa(k.keySize), "normal"
	if k.curveName != "" {
		m["curveName"] = k.curveName
	}
	return m
}

func (d *Device) keyFileJSON(k *keyObject) map[string]any {
	m := d.objectJSON("tm:sys:file:ssl-key:ssl-keystate", "sys/file/ssl-key", k.fullPath, k.generation)
	m["cachePath"], m["keyType"], m["keySize"], m["securityType"] = k.cachePath, k.keyType, k.keySize, "normal"
	return m
}

func (d *Device) csrJSON(r *csrObject) map[string]any {
	m := d.objectJSON("tm:sys:crypto:csr:csrstate", "sys/crypto/csr", r.fullPath, r.generation)
	m["commonName"], m["key"] = r.commonName, r.key
	if r.san != "" {
		m["subjectAlternativeName"] = r.san
	}
	return m
}

func (d *Device) certJSON(c *certObject) map[string]any {
	leaf := c.certs[0]
	m := d.objectJSON("tm:sys:crypto:cert:certstate", "sys/crypto/cert", c.fullPath, c.generation)
	m["commonName"] = leaf.Subject.CommonName
	m["fingerprint"] = fingerprint(leaf)
	m["apiRawValues"] = map[string]any{
		"expiration":    leaf.NotAfter.UTC().Format("Jan _2 15:04:05 2006 GMT"),
		"issuer":        leaf.Issuer.String(),
		"publicKeyType": publicKeyType(leaf),
	}
	if len(leaf.DNSNames) > 0 {
		m["subjectAlternativeName"] = "DNS:" + strings.Join(leaf.DNSNames, ", DNS:")
	}
	return m
}

func (d *Device) certFileJSON(c *certObject) map[string]any {
	leaf := c.certs[0]
	pemData := encodeCerts(c.certs)
	m := d.objectJSON("tm:sys:file:ssl-cert:ssl-certstate", "sys/file/ssl-cert", c.fullPath, c.generation)
	m["cachePath"] = c.cachePath
	m["checksum"] = fmt.Sprintf("SHA1:%d:%x", len(pemData), sha1.Sum(pemData))
	m["fingerprint"] = fingerprint(leaf)
	m["isBundle"] = strconv.FormatBool(len(c.certs) > 1)
	m["subject"] = leaf.Subject.String()
	m["issuer"] = leaf.Issuer.String()
	m["expirationDate"] = leaf.NotAfter.Unix()
	m["keyType"] = publicKeyType(leaf)
	return m
}

// fingerprint is BIG-IP's form: "SHA256/AB:CD:…".
func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return "SHA256/" + strings.Join(parts, ":")
}

func publicKeyType(c *x509.Certificate) string {
	switch c.PublicKeyAlgorithm {
	case x509.RSA:
		return "RSA"
	case x509.ECDSA:
		return "EC"
	}
	return c.PublicKeyAlgorithm.String()
}

// csrListing is what `tmsh list sys crypto csr NAME` prints: the PEM, then
// the object.
func csrListing(r *csrObject) string {
	var b strings.Builder
	_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE REQUEST", Bytes: r.der})
	_, name := splitFullPath(r.fullPath)
	fmt.Fprintf(&b, "sys crypto csr %s {\n    common-name %s\n    key %s\n", name, r.commonName, r.key)
	if r.san != "" {
		fmt.Fprintf(&b, "    subject-alternative-name %q\n", r.san)
	}
	b.WriteString("}\n")
	return b.String()
}
