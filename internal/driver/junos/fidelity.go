package junos

import "github.com/ottr-go/ottr/internal/driver"

// The published sources the requests are checked against: JunOS's own
// schema of every RPC and its input leaves (the same in each release from
// 17.4 to 24.2), the Junos XML protocol and NETCONF guides, and Juniper's
// PyEZ client.
const (
	yangRequest = "Juniper/yang, 18.2/18.2R3/junos-es/rpc/junos-es-rpc-request@2019-01-01.yang"
	yangClear   = "Juniper/yang, 18.2/18.2R3/junos-es/rpc/junos-es-rpc-clear@2019-01-01.yang"
	yangFile    = "Juniper/yang, 18.2/18.2R3/junos-es/rpc/junos-es-rpc-file@2019-01-01.yang"
	yangFileMgd = "Juniper/yang, 18.2/18.2R3/junos-es/rpc/junos-es-rpc-file-mgd@2019-01-01.yang"
	yangVersion = "Juniper/yang, 18.2/18.2R3/junos-es/rpc/junos-es-rpc-version@2019-01-01.yang"
	yangShowPKI = "Juniper/yang, 18.2/18.2R3/junos-es/rpc/junos-es-rpc-security@2019-01-01.yang"
	pyez        = "Juniper/py-junos-eznc"
)

// answerRead is the safety of the show commands whose answer JunOS's
// schema leaves open (anyxml).
const answerRead = "the RPC and its input leaves are in JunOS's schema (" + yangShowPKI + "), but the content of its answer " +
	"(x509-pki-certificate-info-list, anyxml there) is in no published schema: the driver reads the elements `| display xml` " +
	"shows (pkid-x509-certificate-information: identifier, serial-number-list/serial-number-x509, subject-string-list, " +
	"validity/not-after) and treats an answer without a serial number as not understood, quoting it"

// Requests lists every kind of request the driver sends to a device, each
// with the published source that confirms its shape (driver.Request). A
// test fails on any request the emulator sees that is not listed here.
func Requests() []driver.Request {
	return []driver.Request{
		{
			Call:   "rpc <get-software-information>",
			Fields: "no input; answer: software-information/junos-version, product-model, host-name",
			Source: yangVersion + ", rpc get-software-information; " + pyez + ", lib/jnpr/junos/facts/get_software_information.py (junos-version, product-model, host-name)",
		},
		{
			Call: "rpc <get-configuration>",
			Fields: "database=\"committed\" format=\"xml\"; a `<configuration>` subtree of the bind path's container and " +
				"security/pki/ca-profile",
			Source: "Junos XML Management Protocol Guide, `<get-configuration>` (attributes database and format; the elements to display); " +
				pyez + ", lib/jnpr/junos/rpcmeta.py get_config (options database committed)",
		},
		{
			Call:   "rpc <get-rollback-information>",
			Fields: "rollback (1 to 49); answer: rollback-information/configuration",
			Source: "Junos NETCONF guide, \"Retrieve a Previous (Rollback) Configuration Using NETCONF\" (`<get-rollback-information>` with `<rollback>`)",
		},
		{
			Call:   "rpc <generate-pki-key-pair>",
			Fields: "certificate-id (`ottr-<label>-<hash>-a` or `-b`, at most 32 characters), type rsa or ecdsa, size 2048, 4096, 256 or 384",
			Source: yangRequest + ", rpc generate-pki-key-pair (size enum 256, 384, 512, 1024, 2048, 4096: no 3072)",
		},
		{
			Call: "rpc <generate-pki-certificate-request>",
			Fields: "certificate-id, subject `CN=<common name>`, one domain-name (the common name), digest sha-256 (sha-384 for ECDSA P-384), " +
				"filename `<upload_dir>/<certificate-id>.csr`; answer: output with the PEM CSR",
			Source: yangRequest + ", rpc generate-pki-certificate-request (domain-name is a single leaf; digest sha-384 is \"ECDSA only\"; " +
				"without a digest RSA requests are signed with SHA-1)",
		},
		{
			Call:   "rpc <clear-pki-local-certificate>",
			Fields: "certificate-id (the slot not in service)",
			Source: yangClear + ", rpc clear-pki-local-certificate; its answer is output text, read for failure words",
		},
		{
			Call:   "rpc <clear-pki-key-pair>",
			Fields: "certificate-id (the slot not in service)",
			Source: yangClear + ", rpc clear-pki-key-pair; its answer is output text, read for failure words",
		},
		{
			Call:   "rpc <file-put>",
			Fields: "filename, encoding base64, permission 0644, delete-if-exist, file-contents",
			Source: yangFileMgd + ", rpc file-put",
		},
		{
			Call:   "rpc <file-show>",
			Fields: "filename; answer: file-content",
			Source: yangFile + ", rpc file-show; " + pyez + ", lib/jnpr/junos/utils/fs.py FS.cat",
		},
		{
			Call:   "rpc <file-delete>",
			Fields: "path",
			Source: yangFile + ", rpc file-delete; " + pyez + ", lib/jnpr/junos/utils/fs.py FS.rm (a failure is answered as output)",
		},
		{
			Call:   "rpc <file-list>",
			Fields: "path (upload_dir); answer: directory-list, or output when the path does not exist",
			Source: yangFile + ", rpc file-list; " + pyez + ", lib/jnpr/junos/utils/fs.py FS.stat and FS.ls (an output answer means not found)",
		},
		{
			Call:   "rpc <load-pki-local-certificate>",
			Fields: "certificate-id, filename (the leaf's PEM in upload_dir)",
			Source: yangRequest + ", rpc load-pki-local-certificate; its answer is output text, read for failure words, and the certificate is " +
				"exported back and compared",
		},
		{
			Call:   "rpc <request-security-local-certificate-export>",
			Fields: "certificate-id, filename, type pem",
			Source: yangRequest + ", rpc request-security-local-certificate-export",
		},
		{
			Call:   "rpc <load-pki-ca-certificate>",
			Fields: "ca-profile (`ottr-ca-<fingerprint>`), filename (the CA's PEM in upload_dir)",
			Source: yangRequest + ", rpc load-pki-ca-certificate; its answer is output text, read for failure words, and the profile is read back",
		},
		{
			Call:   "rpc <get-pki-ca-certificate>",
			Fields: "ca-profile, `<detail/>` (the level enum sent as an empty element, as PyEZ sends terse=True); answer: the certificate's serial number",
			Safety: answerRead + "; the serial must be the loaded CA certificate's, or the install fails",
		},
		{
			Call:   "rpc <get-pki-local-certificate>",
			Fields: "certificate-id or `<system-generated/>`, `<detail/>`; answer: identifier, serial number, subject, not-after (Check only)",
			Safety: answerRead + "; Check then reports the binding failed with the answer",
		},
		{
			Call:   "rpc <lock>",
			Fields: "`<target><candidate/></target>`",
			Source: "RFC 6241 section 7.5 (lock); JunOS announces urn:ietf:params:netconf:capability:candidate:1.0",
		},
		{
			Call:   "rpc <load-configuration>",
			Fields: "action=\"merge\" format=\"xml\"; `<configuration>` with the binding (and delete=\"delete\" on the statement it replaces) or new CA profiles",
			Source: "Junos XML Management Protocol Guide, `<load-configuration>`; " + pyez + ", lib/jnpr/junos/rpcmeta.py load_config",
		},
		{
			Call:   "rpc <commit-configuration>",
			Fields: "`<confirmed/>` and confirm-timeout (confirm_minutes) for installs; log (a comment)",
			Source: pyez + ", lib/jnpr/junos/utils/config.py Config.commit (confirmed, confirm-timeout, log); the committed binding is read back after each commit",
		},
		{
			Call:   "rpc <discard-changes>",
			Fields: "none (after a failed change)",
			Source: "RFC 6241 section 8.3.4.2 (discard-changes)",
		},
		{
			Call:   "rpc <unlock>",
			Fields: "`<target><candidate/></target>`",
			Source: "RFC 6241 section 7.6 (unlock)",
		},
		{
			Call:   "rpc <close-session>",
			Fields: "none",
			Source: "RFC 6241 section 7.8 (close-session)",
		},
	}
}
