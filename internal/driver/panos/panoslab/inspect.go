package panoslab

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// This file holds what tests and the lab use to look into a device and to
// seed it: things an administrator would do on the console.

// Requests returns the API requests received so far, oldest first; a
// long-running device keeps only the latest few hundred.
func (d *Device) Requests() []Request {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Request(nil), d.requests...)
}

// Calls returns the requests received so far, each rendered as Call does.
func (d *Device) Calls() []string {
	requests := d.Requests()
	out := make([]string, len(requests))
	for i, r := range requests {
		out[i] = r.Call()
	}
	return out
}

// Call names the request the way the panos driver's request table does:
// the type, then what tells one request of that type from another.
//
//	keygen
//	op <show><jobs><id>
//	config show /config/shared/certificate/entry[@name='x']
//	commit action=partial <commit><partial><admin><member>
//	import certificate format=pem
//	export certificate format=pkcs10
//
// An op or commit command is named by its elements down to the first that
// holds several children or none, so the object names and values in it do
// not matter.
func (r Request) Call() string {
	switch r.Type {
	case "config":
		return "config " + r.Action + " " + r.XPath
	case "op":
		return "op " + commandShape(r.Cmd)
	case "commit":
		if r.Action != "" {
			return "commit action=" + r.Action + " " + commandShape(r.Cmd)
		}
		return "commit " + commandShape(r.Cmd)
	case "import", "export":
		return r.Type + " " + r.Category + " format=" + r.Format
	default:
		return r.Type
	}
}

// commandShape renders cmd's chain of single children as opening tags.
func commandShape(cmd string) string {
	n, err := parseElement(cmd)
	if err != nil {
		return "(not XML)"
	}
	var b strings.Builder
	for {
		b.WriteString("<" + n.tag + ">")
		if len(n.children) != 1 {
			return b.String()
		}
		n = n.children[0]
	}
}

// Running returns the XML of the running configuration at xpath.
func (d *Device) Running(path string) (string, bool) { return d.lookup(path, false) }

// Candidate returns the XML of the candidate configuration at xpath.
func (d *Device) Candidate(path string) (string, bool) { return d.lookup(path, true) }

func (d *Device) lookup(path string, candidate bool) (string, bool) {
	p, err := parseXPath(path)
	if err != nil {
		return "", false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	root := d.running
	if candidate {
		root = d.candidate
	}
	n := find(root, p)
	if n == nil {
		return "", false
	}
	return n.String(), true
}

// SetRunning merges element into both configurations at xpath, as if an
// administrator had set and committed it: tests and the lab seed devices
// with it. It skips schema and reference checks.
func (d *Device) SetRunning(path, element string) error {
	p, err := parseXPath(path)
	if err != nil {
		return fmt.Errorf("lab panos: %s: %w", path, err)
	}
	frag, err := parseFragment(element)
	if err != nil {
		return fmt.Errorf("lab panos: element: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	ensure(d.candidate, p).merge(frag)
	ensure(d.running, p).merge(frag)
	d.refreshServed()
	return nil
}

// AddCertificate stores a certificate entry in both configurations, as if
// imported and committed earlier: with its key when cert has one, as a CA
// certificate otherwise.
func (d *Device) AddCertificate(name string, cert *tls.Certificate) error {
	if len(cert.Certificate) == 0 {
		return errors.New("lab panos: AddCertificate: no certificate")
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return fmt.Errorf("lab panos: AddCertificate: %w", err)
	}
	var bundle []byte
	for _, der := range cert.Certificate {
		bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	entry := &node{tag: "entry", attrs: nameAttr(name)}
	entry.setChildText("public-key", string(bundle))
	d.mu.Lock()
	defer d.mu.Unlock()
	if cert.PrivateKey != nil {
		signer, ok := cert.PrivateKey.(crypto.Signer)
		if !ok {
			return errors.New("lab panos: AddCertificate: the private key is not a crypto.Signer")
		}
		entry.setChildText("private-key", d.storeKey(signer))
	}
	describeCertificate(entry, leaf)
	for _, root := range []*node{d.candidate, d.running} {
		if ensure(root, certificatesPath()).entry(name) != nil {
			return fmt.Errorf("lab panos: AddCertificate: %s exists", name)
		}
	}
	for _, root := range []*node{d.candidate, d.running} {
		certs := ensure(root, certificatesPath())
		certs.children = append(certs.children, entry.clone())
	}
	return nil
}

// StageCandidate merges element into the candidate at xpath as an
// uncommitted change of admin: another administrator's pending work.
func (d *Device) StageCandidate(admin, path, element string) error {
	p, err := parseXPath(path)
	if err != nil {
		return fmt.Errorf("lab panos: %s: %w", path, err)
	}
	frag, err := parseFragment(element)
	if err != nil {
		return fmt.Errorf("lab panos: element: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	ensure(d.candidate, p).merge(frag)
	for _, c := range changedPaths(p, frag) {
		d.recordChange(admin, c)
	}
	return nil
}

// PendingChanges returns the xpaths admin changed and has not committed.
func (d *Device) PendingChanges(admin string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, p := range d.changes[admin] {
		out = append(out, p.String())
	}
	return out
}

// SavedConfigs returns the names of the saved configuration snapshots.
func (d *Device) SavedConfigs() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.saved))
	for name := range d.saved {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Certificates returns the names of the certificates in the running
// configuration, sorted.
func (d *Device) Certificates() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, c := range d.running.path("shared", "certificate").children {
		out = append(out, c.name())
	}
	sort.Strings(out)
	return out
}
