package panos

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/driver"
)

// Keys of the Installed handle.
const (
	handleCertificate         = "certificate"
	handleSnapshot            = "snapshot"
	handleProfile             = "profile"
	handleBind                = "bind"
	handleBinding             = "binding_xpath"
	handlePreviousProfile     = "previous_profile"
	handlePreviousCertificate = "previous_certificate"
)

// deviceXPath is the firewall's device entry; every firewall has exactly
// this one.
const deviceXPath = "/config/devices/entry[@name='localhost.localdomain']"

func certificateXPath(name string) string {
	return fmt.Sprintf("/config/shared/certificate/entry[@name='%s']", name)
}

func profileXPath(name string) string {
	return fmt.Sprintf("/config/shared/ssl-tls-service-profile/entry[@name='%s']", name)
}

// serviceXPath is the entry of the service the route binds to; its
// bindingXPath names the service's SSL/TLS service profile.
func (o *options) serviceXPath() string {
	switch o.Bind {
	case bindPortal:
		return fmt.Sprintf("%s/vsys/entry[@name='%s']/global-protect/global-protect-portal/entry[@name='%s']", deviceXPath, o.VSys, o.GlobalProtectName)
	case bindGateway:
		return fmt.Sprintf("%s/vsys/entry[@name='%s']/global-protect/global-protect-gateway/entry[@name='%s']", deviceXPath, o.VSys, o.GlobalProtectName)
	default:
		return deviceXPath + "/deviceconfig/system"
	}
}

func (o *options) bindingXPath() string {
	if o.Bind == bindPortal {
		return o.serviceXPath() + "/portal-config/ssl-tls-service-profile"
	}
	return o.serviceXPath() + "/ssl-tls-service-profile"
}

// describeBind names the service for messages.
func (o *options) describeBind() string {
	switch o.Bind {
	case bindPortal:
		return fmt.Sprintf("GlobalProtect portal %q (%s)", o.GlobalProtectName, o.VSys)
	case bindGateway:
		return fmt.Sprintf("GlobalProtect gateway %q (%s)", o.GlobalProtectName, o.VSys)
	default:
		return "the management interface"
	}
}

// Install imports chain into the certificate entry whose key the device
// generated for it, points the SSL/TLS service profile at it, binds the
// profile to the service and commits the API administrator's changes. The
// candidate configuration is saved first, once per certificate, so a
// repeated Install (a resumed rotation) keeps the snapshot from before the
// first one. When the device refuses the commit or the job fails, the
// profile and the binding are put back in the candidate, so nobody else's
// commit pushes them later.
func (s *session) Install(ctx context.Context, chain []*x509.Certificate) (driver.Installed, error) {
	if len(chain) == 0 {
		return nil, errorf("install", "the chain is empty")
	}
	name, err := s.certificateFor(ctx, chain[0])
	if err != nil {
		return nil, wrapf("install", err)
	}
	log := s.log.With("certificate", name)
	snapshot := name + ".xml"
	if err := s.snapshot(ctx, snapshot); err != nil {
		return nil, wrapf("install: save the configuration before changing it", err)
	}

	binding := s.opts.bindingXPath()
	if s.opts.Bind != bindManagement {
		service, err := s.c.get(ctx, s.opts.serviceXPath())
		if err != nil {
			return nil, wrapf("install: look up "+s.opts.describeBind(), err)
		}
		if service == nil {
			return nil, errorf("install", "%s does not exist on the device; check the route's globalprotect_name and vsys", s.opts.describeBind())
		}
	}
	before, err := s.captureService(ctx, binding)
	if err != nil {
		return nil, wrapf("install: read the current binding", err)
	}
	handle := driver.Installed{
		handleCertificate:         name,
		handleSnapshot:            snapshot,
		handleProfile:             s.opts.ProfileName,
		handleBind:                s.opts.Bind,
		handleBinding:             binding,
		handlePreviousProfile:     before.runningProfile,
		handlePreviousCertificate: before.runningCertificate,
	}

	var bundle []byte
	for _, c := range chain {
		bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	log.Debug("importing the signed chain", "certificates", len(chain))
	if err := s.c.importCertificate(ctx, name, bundle); err != nil {
		return nil, wrapf(fmt.Sprintf("install: import the chain into %s", name), err)
	}
	if err := s.c.set(ctx, profileXPath(s.opts.ProfileName), s.profileElement(name, before.candidateProfile)); err != nil {
		return nil, s.revert(ctx, before, wrapf(fmt.Sprintf("install: point SSL/TLS service profile %s at %s", s.opts.ProfileName, name), err))
	}
	element := "<ssl-tls-service-profile>" + escape(s.opts.ProfileName) + "</ssl-tls-service-profile>"
	if err := s.c.edit(ctx, binding, element); err != nil {
		return nil, s.revert(ctx, before, wrapf(fmt.Sprintf("install: bind profile %s to %s", s.opts.ProfileName, s.opts.describeBind()), err))
	}
	nothing, err := s.commitMine(ctx)
	if err != nil {
		var jobErr *JobError
		var apiErr *APIError
		if errors.As(err, &jobErr) || errors.As(err, &apiErr) {
			return nil, s.revert(ctx, before, wrapf("install", err))
		}
		// The job may still finish on the device: undoing the candidate
		// now could be committed over a configuration that works. A
		// retried Install repeats the same steps harmlessly.
		return nil, wrapf("install (the commit's outcome is unknown; the device may already serve the new certificate)", err)
	}
	if nothing != "" {
		// Someone committed these changes first (a full commit by
		// another administrator, or an earlier attempt of this Install
		// whose answer was lost): fine if the running configuration
		// serves the certificate, and a failure if it does not.
		if err := s.inService(ctx, name, chain[0]); err != nil {
			return nil, s.revert(ctx, before, wrapf("install", fmt.Errorf("the device answered the commit with %q, but %w", nothing, err)))
		}
		log.Info("the device had nothing to commit; the running configuration already serves the certificate", "answer", nothing)
	}
	log.Debug("installed", "bind", s.opts.Bind, "profile", s.opts.ProfileName, "snapshot", snapshot)
	return handle, nil
}

// inService checks in the running configuration that the route's service
// is bound to ottr's profile, the profile names certificate name, and that
// entry holds leaf.
func (s *session) inService(ctx context.Context, name string, leaf *x509.Certificate) error {
	binding, err := s.c.show(ctx, s.opts.bindingXPath())
	if err != nil {
		return fmt.Errorf("reading the running binding failed: %w", err)
	}
	if got := binding.text(); got != s.opts.ProfileName {
		return fmt.Errorf("the running configuration binds %s to SSL/TLS service profile %q, not %q", s.opts.describeBind(), got, s.opts.ProfileName)
	}
	certName, err := s.c.show(ctx, profileXPath(s.opts.ProfileName)+"/certificate")
	if err != nil {
		return fmt.Errorf("reading the running profile failed: %w", err)
	}
	if got := certName.text(); got != name {
		return fmt.Errorf("the running SSL/TLS service profile %s names certificate %q, not %q", s.opts.ProfileName, got, name)
	}
	entry, err := s.c.show(ctx, certificateXPath(name))
	if err != nil {
		return fmt.Errorf("reading the running certificate failed: %w", err)
	}
	if chain := leafFirst(parseChain(entry.text("public-key"))); len(chain) == 0 || !chain[0].Equal(leaf) {
		return fmt.Errorf("the running certificate %s does not hold the signed certificate (serial %x)", name, leaf.SerialNumber)
	}
	return nil
}

// certificateFor finds the ottr certificate entry holding the key of leaf:
// the entry GenerateCSR made, in this session or an earlier one.
func (s *session) certificateFor(ctx context.Context, leaf *x509.Certificate) (string, error) {
	certs, err := s.c.get(ctx, "/config/shared/certificate")
	if err != nil {
		return "", fmt.Errorf("list certificates: %w", err)
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	want, ok := leaf.PublicKey.(equaler)
	if !ok {
		return "", fmt.Errorf("the leaf's public key is a %T", leaf.PublicKey)
	}
	for _, e := range certs.entries() {
		name := e.attr("name")
		if !strings.HasPrefix(name, certPrefix) {
			continue
		}
		if block, _ := pem.Decode([]byte(e.text("csr"))); block != nil {
			if csr, err := x509.ParseCertificateRequest(block.Bytes); err == nil && want.Equal(csr.PublicKey) {
				return name, nil
			}
		}
		for _, c := range parseChain(e.text("public-key")) {
			if want.Equal(c.PublicKey) {
				return name, nil
			}
		}
	}
	return "", fmt.Errorf("no ottr certificate on the device holds the key of %q (serial %x); the CSR was not generated by this device, or its entry was deleted",
		leaf.Subject.CommonName, leaf.SerialNumber)
}

// snapshot saves the candidate configuration under name unless a snapshot
// of that name exists: then an earlier Install of the same certificate
// already saved the state from before it.
func (s *session) snapshot(ctx context.Context, name string) error {
	_, err := s.c.op(ctx, "<show><config><saved>"+escape(name)+"</saved></config></show>")
	var apiErr *APIError
	switch {
	case err == nil:
		s.log.Debug("keeping the existing snapshot", "snapshot", name)
		return nil
	case !errors.As(err, &apiErr):
		return err
	}
	// The device says there is no such snapshot yet.
	_, err = s.c.op(ctx, "<save><config><to>"+escape(name)+"</to></config></save>")
	return err
}

// serviceState is what the binding looked like before Install changed it.
type serviceState struct {
	// candidateBinding is the binding's text in the candidate; "" when
	// unset.
	candidateBinding string
	// candidateProfile is ottr's profile entry in the candidate; nil when
	// it did not exist.
	candidateProfile *xnode
	// runningProfile and runningCertificate are what the service uses in
	// the running configuration, for the handle.
	runningProfile     string
	runningCertificate string
}

func (s *session) captureService(ctx context.Context, binding string) (*serviceState, error) {
	st := &serviceState{}
	if n, err := s.c.get(ctx, binding); err != nil {
		return nil, err
	} else if n != nil {
		st.candidateBinding = strings.TrimSpace(n.Text)
	}
	profile, err := s.c.get(ctx, profileXPath(s.opts.ProfileName))
	if err != nil {
		return nil, err
	}
	st.candidateProfile = profile
	if n, err := s.c.show(ctx, binding); err != nil {
		return nil, err
	} else if n != nil {
		st.runningProfile = strings.TrimSpace(n.Text)
	}
	if st.runningProfile != "" {
		if n, err := s.c.show(ctx, profileXPath(st.runningProfile)+"/certificate"); err != nil {
			return nil, err
		} else if n != nil {
			st.runningCertificate = strings.TrimSpace(n.Text)
		}
	}
	return st, nil
}

// tlsVersionRank orders PAN-OS protocol versions.
var tlsVersionRank = []string{"tls1-0", "tls1-1", "tls1-2", "tls1-3"}

// profileElement is the set element for ottr's profile: the certificate,
// and the minimum TLS version unless the profile already demands more.
func (s *session) profileElement(certName string, existing *xnode) string {
	var b strings.Builder
	b.WriteString("<certificate>" + escape(certName) + "</certificate>")
	current := existing.text("protocol-settings", "min-version")
	if slices.Index(tlsVersionRank, current) < slices.Index(tlsVersionRank, s.opts.MinTLSVersion) {
		b.WriteString("<protocol-settings><min-version>" + s.opts.MinTLSVersion + "</min-version>")
		if existing == nil {
			b.WriteString("<max-version>max</max-version>")
		}
		b.WriteString("</protocol-settings>")
	}
	return b.String()
}

// revert puts the binding and ottr's profile back as they were in the
// candidate before Install, after a failed step, and returns cause (with
// any trouble reverting).
func (s *session) revert(ctx context.Context, before *serviceState, cause error) error {
	// The caller's context may be what failed; reverting still deserves
	// a short chance.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	var errs []error
	binding := s.opts.bindingXPath()
	if before.candidateBinding == "" {
		errs = append(errs, s.c.remove(ctx, binding))
	} else {
		errs = append(errs, s.c.edit(ctx, binding, "<ssl-tls-service-profile>"+escape(before.candidateBinding)+"</ssl-tls-service-profile>"))
	}
	if before.candidateProfile == nil {
		errs = append(errs, s.c.remove(ctx, profileXPath(s.opts.ProfileName)))
	} else {
		errs = append(errs, s.c.edit(ctx, profileXPath(s.opts.ProfileName), marshalNode(before.candidateProfile)))
	}
	if err := errors.Join(errs...); err != nil {
		return errors.Join(cause, wrapf("revert the candidate configuration", err))
	}
	s.log.Debug("reverted the candidate configuration after a failed install")
	return cause
}

// Rollback loads the snapshot Install saved and commits the whole
// configuration with force, the only commit PAN-OS accepts after a load:
// whatever other administrators had pending when the snapshot was taken is
// committed with it. It needs only the handle, so a new session in another
// process can do it, and doing it twice is harmless. A commit that fails,
// or that the device answers with nothing to commit, fails the rollback.
func (s *session) Rollback(ctx context.Context, i driver.Installed) error {
	snapshot := i[handleSnapshot]
	if snapshot == "" {
		return errorf("rollback", "the install handle names no snapshot")
	}
	s.log.Debug("rolling back", "snapshot", snapshot)
	if _, err := s.c.op(ctx, "<load><config><from>"+escape(snapshot)+"</from></config></load>"); err != nil {
		return wrapf(fmt.Sprintf("rollback: load snapshot %s", snapshot), err)
	}
	step := fmt.Sprintf("rollback to snapshot %s", snapshot)
	// After the load the candidate is the snapshot; left uncommitted, it
	// would stop every partial commit on the device.
	const fix = "the candidate configuration now holds the snapshot: commit it with force on the device " +
		"(commit force), or revert the candidate (load config from running-config.xml) and roll back again; " +
		"until then the rotated certificate stays in service"
	nothing, err := s.commitAll(ctx)
	if err != nil {
		return wrapf(step, fmt.Errorf("%w; %s", err, fix))
	}
	if nothing != "" {
		return errorf(step, "the device committed nothing after loading the snapshot (its answer: %q); %s", nothing, fix)
	}
	return nil
}
