package panoslab

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// job is a commit job as <show><jobs> reports it.
type job struct {
	id       int
	user     string
	enqueued string
	// pollsLeft counts the polls that still answer ACT.
	pollsLeft int
	result    string
	details   []string
}

// savedName is what the emulator accepts as a saved configuration's name.
var savedName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// op handles type=op: the operational commands a certificate rotation
// needs.
func (d *Device) op(user, cmd string) (string, error) {
	c, err := parseElement(cmd)
	if err != nil {
		return "", newAPIError(codeMalformed, "Malformed Request: cmd is not well-formed XML")
	}
	switch {
	case c.tag == "request" && c.path("certificate", "generate") != nil:
		return d.generate(user, c.path("certificate", "generate"))
	case c.tag == "show" && c.path("jobs", "id") != nil:
		return d.showJob(c.textOf("jobs", "id"))
	case c.tag == "show" && c.path("system", "info") != nil:
		return successResult(fmt.Sprintf("<system><hostname>%s</hostname><model>PA-VM</model><sw-version>%s</sw-version></system>",
			xmlEscaper.Replace(d.cfg.Name), SoftwareVersion)), nil
	case c.tag == "save" && c.path("config", "to") != nil:
		return d.saveConfig(c.textOf("config", "to"))
	case c.tag == "load" && c.path("config", "from") != nil:
		return d.loadConfig(user, c.textOf("config", "from"))
	case c.tag == "show" && c.path("config", "saved") != nil:
		return d.showSaved(c.textOf("config", "saved"))
	case c.tag == "delete" && c.path("config", "saved") != nil:
		return d.deleteSaved(c.textOf("config", "saved"))
	case c.tag == "show" && c.child("commit-locks") != nil:
		return d.showLocks("commit-locks", d.commitLocks)
	case c.tag == "show" && c.child("config-locks") != nil:
		return d.showLocks("config-locks", d.configLocks)
	case c.tag == "check" && c.child("pending-changes") != nil:
		d.mu.Lock()
		pending := "no"
		for _, paths := range d.changes {
			if len(paths) > 0 {
				pending = "yes"
			}
		}
		d.mu.Unlock()
		return successResult(pending), nil
	default:
		first := c.tag
		if len(c.children) > 0 {
			first = c.children[0].tag
		}
		return "", newAPIError(codeInvalidCommand, first+" is unexpected", "Invalid syntax.")
	}
}

func (d *Device) saveConfig(name string) (string, error) {
	if !savedName.MatchString(name) || name == "running-config.xml" {
		return "", newAPIError(codeInvalidObject, fmt.Sprintf("Invalid file name '%s'", name))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.saved[name] = d.candidate.clone()
	return successResult("Config saved to " + name), nil
}

// loadConfig replaces the candidate with a saved configuration (or the
// running one, running-config.xml). The whole configuration becomes the
// loading administrator's change, and until a full force commit no other
// commit is accepted (pan-os-python PR #604: "If you do `load config from`
// in PAN-OS, the system requires a `force` commit for the whole
// configuration").
func (d *Device) loadConfig(user, name string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	src, ok := d.saved[name]
	if name == "running-config.xml" {
		src, ok = d.running, true
	}
	if !ok {
		return "", newAPIError(codeObjectNotPresent, fmt.Sprintf("Config file %s does not exist", name))
	}
	d.candidate = src.clone()
	d.recordChange(user, xpath{{tag: "config"}})
	d.loaded = true
	return successResult("<msg><line>Config loaded from " + xmlEscaper.Replace(name) + "</line></msg>"), nil
}

func (d *Device) showSaved(name string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	src, ok := d.saved[name]
	if !ok {
		return "", newAPIError(codeObjectNotPresent, fmt.Sprintf("Config file %s does not exist", name))
	}
	return successResult(src.String()), nil
}

func (d *Device) deleteSaved(name string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.saved[name]; !ok {
		return "", newAPIError(codeObjectNotPresent, fmt.Sprintf("Config file %s does not exist", name))
	}
	delete(d.saved, name)
	return successResult("Deleted saved config " + name), nil
}

// Answers of type=commit that are not jobs. The wording of the refusals
// after a load is the emulator's own: no public source quotes the device's.
const (
	noChangesAnswer       = `<response status="success" code="19"><msg><line>There are no changes to commit.</line></msg></response>`
	partialAfterLoad      = "Partial commit is not allowed after a configuration was loaded: commit the whole configuration with force"
	unforcedAfterLoad     = "A configuration was loaded: commit it with force"
	forceWithPartial      = "force and partial cannot be combined: a force commit takes the whole configuration"
	commitLockedByAnother = "Commit is locked by %s"
)

// commit handles type=commit: <commit/> commits every administrator's
// changes, <commit><partial><admin><member>… only those admins', and
// <commit><force/></commit> the whole candidate even when nothing changed.
// After a load config only the force commit is accepted. The new running
// configuration is validated; a job reports the outcome. With nothing to
// commit the answer is a success without a job, as pan-python's legacy
// commit loop expects ("There are no changes to commit.").
func (d *Device) commit(user, cmd string) (string, error) {
	c, err := parseElement(cmd)
	if err != nil || c.tag != "commit" {
		return "", newAPIError(codeMalformed, "Malformed Request: cmd must be a <commit> element")
	}
	force := c.child("force") != nil
	partial := c.child("partial")
	if partial == nil && force {
		partial = c.path("force", "partial")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case force && partial != nil:
		return "", newAPIError(codeInvalidCommand, forceWithPartial)
	case d.loaded && partial != nil:
		return "", newAPIError(codeInvalidCommand, partialAfterLoad)
	case d.loaded && !force:
		return "", newAPIError(codeInvalidCommand, unforcedAfterLoad)
	}
	if holders := lockedBy(d.commitLocks, user); len(holders) > 0 {
		return "", newAPIError("14", fmt.Sprintf(commitLockedByAnother, strings.Join(holders, ", ")))
	}
	var admins []string
	if partial != nil {
		admins = partial.child("admin").members()
		if len(admins) == 0 {
			return "", newAPIError(codeInvalidCommand, "partial -> admin is missing: name the administrators whose changes to commit")
		}
	} else {
		for a := range d.changes {
			admins = append(admins, a)
		}
		sort.Strings(admins)
	}
	var paths []xpath
	for _, a := range admins {
		paths = append(paths, d.changes[a]...)
	}
	if len(paths) == 0 && !force {
		return noChangesAnswer, nil
	}

	next := d.running.clone()
	if force {
		next = d.candidate.clone()
	}
	for _, p := range paths {
		if n := find(d.candidate, p); n != nil {
			replace(next, p, n)
		} else {
			remove(next, p)
		}
	}
	j := &job{id: d.nextJob, user: user, enqueued: d.cfg.Now().Format("2006/01/02 15:04:05"), pollsLeft: d.cfg.CommitPolls}
	d.nextJob++
	d.jobs[j.id] = j
	switch problems := d.validate(next); {
	case d.failInstalls.Load():
		j.result, j.details = "FAIL", []string{failureMessage}
	case len(problems) > 0:
		j.result, j.details = "FAIL", append([]string{"Validation Error:"}, problems...)
	default:
		j.result, j.details = "OK", []string{"Configuration committed successfully"}
		d.running = next
		for _, a := range admins {
			delete(d.changes, a)
		}
		if force {
			d.loaded = false
		}
		d.refreshServed()
	}
	d.log.Debug("commit", "job", j.id, "admins", admins, "force", force, "result", j.result)
	return fmt.Sprintf(`<response status="success" code="19"><result><msg><line>Commit job enqueued with jobid %d</line></msg><job>%d</job></result></response>`,
		j.id, j.id), nil
}

// validate returns PAN-OS-style complaints about references in a
// configuration about to become the running one.
func (d *Device) validate(root *node) []string {
	var problems []string
	profiles := root.path("shared", "ssl-tls-service-profile")
	for _, prof := range profiles.children {
		certName := prof.textOf("certificate")
		if certName == "" {
			problems = append(problems, fmt.Sprintf("ssl-tls-service-profile -> %s -> certificate is missing", prof.name()))
			continue
		}
		if _, err := d.tlsCertificate(root, certName); err != nil {
			problems = append(problems, fmt.Sprintf("ssl-tls-service-profile -> %s -> certificate '%s' is not a valid reference: %v", prof.name(), certName, err))
		}
		switch prof.textOf("protocol-settings", "min-version") {
		case "", "tls1-0", "tls1-1", "tls1-2", "tls1-3":
		default:
			problems = append(problems, fmt.Sprintf("ssl-tls-service-profile -> %s -> protocol-settings -> min-version '%s' is not a valid value", prof.name(), prof.textOf("protocol-settings", "min-version")))
		}
	}
	for _, b := range serviceBindings() {
		p, _ := parseXPath(b.xpath)
		if n := find(root, p); n != nil && n.text != "" && profiles.entry(n.text) == nil {
			problems = append(problems, fmt.Sprintf("%s '%s' is not a valid reference", b.what, n.text))
		}
	}
	return problems
}

// showJob answers <show><jobs><id>N</id></jobs></show>.
func (d *Device) showJob(id string) (string, error) {
	n, err := strconv.Atoi(id)
	d.mu.Lock()
	defer d.mu.Unlock()
	j, ok := d.jobs[n]
	if err != nil || !ok {
		return "", newAPIError(codeObjectNotPresent, fmt.Sprintf("job %s not found", id))
	}
	status, result, progress, tfin := "FIN", j.result, "100", j.enqueued
	if j.pollsLeft > 0 {
		j.pollsLeft--
		status, result, progress, tfin = "ACT", "PEND", "55", "Still Active"
	}
	var details strings.Builder
	if status == "FIN" {
		for _, l := range j.details {
			details.WriteString("<line>" + xmlEscaper.Replace(l) + "</line>")
		}
	}
	return successResult(fmt.Sprintf(`<job><tenq>%s</tenq><tdeq>%s</tdeq><id>%d</id><user>%s</user><type>Commit</type>`+
		`<status>%s</status><queued>NO</queued><stoppable>no</stoppable><result>%s</result><tfin>%s</tfin>`+
		`<description/><positionInQ>0</positionInQ><progress>%s</progress><details>%s</details><warnings/></job>`,
		j.enqueued, j.enqueued[11:], j.id, xmlEscaper.Replace(j.user), status, result, tfin, progress, details.String())), nil
}
