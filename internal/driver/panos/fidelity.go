package panos

import "github.com/ottr-go/ottr/internal/driver"

// Sources cited by the request table. The pango, pan-python and
// pan-os-codegen files are read at the commits named; the PAN-OS XML API
// documentation is the "PAN-OS and Panorama API Usage Guide" (9.1 to 11.1,
// and the ngfw/api pages).
const (
	docsCommit       = "PAN-OS XML API Usage Guide, \"Commit\" (commit, force commit, partial commit of admin-level changes with action=partial)"
	docsKeygen       = "PAN-OS XML API Usage Guide, \"Get Your API Key\" (POST type=keygen with user and password in the body) and \"API Authentication and Security\" (X-PAN-KEY header, in the guides for PAN-OS 9.1 and later)"
	pangoV1          = "PaloAltoNetworks/pango v1 (the tree before v2, commit 2b934088aa32)"
	codegenSpecs     = "PaloAltoNetworks/pan-os-codegen specs/"
	panPythonImport  = "kevinsteves/pan-python tests/test_xapi_fw_pano_import.py"
	serviceEntryNote = " (vsys location: /config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name=…])"
)

// Requests lists every kind of request the driver sends to a device, each
// with the published source that confirms its shape (driver.Request). A
// test fails on any request the emulator sees that is not listed here.
// Every request is a POST to /api/ with its parameters in the body.
func Requests() []driver.Request {
	device := "/config/devices/entry[@name='localhost.localdomain']"
	portal := device + "/vsys/entry[@name='*']/global-protect/global-protect-portal/entry[@name='*']"
	gateway := device + "/vsys/entry[@name='*']/global-protect/global-protect-gateway/entry[@name='*']"
	return []driver.Request{
		{
			Call: "keygen",
			Fields: "type=keygen, user, password (form body; the answer's result/key is the API key). Every later request carries the key in the X-PAN-KEY header " +
				"or, on a device that refuses the header, as a key parameter of the POST body, as pango v1 and pan-python send it to every version",
			Source: docsKeygen + "; " + pangoV1 + " client.go RetrieveApiKey",
		},
		{
			Call:   "op <show><system><info>",
			Fields: "cmd=`<show><system><info/></system></show>`; reads result/system/sw-version and model (Check), or only the TLS certificate the answer comes over (CurrentCertificate of an unbound management interface)",
			Source: pangoV1 + " client.go initSystemInfo; PaloAltoNetworks/pan-os-python panos/base.py show_system_info",
		},
		{
			Call: "op <request><certificate><generate>",
			Fields: "certificate-name, name (common name), algorithm `<RSA><rsa-nbits>` 2048, 3072 or 4096 or `<ECDSA><ecdsa-nbits>` 256 or 384, " +
				"digest sha256, sha384 or sha512, ca no, hostname with a `<member>` per SAN, signed-by external",
			Source: "Keyfactor/paloalto-firewall-orchestrator PaloAlto/Models/Certificates/GenerateCertificateRequestMetadata.cs (the command, RSA/ECDSA, hostname members, signed-by external, ca no); " +
				"PaloAltoNetworks/pan-os-ansible plugins/modules/panos_cert_gen_ssh.py (the CLI form: certificate-name, name, algorithm RSA rsa-nbits, signed-by). " +
				"`<digest>` is found only in users' scripts: a device that did not know it would refuse the command with its own words, and the exported CSR is parsed and checked whatever its signature's digest",
		},
		{
			Call:   "export certificate format=pkcs10",
			Fields: "type=export, category=certificate, certificate-name, format=pkcs10, include-key=no; the answer is the PEM CSR as a file, an XML answer is an error",
			Source: "PaloAltoNetworks/pan-os-ansible plugins/modules/panos_export.py (category certificate, certificate_format pkcs10, include-key); " + pangoV1 + " dev/certificate/fw.go Export",
		},
		{
			Call:   "import certificate format=pem",
			Fields: "multipart: type=import, category=certificate, certificate-name, format=pem as fields, the PEM chain (leaf first) as file field \"file\"",
			Source: pangoV1 + " client.go CommunicateFile (parameters as multipart fields) and dev/certificate/fw.go ImportPem; " + panPythonImport + " test_01",
		},
		{
			Call:   "config get /config/shared/certificate",
			Fields: "the candidate's certificate entries: csr and public-key find the entry whose key the signed leaf carries; names list Finalize's candidates",
			Source: panPythonImport + " (get of /config/shared/certificate/entry); " + codegenSpecs + "device/certificate.yaml (csr, public-key, common-name)",
		},
		{
			Call: "config * /config/shared/certificate/entry[@name='*']",
			Fields: "show: the running entry's public-key, whose leaf is found whatever else it holds; delete: Finalize removes older ottr certificates. " +
				"Whether public-key keeps the intermediates of an imported chain is published nowhere; the driver only ever uses the leaf, found by issuer rather than position",
			Source: panPythonImport + " (delete answers code 20, a get of the deleted entry code 7); " + codegenSpecs + "device/certificate.yaml (public-key)",
		},
		{
			Call:   "config * /config/shared/ssl-tls-service-profile",
			Fields: "get and show: every profile's certificate, so Finalize keeps certificates a profile uses in either configuration",
			Source: codegenSpecs + "objects/profiles/ssl-tls-service.yaml (location shared: /config/shared; certificate)",
		},
		{
			Call: "config * /config/shared/ssl-tls-service-profile/entry[@name='*']",
			Fields: "get (the profile before Install), show (Check), set `<certificate>`, `<protocol-settings><min-version>` and `<max-version>max` (Install), " +
				"edit with the entry as it was and delete (putting the candidate back after a failed install)",
			Source: codegenSpecs + "objects/profiles/ssl-tls-service.yaml (certificate, protocol-settings/min-version, max-version); " + pangoV1 + " dev/profile/ssltls/fw.go",
		},
		{
			Call:   "config show /config/shared/ssl-tls-service-profile/entry[@name='*']/certificate",
			Fields: "the certificate a running profile names",
			Source: codegenSpecs + "objects/profiles/ssl-tls-service.yaml (certificate)",
		},
		{
			Call:   "config * " + device + "/deviceconfig/system/ssl-tls-service-profile",
			Fields: "get and show (the binding before Install, the running binding), edit `<ssl-tls-service-profile>NAME</ssl-tls-service-profile>` (bind), delete (undo a binding Install added)",
			Source: pangoV1 + " dev/general/fw.go (deviceconfig/system) and dev/general/config.go (ssl-tls-service-profile)",
		},
		{
			Call:   "config * " + portal,
			Fields: "get (Install) and show (Check): the portal the route names must exist",
			Source: codegenSpecs + "network/globalprotect-portal.yaml" + serviceEntryNote,
		},
		{
			Call:   "config * " + portal + "/portal-config/ssl-tls-service-profile",
			Fields: "as the management binding, below the portal's portal-config",
			Source: codegenSpecs + "network/globalprotect-portal.yaml (portal-config/ssl-tls-service-profile)",
		},
		{
			Call:   "config * " + gateway,
			Fields: "get (Install) and show (Check): the gateway the route names must exist",
			Source: codegenSpecs + "device/globalprotect-gateway.yaml" + serviceEntryNote,
		},
		{
			Call:   "config * " + gateway + "/ssl-tls-service-profile",
			Fields: "as the management binding, directly below the gateway entry",
			Source: codegenSpecs + "device/globalprotect-gateway.yaml (ssl-tls-service-profile)",
		},
		{
			Call:   "op <show><config><saved>",
			Fields: "cmd=`<show><config><saved>NAME</saved></config></show>`: does the snapshot exist (an error answer: no)",
			Source: "PaloAltoNetworks/pan-os-ansible plugins/modules/panos_software.py (the same existence test); " + pangoV1 + " client.go RetrievePanosConfig",
		},
		{
			Call:   "op <save><config><to>",
			Fields: "cmd=`<save><config><to>ottr-….xml</to></config></save>`: the candidate, before Install changes anything",
			Source: "PaloAltoNetworks/pan-os-ansible tests/integration/setup.yml (save config to blank.xml)",
		},
		{
			Call:   "op <load><config><from>",
			Fields: "cmd=`<load><config><from>ottr-….xml</from></config></load>`: Rollback",
			Source: "PaloAltoNetworks/pan-os-ansible plugins/modules/panos_loadcfg.py; PaloAltoNetworks/pan-os-python panos/base.py revert_to_running_configuration",
		},
		{
			Call:   "op <delete><config><saved>",
			Fields: "cmd=`<delete><config><saved>ottr-….xml</saved></config></delete>`: Finalize, for snapshots of deleted certificates",
			Source: "kevinsteves/pan-python tests/test_xapi_fw_pano_import.py test_02 (delete config saved)",
		},
		{
			Call:   "commit action=partial <commit><partial><admin><member>",
			Fields: "type=commit, action=partial, cmd=`<commit><partial><admin><member>API user</member></admin></partial></commit>`: Install and Finalize; a job, or \"There are no changes to commit.\" without one",
			Source: docsCommit + "; PaloAltoNetworks/pan-os-python panos/firewall.py FirewallCommit(admins=…); kevinsteves/pan-python lib/pan/xapi.py (\"There are no changes to commit.\")",
		},
		{
			Call:   "commit <commit><force>",
			Fields: "type=commit, cmd=`<commit><force></force></commit>`, no partial: Rollback, after load config; \"no changes\" or a job that is not OK fails the rollback",
			Source: docsCommit + "; PaloAltoNetworks/pan-os-python PR #604 (\"If you do `load config from` in PAN-OS, the system requires a `force` commit for the whole configuration\") and panos/firewall.py FirewallCommit(force=True)",
		},
		{
			Call:   "op <show><jobs><id>",
			Fields: "cmd=`<show><jobs><id>N</id></jobs></show>`: polled until status FIN; only result OK is success, details and warnings are kept",
			Source: pangoV1 + " client.go WaitForJob; PaloAltoNetworks/pan-os-python panos/base.py syncjob",
		},
		{
			Call:   "config show /config/mgt-config/users/entry[@name='*']/permissions",
			Fields: "Check: the API administrator's role-based permissions (superuser, superreader, deviceadmin, devicereader, vsysadmin, vsysreader or custom/profile)",
			Source: codegenSpecs + "device/administrator.yaml (location /config/mgt-config, users, permissions/role-based)",
		},
		{
			Call:   "config show /config/shared/admin-role/entry[@name='*']/role",
			Fields: "Check: a custom role's role/device/xmlapi (or role/vsys/xmlapi) op, config, import, export and commit switches, enable or disable",
			Source: codegenSpecs + "device/adminrole.yaml (admin-role, role/device/xmlapi; its template location's config/shared is the firewall's /config/shared)",
		},
		{
			Call:   "op <show><config-locks>",
			Fields: "Check: result/config-locks/entry[@name=admin]; a lock another administrator holds fails the binding",
			Source: "PaloAltoNetworks/pan-os-python panos/base.py check_config_locks; " + pangoV1 + " client.go ConfigLocks (util.Lock)",
		},
		{
			Call:   "op <show><commit-locks>",
			Fields: "Check: result/commit-locks/entry[@name=admin]; a lock another administrator holds fails commit and rollback",
			Source: "PaloAltoNetworks/pan-os-python panos/base.py check_commit_locks; " + pangoV1 + " client.go CommitLocks (util.Lock)",
		},
		{
			Call:   "op <check><pending-changes>",
			Fields: "Check: result yes or no, for the rollback's detail",
			Source: "PaloAltoNetworks/pan-os-python panos/base.py pending_changes; PaloAltoNetworks/pan-os-ansible plugins/modules/panos_facts.py",
		},
	}
}
