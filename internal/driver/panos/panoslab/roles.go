package panoslab

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// An administrator's rights come from the running configuration, as on
// PAN-OS: /config/mgt-config/users/entry[@name=…]/permissions/role-based
// holds superuser, superreader, deviceadmin, devicereader, vsysadmin,
// vsysreader or custom/profile, and a custom profile is an entry of
// /config/shared/admin-role whose role/device/xmlapi (role/vsys/xmlapi for
// a virtual system role) enables or disables each XML API request type
// (pan-os-codegen specs/device/administrator.yaml and adminrole.yaml).

// role is what the emulator makes of an administrator's permissions.
type role struct {
	// name is the role-based kind: superuser, custom, devicereader, ….
	name string
	// xmlapi holds a custom profile's XML API switches by request type.
	xmlapi map[string]string
}

// roleOf reads admin's role from the running configuration. Callers hold
// d.mu.
func (d *Device) roleOf(admin string) role {
	based := d.running.path("mgt-config", "users").entry(admin).path("permissions", "role-based")
	if based == nil || len(based.children) == 0 {
		return role{}
	}
	r := role{name: based.children[0].tag}
	if r.name != "custom" {
		return r
	}
	profile := d.running.path("shared", "admin-role").entry(based.textOf("custom", "profile"))
	api := profile.path("role", "device", "xmlapi")
	if api == nil {
		api = profile.path("role", "vsys", "xmlapi")
	}
	r.xmlapi = map[string]string{}
	if api != nil {
		for _, c := range api.children {
			r.xmlapi[c.tag] = c.text
		}
	}
	return r
}

// readOnlyOps are the operational commands that change nothing.
var readOnlyOps = map[string]bool{"show": true, "check": true}

// allowed reports whether admin's role lets the request through. Readers
// may read the configuration, run show and check commands and export; a
// custom role may send the request types its profile enables; virtual
// system roles cannot change the shared objects and device settings a
// rotation changes, so they count as readers.
func (d *Device) allowed(admin string, r *http.Request) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	rl := d.roleOf(admin)
	reqType := r.FormValue("type")
	switch rl.name {
	case "superuser", "deviceadmin":
		return true
	case "custom":
		return rl.xmlapi[reqType] == "enable"
	case "superreader", "devicereader", "vsysadmin", "vsysreader":
		switch reqType {
		case "config":
			action := r.FormValue("action")
			return action == "get" || action == "show"
		case "op":
			c, err := parseElement(r.FormValue("cmd"))
			return err == nil && readOnlyOps[c.tag]
		case "export":
			return true
		}
	}
	return false
}

// keyPlaces says where a request carried an API key: "header", "query",
// "body", or several of them joined by commas; "" for none.
func keyPlaces(r *http.Request) string {
	var places []string
	if r.Header.Get("X-PAN-KEY") != "" {
		places = append(places, "header")
	}
	if r.URL.Query().Has("key") {
		places = append(places, "query")
	}
	inBody := r.PostForm.Has("key")
	if r.MultipartForm != nil {
		inBody = inBody || len(r.MultipartForm.Value["key"]) > 0
	}
	if inBody {
		places = append(places, "body")
	}
	return strings.Join(places, ",")
}

// Locks: PAN-OS lets an administrator lock the configuration or commits;
// others' changes or commits are then refused until the lock is removed.

// LockConfig and LockCommits take a lock for admin, as an administrator on
// the console would.
func (d *Device) LockConfig(admin, comment string) { d.lock(d.configLocks, admin, comment) }

// LockCommits: see LockConfig.
func (d *Device) LockCommits(admin, comment string) { d.lock(d.commitLocks, admin, comment) }

func (d *Device) lock(locks map[string]string, admin, comment string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	locks[admin] = comment
}

// lockedBy returns the holders of locks other than admin, sorted. Callers
// hold d.mu.
func lockedBy(locks map[string]string, admin string) []string {
	var out []string
	for holder := range locks {
		if holder != admin {
			out = append(out, holder)
		}
	}
	sort.Strings(out)
	return out
}

// showLocks answers <show><config-locks/> and <show><commit-locks/>, in
// the shape pango's util.Lock reads: result/<kind>/entry[@name=admin].
func (d *Device) showLocks(kind string, locks map[string]string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var b strings.Builder
	b.WriteString("<" + kind + ">")
	for _, holder := range lockedBy(locks, "") {
		fmt.Fprintf(&b, `<entry name="%s"><name>%s</name><type>%s</type><loggedin>no</loggedin><comment>%s</comment></entry>`,
			xmlEscaper.Replace(holder), xmlEscaper.Replace(holder), strings.TrimSuffix(kind, "-locks"), xmlEscaper.Replace(locks[holder]))
	}
	b.WriteString("</" + kind + ">")
	return successResult(b.String()), nil
}

// SetPermissions replaces admin's role-based permissions in both
// configurations with element (for example "<superreader>yes</superreader>"
// or "<custom><profile>certs</profile></custom>"), as an administrator
// would set and commit them.
func (d *Device) SetPermissions(admin, element string) error {
	frag, err := parseFragment(element)
	if err != nil {
		return fmt.Errorf("lab panos: SetPermissions: %w", err)
	}
	p, _ := parseXPath(fmt.Sprintf("/config/mgt-config/users/entry[@name='%s']/permissions/role-based", admin))
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, root := range []*node{d.candidate, d.running} {
		ensure(root, p).children = frag.clone().children
	}
	return nil
}
