package bigiplab

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// The configuration objects the emulator keeps, as BIG-IP's mcpd has them.
// Objects are never changed in place: a change replaces the map entry, so a
// transaction can work on a shallow copy of the maps and be thrown away.

// keyObject is a sys crypto key. Its private key stays in the emulator; the
// PEM kept under cachePath is what the filestore holds on a real device.
type keyObject struct {
	fullPath  string
	keyType   string // "rsa-private" or "ec-private"
	keySize   int
	curveName string
	signer    crypto.Signer
	// passphrase protects the key file; a profile entry using the key must
	// carry it.
	passphrase string
	cachePath  string
	generation int64
}

// csrObject is a sys crypto csr.
type csrObject struct {
	fullPath   string
	key        string // full path of the key it was made with
	der        []byte
	commonName string
	san        string // as given: "DNS:a, DNS:b"
	cachePath  string
	generation int64
}

// certObject is a sys crypto cert: one certificate or a bundle of them.
type certObject struct {
	fullPath   string
	certs      []*x509.Certificate
	cachePath  string
	generation int64
}

// certKeyChainEntry is one entry of a client-ssl profile's certKeyChain.
// What a GET shows of it (references, app service, the passphrase in its
// encrypted form) is made by certKeyChainJSON.
type certKeyChainEntry struct {
	Name       string `json:"name"`
	Cert       string `json:"cert"`
	Key        string `json:"key"`
	Chain      string `json:"chain,omitempty"`
	Passphrase string `json:"passphrase,omitempty"`
}

// clientSSLProfile is an ltm profile client-ssl.
type clientSSLProfile struct {
	fullPath    string
	description string
	entries     []certKeyChainEntry
	generation  int64
}

// httpdConfig is the certificate part of sys httpd: file paths.
type httpdConfig struct {
	certFile, keyFile, chainFile string
}

// record is one record of an internal data group.
type record struct {
	Name string `json:"name"`
	Data string `json:"data,omitempty"`
}

// dataGroup is an ltm data-group internal.
type dataGroup struct {
	fullPath   string
	typ        string
	records    []record
	generation int64
}

// state is the device configuration. A device keeps two: the running one,
// which every change goes to, and the saved one, which `save sys config`
// writes and a reboot loads.
type state struct {
	keys       map[string]*keyObject
	csrs       map[string]*csrObject
	certs      map[string]*certObject
	files      map[string][]byte // filestore and /etc/httpd files: path -> PEM
	profiles   map[string]*clientSSLProfile
	httpd      httpdConfig
	dataGroups map[string]*dataGroup
	partitions map[string]bool
	// generation numbers changes, as mcpd does; it also makes filestore
	// names unique.
	generation int64
}

func newState() *state {
	return &state{
		keys:       map[string]*keyObject{},
		csrs:       map[string]*csrObject{},
		certs:      map[string]*certObject{},
		files:      map[string][]byte{},
		profiles:   map[string]*clientSSLProfile{},
		dataGroups: map[string]*dataGroup{},
		partitions: map[string]bool{"Common": true},
	}
}

// clone copies the maps; the objects they hold are never changed in place,
// so they are shared.
func (st *state) clone() *state {
	c := *st
	c.keys = cloneMap(st.keys)
	c.csrs = cloneMap(st.csrs)
	c.certs = cloneMap(st.certs)
	c.files = cloneMap(st.files)
	c.profiles = cloneMap(st.profiles)
	c.dataGroups = cloneMap(st.dataGroups)
	c.partitions = cloneMap(st.partitions)
	return &c
}

// missingFiles names the objects and sys httpd settings of st whose files
// are not in files: what a configuration load would fail on.
func (st *state) missingFiles(files map[string][]byte) []string {
	var missing []string
	for _, path := range sortedKeys(st.keys) {
		if _, ok := files[st.keys[path].cachePath]; !ok {
			missing = append(missing, "sys file ssl-key "+path)
		}
	}
	for _, path := range sortedKeys(st.certs) {
		if _, ok := files[st.certs[path].cachePath]; !ok {
			missing = append(missing, "sys file ssl-cert "+path)
		}
	}
	for _, f := range []string{st.httpd.certFile, st.httpd.keyFile, st.httpd.chainFile} {
		if _, ok := files[f]; !isNone(f) && !ok {
			missing = append(missing, "sys httpd file "+f)
		}
	}
	return missing
}

func cloneMap[V any](m map[string]V) map[string]V {
	c := make(map[string]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func (st *state) nextGeneration() int64 {
	st.generation++
	return st.generation
}

// filestorePath is where a real BIG-IP keeps an object's file.
func (st *state) filestorePath(kind, fullPath string, generation int64) string {
	partition, name := splitFullPath(fullPath)
	return fmt.Sprintf("/config/filestore/files_d/%s_d/%s/:%s:%s_%d_1", partition, kind, partition, name, generation)
}

// Names.

var (
	namePattern      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.:-]*$`)
	partitionPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)
)

// resolveName turns a name as the REST API takes it ("x", "/Common/x",
// "~Common~x") into a full path "/Partition/x".
func resolveName(name, partition string) (string, *f5Error) {
	if partition == "" {
		partition = "Common"
	}
	if strings.HasPrefix(name, "~") {
		name = strings.ReplaceAll(name, "~", "/")
	}
	if strings.HasPrefix(name, "/") {
		parts := strings.Split(name[1:], "/")
		if len(parts) < 2 {
			return "", errorf(http.StatusBadRequest, "01070022:3: The requested object name (%s) is invalid.", name)
		}
		partition, name = parts[0], strings.Join(parts[1:], "/")
	}
	if !partitionPattern.MatchString(partition) {
		return "", errorf(http.StatusBadRequest, "01020036:3: The requested folder (/%s) was not found.", partition)
	}
	for _, part := range strings.Split(name, "/") {
		if !namePattern.MatchString(part) {
			return "", errorf(http.StatusBadRequest, "01070022:3: The requested object name (%s) is invalid.", name)
		}
	}
	return "/" + partition + "/" + name, nil
}

// splitFullPath splits "/Partition/name" into its partition and name.
func splitFullPath(fullPath string) (partition, name string) {
	partition, name, _ = strings.Cut(strings.TrimPrefix(fullPath, "/"), "/")
	return partition, name
}

// isNone reports whether a reference names nothing.
func isNone(ref string) bool { return ref == "" || ref == "none" }

// PEM helpers.

func encodeCerts(certs []*x509.Certificate) []byte {
	var buf bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return buf.Bytes()
}

func parseCerts(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
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
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificate in the PEM data")
	}
	return certs, nil
}

func encodeKey(signer crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(signer)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func parseKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM key")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key of type %T cannot sign", key)
	}
	return signer, nil
}

// matches reports whether cert holds signer's public key.
func matches(cert *x509.Certificate, signer crypto.Signer) bool {
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(signer.Public())
}

// Served certificates.

// tlsCertificate assembles what a TLS server presents: certs, then chain.
func tlsCertificate(certs, chain []*x509.Certificate, signer crypto.Signer) *tls.Certificate {
	out := &tls.Certificate{PrivateKey: signer, Leaf: certs[0]}
	for _, c := range append(append([]*x509.Certificate(nil), certs...), chain...) {
		out.Certificate = append(out.Certificate, c.Raw)
	}
	return out
}

// profileCertificate is what a virtual server using the profile presents:
// the first certKeyChain entry.
func (st *state) profileCertificate(fullPath string) (*tls.Certificate, error) {
	p, ok := st.profiles[fullPath]
	if !ok || len(p.entries) == 0 {
		return nil, fmt.Errorf("profile %s has no certificate", fullPath)
	}
	e := p.entries[0]
	cert, key := st.certs[e.Cert], st.keys[e.Key]
	if cert == nil || key == nil {
		return nil, fmt.Errorf("profile %s: missing certificate or key", fullPath)
	}
	var chain []*x509.Certificate
	if !isNone(e.Chain) {
		c := st.certs[e.Chain]
		if c == nil {
			return nil, fmt.Errorf("profile %s: missing chain %s", fullPath, e.Chain)
		}
		chain = c.certs
	}
	return tlsCertificate(cert.certs, chain, key.signer), nil
}

// httpdCertificate is what the management interface presents.
func (st *state) httpdCertificate() (*tls.Certificate, error) {
	certs, signer, chain, err := st.httpdFiles(st.httpd)
	if err != nil {
		return nil, err
	}
	return tlsCertificate(certs, chain, signer), nil
}

// httpdFiles loads and checks the files an httpd configuration names.
func (st *state) httpdFiles(h httpdConfig) (certs []*x509.Certificate, signer crypto.Signer, chain []*x509.Certificate, err error) {
	certPEM, ok := st.files[h.certFile]
	if !ok {
		return nil, nil, nil, fmt.Errorf("ssl-certfile %s does not exist", h.certFile)
	}
	if certs, err = parseCerts(certPEM); err != nil {
		return nil, nil, nil, fmt.Errorf("ssl-certfile %s: %v", h.certFile, err)
	}
	keyPEM, ok := st.files[h.keyFile]
	if !ok {
		return nil, nil, nil, fmt.Errorf("ssl-certkeyfile %s does not exist", h.keyFile)
	}
	if signer, err = parseKey(keyPEM); err != nil {
		return nil, nil, nil, fmt.Errorf("ssl-certkeyfile %s: %v", h.keyFile, err)
	}
	if !matches(certs[0], signer) {
		return nil, nil, nil, fmt.Errorf("ssl-certkeyfile %s does not match ssl-certfile %s", h.keyFile, h.certFile)
	}
	if !isNone(h.chainFile) {
		chainPEM, ok := st.files[h.chainFile]
		if !ok {
			return nil, nil, nil, fmt.Errorf("ssl-certchainfile %s does not exist", h.chainFile)
		}
		if chain, err = parseCerts(chainPEM); err != nil {
			return nil, nil, nil, fmt.Errorf("ssl-certchainfile %s: %v", h.chainFile, err)
		}
	}
	return certs, signer, chain, nil
}

// inUse names what references the object at fullPath (a key or a
// certificate with the given cache path), or "" if nothing does.
func (st *state) inUse(fullPath, cachePath string) string {
	for _, p := range st.profiles {
		for _, e := range p.entries {
			if e.Cert == fullPath || e.Key == fullPath || e.Chain == fullPath {
				return "profile " + p.fullPath
			}
		}
	}
	h := st.httpd
	if cachePath != "" && (h.certFile == cachePath || h.keyFile == cachePath || h.chainFile == cachePath) {
		return "sys httpd"
	}
	return ""
}
