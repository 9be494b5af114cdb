package panos

import (
	"context"
	"errors"
	"fmt"

	"github.com/ottr-go/ottr/internal/driver"
)

// Finalize runs once the new certificate is verified from the network: it
// deletes the older certificates ottr made for the same common name (same
// name slug, earlier time stamp) that no SSL/TLS service profile uses, in
// the candidate or the running configuration, commits, and then removes the
// snapshots saved before those certificates were installed. Certificates
// ottr did not create are never touched. Calling it again is harmless: it
// always commits, so deletions left uncommitted by an interrupted run are
// committed too.
func (s *session) Finalize(ctx context.Context, i driver.Installed) error {
	current := i[handleCertificate]
	certSlug, stamp, ok := splitManagedName(current)
	if !ok {
		return errorf("finalize", "the install handle's certificate %q is not a name ottr makes", current)
	}
	certs, err := s.c.get(ctx, "/config/shared/certificate")
	if err != nil {
		return wrapf("finalize: list certificates", err)
	}
	inUse, err := s.certificatesInUse(ctx)
	if err != nil {
		return wrapf("finalize: list the certificates SSL/TLS service profiles use", err)
	}
	var deleted []string
	for _, e := range certs.entries() {
		name := e.attr("name")
		theirStamp, managed := managedStamp(name, certSlug)
		switch {
		case !managed || name == current:
			continue
		case theirStamp > stamp:
			s.log.Debug("keeping a newer ottr certificate", "certificate", name)
			continue
		case inUse[name]:
			s.log.Info("keeping an older ottr certificate that a profile still uses", "certificate", name)
			continue
		}
		err := s.c.remove(ctx, certificateXPath(name))
		var apiErr *APIError
		if errors.As(err, &apiErr) {
			// Something else still references it (a decryption
			// rule, a certificate profile): the device says what.
			s.log.Info("the device keeps an older ottr certificate", "certificate", name, "reason", apiErr.Error())
			continue
		}
		if err != nil {
			return wrapf(fmt.Sprintf("finalize: delete certificate %s", name), err)
		}
		deleted = append(deleted, name)
	}
	if _, err := s.commitMine(ctx); err != nil {
		return wrapf(fmt.Sprintf("finalize: delete older certificates %v", deleted), err)
	}
	for _, name := range deleted {
		snapshot := name + ".xml"
		if _, err := s.c.op(ctx, "<delete><config><saved>"+escape(snapshot)+"</saved></config></delete>"); err != nil {
			// A leftover snapshot costs a little disk; it is no reason
			// to fail a verified rotation.
			s.log.Debug("could not delete an old snapshot", "snapshot", snapshot, "err", err)
		}
	}
	s.log.Debug("finalized", "certificate", current, "deleted", deleted)
	return nil
}

// splitManagedName splits ottr-<slug>-<stamp>-<hex> into slug and stamp.
func splitManagedName(name string) (certSlug, stamp string, ok bool) {
	tail := len(stampLayout) + 1 + suffixHex
	if len(name) < len(certPrefix)+2+tail {
		return "", "", false
	}
	certSlug = name[len(certPrefix) : len(name)-tail-1]
	stamp, ok = managedStamp(name, certSlug)
	return certSlug, stamp, ok
}

// certificatesInUse returns the certificates any SSL/TLS service profile
// names, in the candidate or the running configuration.
func (s *session) certificatesInUse(ctx context.Context) (map[string]bool, error) {
	inUse := map[string]bool{}
	const profiles = "/config/shared/ssl-tls-service-profile"
	for _, read := range []func(context.Context, string) (*xnode, error){s.c.get, s.c.show} {
		n, err := read(ctx, profiles)
		if err != nil {
			return nil, err
		}
		for _, p := range n.entries() {
			if c := p.text("certificate"); c != "" {
				inUse[c] = true
			}
		}
	}
	return inUse, nil
}
