package linuxhost

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
)

// newKeyArgs are the openssl req -newkey arguments for each key type, so one
// openssl run makes the key and the CSR. The "ec" form with
// ec_paramgen_curve works on OpenSSL 1.1.1 and 3.x; both write the key as
// PKCS#8.
var newKeyArgs = map[string]string{
	asset.KeyRSA2048:  "-newkey rsa:2048",
	asset.KeyRSA3072:  "-newkey rsa:3072",
	asset.KeyRSA4096:  "-newkey rsa:4096",
	asset.KeyECDSA256: "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:named_curve",
	asset.KeyECDSA384: "-newkey ec -pkeyopt ec_paramgen_curve:P-384 -pkeyopt ec_param_enc:named_curve",
}

// GenerateCSR runs, in one script, the hooks due before the key (if the
// transport has hooks) and then openssl, which generates a new key into the
// staging path and a CSR for it. The key stays in the staging path until
// Install; the CSR, preceded by its public key (-pubkey), is kept next to
// it and printed. Only that public output is read back, and the CSR is
// checked before it is returned.
func (h *Host) GenerateCSR(ctx context.Context, r driver.CSRRequest) (*x509.CertificateRequest, error) {
	names, err := driver.CSRNames(r)
	if err != nil {
		return nil, h.wrap("csr", err)
	}
	newKey, ok := newKeyArgs[r.KeyType]
	if !ok {
		return nil, h.errorf("csr", "unsupported key type %q (supported: %s)", r.KeyType, strings.Join(asset.KeyTypes(), ", "))
	}
	digest := "-sha256"
	if r.KeyType == asset.KeyECDSA384 {
		digest = "-sha384"
	}

	staged := Quote(h.opts.StagedKeyPath())
	stagedCSR := Quote(h.opts.StagedCSRPath())
	sans := make([]string, len(names))
	for i, n := range names {
		sans[i] = "DNS:" + n
	}
	lines := append([]string{"set -e"}, h.prelude(false)...)
	if h.cfg.Hooks != nil {
		// The hooks run first, with the host's own umask.
		lines = append(lines, h.cfg.Hooks.Before("exit 1"))
	}
	// umask 077 makes the key file 0600 from its first byte. A staged key
	// left by an abandoned CSR is removed first, so openssl never writes
	// into a file someone else may have opened; rm runs only then, and
	// mkdir only when work_dir is missing: every process costs the host a
	// fork. The CSR is captured by the shell and written by it, so one
	// openssl run both saves and prints it.
	lines = append(lines,
		"umask 077",
		ensureDir(h.opts.WorkDir),
		"if "+exists(staged)+" || "+exists(stagedCSR)+"; then rm -f -- "+staged+" "+stagedCSR+"; fi",
		"csr=$(openssl req -new "+newKey+" -nodes -keyout "+staged+" "+digest+
			" -subj "+Quote("/CN="+r.CommonName)+
			" -addext "+Quote("subjectAltName="+strings.Join(sans, ","))+" -pubkey)",
		`printf '%s\n' "$csr" > `+stagedCSR,
		`printf '%s\n' "$csr"`,
	)
	out, err := h.exec(ctx, "csr", strings.Join(lines, "\n"), nil)
	if hookErr := h.hooksReport("pre", ParseOutput(out)); hookErr != nil {
		return nil, h.wrap("csr", hookErr)
	}
	if err != nil {
		return nil, h.wrap("csr", err)
	}
	csr, err := h.parseCSR(out)
	if err != nil {
		return nil, h.wrap("csr", err)
	}
	if err := driver.CheckCSR(csr, r.CommonName, names, r.KeyType); err != nil {
		return nil, h.wrap("csr", err)
	}
	h.log.Debug(h.cfg.Name+": CSR generated", "key_type", r.KeyType, "names", len(names), "staged_key", path.Base(h.opts.StagedKeyPath()))
	return csr, nil
}

// parseCSR finds the PEM CSR in openssl's output and parses it.
func (h *Host) parseCSR(out []byte) (*x509.CertificateRequest, error) {
	for rest := out; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("the " + h.cfg.Noun + " printed no PEM certificate request")
		}
		if block.Type == "CERTIFICATE REQUEST" || block.Type == "NEW CERTIFICATE REQUEST" {
			csr, err := x509.ParseCertificateRequest(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse the %s's CSR: %w", h.cfg.Noun, err)
			}
			return csr, nil
		}
	}
}
