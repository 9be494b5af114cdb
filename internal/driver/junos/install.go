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

// systemGeneratedID names J-Web's self-signed certificate, bound by
// system-generated-certificate.
const systemGeneratedID = "system-generated"

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
		return systemGeneratedID
	}
	return ""
}

var caProfilePath = []pathStep{{Name: "security"}, {Name: "pki"}, {Name: "ca-profile"}}

// readBinding reads the binding at steps, and the configured CA profiles,
// from the committed configuration.
func (s *session) readBinding(ctx context.Context, steps []pathStep) (binding, error) {
	cfg, err := s.api.getConfiguration(ctx, configurationFilter(steps[:len(steps)-1], caProfilePath))
	if err != nil {
		return binding{}, err
	}
	return bindingIn(cfg, steps), nil
}

// bindingIn reads the binding at steps, and the CA profiles, out of a
// configuration.
func bindingIn(cfg *node, steps []pathStep) binding {
	parent := steps[:len(steps)-1]
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
	return b
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
		cfg, err := s.api.getRollback(ctx, n)
		var de *deviceError
		if errors.As(err, &de) {
			// The history ends before rollback n.
			break
		}
		if err != nil {
			return binding{}, err
		}
		if b := bindingIn(cfg, s.opts.bindSteps); !b.present || b.value != id {
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
	current, err := s.readBinding(ctx, s.opts.bindSteps)
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
	if err := s.expectBinding(ctx, leafSteps, binding{present: true, value: id}); err != nil {
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
		loadErr := s.loadCA(ctx, profiles[i], ca)
		var de *deviceError
		if loadErr != nil && !errors.As(loadErr, &de) {
			return nil, loadErr
		}
		// The load is answered in text; what the profile holds afterwards
		// is the answer. A profile named after this certificate already
		// holds it when a release refuses to load it twice.
		if err := s.verifyCA(ctx, profiles[i], ca); err != nil {
			if loadErr != nil {
				return nil, fmt.Errorf("%w; loading it: %v", err, loadErr)
			}
			return nil, err
		}
		if loadErr != nil {
			s.log.Debug("CA certificate already loaded", "ca_profile", profiles[i], "error", loadErr)
		}
	}
	return profiles, nil
}

// verifyCA reads CA profile profile back and checks it holds ca.
func (s *session) verifyCA(ctx context.Context, profile string, ca *x509.Certificate) error {
	info, err := s.api.caCertificateInfo(ctx, profile)
	if err != nil {
		return fmt.Errorf("read CA profile %s back after loading CA certificate %q: %w", profile, ca.Subject.CommonName, err)
	}
	if info.Serial.Cmp(ca.SerialNumber) != 0 {
		return fmt.Errorf("CA profile %s holds serial %x, not CA certificate %q (serial %x): clear it with "+
			"`clear security pki ca-certificate ca-profile %s` and rotate again", profile, info.Serial, ca.Subject.CommonName, ca.SerialNumber, profile)
	}
	return nil
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
	switch {
	case errors.As(err, &de):
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
	case err != nil:
		return fmt.Errorf("load local certificate %s: %w", id, err)
	}
	// The load is answered in text; the certificate the device holds
	// afterwards is the answer.
	loaded, err := s.exportCertificate(ctx, id)
	if err != nil {
		return fmt.Errorf("read local certificate %s back after loading it: %w", id, err)
	}
	if !loaded.Equal(leaf) {
		return fmt.Errorf("after loading, local certificate %s is serial %x, not the loaded %x", id, loaded.SerialNumber, leaf.SerialNumber)
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
	if err := s.expectBinding(ctx, steps, prev); err != nil {
		return wrap("rollback "+id, err)
	}
	return nil
}

// expectBinding reads the committed binding at steps back and checks it is
// want: a commit that took nothing, or undid it, fails here.
func (s *session) expectBinding(ctx context.Context, steps []pathStep, want binding) error {
	got, err := s.readBinding(ctx, steps)
	if err != nil {
		return fmt.Errorf("read the configuration back after the commit: %w", err)
	}
	same := got.present == want.present && (!want.present || got.value == want.value) &&
		(want.alternative == "" || got.alternative == want.alternative)
	if !same {
		return fmt.Errorf("after the commit the device binds %s at %s, want %s", describeBinding(got), pathString(steps), describeBinding(want))
	}
	return nil
}

// describeBinding renders a binding for an error.
func describeBinding(b binding) string {
	switch {
	case b.present:
		return fmt.Sprintf("%q", b.value)
	case b.alternative != "":
		return b.alternative
	}
	return "nothing"
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
	b, err := s.readBinding(ctx, steps)
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
