package junos

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/driver"
)

// Keys of the Installed handle. Rollback and Finalize need nothing else, so
// they work from a new session in another process.
const (
	handleCertificateID       = "certificate_id"
	handleBindPath            = "bind_path"
	handlePreviousPresent     = "previous_present"
	handlePreviousValue       = "previous_value"
	handlePreviousAlternative = "previous_alternative"
	handlePreviousAltValue    = "previous_alternative_value"
	handleCAProfiles          = "ca_profiles"
	handleConfirmMinutes      = "confirm_minutes"
	handleSerial              = "serial"
)

// maxRollback is the oldest rollback JunOS keeps.
const maxRollback = 49

// binding is what a configuration holds at a bind path: the statement's
// value and which of its exclusive alternatives is set instead.
type binding struct {
	present          bool
	value            string
	alternative      string
	alternativeValue string
	caProfiles       []string
}

// certificateID names the local certificate the binding puts in service.
func (b binding) certificateID() string {
	switch {
	case b.present:
		return b.value
	case b.alternative == "system-generated-certificate":
		return "system-generated"
	}
	return ""
}

var caProfilePath = []pathStep{{Name: "security"}, {Name: "pki"}, {Name: "ca-profile"}}

// readBinding reads the binding at steps, and the configured CA profiles,
// from the committed configuration or a rollback.
func (s *session) readBinding(ctx context.Context, rollback int, steps []pathStep) (binding, error) {
	parent := steps[:len(steps)-1]
	cfg, err := s.api.getConfiguration(ctx, rollback, configurationFilter(parent, caProfilePath))
	if err != nil {
		return binding{}, err
	}
	var b binding
	if container := cfg.lookup(parent); container != nil {
		if n := container.child(steps[len(steps)-1].Name); n != nil {
			b.present, b.value = true, n.value()
		}
		for _, alt := range alternatives[pathString(steps)] {
			if n := container.child(alt); n != nil {
				b.alternative, b.alternativeValue = alt, n.value()
				break
			}
		}
	}
	for _, p := range cfg.lookup(caProfilePath[:2]).all("ca-profile") {
		b.caProfiles = append(b.caProfiles, p.childText("name"))
	}
	return b, nil
}

// pathString renders steps as a bind path.
func pathString(steps []pathStep) string {
	parts := make([]string, len(steps))
	for i, s := range steps {
		parts[i] = s.Name
		if s.Key != "" {
			parts[i] += "[name='" + s.Key + "']"
		}
	}
	return strings.Join(parts, "/")
}

// bindingBefore finds the binding from before id was bound, walking back
// through the rollbacks: a repeated Install finds id already bound, and its
// handle must still lead back to what was there before the first. When
// every rollback binds id, id has long been in service and is its own
// previous binding.
func (s *session) bindingBefore(ctx context.Context, id string, current binding) (binding, error) {
	for n := 1; n <= maxRollback; n++ {
		b, err := s.readBinding(ctx, n, s.opts.bindSteps)
		var de *deviceError
		if errors.As(err, &de) {
			// The history ends before rollback n.
			break
		}
		if err != nil {
			return binding{}, err
		}
		if !b.present || b.value != id {
			return b, nil
		}
	}
	return current, nil
}

// changeCandidate locks the candidate, loads configuration (if any) and
// commits, confirmed when confirmMinutes > 0. On failure the change is
// discarded, so nothing of it reaches a later commit.
func (s *session) changeCandidate(ctx context.Context, configuration string, confirmMinutes int, comment string) (err error) {
	if err := s.api.lock(ctx); err != nil {
		return fmt.Errorf("lock the candidate configuration: %w", err)
	}
	defer func() {
		// Unlock even when ctx has ended, so the device is not left
		// locked until the session times out.
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err != nil {
			if derr := s.api.discardChanges(cleanup); derr != nil {
				s.log.Warn("could not discard the failed change", "error", derr)
			}
		}
		if uerr := s.api.unlock(cleanup); uerr != nil && err == nil {
			err = fmt.Errorf("unlock the candidate configuration: %w", uerr)
		}
	}()
	if configuration != "" {
		if err := s.api.loadConfiguration(ctx, configuration); err != nil {
			return fmt.Errorf("load the configuration: %w", err)
		}
	}
	if err := s.api.commit(ctx, confirmMinutes, comment); err != nil {
		if confirmMinutes > 0 {
			return fmt.Errorf("commit confirmed %d: %w", confirmMinutes, err)
		}
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// caProfileName names the CA profile of a CA certificate after its
// fingerprint, so every certificate the CA issues shares it.
func caProfileName(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return "ottr-ca-" + hex.EncodeToString(sum[:8])
}

func pemCertificate(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// Install loads the leaf as the local certificate of its key pair, the rest
// of the chain into CA profiles, and binds the leaf with commit confirmed.
func (s *session) Install(ctx context.Context, chain []*x509.Certificate) (driver.Installed, error) {
	if len(chain) == 0 {
		return nil, errorf("install", "the chain is empty")
	}
	leaf := chain[0]
	current, err := s.readBinding(ctx, committed, s.opts.bindSteps)
	if err != nil {
		return nil, wrap("install: read the configuration", err)
	}
	id, err := s.slotFor(ctx, leaf)
	if err != nil {
		return nil, wrap("install", err)
	}
	if err := s.loadLocal(ctx, id, leaf, current); err != nil {
		return nil, wrap("install", err)
	}
	previous := current
	if current.present && current.value == id {
		if previous, err = s.bindingBefore(ctx, id, current); err != nil {
			return nil, wrap("install: read the rollback history", err)
		}
	}

	minutes := s.opts.ConfirmMinutes
	profiles, err := s.installCAs(ctx, chain[1:], current, id)
	if err != nil {
		return nil, wrap("install", err)
	}

	leafSteps := s.opts.bindSteps
	parent, last := leafSteps[:len(leafSteps)-1], leafSteps[len(leafSteps)-1]
	inner := element(last.Name, id)
	if current.alternative != "" {
		inner += `<` + current.alternative + ` delete="delete"/>`
	}
	comment := fmt.Sprintf("ottr: bind %s (serial %s) at %s on %s", id, leaf.SerialNumber.Text(16), s.opts.BindPath,
		s.drv.cfg.Now().UTC().Format(time.RFC3339))
	if err := s.changeCandidate(ctx, wrapPath(parent, inner), minutes, comment); err != nil {
		return nil, wrap("install: bind "+id, err)
	}
	s.log.Debug("installed; the device rolls back unless confirmed", "certificate_id", id, "confirm_minutes", minutes)
	return driver.Installed{
		handleCertificateID:       id,
		handleBindPath:            s.opts.BindPath,
		handlePreviousPresent:     strconv.FormatBool(previous.present),
		handlePreviousValue:       previous.value,
		handlePreviousAlternative: previous.alternative,
		handlePreviousAltValue:    previous.alternativeValue,
		handleCAProfiles:          strings.Join(profiles, ","),
		handleConfirmMinutes:      strconv.Itoa(minutes),
		handleSerial:              leaf.SerialNumber.Text(16),
	}, nil
}

// installCAs puts each CA certificate in a CA profile named after it and
// returns the profile names. JunOS loads a CA certificate only into a
// committed CA profile, so new profiles get a commit of their own; it is
// confirmed too, so nothing stays if ottr never comes back.
func (s *session) installCAs(ctx context.Context, cas []*x509.Certificate, current binding, id string) ([]string, error) {
	var profiles, missing []string
	var profileXML strings.Builder
	for _, ca := range cas {
		name := caProfileName(ca)
		profiles = append(profiles, name)
		if !slices.Contains(current.caProfiles, name) {
			missing = append(missing, name)
			profileXML.WriteString("<ca-profile>" + element("name", name) + element("ca-identity", name) + "</ca-profile>")
		}
	}
	if len(missing) > 0 {
		err := s.changeCandidate(ctx, "<security><pki>"+profileXML.String()+"</pki></security>", s.opts.ConfirmMinutes,
			"ottr: CA profiles "+strings.Join(missing, ", ")+" for "+id)
		if err != nil {
			return nil, fmt.Errorf("add CA profiles: %w", err)
		}
	}
	for i, ca := range cas {
		err := s.loadCA(ctx, profiles[i], ca)
		var de *deviceError
		if errors.As(err, &de) && !slices.Contains(missing, profiles[i]) {
			// The profile is named after this certificate and ottr
			// loaded it when it made the profile; a release that
			// refuses the same certificate twice is no failure. If it
			// is missing after all, verification sees the short chain.
			s.log.Debug("CA certificate not loaded again", "ca_profile", profiles[i], "error", err)
			continue
		}
		if err != nil {
			return nil, err
		}
	}
	return profiles, nil
}

// loadLocal loads leaf as local certificate id. A device that already holds
// it (a repeated Install) is fine; one holding another certificate for the
// key, not in service, has it replaced.
func (s *session) loadLocal(ctx context.Context, id string, leaf *x509.Certificate, current binding) error {
	path := s.opts.UploadDir + "/" + id + ".crt"
	if err := s.api.putFile(ctx, path, pemCertificate(leaf)); err != nil {
		return fmt.Errorf("upload the certificate to %s: %w", path, err)
	}
	defer s.removeFile(ctx, path)
	err := s.api.loadLocalCertificate(ctx, id, path)
	var de *deviceError
	if !errors.As(err, &de) {
		if err != nil {
			return fmt.Errorf("load local certificate %s: %w", id, err)
		}
		return nil
	}
	existing, xerr := s.exportCertificate(ctx, id)
	switch {
	case xerr != nil:
		return fmt.Errorf("load local certificate %s: %w", id, err)
	case existing.Equal(leaf):
		return nil
	case current.certificateID() == id:
		return fmt.Errorf("load local certificate %s: the device serves another certificate under that id: %w", id, err)
	}
	if cerr := s.api.clearLocalCertificate(ctx, id); cerr != nil {
		return fmt.Errorf("clear the other local certificate %s: %w", id, cerr)
	}
	if err := s.api.loadLocalCertificate(ctx, id, path); err != nil {
		return fmt.Errorf("load local certificate %s: %w", id, err)
	}
	return nil
}

// loadCA loads a CA certificate into its (committed) CA profile.
func (s *session) loadCA(ctx context.Context, profile string, ca *x509.Certificate) error {
	path := s.opts.UploadDir + "/" + profile + ".crt"
	if err := s.api.putFile(ctx, path, pemCertificate(ca)); err != nil {
		return fmt.Errorf("upload CA certificate %q to %s: %w", ca.Subject.CommonName, path, err)
	}
	defer s.removeFile(ctx, path)
	if err := s.api.loadCACertificate(ctx, profile, path); err != nil {
		return fmt.Errorf("load CA certificate %q into CA profile %s: %w", ca.Subject.CommonName, profile, err)
	}
	return nil
}

// removeFile deletes a transferred file; a leftover public certificate in
// upload_dir is only untidy, so failure is logged.
func (s *session) removeFile(ctx context.Context, path string) {
	cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.api.deleteFile(cleanup, path); err != nil {
		s.log.Debug("could not delete a transferred file", "path", path, "error", err)
	}
}

// handleBinding reads the bind path and previous binding out of a handle.
func handleBinding(i driver.Installed) (string, []pathStep, binding, error) {
	id := i[handleCertificateID]
	if id == "" {
		return "", nil, binding{}, errors.New("the install handle has no certificate_id")
	}
	steps, err := parseBindPath(i[handleBindPath])
	if err == nil {
		err = checkBindPath(i[handleBindPath])
	}
	if err != nil {
		return "", nil, binding{}, fmt.Errorf("the install handle's bind_path: %w", err)
	}
	present, err := strconv.ParseBool(i[handlePreviousPresent])
	if err != nil {
		return "", nil, binding{}, fmt.Errorf("the install handle's previous_present %q is not true or false", i[handlePreviousPresent])
	}
	prev := binding{
		present: present, value: i[handlePreviousValue],
		alternative: i[handlePreviousAlternative], alternativeValue: i[handlePreviousAltValue],
	}
	if prev.alternative != "" && !slices.Contains(alternatives[i[handleBindPath]], prev.alternative) {
		return "", nil, binding{}, fmt.Errorf("the install handle's previous_alternative %q is not one of %v", prev.alternative, alternatives[i[handleBindPath]])
	}
	return id, steps, prev, nil
}

// Rollback binds what was bound before Install and commits; the commit also
// confirms, so a pending commit confirmed stops counting down. Rolling back
// twice changes nothing the second time.
func (s *session) Rollback(ctx context.Context, i driver.Installed) error {
	id, steps, prev, err := handleBinding(i)
	if err != nil {
		return wrap("rollback", err)
	}
	parent, last := steps[:len(steps)-1], steps[len(steps)-1]
	var inner string
	if prev.present {
		inner = element(last.Name, prev.value)
	} else {
		inner = `<` + last.Name + ` delete="delete"/>`
	}
	if prev.alternative != "" {
		inner += element(prev.alternative, prev.alternativeValue)
	}
	comment := fmt.Sprintf("ottr: roll back %s at %s", id, i[handleBindPath])
	if err := s.changeCandidate(ctx, wrapPath(parent, inner), 0, comment); err != nil {
		return wrap("rollback "+id, err)
	}
	return nil
}

// Finalize confirms the commit confirmed with a plain commit, then checks
// that id is still bound: if the confirmation came too late, the device has
// already rolled back, and verification must fail.
func (s *session) Finalize(ctx context.Context, i driver.Installed) error {
	id, steps, _, err := handleBinding(i)
	if err != nil {
		return wrap("finalize", err)
	}
	if err := s.changeCandidate(ctx, "", 0, "ottr: confirm "+id); err != nil {
		return wrap("finalize: confirm "+id, err)
	}
	b, err := s.readBinding(ctx, committed, steps)
	if err != nil {
		return wrap("finalize: read the configuration", err)
	}
	if !b.present || b.value != id {
		return errorf("finalize", "the device no longer binds %s at %s (it binds %q): it rolled the unconfirmed commit back "+
			"before the confirmation (confirm_minutes %s); the install must be repeated", id, i[handleBindPath],
			b.certificateID(), i[handleConfirmMinutes])
	}
	return nil
}

// parseCertificates returns every CERTIFICATE block in b, in order.
func parseCertificates(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return certs, nil
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		certs = append(certs, c)
	}
}
