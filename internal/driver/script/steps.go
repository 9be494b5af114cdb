package script

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/verify"
)

// handlePrefix starts the line install_certificate prints its handle on.
const handlePrefix = "OTTR_HANDLE "

// GenerateCSR runs generate_csr and checks the CSR it prints.
func (s *session) GenerateCSR(ctx context.Context, r driver.CSRRequest) (*x509.CertificateRequest, error) {
	names, err := driver.CSRNames(r)
	if err != nil {
		return nil, wrapf("csr", err)
	}
	if !slices.Contains(asset.KeyTypes(), r.KeyType) {
		return nil, errorf("csr", "unsupported key type %q (supported: %s)", r.KeyType, strings.Join(asset.KeyTypes(), ", "))
	}
	out, err := s.runJSON(ctx, optGenerateCSR, s.opts.GenerateCSR, &csrInput{CommonName: r.CommonName, DNSNames: names, KeyType: r.KeyType}, nil)
	if err != nil {
		return nil, wrapf("csr", err)
	}
	defer clear(out)
	if containsPrivateKey(out) {
		return nil, errorf("csr", "%s printed a private key; its output was discarded: print only the CSR and keep the key on the device", optGenerateCSR)
	}
	csr, err := parseCSR(out)
	if err != nil {
		return nil, errorf("csr", "%s: %w", optGenerateCSR, err)
	}
	if err := checkCSR(csr, r.CommonName, names, r.KeyType); err != nil {
		return nil, errorf("csr", "the CSR %s printed: %w", optGenerateCSR, err)
	}
	return csr, nil
}

// Install runs install_certificate with the chain on its standard input and
// returns the handle it printed.
func (s *session) Install(ctx context.Context, chain []*x509.Certificate) (driver.Installed, error) {
	if len(chain) == 0 {
		return nil, errorf("install", "no certificate to install")
	}
	var chainPEM bytes.Buffer
	for _, c := range chain {
		_ = pem.Encode(&chainPEM, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	a := s.target.Asset
	out, err := s.run(ctx, optInstallCertificate, s.opts.InstallCertificate, a.Names(), a.KeyType, nil, chainPEM.Bytes())
	if err != nil {
		return nil, wrapf("install", err)
	}
	defer clear(out)
	if containsPrivateKey(out) {
		return nil, errorf("install", "%s printed a private key; its output was discarded: the key must stay on the device", optInstallCertificate)
	}
	handle, err := s.readHandle(optInstallCertificate, out)
	if err != nil {
		return nil, wrapf("install", err)
	}
	return handle, nil
}

// Rollback runs the rollback script with the install's handle.
func (s *session) Rollback(ctx context.Context, i driver.Installed) error {
	if s.opts.Rollback == "" {
		return errorf("rollback", "the route names no %s executable, so the previous certificate cannot be restored", optRollback)
	}
	if i == nil {
		i = driver.Installed{}
	}
	out, err := s.runJSON(ctx, optRollback, s.opts.Rollback, nil, i)
	if err != nil {
		return wrapf("rollback", err)
	}
	defer clear(out)
	s.logStdout(optRollback, out)
	return nil
}

// readHandle finds the handle line in an install's output and logs the
// other lines.
func (s *session) readHandle(step string, out []byte) (driver.Installed, error) {
	handle := driver.Installed{}
	found := false
	var rest bytes.Buffer
	for _, line := range strings.Split(string(out), "\n") {
		raw, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), handlePrefix)
		if !ok {
			rest.WriteString(line + "\n")
			continue
		}
		if found {
			return nil, fmt.Errorf("%s printed more than one %s line", step, strings.TrimSpace(handlePrefix))
		}
		found = true
		var values map[string]any
		if err := json.Unmarshal([]byte(raw), &values); err != nil || values == nil {
			return nil, fmt.Errorf("%s printed an %s line that is not a JSON object: %s", step, strings.TrimSpace(handlePrefix), s.redact.apply(raw))
		}
		for k, v := range values {
			str, isString := v.(string)
			if !isString {
				return nil, fmt.Errorf("%s printed an %s whose %q is %T, not a string: the handle is journaled as strings",
					step, strings.TrimSpace(handlePrefix), k, v)
			}
			handle[k] = str
		}
	}
	s.logStdout(step, rest.Bytes())
	return handle, nil
}

// logStdout logs what a script printed besides its result.
func (s *session) logStdout(step string, out []byte) {
	w := &lineWriter{redact: s.redact, emit: func(line string) {
		if strings.TrimSpace(line) != "" {
			s.logLine(step, line)
		}
	}}
	_, _ = w.Write(out)
	w.flush()
}

// servedChain reads the chain the device presents at its TLS address,
// sending the common name as SNI. It reports what is served without
// judging it: a device due for rotation may well serve an expired or
// self-signed certificate, and verification after the install is the
// rotation's own step.
func (s *session) servedChain(ctx context.Context) ([]*x509.Certificate, error) {
	addr := s.servedAddr()
	if addr == "" {
		return nil, fmt.Errorf("the asset has no ip_address or common_name to connect to")
	}
	return verify.Fetch(ctx, addr, s.target.Asset.CommonName, s.drv.cfg.DialTimeout)
}

// servedAddr is where the device serves its certificate: the asset's
// ip_address, else its common name, and its TLS port; "" when the asset
// has neither.
func (s *session) servedAddr() string {
	a := s.target.Asset
	host := a.IPAddress
	if host == "" {
		host = a.CommonName
	}
	if host == "" {
		return ""
	}
	return net.JoinHostPort(host, strconv.Itoa(a.TLSPort()))
}
