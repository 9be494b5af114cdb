package bigiplab

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// ltm profile client-ssl, sys httpd and ltm data-group internal.

func (d *Device) profileJSON(p *clientSSLProfile) map[string]any {
	m := d.objectJSON("tm:ltm:profile:client-ssl:client-sslstate", "ltm/profile/client-ssl", p.fullPath, p.generation)
	m["defaultsFrom"] = "/Common/clientssl"
	m["defaultsFromReference"] = map[string]any{"link": d.selfLink("ltm/profile/client-ssl/~Common~clientssl")}
	m["appService"] = "none"
	m["inheritCertkeychain"] = "false"
	m["description"] = "none"
	if p.description != "" {
		m["description"] = p.description
	}
	entries := make([]map[string]any, len(p.entries))
	for i, e := range p.entries {
		entries[i] = d.certKeyChainJSON(e)
	}
	m["certKeyChain"] = entries
	// The pre-11.6 single-certificate properties mirror the first entry.
	m["cert"], m["key"], m["chain"] = "none", "none", "none"
	if len(p.entries) > 0 {
		first := entries[0]
		for _, k := range []string{"cert", "certReference", "key", "keyReference", "chain", "chainReference", "passphrase"} {
			if v, ok := first[k]; ok {
				m[k] = v
			}
		}
	}
	return m
}

// certKeyChainJSON is an entry as a GET shows it, in the shape of F5's
// own fixture of a client-ssl profile (f5-ansible's
// load_ltm_profile_clientssl.json) and, from TMOS 14, with the usage
// terraform-provider-bigip's fixtures show: references to the file
// objects, the app service, and a passphrase only in encrypted form.
func (d *Device) certKeyChainJSON(e certKeyChainEntry) map[string]any {
	m := map[string]any{
		"name":          e.Name,
		"appService":    "none",
		"cert":          e.Cert,
		"certReference": map[string]any{"link": d.selfLink("sys/file/ssl-cert/" + urlName(e.Cert))},
		"key":           e.Key,
		"keyReference":  map[string]any{"link": d.selfLink("sys/file/ssl-key/" + urlName(e.Key))},
		"chain":         "none",
	}
	if !isNone(e.Chain) {
		m["chain"] = e.Chain
		m["chainReference"] = map[string]any{"link": d.selfLink("sys/file/ssl-cert/" + urlName(e.Chain))}
	}
	if e.Passphrase != "" {
		m["passphrase"] = encryptedSecret(e.Passphrase)
	}
	if d.majorVersion() >= 14 {
		m["usage"] = "SERVER"
	}
	return m
}

// majorVersion is the TMOS major version, 0 when Version does not say.
func (d *Device) majorVersion() int {
	major, _, _ := strings.Cut(d.cfg.Version, ".")
	n, _ := strconv.Atoi(major)
	return n
}

// ignoredProperties may be sent back as read; they change nothing.
var ignoredProperties = []string{"kind", "name", "partition", "fullPath", "generation", "selfLink"}

func (d *Device) patchProfile(st *state, fullPath string, o op) (any, *f5Error) {
	p, found := st.profiles[fullPath]
	if !found {
		return nil, notFound("ClientSSL Profile", fullPath)
	}
	where := "/ltm/profile/client-ssl/" + urlName(fullPath)
	var raw map[string]json.RawMessage
	if err := decode(o.body, &raw); err != nil {
		return nil, err
	}
	next := *p
	for k, v := range raw {
		switch {
		case k == "certKeyChain":
			entries, err := d.certKeyChain(st, fullPath, where, v)
			if err != nil {
				return nil, err
			}
			next.entries = entries
		case k == "description":
			if err := json.Unmarshal(v, &next.description); err != nil {
				return nil, unexpectedPair(where, k, v)
			}
		case slices.Contains(ignoredProperties, k):
		default:
			return nil, unexpectedPair(where, k, v)
		}
	}
	if d.failInstalls.Load() && !o.inTransaction {
		return nil, errorf(http.StatusBadRequest, "%s", failureMessage)
	}
	next.generation = st.nextGeneration()
	st.profiles[fullPath] = &next
	return d.profileJSON(&next), nil
}

// readOnly is the device's answer to a property a modify may not carry,
// in the words BIG-IP uses for one (e.g. for a route's "network").
func readOnly(k string) *f5Error {
	return errorf(http.StatusBadRequest,
		"\"%s\" may not be specified in the context of the \"modify\" command. \"%s\" may be specified using the following commands: list, show", k, k)
}

// Properties of a certKeyChain entry: what a change may set, and what a GET
// shows that no change may send back.
var (
	entryProperties         = []string{"name", "cert", "key", "chain", "passphrase"}
	readOnlyEntryProperties = []string{"appService", "certReference", "keyReference", "chainReference", "usage"}
)

func unexpectedPair(where, k string, v json.RawMessage) *f5Error {
	return errorf(http.StatusBadRequest, "Found unexpected json pair at configuration item %s. The json pair \"%s\":%s is not allowed.", where, k, v)
}

// certKeyChain checks a new certKeyChain as mcpd does: every entry names
// existing objects and its certificate holds its key's public key.
func (d *Device) certKeyChain(st *state, profile, where string, v json.RawMessage) ([]certKeyChainEntry, *f5Error) {
	var raws []map[string]json.RawMessage
	if err := json.Unmarshal(v, &raws); err != nil {
		return nil, errorf(http.StatusBadRequest, "invalid property value \"certKeyChain\":%s", v)
	}
	if len(raws) == 0 {
		return nil, errorf(http.StatusBadRequest, "010717e3:3: Client SSL profile must have RSA certificate/key pair.")
	}
	entries := make([]certKeyChainEntry, 0, len(raws))
	for _, raw := range raws {
		for _, k := range sortedKeys(raw) {
			switch {
			case slices.Contains(readOnlyEntryProperties, k):
				return nil, readOnly(k)
			case !slices.Contains(entryProperties, k):
				return nil, unexpectedPair(where+"/certKeyChain", k, raw[k])
			}
		}
		b, _ := json.Marshal(raw)
		var e certKeyChainEntry
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, errorf(http.StatusBadRequest, "invalid certKeyChain entry %s", b)
		}
		var err *f5Error
		if e.Cert, err = resolveName(e.Cert, ""); err != nil {
			return nil, err
		}
		if e.Key, err = resolveName(e.Key, ""); err != nil {
			return nil, err
		}
		if isNone(e.Chain) {
			e.Chain = ""
		} else if e.Chain, err = resolveName(e.Chain, ""); err != nil {
			return nil, err
		}
		if e.Name == "" {
			_, e.Name = splitFullPath(e.Cert)
		}
		if key := st.keys[e.Key]; key != nil && key.passphrase == "" {
			e.Passphrase = ""
		}
		for _, other := range entries {
			if other.Name == e.Name {
				return nil, errorf(http.StatusBadRequest, "certKeyChain entry %s appears twice", e.Name)
			}
		}
		cert, key := st.certs[e.Cert], st.keys[e.Key]
		switch {
		case cert == nil:
			return nil, foreignKey(e.Cert, profile, "cert_file_object")
		case key == nil:
			return nil, foreignKey(e.Key, profile, "key_file_object")
		case e.Chain != "" && st.certs[e.Chain] == nil:
			return nil, foreignKey(e.Chain, profile, "chain_file_object")
		case key.passphrase != "" && e.Passphrase != key.passphrase:
			return nil, errorf(http.StatusBadRequest,
				"01070313:3: Error reading key PEM file %s for profile %s: error:0906A068:PEM routines:PEM_do_header:bad password read",
				key.cachePath, profile)
		case !matches(cert.certs[0], key.signer):
			return nil, errorf(http.StatusBadRequest,
				"01070313:3: Error reading key PEM file %s for profile %s: error:0B080074:x509 certificate routines:X509_check_private_key:key values mismatch",
				key.cachePath, profile)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

func foreignKey(ref, profile, index string) *f5Error {
	return errorf(http.StatusBadRequest,
		"01070712:3: Values (%s) specified for ssl profile (%s): foreign key index (%s) do not point at an item that exists in the database.",
		ref, profile, index)
}

// sys httpd.

func (d *Device) httpdJSON(st *state) map[string]any {
	m := map[string]any{
		"kind": "tm:sys:httpd:httpdstate", "selfLink": d.selfLink("sys/httpd"),
		"allow": []string{"All"}, "authPamIdleTimeout": 1200, "sslPort": 443,
		"sslProtocol":    "all -SSLv2 -SSLv3 -TLSv1",
		"sslCertfile":    st.httpd.certFile,
		"sslCertkeyfile": st.httpd.keyFile,
	}
	if !isNone(st.httpd.chainFile) {
		m["sslCertchainfile"] = st.httpd.chainFile
	}
	return m
}

func (d *Device) patchHTTPD(st *state, o op) (any, *f5Error) {
	var raw map[string]json.RawMessage
	if err := decode(o.body, &raw); err != nil {
		return nil, err
	}
	next := st.httpd
	for k, v := range raw {
		var target *string
		switch k {
		case "sslCertfile":
			target = &next.certFile
		case "sslCertkeyfile":
			target = &next.keyFile
		case "sslCertchainfile":
			target = &next.chainFile
		case "kind", "selfLink":
			continue
		default:
			return nil, unexpectedPair("/sys/httpd", k, v)
		}
		if err := json.Unmarshal(v, target); err != nil {
			return nil, errorf(http.StatusBadRequest, "invalid property value \"%s\":%s", k, v)
		}
	}
	if isNone(next.chainFile) {
		next.chainFile = ""
	}
	if _, _, _, err := st.httpdFiles(next); err != nil {
		return nil, errorf(http.StatusBadRequest, "01070734:3: Configuration error: httpd: %v", err)
	}
	if d.failInstalls.Load() && !o.inTransaction {
		return nil, errorf(http.StatusBadRequest, "%s", failureMessage)
	}
	st.httpd = next
	return d.httpdJSON(st), nil
}

// ltm data-group internal.

// dataGroupRequest is the body of a data group create or change.
type dataGroupRequest struct {
	Name      string   `json:"name"`
	Partition string   `json:"partition"`
	Type      string   `json:"type"`
	Records   []record `json:"records"`
}

func (d *Device) dataGroupJSON(g *dataGroup) map[string]any {
	m := d.objectJSON("tm:ltm:data-group:internal:internalstate", "ltm/data-group/internal", g.fullPath, g.generation)
	m["type"] = g.typ
	if len(g.records) > 0 {
		m["records"] = slices.Clone(g.records)
	}
	return m
}

func (d *Device) createDataGroup(st *state, o op) (any, *f5Error) {
	var req dataGroupRequest
	if err := decodeStrict(o.body, "/ltm/data-group/internal", &req); err != nil {
		return nil, err
	}
	fullPath, err := resolveName(req.Name, req.Partition)
	if err != nil {
		return nil, err
	}
	if _, exists := st.dataGroups[fullPath]; exists {
		return nil, alreadyExists("value list", fullPath)
	}
	switch req.Type {
	case "string", "integer", "ip":
	default:
		return nil, errorf(http.StatusBadRequest, "01070734:3: Configuration error: data group %s needs a type of string, integer or ip", fullPath)
	}
	if err := checkRecords(fullPath, req.Records); err != nil {
		return nil, err
	}
	g := &dataGroup{fullPath: fullPath, typ: req.Type, records: slices.Clone(req.Records), generation: st.nextGeneration()}
	st.dataGroups[fullPath] = g
	return d.dataGroupJSON(g), nil
}

func (d *Device) patchDataGroup(st *state, fullPath string, o op) (any, *f5Error) {
	g, found := st.dataGroups[fullPath]
	if !found {
		return nil, notFound("value list", fullPath)
	}
	where := "/ltm/data-group/internal/" + urlName(fullPath)
	var raw map[string]json.RawMessage
	if err := decode(o.body, &raw); err != nil {
		return nil, err
	}
	next := *g
	for k, v := range raw {
		switch {
		case k == "records":
			var records []record
			if err := json.Unmarshal(v, &records); err != nil {
				return nil, errorf(http.StatusBadRequest, "invalid property value \"records\":%s", v)
			}
			if err := checkRecords(fullPath, records); err != nil {
				return nil, err
			}
			next.records = records
		case k == "type":
			var typ string
			if err := json.Unmarshal(v, &typ); err != nil || typ != g.typ {
				return nil, errorf(http.StatusBadRequest, "01070734:3: Configuration error: the type of data group %s cannot change", fullPath)
			}
		case slices.Contains(ignoredProperties, k):
		default:
			return nil, unexpectedPair(where, k, v)
		}
	}
	next.generation = st.nextGeneration()
	st.dataGroups[fullPath] = &next
	return d.dataGroupJSON(&next), nil
}

func checkRecords(fullPath string, records []record) *f5Error {
	seen := map[string]bool{}
	for _, r := range records {
		if r.Name == "" {
			return errorf(http.StatusBadRequest, "01070734:3: Configuration error: data group %s has a record without a name", fullPath)
		}
		if seen[r.Name] {
			return errorf(http.StatusBadRequest, "01070734:3: Configuration error: data group %s has the record %s twice", fullPath, r.Name)
		}
		seen[r.Name] = true
	}
	return nil
}
