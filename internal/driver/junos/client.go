package junos

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// client is the typed JunOS XML API ottr uses: each method is one RPC,
// named after the CLI command it is the XML form of.
type client struct {
	nc *netconf
}

// generateKeyPair is `request security pki generate-key-pair certificate-id
// ID type TYPE size SIZE`.
func (c *client) generateKeyPair(ctx context.Context, id, kind string, size int) error {
	_, err := c.nc.call(ctx, "<request-pki-generate-key-pair>"+element("certificate-id", id)+
		element("type", kind)+element("size", strconv.Itoa(size))+"</request-pki-generate-key-pair>")
	return err
}

// clearKeyPair is `clear security pki key-pair certificate-id ID`.
func (c *client) clearKeyPair(ctx context.Context, id string) error {
	_, err := c.nc.call(ctx, "<clear-pki-key-pair>"+element("certificate-id", id)+"</clear-pki-key-pair>")
	return err
}

// clearLocalCertificate is `clear security pki local-certificate
// certificate-id ID`.
func (c *client) clearLocalCertificate(ctx context.Context, id string) error {
	_, err := c.nc.call(ctx, "<clear-pki-local-certificate>"+element("certificate-id", id)+"</clear-pki-local-certificate>")
	return err
}

// certificateRequest is what `request security pki
// generate-certificate-request` takes.
type certificateRequest struct {
	ID          string
	Subject     string
	DomainNames []string
	Digest      string
	Filename    string
}

// generateCertificateRequest is `request security pki
// generate-certificate-request certificate-id ID subject DN domain-name
// [ NAME ... ] digest D filename F`: one domain-name element per SAN. It
// returns the CSR the reply prints; the device also keeps it in Filename.
func (c *client) generateCertificateRequest(ctx context.Context, r certificateRequest) (*x509.CertificateRequest, error) {
	var b strings.Builder
	b.WriteString("<request-pki-generate-certificate-request>")
	b.WriteString(element("certificate-id", r.ID))
	b.WriteString(element("subject", r.Subject))
	for _, n := range r.DomainNames {
		b.WriteString(element("domain-name", n))
	}
	b.WriteString(element("digest", r.Digest))
	b.WriteString(element("filename", r.Filename))
	b.WriteString("</request-pki-generate-certificate-request>")
	reply, err := c.nc.call(ctx, b.String())
	if err != nil {
		return nil, err
	}
	csr, err := parseCSR(reply.allText())
	if errors.Is(err, errNoCSR) {
		// Some releases only say where they saved it.
		text, showErr := c.showFile(ctx, r.Filename)
		if showErr != nil {
			return nil, fmt.Errorf("the reply holds no CSR, and reading %s failed: %w", r.Filename, showErr)
		}
		return parseCSR(text)
	}
	return csr, err
}

var errNoCSR = errors.New("no CERTIFICATE REQUEST block")

// parseCSR returns the first CSR PEM block in text.
func parseCSR(text string) (*x509.CertificateRequest, error) {
	rest := []byte(text)
	for {
		i := strings.Index(string(rest), "-----BEGIN")
		if i < 0 {
			return nil, errNoCSR
		}
		var block *pem.Block
		block, rest = pem.Decode(rest[i:])
		if block == nil {
			return nil, errNoCSR
		}
		if block.Type == "CERTIFICATE REQUEST" || block.Type == "NEW CERTIFICATE REQUEST" {
			csr, err := x509.ParseCertificateRequest(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse the CSR: %w", err)
			}
			return csr, nil
		}
	}
}

// putFile is <file-put>: it writes content to path, replacing a file that
// is there.
func (c *client) putFile(ctx context.Context, path string, content []byte) error {
	_, err := c.nc.call(ctx, "<file-put>"+element("filename", path)+element("encoding", "base64")+
		element("permission", "0644")+"<delete-if-exist/>"+
		element("file-contents", base64.StdEncoding.EncodeToString(content))+"</file-put>")
	return err
}

// showFile is `file show PATH`.
func (c *client) showFile(ctx context.Context, path string) (string, error) {
	reply, err := c.nc.call(ctx, "<file-show>"+element("filename", path)+"</file-show>")
	if err != nil {
		return "", err
	}
	content := reply.child("file-content")
	if content == nil {
		return "", fmt.Errorf("<file-show>: the reply has no <file-content>")
	}
	return content.Text, nil
}

// deleteFile is `file delete PATH`.
func (c *client) deleteFile(ctx context.Context, path string) error {
	_, err := c.nc.call(ctx, "<file-delete>"+element("path", path)+"</file-delete>")
	return err
}

// loadLocalCertificate is `request security pki local-certificate load
// certificate-id ID filename F`.
func (c *client) loadLocalCertificate(ctx context.Context, id, path string) error {
	_, err := c.nc.call(ctx, "<request-pki-local-certificate-load>"+element("certificate-id", id)+
		element("filename", path)+"</request-pki-local-certificate-load>")
	return err
}

// exportLocalCertificate is `request security pki local-certificate export
// certificate-id ID filename F type pem`: the certificate only.
func (c *client) exportLocalCertificate(ctx context.Context, id, path string) error {
	_, err := c.nc.call(ctx, "<request-pki-local-certificate-export>"+element("certificate-id", id)+
		element("filename", path)+element("type", "pem")+"</request-pki-local-certificate-export>")
	return err
}

// loadCACertificate is `request security pki ca-certificate load ca-profile
// P filename F`.
func (c *client) loadCACertificate(ctx context.Context, profile, path string) error {
	_, err := c.nc.call(ctx, "<request-pki-ca-certificate-load>"+element("ca-profile", profile)+
		element("filename", path)+"</request-pki-ca-certificate-load>")
	return err
}

// committed and rollback select the configuration getConfiguration reads.
const committed = -1

// getConfiguration reads the committed configuration (rollback ==
// committed) or rollback N, narrowed by filter (a <configuration> subtree).
func (c *client) getConfiguration(ctx context.Context, rollback int, filter string) (*node, error) {
	source := `database="committed"`
	if rollback != committed {
		source = `rollback="` + strconv.Itoa(rollback) + `"`
	}
	reply, err := c.nc.call(ctx, `<get-configuration `+source+` format="xml">`+filter+`</get-configuration>`)
	if err != nil {
		return nil, err
	}
	cfg := reply.child("configuration")
	if cfg == nil {
		return nil, errors.New("<get-configuration>: the reply has no <configuration>")
	}
	return cfg, nil
}

// lock is <lock> on the candidate: JunOS's `configure exclusive`.
func (c *client) lock(ctx context.Context) error {
	_, err := c.nc.call(ctx, "<lock><target><candidate/></target></lock>")
	return err
}

func (c *client) unlock(ctx context.Context) error {
	_, err := c.nc.call(ctx, "<unlock><target><candidate/></target></unlock>")
	return err
}

// discardChanges is <discard-changes>: `rollback 0` on the candidate.
func (c *client) discardChanges(ctx context.Context) error {
	_, err := c.nc.call(ctx, "<discard-changes/>")
	return err
}

// loadConfiguration merges configuration (the inside of <configuration>)
// into the candidate; delete="delete" attributes delete statements.
func (c *client) loadConfiguration(ctx context.Context, configuration string) error {
	_, err := c.nc.call(ctx, `<load-configuration action="merge" format="xml"><configuration>`+
		configuration+`</configuration></load-configuration>`)
	return err
}

// commit is `commit` or, with confirmMinutes > 0, `commit confirmed N`:
// the device rolls back by itself unless a later plain commit confirms it.
func (c *client) commit(ctx context.Context, confirmMinutes int, comment string) error {
	var b strings.Builder
	b.WriteString("<commit-configuration>")
	if confirmMinutes > 0 {
		b.WriteString("<confirmed/>" + element("confirm-timeout", strconv.Itoa(confirmMinutes)))
	}
	b.WriteString(element("log", comment))
	b.WriteString("</commit-configuration>")
	_, err := c.nc.call(ctx, b.String())
	return err
}
