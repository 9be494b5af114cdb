package linuxhost

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
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

// hostState is what an inspect script found.
type hostState struct {
	// files holds, for each inspection whose file exists, its printed
	// content by inspection name.
	files map[string][]byte
	// backups maps each backup suffix of cert_path to the roles that
	// have a backup with it (with listBackups).
	backups map[string][]string
}

// inspect reads several files in one script, and with listBackups also
// lists the backups of the route's files. No private key is ever printed:
// certificate files are read through cert_blocks, key files through
// "openssl pkey -pubout".
func (h *Host) inspect(ctx context.Context, step string, listBackups bool, items ...inspection) (*hostState, error) {
	lines := []string{"set -e", certBlocksFunc}
	for _, it := range items {
		if it.path == "" {
			continue
		}
		read := "cert_blocks " + Quote(it.path)
		if it.publicKey {
			read = "openssl pkey -pubout -in " + Quote(it.path)
		}
		lines = append(lines, fmt.Sprintf("if [ -e %s ]; then printf '%%s\\n' %s; %s; printf '%%s\\n' %s; fi",
			Quote(it.path), Quote(sectionBegin+it.name), read, Quote(sectionEnd+it.name)))
	}
	if listBackups {
		lines = append(lines, h.listBackupsLines()...)
	}
	out, err := h.run(ctx, step, strings.Join(lines, "\n"), nil)
	if err != nil {
		return nil, err
	}
	parsed := ParseOutput(out)
	state := &hostState{files: map[string][]byte{}, backups: backupsListed(parsed)}
	for name, text := range parsed.sections {
		state.files[name] = []byte(text + "\n")
	}
	return state, nil
}

// installedAlready reports whether the host's files already hold chain.
func (h *Host) installedAlready(files map[string][]byte, chain []*x509.Certificate) bool {
	current, err := driver.ParseCertificates(files["cert"])
	if err != nil || !slices.EqualFunc(current, chain, (*x509.Certificate).Equal) {
		return false
	}
	if h.opts.ChainPath == "" {
		return true
	}
	intermediates, err := driver.ParseCertificates(files["chain"])
	return err == nil && slices.EqualFunc(intermediates, chain[1:], (*x509.Certificate).Equal)
}

// CurrentCertificate reads cert_path (certificates only) and returns its
// chain, leaf first, or nil when the file is absent or holds none.
func (h *Host) CurrentCertificate(ctx context.Context) ([]*x509.Certificate, error) {
	got, err := h.inspect(ctx, "current certificate", false, inspection{name: "cert", path: h.opts.CertPath})
	if err != nil {
		return nil, err
	}
	certs, err := driver.ParseCertificates(got.files["cert"])
	if err != nil {
		return nil, h.errorf("current certificate", "%s: %w", h.opts.CertPath, err)
	}
	return certs, nil
}
