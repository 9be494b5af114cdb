package junos

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

// client is the typed JunOS XML API ottr uses: each method is one RPC,
// named after the CLI command it is the XML form of. The RPC names and their
// input leaves are those of JunOS's own schema (Juniper/yang,
// junos-es-rpc-*.yang; Requests lists each with its module).
type client struct {
	nc *netconf
}

// failureWords are what JunOS's plain-text answers say when a command
// failed. The PKI and file commands may answer in <output> text alone, with
// no <rpc-error>, so the text is read for them.
var failureWords = regexp.MustCompile(`(?i)\b(errors?|fail(s|ed|ure)?|invalid|unable|cannot|can ?not|can't|could ?n[o']t|not (found|exist|match|allowed|permitted|supported)|does ?n[o']t (exist|match)|no such|denied|refused|already exists|mismatch)\b`)

// pemBlock matches a PEM block in a command's text: a CSR the device
// prints, whose base64 may spell any word.
var pemBlock = regexp.MustCompile(`-----BEGIN [A-Z0-9 ]+-----(?s:.*?)-----END [A-Z0-9 ]+-----`)

// command sends an operational RPC and returns its reply; an <output> text
// that reports a failure is a *deviceError carrying that text. names are
// the identifiers and paths the request carries, which may hold any word
// and are not read as the device's.
func (c *client) command(ctx context.Context, operation string, names ...string) (*node, error) {
	reply, err := c.nc.call(ctx, operation)
	if err != nil {
		return reply, err
	}
	if err := failedOutput(operationName(operation), reply, names...); err != nil {
		return reply, err
	}
	return reply, nil
}

// failedOutput returns a *deviceError for the first <output> text of reply
// that reports a failure, or nil.
func failedOutput(operation string, reply *node, names ...string) error {
	for _, out := range reply.descendants("output") {
		text := pemBlock.ReplaceAllString(out.Text, "[PEM block]")
		scanned := text
		for _, n := range names {
			if n != "" {
				scanned = strings.ReplaceAll(scanned, n, " ")
			}
		}
		if failureWords.MatchString(scanned) {
			return &deviceError{Operation: operation, Errors: []rpcError{{Tag: "output", Message: text}}}
		}
	}
	return nil
}

// generateKeyPair is `request security pki generate-key-pair certificate-id
// ID type TYPE size SIZE`.
func (c *client) generateKeyPair(ctx context.Context, id, kind string, size int) error {
	_, err := c.command(ctx, "<generate-pki-key-pair>"+element("certificate-id", id)+
		element("type", kind)+element("size", strconv.Itoa(size))+"</generate-pki-key-pair>", id)
	return err
}

// clearKeyPair is `clear security pki key-pair certificate-id ID`.
func (c *client) clearKeyPair(ctx context.Context, id string) error {
	_, err := c.command(ctx, "<clear-pki-key-pair>"+element("certificate-id", id)+"</clear-pki-key-pair>", id)
	return err
}

// clearLocalCertificate is `clear security pki local-certificate
// certificate-id ID`.
func (c *client) clearLocalCertificate(ctx context.Context, id string) error {
	_, err := c.command(ctx, "<clear-pki-local-certificate>"+element("certificate-id", id)+"</clear-pki-local-certificate>", id)
	return err
}

// certificateRequest is what `request security pki
// generate-certificate-request` takes. JunOS's schema has one domain-name
// leaf: the CSR carries one DNS name.
type certificateRequest struct {
	ID         string
	Subject    string
	DomainName string
	Digest     string
	Filename   string
}

// generateCertificateRequest is `request security pki
// generate-certificate-request certificate-id ID subject DN domain-name NAME
// digest D filename F`. It returns the CSR the reply prints; the device also
// keeps it in Filename.
func (c *client) generateCertificateRequest(ctx context.Context, r certificateRequest) (*x509.CertificateRequest, error) {
	reply, err := c.command(ctx, "<generate-pki-certificate-request>"+element("certificate-id", r.ID)+
		element("subject", r.Subject)+element("domain-name", r.DomainName)+element("digest", r.Digest)+
		element("filename", r.Filename)+"</generate-pki-certificate-request>", r.ID, r.Filename, r.DomainName, r.Subject)
	if err != nil {
		return nil, err
	}
	csr, err := parseCSR(reply.allText())
	if errors.Is(err, errNoCSR) {
		// Some releases only say where they saved it.
		text, showErr := c.showFile(ctx, r.Filename)
		if showErr != nil {
			return nil, fmt.Errorf("the reply holds no CSR (%s), and reading %s failed: %w", quote(reply), r.Filename, showErr)
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
	_, err := c.command(ctx, "<file-put>"+element("filename", path)+element("encoding", "base64")+
		element("permission", "0644")+"<delete-if-exist/>"+
		element("file-contents", base64.StdEncoding.EncodeToString(content))+"</file-put>", path)
	return err
}

// showFile is `file show PATH`.
func (c *client) showFile(ctx context.Context, path string) (string, error) {
	reply, err := c.command(ctx, "<file-show>"+element("filename", path)+"</file-show>", path)
	if err != nil {
		return "", err
	}
	content := reply.child("file-content")
	if content == nil {
		return "", fmt.Errorf("<file-show>: the reply has no <file-content>: %s", quote(reply))
	}
	return content.Text, nil
}

// deleteFile is `file delete PATH`.
func (c *client) deleteFile(ctx context.Context, path string) error {
	_, err := c.command(ctx, "<file-delete>"+element("path", path)+"</file-delete>", path)
	return err
}

// listDirectory is `file list PATH`; PyEZ's utils/fs.py reads an <output>
// answer as a path that does not exist, and so does the driver.
func (c *client) listDirectory(ctx context.Context, path string) (*node, error) {
	reply, err := c.command(ctx, "<file-list>"+element("path", path)+"</file-list>", path)
	if err != nil {
		return nil, err
	}
	if out := reply.child("output"); out != nil {
		return nil, &deviceError{Operation: "file-list", Errors: []rpcError{{Tag: "output", Message: out.Text}}}
	}
	list := reply.child("directory-list")
	if list == nil {
		return nil, fmt.Errorf("<file-list>: the reply has no <directory-list>: %s", quote(reply))
	}
	return list, nil
}

// loadLocalCertificate is `request security pki local-certificate load
// certificate-id ID filename F`.
func (c *client) loadLocalCertificate(ctx context.Context, id, path string) error {
	_, err := c.command(ctx, "<load-pki-local-certificate>"+element("certificate-id", id)+
		element("filename", path)+"</load-pki-local-certificate>", id, path)
	return err
}

// exportLocalCertificate is `request security pki local-certificate export
// certificate-id ID filename F type pem`: the certificate only.
func (c *client) exportLocalCertificate(ctx context.Context, id, path string) error {
	_, err := c.command(ctx, "<request-security-local-certificate-export>"+element("certificate-id", id)+
		element("filename", path)+element("type", "pem")+"</request-security-local-certificate-export>", id, path)
	return err
}

// loadCACertificate is `request security pki ca-certificate load ca-profile
// P filename F`.
func (c *client) loadCACertificate(ctx context.Context, profile, path string) error {
	_, err := c.command(ctx, "<load-pki-ca-certificate>"+element("ca-profile", profile)+
		element("filename", path)+"</load-pki-ca-certificate>", profile, path)
	return err
}

// certificateInfo is what `show security pki (local|ca)-certificate ...
// detail` says of one certificate.
type certificateInfo struct {
	Identifier string
	Serial     *big.Int
	Subject    string
	NotAfter   string
}

// localCertificateInfo is `show security pki local-certificate
// certificate-id ID detail`; id "system-generated" is J-Web's own
// certificate.
func (c *client) localCertificateInfo(ctx context.Context, id string) (*certificateInfo, error) {
	selector := element("certificate-id", id)
	if id == systemGeneratedID {
		selector = "<system-generated/>"
	}
	reply, err := c.command(ctx, "<get-pki-local-certificate>"+selector+"<detail/></get-pki-local-certificate>", id)
	if err != nil {
		return nil, err
	}
	return parseCertificateInfo(reply)
}

// caCertificateInfo is `show security pki ca-certificate ca-profile P
// detail`.
func (c *client) caCertificateInfo(ctx context.Context, profile string) (*certificateInfo, error) {
	reply, err := c.command(ctx, "<get-pki-ca-certificate>"+element("ca-profile", profile)+"<detail/></get-pki-ca-certificate>", profile)
	if err != nil {
		return nil, err
	}
	return parseCertificateInfo(reply)
}

// parseCertificateInfo reads <x509-pki-certificate-info-list>: JunOS's
// schema leaves its content open (anyxml), so the driver reads the elements
// `| display xml` shows (identifier, serial-number-list/serial-number-x509,
// subject-string-list/subject-string, validity/not-after) and refuses an
// answer without a serial number, quoting it.
func parseCertificateInfo(reply *node) (*certificateInfo, error) {
	var info *node
	if list := reply.descendants("x509-pki-certificate-info-list"); len(list) > 0 {
		info = list[0].child("pkid-x509-certificate-information")
	}
	serialText := info.child("serial-number-list").childText("serial-number-x509")
	serial, ok := new(big.Int).SetString(strings.NewReplacer(":", "", " ", "").Replace(serialText), 16)
	if info == nil || !ok {
		return nil, fmt.Errorf("the answer holds no certificate with a serial number the driver can read: %s", quote(reply))
	}
	return &certificateInfo{
		Identifier: info.childText("identifier"),
		Serial:     serial,
		Subject:    info.child("subject-string-list").childText("subject-string"),
		NotAfter:   info.child("validity").childText("not-after"),
	}, nil
}

// softwareInformation is `show version`: the device's release and model.
func (c *client) softwareInformation(ctx context.Context) (version, model, host string, err error) {
	reply, err := c.command(ctx, "<get-software-information/>")
	if err != nil {
		return "", "", "", err
	}
	sw := reply.descendants("software-information")
	if len(sw) == 0 || sw[0].childText("junos-version") == "" {
		return "", "", "", fmt.Errorf("the answer holds no <software-information> with a <junos-version>: %s", quote(reply))
	}
	return sw[0].childText("junos-version"), sw[0].childText("product-model"), sw[0].childText("host-name"), nil
}

// getConfiguration reads the committed configuration narrowed by filter (a
// <configuration> subtree).
func (c *client) getConfiguration(ctx context.Context, filter string) (*node, error) {
	reply, err := c.nc.call(ctx, `<get-configuration database="committed" format="xml">`+filter+`</get-configuration>`)
	if err != nil {
		return nil, err
	}
	cfg := reply.child("configuration")
	if cfg == nil {
		return nil, fmt.Errorf("<get-configuration>: the reply has no <configuration>: %s", quote(reply))
	}
	return cfg, nil
}

// getRollback reads rollback n (0 the committed configuration), whole:
// `show system rollback N`.
func (c *client) getRollback(ctx context.Context, n int) (*node, error) {
	reply, err := c.nc.call(ctx, "<get-rollback-information>"+element("rollback", strconv.Itoa(n))+"</get-rollback-information>")
	if err != nil {
		return nil, err
	}
	var cfg *node
	if found := reply.descendants("configuration"); len(found) > 0 {
		cfg = found[0]
	}
	if cfg == nil {
		return nil, fmt.Errorf("<get-rollback-information>: the reply has no <configuration>: %s", quote(reply))
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

// maxQuote bounds how much of a reply an error quotes.
const maxQuote = 300

// quote renders a reply the driver did not understand for an error:
// compact XML, PEM blocks elided, at most maxQuote characters. Replies hold
// no secret: the device never sends a private key or the password.
func quote(reply *node) string {
	if reply == nil {
		return "(no reply)"
	}
	text := pemBlock.ReplaceAllString(reply.marshal(), "[PEM block]")
	text = strings.Join(strings.Fields(text), " ")
	if r := []rune(text); len(r) > maxQuote {
		text = string(r[:maxQuote]) + "…"
	}
	return text
}
