package linux

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"

	"github.com/ottr-go/ottr/internal/driver"
)

// sectionMarker starts each part of an inspect script's output; it cannot
// appear in PEM text.
const sectionMarker = "@@ottr-section "

// An inspection asks for what a file holds: its public key (for key files)
// or its certificates (for certificate files).
type inspection struct {
	name string
	path string
	// publicKey: print the file's public key with "openssl pkey -pubout";
	// otherwise print its CERTIFICATE blocks.
	publicKey bool
}

// inspect reads several files in one command and returns, for each file
// that exists, its printed content by inspection name. No private key is
// ever printed: certificate files are read through cert_blocks, key files
// through "openssl pkey -pubout".
func (s *session) inspect(ctx context.Context, step string, items ...inspection) (map[string][]byte, error) {
	lines := []string{"set -e", certBlocksFunc}
	for _, it := range items {
		if it.path == "" {
			continue
		}
		read := "cert_blocks " + shellQuote(it.path)
		if it.publicKey {
			read = "openssl pkey -pubout -in " + shellQuote(it.path)
		}
		lines = append(lines, fmt.Sprintf("if [ -e %s ]; then printf '%%s\\n' %s; %s; fi",
			shellQuote(it.path), shellQuote(sectionMarker+it.name), read))
	}
	out, err := s.run(ctx, step, strings.Join(lines, "\n"), nil)
	if err != nil {
		return nil, err
	}
	sections := map[string][]byte{}
	var current string
	for _, line := range bytes.SplitAfter(out, []byte("\n")) {
		if name, ok := strings.CutPrefix(string(line), sectionMarker); ok {
			current = strings.TrimSpace(name)
			sections[current] = []byte{}
			continue
		}
		if current != "" {
			sections[current] = append(sections[current], line...)
		}
	}
	return sections, nil
}

// encodeCertificates returns certs as concatenated PEM blocks.
func encodeCertificates(certs []*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// sameCertificates reports whether a and b are the same certificates in the
// same order.
func sameCertificates(a, b []*x509.Certificate) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

// CurrentCertificate reads cert_path (certificates only) and returns its
// chain, leaf first, or nil when the file is absent or holds none.
func (s *session) CurrentCertificate(ctx context.Context) ([]*x509.Certificate, error) {
	got, err := s.inspect(ctx, "current certificate", inspection{name: "cert", path: s.opts.CertPath})
	if err != nil {
		return nil, err
	}
	certs, err := driver.ParseCertificates(got["cert"])
	if err != nil {
		return nil, errorf("current certificate", "%s: %w", s.opts.CertPath, err)
	}
	return certs, nil
}
