package ssm

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"

	"github.com/ottr-go/ottr/internal/driver"
)

// An inspection asks for what a file holds: its public key (for key files)
// or its certificates (for certificate files).
type inspection struct {
	name string
	path string
	// publicKey: print the file's public key with "openssl pkey -pubout";
	// otherwise print its CERTIFICATE blocks.
	publicKey bool
}

// backupMarker + role + " " + suffix: a backup of that file exists.
const backupMarker = "@@ottr-backup "

// instanceState is what an inspect script found.
type instanceState struct {
	// files holds, for each inspection whose file exists, its printed
	// content by inspection name.
	files map[string][]byte
	// backups maps each backup suffix of cert_path to the roles that
	// have a backup with it.
	backups map[string][]string
}

// inspect reads several files in one command, and with listBackups also
// lists the backups of the certificate files. No private key is ever
// printed: certificate files are read through cert_blocks, key files
// through "openssl pkey -pubout".
func (s *session) inspect(ctx context.Context, step string, listBackups bool, items ...inspection) (*instanceState, error) {
	lines := []string{"set -e", certBlocksFunc}
	for _, it := range items {
		if it.path == "" {
			continue
		}
		read := "cert_blocks " + shellQuote(it.path)
		if it.publicKey {
			read = "openssl pkey -pubout -in " + shellQuote(it.path)
		}
		lines = append(lines, fmt.Sprintf("if [ -e %s ]; then printf '%%s\\n' %s; %s; printf '%%s\\n' %s; fi",
			shellQuote(it.path), shellQuote(sectionBegin+it.name), read, shellQuote(sectionEnd+it.name)))
	}
	if listBackups {
		// For every backup of cert_path, print its suffix and the roles
		// that have a backup with that suffix. Only suffixes are
		// printed, so the answer does not depend on how the instance
		// spells the path back.
		lines = append(lines,
			fmt.Sprintf(`p=%s; for f in "$p"%s*; do`, shellQuote(s.opts.CertPath), backupPrefix),
			`	[ -e "$f" ] || continue`,
			`	s=${f#"$p"}`)
		for _, f := range s.files() {
			lines = append(lines, fmt.Sprintf(`	if [ -e %s"$s" ]; then printf '%%s\n' "%s%s $s"; fi`, shellQuote(f.path), backupMarker, f.role))
		}
		lines = append(lines, "done")
	}
	out, err := s.run(ctx, step, strings.Join(lines, "\n"))
	if err != nil {
		return nil, err
	}
	parsed := parseOutput(out)
	state := &instanceState{files: map[string][]byte{}, backups: map[string][]string{}}
	for name, text := range parsed.sections {
		state.files[name] = []byte(text + "\n")
	}
	for _, m := range parsed.markers {
		rest, ok := strings.CutPrefix(m, backupMarker)
		if !ok {
			continue
		}
		role, suffix, ok := strings.Cut(rest, " ")
		if ok && backupSuffixPattern.MatchString(suffix) {
			state.backups[suffix] = append(state.backups[suffix], role)
		}
	}
	return state, nil
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

// installedAlready reports whether the instance's files already hold chain.
func (s *session) installedAlready(files map[string][]byte, chain []*x509.Certificate) bool {
	current, err := driver.ParseCertificates(files["cert"])
	if err != nil || !sameCertificates(current, chain) {
		return false
	}
	if s.opts.ChainPath == "" {
		return true
	}
	intermediates, err := driver.ParseCertificates(files["chain"])
	return err == nil && sameCertificates(intermediates, chain[1:])
}

// CurrentCertificate reads cert_path (certificates only) and returns its
// chain, leaf first, or nil when the file is absent or holds none.
func (s *session) CurrentCertificate(ctx context.Context) ([]*x509.Certificate, error) {
	got, err := s.inspect(ctx, "current certificate", false, inspection{name: "cert", path: s.opts.CertPath})
	if err != nil {
		return nil, err
	}
	certs, err := driver.ParseCertificates(got.files["cert"])
	if err != nil {
		return nil, errorf("current certificate", "%s: %w", s.opts.CertPath, err)
	}
	return certs, nil
}
