package junoslab

import (
	"fmt"
	"strings"
)

// webHTTPSPath is where J-Web's HTTPS settings live; the emulator serves the
// certificate this container names on its TLS address.
var webHTTPSPath = []pathStep{{Name: "system"}, {Name: "services"}, {Name: "web-management"}, {Name: "https"}}

// choices lists, per parent statement, the statements of which JunOS keeps
// at most one: setting one deletes the others, as the CLI does for a
// "choice" in the schema. J-Web's certificate is such a choice.
var choices = map[string][]string{
	"https": {"pki-local-certificate", "system-generated-certificate", "local-certificate"},
}

// loadError is a problem found while applying a load request.
type loadError struct {
	path     string
	element  string
	message  string
	severity string
	// tag is the NETCONF error-tag; default operation-failed.
	tag string
}

// mergeConfig applies req's children to target the way JunOS's
// load-configuration action="merge" does: new statements are added, leaves
// are replaced, and the delete="delete" / replace="replace" attributes (or
// NETCONF's operation="delete|remove|replace") delete or replace the
// statement they sit on. Deleting a missing statement is a warning.
func mergeConfig(target, req *node, path string) []loadError {
	var problems []loadError
	for _, rc := range req.Children {
		here := path + " " + rc.name()
		if k := rc.key(); k != "" {
			here += " " + k
		}
		op := rc.attr("operation")
		switch {
		case rc.attr("delete") == "delete" || op == "delete" || op == "remove":
			if !target.remove(rc) {
				problems = append(problems, loadError{
					path: "[edit" + path + "]", element: rc.name(),
					message: "warning: statement not found", severity: "warning",
				})
			}
			continue
		case rc.attr("replace") == "replace" || op == "replace":
			setChild(target, rc.clone())
			continue
		case rc.isLeaf():
			// Without a schema an empty element is either a flag leaf
			// (system-generated-certificate) or a container named only
			// to exist; an existing container is kept as it is.
			if existing := target.find(rc); existing == nil || existing.isLeaf() {
				setChild(target, rc.clone())
			}
			continue
		}
		existing := target.find(rc)
		if existing == nil {
			existing = newNode(rc.name())
			setChild(target, existing)
		}
		problems = append(problems, mergeConfig(existing, rc, here)...)
	}
	return problems
}

// setChild puts c into parent, replacing the statement it names in place,
// and drops the other members of c's choice group.
func setChild(parent, c *node) {
	for _, member := range choices[parent.name()] {
		if member == c.name() {
			for _, other := range choices[parent.name()] {
				if other != member {
					parent.remove(newNode(other))
				}
			}
			break
		}
	}
	for i, existing := range parent.Children {
		if matches(existing, c) {
			parent.Children[i] = c
			return
		}
	}
	parent.Children = append(parent.Children, c)
}

// filterConfig returns the parts of cfg that the subtree filter f selects:
// an element of f with no children but its key selects the whole matching
// statement; one with children selects only what they select.
func filterConfig(cfg, f *node) *node {
	out := newNode(cfg.name())
	for _, fc := range f.Children {
		for _, cc := range cfg.Children {
			if cc.name() != fc.name() || (fc.key() != "" && cc.key() != fc.key()) {
				continue
			}
			selectors := 0
			for _, g := range fc.Children {
				if g.name() != "name" {
					selectors++
				}
			}
			if selectors == 0 {
				out.Children = append(out.Children, cc.clone())
				continue
			}
			sub := filterConfig(cc, fc)
			if len(sub.Children) == 0 {
				continue
			}
			if k := cc.key(); k != "" {
				sub.Children = append([]*node{leaf("name", k)}, sub.Children...)
			}
			out.Children = append(out.Children, sub)
		}
	}
	return out
}

// checkConfig is the emulator's commit check: the statements whose
// constraints JunOS enforces at commit and that ottr touches.
func (d *Device) checkConfig(cfg *node) []loadError {
	var problems []loadError
	if https := cfg.lookup(webHTTPSPath); https != nil {
		if id := https.childText("pki-local-certificate"); id != "" {
			if _, ok := d.localCerts[id]; !ok {
				problems = append(problems, loadError{
					path:    "[edit system services web-management https]",
					element: "pki-local-certificate",
					message: fmt.Sprintf("'pki-local-certificate %s'\n    Local certificate %s does not exist", id, id),
				})
			}
		}
	}
	if pki := cfg.lookup([]pathStep{{Name: "security"}, {Name: "pki"}}); pki != nil {
		for _, p := range pki.all("ca-profile") {
			if p.childText("ca-identity") == "" {
				problems = append(problems, loadError{
					path:    "[edit security pki ca-profile " + p.key() + "]",
					element: "ca-identity",
					message: "'ca-identity'\n    Missing mandatory statement: 'ca-identity'",
				})
			}
		}
	}
	for i := range problems {
		problems[i].severity = "error"
	}
	return problems
}

// caProfiles returns the CA profile names configured in cfg.
func caProfiles(cfg *node) []string {
	pki := cfg.lookup([]pathStep{{Name: "security"}, {Name: "pki"}})
	if pki == nil {
		return nil
	}
	var names []string
	for _, p := range pki.all("ca-profile") {
		names = append(names, p.key())
	}
	return names
}

// initialConfig is the configuration the device starts with: its host name,
// NETCONF over SSH, and J-Web's HTTPS bound to certID (or to the
// system-generated certificate when certID is empty), with a CA profile per
// name in caProfiles.
func initialConfig(hostName, certID string, profiles []string) *node {
	https := newNode("https", leaf("interface", "fxp0.0"))
	if certID == "" {
		https.Children = append(https.Children, leaf("system-generated-certificate", ""))
	} else {
		https.Children = append(https.Children, leaf("pki-local-certificate", certID))
	}
	cfg := newNode("configuration",
		newNode("system",
			leaf("host-name", strings.SplitN(hostName, ".", 2)[0]),
			newNode("services",
				newNode("ssh"),
				newNode("netconf", newNode("ssh")),
				newNode("web-management", https),
			),
		),
	)
	if len(profiles) > 0 {
		pki := newNode("pki")
		for _, p := range profiles {
			pki.Children = append(pki.Children, newNode("ca-profile", leaf("name", p), leaf("ca-identity", p)))
		}
		cfg.Children = append(cfg.Children, newNode("security", pki))
	}
	return cfg
}
