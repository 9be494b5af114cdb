package lighthouse

import "github.com/ottr-go/ottr/internal/driver"

// raml is the published reference every request is checked against.
const raml = "Lighthouse REST API v3.7 RAML (opengear/oglhclient, oglhclient/og-rest-api-specification-v3-7.raml)"

// Requests lists every kind of request the driver sends to a device, each
// with the published source that confirms its shape (driver.Request). A
// test fails on any request the emulator sees that is not listed here.
func Requests() []driver.Request {
	return []driver.Request{
		{
			Call:   "POST /api/v3.7/sessions",
			Fields: "username, password (JSON body); answer: session, state",
			Source: raml + ", /sessions post (createSession), type credentials; later calls send `Authorization: Token <session>` (securitySchemes token)",
		},
		{
			Call:   "GET /api/v3.7/system/version",
			Fields: "answer: system_version.firmware_version, system_version.rest_api_version",
			Source: raml + ", /system/version get, type systemVersion",
		},
		{
			Call:   "GET /api/v3.7/services/https",
			Fields: "answer: https.cert (the configured chain), https.csr (the pending request, if any), common_name, valid_to",
			Source: raml + ", /services/https get (\"Fetch HTTPS certificate details\"); the example's https.key is never decoded",
		},
		{
			Call:   "GET /api/v3.7/services/https?zip=true",
			Fields: "query zip=true; answer: the pending CSR file",
			Source: raml + ", /services/https get, queryParameters zip (\"A flag to download the CSR instead of view the details\"). " +
				"The reference calls the answer \"a CSR file\" without a format: the driver reads a zip archive holding the request or the PEM " +
				"request itself, and fails on anything else quoting it, keys and secrets redacted",
		},
		{
			Call: "PUT /api/v3.7/services/https https.csr",
			Fields: "https.csr: csr \"new\", common_name, key_length (2048, 3072, 4096), country, state, locality, organization, org_unit, email; " +
				"subject_alternative_names with sans: true",
			Safety: "csr \"new\", common_name, key_length and the subject fields are in the v3.7 RAML (/services/https put, whose example " +
				"shows key_length 2048 only); subject_alternative_names and key lengths above 2048 are not. The driver downloads the CSR " +
				"and checks it carries the common name, every name and the key length asked for; an appliance that refuses or drops the " +
				"SAN field, or makes another key length, fails the step with what to change (sans: false, another key_type)",
		},
		{
			Call:   "PUT /api/v3.7/services/https https.cert",
			Fields: "https.cert: the PEM chain, leaf first, for the pending CSR's key",
			Safety: "https.cert for the pending CSR is in the v3.7 RAML (/services/https put), with an example of one certificate; " +
				"whether it takes a chain is not. After the upload the driver waits for the restarted web server to serve the leaf " +
				"over verified TLS, then reads the certificate back (GET /services/https and the served chain) and fails if the " +
				"appliance kept or serves fewer certificates than it was given",
		},
		{
			Call:   "DELETE /api/v3.7/sessions/*",
			Fields: "the session in the path (the one place the API takes it there)",
			Source: raml + ", /sessions/{sessionUid} delete (deleteSession)",
		},
	}
}
