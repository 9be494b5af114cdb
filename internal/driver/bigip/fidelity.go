package bigip

import "github.com/ottr-go/ottr/internal/driver"

// Sources quoted by Requests: the repositories F5 maintains, and the one
// client of F5's DevCentral that runs tmsh on the device.
const (
	ansible   = "F5Networks/f5-ansible, ansible_collections/f5networks/f5_modules/plugins/"
	sdk       = "F5Networks/f5-common-python, f5/bigip/"
	goBigip   = "scottdware/go-bigip (vendored by F5Networks/terraform-provider-bigip as f5devcentral/go-bigip), sys.go"
	kojotAcme = "f5devcentral/kojot-acme, f5acmehandler.sh"
	// utilBash is where F5's modules run a shell command through REST.
	utilBash = ansible + "modules/bigip_config.py (ModuleManager.save_on_device: command run, utilCmdArgs -c \"…\")"
)

// Requests lists every kind of request the driver sends to a device, each
// with the published source that confirms its shape (driver.Request). A
// test fails on any request the emulator sees that is not listed here.
func Requests() []driver.Request {
	return []driver.Request{
		{
			Call:   "POST /mgmt/shared/authn/login",
			Fields: "username, password, loginProviderName (the password only ever in this body)",
			Source: ansible + "module_utils/bigip.py (F5RestClient.connect_via_token_auth)",
		},
		{
			Call:   "DELETE /mgmt/shared/authz/tokens/*",
			Fields: "the session's token in the path, X-F5-Auth-Token",
			Source: ansible + "module_utils/icontrol.py (iControlRestSession.__del__)",
		},
		{
			Call:   "GET /mgmt/tm/sys/version",
			Fields: "reads entries.*.nestedStats.entries.Product and .Version (Check)",
			Source: ansible + "modules/bigip_device_info.py (SystemInfoFactManager.read_version_info_from_device, which quotes the answer of 13.1.0.4); " + sdk + "tm/sys/version.py",
		},
		{
			Call:   "GET /mgmt/tm/auth/user/*",
			Fields: "reads partitionAccess[].name and .role (Check)",
			Source: ansible + "modules/bigip_user.py (UnpartitionedManager.exists) and tests/unit/modules/network/f5/fixtures/load_auth_user_with_pass.json",
		},
		{
			Call:   "GET /mgmt/tm/auth/partition/*",
			Fields: "none: 200 or 404 (Check)",
			Source: ansible + "modules/bigip_partition.py (ModuleManager.exists)",
		},
		{
			Call:   "GET /mgmt/tm/ltm/data-group/internal/*",
			Fields: "reads records[].name and .data (ottr's ledger)",
			Source: ansible + "modules/bigip_data_group.py (InternalManager.exists, read_current_from_device)",
		},
		{
			Call:   "POST /mgmt/tm/ltm/data-group/internal",
			Fields: "name, partition, type string, records[{name, data}]",
			Source: ansible + "modules/bigip_data_group.py (InternalManager.create_on_device)",
		},
		{
			Call:   "PATCH /mgmt/tm/ltm/data-group/internal/*",
			Fields: "records[{name, data}]; in the install's transaction (X-F5-REST-Coordination-Id) or alone",
			Source: ansible + "modules/bigip_data_group.py (InternalManager.update_on_device)",
		},
		{
			Call:   "POST /mgmt/tm/sys/crypto/key",
			Fields: "name, partition, keyType rsa-private with keySize 2048/3072/4096, or ec-private with curveName prime256v1/secp384r1",
			Safety: "No F5 client generates a key through REST; the names are those a GET returns for keys (go-bigip's Key: keyType, keySize, " +
				"curveName). The driver reads the key's CSR back and fails the step, with the device's answer, unless it holds a key of the " +
				"requested type and size.",
		},
		{
			Call:   "POST /mgmt/tm/sys/crypto/csr",
			Fields: "name, partition, key, commonName, subjectAlternativeName \"DNS:a, DNS:b\"",
			Safety: "name, partition, key and commonName are what F5's modules/bigip_ssl_csr.py (create_on_device) sends; no F5 client sends " +
				"subjectAlternativeName through REST. It is tmsh's subject-alternative-name (kojot-acme's f5acmehandler.sh creates CSRs with it) " +
				"in REST's camelCase, the name GET returns for certificates (bigip_device_info.py). The driver reads the CSR back and fails " +
				"the step naming every SAN the device left out.",
		},
		{
			Call:   "POST /mgmt/tm/util/bash tmsh list sys crypto csr *",
			Fields: "command run, utilCmdArgs -c \"tmsh list sys crypto csr /Partition/name\"; the PEM is cut from the listing",
			Source: kojotAcme + " (f5_generate_cert_from_csr reads the CSR's PEM from this listing); " + utilBash,
		},
		{
			Call:   "POST /mgmt/tm/util/bash cat *",
			Fields: "command run, utilCmdArgs -c \"cat '<certificate file>'\"; only certificate files, never keys",
			Source: utilBash + "; " + ansible + "modules/bigip_device_certificate.py (copy_files_to_trusted reads certificate files with cat)",
		},
		{
			Call:   "GET /mgmt/tm/sys/file/ssl-cert/*",
			Fields: "reads cachePath and fingerprint (\"SHA256/AB:CD:…\")",
			Source: ansible + "modules/bigip_device_info.py (ssl_certs: fingerprint \"SHA256/88:A3:05:…\"); " + goBigip + " (Certificate.CachePath)",
		},
		{
			Call:   "GET /mgmt/tm/sys/file/ssl-key/*",
			Fields: "reads cachePath (target httpd)",
			Source: goBigip + " (Key.CachePath); " + ansible + "modules/bigip_ssl_key_cert.py (reads /mgmt/tm/sys/file/ssl-key/)",
		},
		{
			Call:   "POST /mgmt/shared/file-transfer/uploads/*",
			Fields: "the PEM in chunks of 512 KiB, Content-Range start-end/total, Content-Type application/octet-stream",
			Source: ansible + "module_utils/icontrol.py (upload_file)",
		},
		{
			Call:   "POST /mgmt/tm/sys/crypto/cert",
			Fields: "command install, name, from-local-file /var/config/rest/downloads/<name>",
			Source: sdk + "tm/sys/crypto.py (Certs: exec_cmd('install', name, from-local-file)); " + kojotAcme + " and f5hook.sh (install sys crypto cert NAME from-local-file)",
		},
		{
			Call:   "POST /mgmt/tm/util/unix-rm",
			Fields: "command run, utilCmdArgs the uploaded file",
			Source: ansible + "modules/bigip_ssl_csr.py (ModuleManager._delete_csr)",
		},
		{
			Call:   "GET /mgmt/tm/ltm/profile/client-ssl/*",
			Fields: "reads certKeyChain[].name, cert, key, chain and passphrase (only whether there is one); ignores certReference, keyReference, chainReference, appService and usage",
			Source: ansible + "modules/bigip_profile_client_ssl.py (read_current_from_device, ApiParameters.cert_key_chain) and tests/unit/modules/network/f5/fixtures/load_ltm_profile_clientssl.json",
		},
		{
			Call: "PATCH /mgmt/tm/ltm/profile/client-ssl/*",
			Fields: "certKeyChain[{name, cert, key, chain}], chain \"none\" when there is none, every entry of the profile; in a transaction. " +
				"A profile with an entry whose key has a passphrase is not changed: the device shows it only encrypted",
			Source: ansible + "modules/bigip_profile_client_ssl.py (ModuleParameters.cert_key_chain, ModuleManager.update_on_device)",
		},
		{
			Call:   "GET /mgmt/tm/sys/httpd",
			Fields: "reads sslCertfile, sslCertkeyfile, sslCertchainfile (target httpd)",
			Safety: "The endpoint is F5's (f5-common-python tm/sys/httpd.py, bigip_device_httpd.py); the property names are tmsh's ssl-certfile, " +
				"ssl-certkeyfile and ssl-certchainfile (bigip_device_certificate.py sets them) in REST's camelCase, as bigip_device_httpd.py's " +
				"sslCiphersuite is tmsh's ssl-ciphersuite. A binding the driver cannot read is a failed step.",
		},
		{
			Call:   "PATCH /mgmt/tm/sys/httpd",
			Fields: "sslCertfile, sslCertkeyfile, sslCertchainfile (\"none\" when there is none): filestore paths of the new objects; in a transaction",
			Safety: "Names as for GET /mgmt/tm/sys/httpd. The driver reads sys httpd back after the commit and compares, then checks over TLS that " +
				"the management interface serves the new certificate, restarting httpd as bigip_device_certificate.py does, and fails the step " +
				"(pointing sys httpd back) when it does not.",
		},
		{
			Call:   "POST /mgmt/tm/util/bash tmsh restart /sys service httpd",
			Fields: "command run, utilCmdArgs -c \"tmsh restart /sys service httpd\", only when the management interface does not serve the new certificate yet; a lost answer is expected",
			Source: ansible + "modules/bigip_device_certificate.py (ModuleManager.restart_daemon); " + utilBash,
		},
		{
			Call:   "POST /mgmt/tm/transaction",
			Fields: "{} ; reads transId",
			Source: ansible + "module_utils/icontrol.py (TransactionContextManager.__enter__)",
		},
		{
			Call:   "PATCH /mgmt/tm/transaction/*",
			Fields: "state VALIDATING; reads state and failureReason",
			Source: ansible + "module_utils/icontrol.py (TransactionContextManager.__exit__); " + goBigip + " (Transaction.State, FailureReason)",
		},
		{
			Call:   "GET /mgmt/tm/transaction/*",
			Fields: "reads state and failureReason, until COMPLETED or FAILED, when the commit answered VALIDATING",
			Source: sdk + "tm/transaction/__init__.py (Transaction, kind tm:transactionstate); " + goBigip + " (Transaction.State, FailureReason)",
		},
		{
			Call:   "POST /mgmt/tm/sys/config",
			Fields: "command save; the answer must echo command save. After each install, rollback and Finalize's deletions",
			Source: sdk + "tm/sys/config.py (Config.exec_cmd('save'); its functional test test_config.py expects the answer's command save); " +
				goBigip + " (SaveSysConfig)",
		},
		{
			Call:   "DELETE /mgmt/tm/sys/file/ssl-cert/*",
			Fields: "none (Finalize: certificates of older rotations, only those in ottr's ledger)",
			Source: ansible + "modules/bigip_ssl_key_cert.py (ModuleManager.remove_from_device)",
		},
		{
			Call:   "DELETE /mgmt/tm/sys/file/ssl-key/*",
			Fields: "none (Finalize: keys of older rotations, only those in ottr's ledger)",
			Source: ansible + "modules/bigip_ssl_key_cert.py (ModuleManager.remove_from_device)",
		},
		{
			Call:   "DELETE /mgmt/tm/sys/crypto/csr/*",
			Fields: "none (Finalize: CSRs of older rotations, only those in ottr's ledger)",
			Source: ansible + "modules/bigip_ssl_csr.py (ModuleManager.remove_from_device)",
		},
	}
}
