package bigip

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// The iControl REST resources the driver uses, one typed call each.

// keyCreate is the body of POST /mgmt/tm/sys/crypto/key that generates a
// key on the device.
type keyCreate struct {
	Name      string `json:"name"`
	Partition string `json:"partition"`
	KeyType   string `json:"keyType"`
	KeySize   int    `json:"keySize,omitempty"`
	CurveName string `json:"curveName,omitempty"`
}

func (c *client) createKey(ctx context.Context, k keyCreate) error {
	return c.send(ctx, request{method: http.MethodPost, path: "/mgmt/tm/sys/crypto/key", body: k})
}

// csrCreate is the body of POST /mgmt/tm/sys/crypto/csr: a CSR signed by
// an existing key. subjectAlternativeName is the REST name of tmsh's
// subject-alternative-name ("DNS:a, DNS:b").
type csrCreate struct {
	Name                   string `json:"name"`
	Partition              string `json:"partition"`
	Key                    string `json:"key"`
	CommonName             string `json:"commonName"`
	SubjectAlternativeName string `json:"subjectAlternativeName,omitempty"`
}

func (c *client) createCSR(ctx context.Context, r csrCreate) error {
	return c.send(ctx, request{method: http.MethodPost, path: "/mgmt/tm/sys/crypto/csr", body: r})
}

// Values that reach a bash command line are checked against these, so no
// quoting can be broken: object full paths and filestore paths.
var (
	safeObjectPath = regexp.MustCompile(`^/[A-Za-z_][A-Za-z0-9_.-]*(/[A-Za-z_][A-Za-z0-9_.:-]*)+$`)
	safeFilePath   = regexp.MustCompile(`^/[A-Za-z0-9_.:/-]+$`)
)

// bash runs a read-only command through /mgmt/tm/util/bash and returns
// what it printed.
func (c *client) bash(ctx context.Context, command string) (string, error) {
	var res struct {
		CommandResult string `json:"commandResult"`
	}
	body := map[string]string{"command": "run", "utilCmdArgs": "-c \"" + command + "\""}
	if err := c.send(ctx, request{method: http.MethodPost, path: "/mgmt/tm/util/bash", body: body, out: &res}); err != nil {
		return "", err
	}
	return res.CommandResult, nil
}

// csrPEM reads a CSR the way F5 documents for scripts: `tmsh list sys
// crypto csr NAME` prints the PEM before the object's properties.
func (c *client) csrPEM(ctx context.Context, fullPath string) ([]byte, error) {
	if !safeObjectPath.MatchString(fullPath) {
		return nil, fmt.Errorf("refusing to read CSR %q: not a plain BIG-IP name", fullPath)
	}
	out, err := c.bash(ctx, "tmsh list sys crypto csr "+fullPath)
	if err != nil {
		return nil, err
	}
	i := strings.Index(out, "-----BEGIN CERTIFICATE REQUEST-----")
	if i < 0 {
		return nil, fmt.Errorf("tmsh list sys crypto csr %s printed no CSR: %s", fullPath, firstLine(out))
	}
	block, _ := pem.Decode([]byte(out[i:]))
	if block == nil {
		return nil, fmt.Errorf("tmsh list sys crypto csr %s printed a damaged CSR", fullPath)
	}
	return block.Bytes, nil
}

// readFile returns a certificate file's contents (`cat` through util bash).
// It refuses anything that is not a plain path, and the driver only ever
// names certificate files with it, never key files.
func (c *client) readFile(ctx context.Context, path string) ([]byte, error) {
	if !safeFilePath.MatchString(path) {
		return nil, fmt.Errorf("refusing to read %q: not a plain file path", path)
	}
	out, err := c.bash(ctx, "cat '"+path+"'")
	if err != nil {
		return nil, err
	}
	if !strings.Contains(out, "-----BEGIN CERTIFICATE-----") {
		return nil, fmt.Errorf("cat %s printed no certificate: %s", path, firstLine(out))
	}
	return []byte(out), nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return "(nothing)"
	}
	return s
}

// certFile is the part of sys file ssl-cert the driver reads: where the
// filestore keeps the certificate and its SHA-256 fingerprint
// ("SHA256/AB:CD:…").
type certFile struct {
	FullPath    string `json:"fullPath"`
	CachePath   string `json:"cachePath"`
	Fingerprint string `json:"fingerprint"`
}

// certFile returns a certificate object's file, or nil if there is none.
func (c *client) certFile(ctx context.Context, fullPath string) (*certFile, error) {
	var f certFile
	found, err := c.getFound(ctx, tmPath("sys/file/ssl-cert", fullPath), &f)
	if !found {
		return nil, err
	}
	return &f, nil
}

// getFound GETs path into out; a 404 is found=false, not an error.
func (c *client) getFound(ctx context.Context, path string, out any) (found bool, err error) {
	err = c.send(ctx, request{method: http.MethodGet, path: path, out: out})
	if isStatus(err, http.StatusNotFound) {
		return false, nil
	}
	return err == nil, err
}

// installCert makes a certificate object of an uploaded PEM file.
func (c *client) installCert(ctx context.Context, fullPath, localFile string) error {
	body := map[string]string{"command": "install", "name": fullPath, "from-local-file": localFile}
	return c.send(ctx, request{method: http.MethodPost, path: "/mgmt/tm/sys/crypto/cert", body: body})
}

// cachePath returns where the filestore keeps a key ("ssl-key") or
// certificate ("ssl-cert") object: the path sys httpd is pointed at.
func (c *client) cachePath(ctx context.Context, kind, fullPath string) (string, error) {
	var res struct {
		CachePath string `json:"cachePath"`
	}
	if err := c.send(ctx, request{method: http.MethodGet, path: tmPath("sys/file/"+kind, fullPath), out: &res}); err != nil {
		return "", err
	}
	if res.CachePath == "" {
		return "", fmt.Errorf("sys file %s %s has no cachePath", kind, fullPath)
	}
	return res.CachePath, nil
}

// objectPaths are where the driver deletes each kind of object: keys and
// certificates as sys file objects, as F5's bigip_ssl_key_cert module
// does, CSRs as sys crypto csr, as its bigip_ssl_csr does.
var objectPaths = map[string]string{
	"cert": "sys/file/ssl-cert",
	"key":  "sys/file/ssl-key",
	"csr":  "sys/crypto/csr",
}

// deleteObject deletes a key, CSR or certificate; one already gone is not
// an error.
func (c *client) deleteObject(ctx context.Context, kind, fullPath string) error {
	err := c.send(ctx, request{method: http.MethodDelete, path: tmPath(objectPaths[kind], fullPath)})
	if isStatus(err, http.StatusNotFound) {
		return nil
	}
	return err
}

// removeUpload deletes an uploaded file (/mgmt/tm/util/unix-rm).
func (c *client) removeUpload(ctx context.Context, localFile string) error {
	var res struct {
		CommandResult string `json:"commandResult"`
	}
	body := map[string]string{"command": "run", "utilCmdArgs": localFile}
	if err := c.send(ctx, request{method: http.MethodPost, path: "/mgmt/tm/util/unix-rm", body: body, out: &res}); err != nil {
		return err
	}
	if res.CommandResult != "" {
		return errors.New(firstLine(res.CommandResult))
	}
	return nil
}

// profile is the part of an ltm profile client-ssl the driver reads. A GET
// returns more of each certKeyChain entry (certReference, keyReference,
// chainReference, appService, usage): none of it is kept, so none of it is
// ever sent back.
type profile struct {
	FullPath     string         `json:"fullPath"`
	CertKeyChain []profileEntry `json:"certKeyChain"`
}

// profileEntry is what the driver reads of a certKeyChain entry.
type profileEntry struct {
	Name  string `json:"name"`
	Cert  string `json:"cert"`
	Key   string `json:"key"`
	Chain string `json:"chain"`
	// Passphrase is the key's passphrase as the device shows it: encrypted
	// ("$M$…"), never sent back.
	Passphrase string `json:"passphrase"`
}

// hasPassphrase reports whether the entry's key is protected by one.
func (e profileEntry) hasPassphrase() bool { return !isNone(e.Passphrase) }

// entryChange is a certKeyChain entry as a change sends it: name, cert, key
// and chain, "none" when there is none, as F5's bigip_profile_client_ssl
// module builds it.
type entryChange struct {
	Name  string `json:"name"`
	Cert  string `json:"cert"`
	Key   string `json:"key"`
	Chain string `json:"chain"`
}

func (c *client) profile(ctx context.Context, fullPath string) (*profile, error) {
	var p profile
	if err := c.send(ctx, request{method: http.MethodGet, path: tmPath("ltm/profile/client-ssl", fullPath), out: &p}); err != nil {
		return nil, err
	}
	return &p, nil
}

func (c *client) patchProfile(ctx context.Context, fullPath string, entries []entryChange, tx int64) error {
	return c.send(ctx, request{
		method: http.MethodPatch, path: tmPath("ltm/profile/client-ssl", fullPath),
		body: map[string]any{"certKeyChain": entries}, header: txHeader(tx),
	})
}

// httpd is the certificate part of sys httpd.
type httpd struct {
	CertFile  string `json:"sslCertfile"`
	KeyFile   string `json:"sslCertkeyfile"`
	ChainFile string `json:"sslCertchainfile"`
}

func (c *client) httpd(ctx context.Context) (*httpd, error) {
	var h httpd
	if err := c.send(ctx, request{method: http.MethodGet, path: "/mgmt/tm/sys/httpd", out: &h}); err != nil {
		return nil, err
	}
	return &h, nil
}

func (c *client) patchHTTPD(ctx context.Context, h httpd, tx int64) error {
	h.ChainFile = orNone(h.ChainFile)
	return c.send(ctx, request{method: http.MethodPatch, path: "/mgmt/tm/sys/httpd", body: h, header: txHeader(tx)})
}

// record is one record of an internal data group.
type record struct {
	Name string `json:"name"`
	Data string `json:"data,omitempty"`
}

// dataGroup returns an internal data group's records, or found=false.
func (c *client) dataGroup(ctx context.Context, fullPath string) (records []record, found bool, err error) {
	var res struct {
		Records []record `json:"records"`
	}
	found, err = c.getFound(ctx, tmPath("ltm/data-group/internal", fullPath), &res)
	return res.Records, found, err
}

func (c *client) createDataGroup(ctx context.Context, fullPath string, records []record) error {
	partition, name := splitFullPath(fullPath)
	body := map[string]any{"name": name, "partition": partition, "type": "string", "records": records}
	return c.send(ctx, request{method: http.MethodPost, path: "/mgmt/tm/ltm/data-group/internal", body: body})
}

func (c *client) patchDataGroup(ctx context.Context, fullPath string, records []record, tx int64) error {
	if records == nil {
		records = []record{}
	}
	return c.send(ctx, request{
		method: http.MethodPatch, path: tmPath("ltm/data-group/internal", fullPath),
		body: map[string]any{"records": records}, header: txHeader(tx),
	})
}

// save and the answers Check reads.

// saveConfig saves the running configuration (`save sys config`), so the
// device loads it again after a reboot. The device echoes the command; any
// other answer is not taken for a save.
func (c *client) saveConfig(ctx context.Context) error {
	var res json.RawMessage
	if err := c.send(ctx, request{method: http.MethodPost, path: "/mgmt/tm/sys/config", body: map[string]string{"command": "save"}, out: &res}); err != nil {
		return fmt.Errorf("save sys config: %w", err)
	}
	var answer struct {
		Command string `json:"command"`
	}
	if err := json.Unmarshal(res, &answer); err != nil || answer.Command != "save" {
		return fmt.Errorf("save sys config: the device answered %s, not the saved command", c.scrubText(abbreviate(string(res))))
	}
	return nil
}

// restartHTTPD restarts the management interface's web server, as F5's
// bigip_device_certificate module does after pointing sys httpd at new
// files, and returns what the command printed.
func (c *client) restartHTTPD(ctx context.Context) (string, error) {
	return c.bash(ctx, restartHTTPDCommand)
}

// restartHTTPDCommand is bigip_device_certificate's restart_daemon command.
const restartHTTPDCommand = "tmsh restart /sys service httpd"

// version returns the product and version GET /mgmt/tm/sys/version
// reports: "BIG-IP", "16.1.3".
func (c *client) version(ctx context.Context) (product, version string, err error) {
	var res struct {
		Entries map[string]struct {
			NestedStats struct {
				Entries map[string]struct {
					Description string `json:"description"`
				} `json:"entries"`
			} `json:"nestedStats"`
		} `json:"entries"`
	}
	if err := c.send(ctx, request{method: http.MethodGet, path: "/mgmt/tm/sys/version", out: &res}); err != nil {
		return "", "", err
	}
	for _, e := range res.Entries {
		product = e.NestedStats.Entries["Product"].Description
		version = e.NestedStats.Entries["Version"].Description
	}
	if version == "" {
		return "", "", errors.New("sys version names no version")
	}
	return product, version, nil
}

// partitionAccess is one partition and the role a user has on it.
type partitionAccess struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// userAccess returns the roles of a local user, or found=false when the
// device has no local user of that name (a remote account).
func (c *client) userAccess(ctx context.Context, name string) (access []partitionAccess, found bool, err error) {
	var res struct {
		PartitionAccess []partitionAccess `json:"partitionAccess"`
	}
	found, err = c.getFound(ctx, "/mgmt/tm/auth/user/"+url.PathEscape(name), &res)
	return res.PartitionAccess, found, err
}

// partitionExists reports whether the administrative partition exists.
func (c *client) partitionExists(ctx context.Context, name string) (bool, error) {
	return c.getFound(ctx, "/mgmt/tm/auth/partition/"+url.PathEscape(name), nil)
}

// abbreviate shortens a device's answer for an error message.
func abbreviate(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		return "nothing"
	}
	return s
}

// Transactions.

type transactionState struct {
	TransID       int64  `json:"transId"`
	State         string `json:"state"`
	FailureReason string `json:"failureReason"`
}

// transactionFailed is a transaction the device ran and reported FAILED.
type transactionFailed struct {
	id     int64
	reason string
}

func (e *transactionFailed) Error() string {
	return fmt.Sprintf("commit transaction %d: the device reports it FAILED: %s", e.id, e.reason)
}

// begin starts a transaction and returns its id.
func (c *client) begin(ctx context.Context) (int64, error) {
	var tx transactionState
	if err := c.send(ctx, request{method: http.MethodPost, path: "/mgmt/tm/transaction", body: map[string]any{}, out: &tx}); err != nil {
		return 0, fmt.Errorf("start a transaction: %w", err)
	}
	if tx.TransID == 0 {
		return 0, errors.New("start a transaction: the device returned no transId")
	}
	return tx.TransID, nil
}

// commit commits transaction id and waits until the device has run it:
// a commit answers COMPLETED, or VALIDATING when the device finishes later,
// in which case the transaction is polled with backoff.
func (c *client) commit(ctx context.Context, id int64) error {
	path := "/mgmt/tm/transaction/" + strconv.FormatInt(id, 10)
	var tx transactionState
	if err := c.send(ctx, request{method: http.MethodPatch, path: path, body: map[string]string{"state": "VALIDATING"}, out: &tx}); err != nil {
		return fmt.Errorf("commit transaction %d: %w", id, err)
	}
	for attempt := 1; ; attempt++ {
		switch tx.State {
		case "COMPLETED":
			return nil
		case "FAILED":
			return &transactionFailed{id: id, reason: tx.FailureReason}
		case "VALIDATING":
		default:
			// Not an answer the driver knows: the caller reads the target
			// back rather than take it for a commit.
			return fmt.Errorf("commit transaction %d: the device reports state %q, neither COMPLETED, FAILED nor VALIDATING", id, tx.State)
		}
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return fmt.Errorf("commit transaction %d: waiting for state COMPLETED (last %s): %w", id, tx.State, err)
		}
		if err := c.send(ctx, request{method: http.MethodGet, path: path, out: &tx}); err != nil {
			return fmt.Errorf("commit transaction %d: %w", id, err)
		}
	}
}

// splitFullPath splits "/Partition/name" into its partition and name.
func splitFullPath(fullPath string) (partition, name string) {
	partition, name, _ = strings.Cut(strings.TrimPrefix(fullPath, "/"), "/")
	return partition, name
}

// isNone reports whether a reference names nothing.
func isNone(ref string) bool { return ref == "" || ref == "none" }
