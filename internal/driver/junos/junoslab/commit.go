package junoslab

import (
	"fmt"
	"strconv"
	"time"
)

// newHandlers maps each RPC the device answers to its handler.
func (d *Device) newHandlers() map[string]handler {
	return map[string]handler{
		"lock":                                      d.lock,
		"lock-configuration":                        d.lock,
		"unlock":                                    d.unlock,
		"unlock-configuration":                      d.unlock,
		"discard-changes":                           d.discardChanges,
		"load-configuration":                        d.loadConfiguration,
		"edit-config":                               d.editConfig,
		"get-configuration":                         d.getConfiguration,
		"commit-configuration":                      d.commitConfiguration,
		"get-rollback-information":                  d.getRollbackInformation,
		"file-put":                                  d.filePut,
		"file-show":                                 d.fileShow,
		"file-delete":                               d.fileDelete,
		"file-list":                                 d.fileList,
		"get-software-information":                  d.getSoftwareInformation,
		"clear-pki-key-pair":                        d.clearKeyPair,
		"clear-pki-local-certificate":               d.clearLocalCertificate,
		"generate-pki-key-pair":                     d.generateKeyPair,
		"generate-pki-certificate-request":          d.generateCertificateRequest,
		"load-pki-local-certificate":                d.loadLocalCertificate,
		"request-security-local-certificate-export": d.exportLocalCertificate,
		"load-pki-ca-certificate":                   d.loadCACertificate,
		"get-pki-local-certificate":                 d.getLocalCertificate,
		"get-pki-ca-certificate":                    d.getCACertificate,
	}
}

// lockedByOther returns the error JunOS gives a session that changes a
// candidate another session has locked, or nil. Callers hold d.mu.
func (d *Device) lockedByOther(s *session) *loadError {
	if d.lockSession == 0 || d.lockSession == s.id {
		return nil
	}
	return &loadError{
		severity: "error",
		message:  fmt.Sprintf("configuration database locked by:\n  %s terminal p%d (pid %d) exclusive [edit]", d.lockUser, d.lockSession, 4000+d.lockSession),
	}
}

// modified reports whether the candidate holds uncommitted changes.
// Callers hold d.mu.
func (d *Device) modified() bool { return !d.candidate.equal(d.running) }

func (d *Device) lock(s *session, _ *node) response {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e := d.lockedByOther(s); e != nil {
		return response{errs: []loadError{*e}, tag: "lock-denied"}
	}
	if d.lockSession != s.id && d.modified() {
		// JunOS refuses an exclusive lock over someone's uncommitted
		// changes rather than let the lock holder commit them.
		return response{errs: []loadError{{severity: "error", message: "configuration database modified"}}, tag: "lock-denied"}
	}
	d.lockSession, d.lockUser = s.id, s.user
	return response{}
}

// unlock releases the lock and, like leaving `configure exclusive`,
// discards what was not committed.
func (d *Device) unlock(s *session, _ *node) response {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lockSession != s.id {
		return failure("configuration database is not locked by this session")
	}
	d.lockSession, d.lockUser = 0, ""
	d.candidate = d.running.clone()
	return response{}
}

func (d *Device) discardChanges(s *session, _ *node) response {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e := d.lockedByOther(s); e != nil {
		return response{errs: []loadError{*e}}
	}
	d.candidate = d.running.clone()
	return response{}
}

// loadConfiguration is JunOS's <load-configuration>: XML configuration
// merged into (action="merge"), replacing parts of (action="replace", with
// replace="replace" attributes) or overriding the candidate, or a rollback
// loaded into it (rollback="N").
func (d *Device) loadConfiguration(s *session, op *node) response {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e := d.lockedByOther(s); e != nil {
		return response{errs: []loadError{*e}}
	}
	if rb := op.attr("rollback"); rb != "" {
		n, err := strconv.Atoi(rb)
		if err != nil || n < 0 || n >= len(d.history) {
			return failure("rollback %s does not exist", rb)
		}
		d.candidate = d.history[n].config.clone()
		return loadResults(nil)
	}
	if f := op.attr("format"); f != "" && f != "xml" {
		return failure("load-configuration format %q is not supported by this device; use format=\"xml\"", f)
	}
	cfg := op.child("configuration")
	if cfg == nil {
		return failure("load-configuration: missing <configuration>")
	}
	switch action := op.attr("action"); action {
	case "", "merge", "replace":
		return loadResults(mergeConfig(d.candidate, cfg, ""))
	case "override":
		d.candidate = cfg.clone()
		return loadResults(nil)
	default:
		return failure("load-configuration action %q is not supported", action)
	}
}

func loadResults(problems []loadError) response {
	r := response{errs: problems}
	results := newNode("load-configuration-results")
	if !r.failed() {
		results.Children = append(results.Children, leaf("load-success", ""))
	}
	r.body = []*node{results}
	return r
}

// editConfig is NETCONF's <edit-config> on the candidate, with the
// operation attributes merged the same way.
func (d *Device) editConfig(s *session, op *node) response {
	if op.child("target").child("candidate") == nil {
		return failure("edit-config: only the candidate can be edited")
	}
	cfg := op.child("config").child("configuration")
	if cfg == nil {
		return failure("edit-config: missing <config><configuration>")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if e := d.lockedByOther(s); e != nil {
		return response{errs: []loadError{*e}}
	}
	problems := mergeConfig(d.candidate, cfg, "")
	return response{errs: problems}
}

// getConfiguration returns the candidate (default) or the committed
// configuration (database="committed"), narrowed by a <configuration>
// subtree filter when one is given. The attributes are those the Junos XML
// protocol documents for <get-configuration>; a rollback is read with
// <get-rollback-information>, and rollback="N" only goes with compare, which
// this device does not do.
func (d *Device) getConfiguration(_ *session, op *node) response {
	d.mu.Lock()
	defer d.mu.Unlock()
	if f := op.attr("format"); f != "" && f != "xml" {
		return failure("get-configuration format %q is not supported by this device", f)
	}
	if op.attr("rollback") != "" || op.attr("compare") != "" {
		r := failure("syntax error: compare and rollback are not supported by this device; read a rollback with <get-rollback-information>")
		r.errs[0].tag = "bad-attribute"
		return r
	}
	cfg := d.candidate
	if op.attr("database") == "committed" {
		cfg = d.running
	}
	out := cfg.clone()
	if f := op.child("configuration"); f != nil {
		out = filterConfig(cfg, f)
	}
	out.Attrs = append(out.Attrs, xmlAttr("junos:commit-seconds", strconv.FormatInt(d.history[0].at.Unix(), 10)))
	return response{body: []*node{out}}
}

// commitConfiguration is JunOS's <commit-configuration>: <check/> only
// validates; <confirmed/> with <confirm-timeout> (minutes, default 10)
// commits provisionally; a plain commit commits and confirms any pending
// commit confirmed.
func (d *Device) commitConfiguration(s *session, op *node) response {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e := d.lockedByOther(s); e != nil {
		return response{errs: []loadError{*e}}
	}
	if d.failInstalls.Load() {
		return response{errs: []loadError{{severity: "error", path: "[edit system services web-management https]", message: failureMessage}}}
	}
	if problems := d.checkConfig(d.candidate); len(problems) > 0 {
		problems = append(problems, loadError{severity: "error", message: "configuration check-out failed"})
		return response{errs: problems}
	}
	if op.child("check") != nil {
		return commitResults(false)
	}
	minutes := 0
	if op.child("confirmed") != nil {
		minutes = 10
		if t := op.childText("confirm-timeout"); t != "" {
			n, err := strconv.Atoi(t)
			if err != nil || n < 1 || n > 65535 {
				return failure("confirm-timeout %q: value is not within range (1..65535)", t)
			}
			minutes = n
		}
	}
	previous := d.running
	d.running = d.candidate.clone()
	d.record(d.running, s.user, op.childText("log"))
	if minutes == 0 {
		if d.pending != nil {
			d.pending.timer.Stop()
			d.pending = nil
		}
		return commitResults(true)
	}
	if d.pending == nil {
		d.pending = &pendingConfirm{revertTo: previous}
	} else {
		d.pending.timer.Stop()
	}
	d.pending.generation++
	generation := d.pending.generation
	d.lastConfirm = minutes
	d.pending.timer = time.AfterFunc(time.Duration(minutes)*d.cfg.ConfirmUnit, func() { d.revertUnconfirmed(generation) })
	return commitResults(true)
}

// getRollbackInformation is `show system rollback N`: the whole committed
// configuration of rollback N (0 the most recent), in
// <rollback-information>.
func (d *Device) getRollbackInformation(_ *session, op *node) response {
	d.mu.Lock()
	defer d.mu.Unlock()
	rb := op.childText("rollback")
	n, err := strconv.Atoi(rb)
	if err != nil || n < 0 || n >= len(d.history) {
		return failure("rollback %s does not exist", rb)
	}
	if op.child("compare") != nil || (op.childText("format") != "" && op.childText("format") != "xml") {
		return failure("get-rollback-information: only the XML of one rollback is supported by this device")
	}
	return response{body: []*node{newNode("rollback-information", leaf("ok", ""), d.history[n].config.clone())}}
}

func commitResults(committed bool) response {
	re := newNode("routing-engine", leaf("name", "re0"))
	if committed {
		re.Children = append(re.Children, leaf("commit-success", ""))
	} else {
		re.Children = append(re.Children, leaf("commit-check-success", ""))
	}
	return response{body: []*node{newNode("commit-results", re)}}
}

// record makes cfg rollback 0. Callers hold d.mu.
func (d *Device) record(cfg *node, user, comment string) {
	d.history = append([]commitEntry{{config: cfg, at: d.cfg.Now(), user: user, comment: comment}}, d.history...)
	if len(d.history) > historySize {
		d.history = d.history[:historySize]
	}
}

// revertUnconfirmed is the confirm timer: the commit was not confirmed in
// time, so the device restores the configuration from before it, as a new
// commit, and the candidate with it.
func (d *Device) revertUnconfirmed(generation int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || d.pending == nil || d.pending.generation != generation {
		return
	}
	d.running = d.pending.revertTo.clone()
	d.candidate = d.running.clone()
	d.pending = nil
	d.reverts++
	d.record(d.running, "root", "commit confirmed rollback")
	d.cfg.Logger.Debug("lab junos: commit not confirmed in time; rolled back", "device", d.cfg.Name)
}

// ExpireConfirm runs out the pending commit confirmed's time now, as if its
// timer had fired: the device rolls the unconfirmed commit back. It lets a
// test reach that state after the driver has read its commit back, which a
// timer short enough for a test could beat.
func (d *Device) ExpireConfirm() {
	d.mu.Lock()
	pending := d.pending
	d.mu.Unlock()
	if pending == nil {
		return
	}
	pending.timer.Stop()
	d.mu.Lock()
	generation := pending.generation
	d.mu.Unlock()
	d.revertUnconfirmed(generation)
}
