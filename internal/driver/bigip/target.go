package bigip

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/ottr-go/ottr/internal/driver"
)

// What the target (a client-ssl profile's certKeyChain entry, or sys
// httpd) uses, and changing it.

// entryIndex finds the certKeyChain entry named name, or the first entry
// when name is empty.
func entryIndex(p *profile, name string) (int, error) {
	if len(p.CertKeyChain) == 0 {
		return 0, fmt.Errorf("profile %s has no certKeyChain entry: %w", p.FullPath, errNoEntry)
	}
	if name == "" {
		return 0, nil
	}
	names := make([]string, 0, len(p.CertKeyChain))
	for i, e := range p.CertKeyChain {
		if e.Name == name {
			return i, nil
		}
		names = append(names, e.Name)
	}
	return 0, fmt.Errorf("profile %s has no certKeyChain entry %q (it has %s): %w",
		p.FullPath, name, strings.Join(names, ", "), errNoEntry)
}

// currentBinding returns what the target uses now; entry names the
// certKeyChain entry (empty: the first).
func (s *session) currentBinding(ctx context.Context, entry string) (binding, error) {
	if s.opts.Target == targetHTTPD {
		h, err := s.c.httpd(ctx)
		if err != nil {
			return binding{}, fmt.Errorf("read sys httpd: %w", err)
		}
		return binding{Cert: h.CertFile, Key: h.KeyFile, Chain: normalChain(h.ChainFile)}, nil
	}
	p, i, err := s.profileEntry(ctx, entry)
	if err != nil {
		return binding{}, err
	}
	e := p.CertKeyChain[i]
	return binding{Cert: e.Cert, Key: e.Key, Chain: normalChain(e.Chain)}, nil
}

// profileEntry reads the client-ssl profile and finds the certKeyChain
// entry named entry (empty: the first).
func (s *session) profileEntry(ctx context.Context, entry string) (*profile, int, error) {
	p, err := s.c.profile(ctx, s.opts.profilePath())
	if err != nil {
		return nil, 0, fmt.Errorf("read client-ssl profile %s: %w", s.opts.profilePath(), err)
	}
	i, err := entryIndex(p, entry)
	if err != nil {
		return nil, 0, err
	}
	return p, i, nil
}

// entryName returns the name of the certKeyChain entry the route rotates.
func (s *session) entryName(ctx context.Context) (string, error) {
	if s.opts.Target == targetHTTPD {
		return "", nil
	}
	p, i, err := s.profileEntry(ctx, s.opts.CertKeyChain)
	if err != nil {
		return "", err
	}
	return p.CertKeyChain[i].Name, nil
}

// passphraseFree refuses a profile that has an entry whose key has a
// passphrase. The device shows a passphrase only encrypted, and nothing
// F5 publishes says it takes that form back: so the driver could neither
// write such an entry back unchanged (every change of certKeyChain sends
// all entries) nor, for the entry it rotates, point it back at that key on
// rollback.
func passphraseFree(p *profile, rotated int) error {
	for i, e := range p.CertKeyChain {
		switch {
		case !e.hasPassphrase():
		case i == rotated:
			return fmt.Errorf("certKeyChain entry %s of profile %s uses a key with a passphrase, which the device shows only encrypted: "+
				"ottr could not point the entry back at that key on rollback; put a key without a passphrase in the entry once by hand, "+
				"or name another entry with cert_key_chain", e.Name, p.FullPath)
		default:
			return fmt.Errorf("certKeyChain entry %s of profile %s uses a key with a passphrase, which the device shows only encrypted "+
				"and ottr does not send back: changing the profile would leave that key unreadable; give that certificate a profile of its own",
				e.Name, p.FullPath)
		}
	}
	return nil
}

// bindingFor returns how the target refers to the given objects: by full
// path in a profile, by filestore path in sys httpd.
func (s *session) bindingFor(ctx context.Context, key, cert, chain string) (binding, error) {
	if s.opts.Target != targetHTTPD {
		return binding{Cert: cert, Key: key, Chain: chain}, nil
	}
	var b binding
	var err error
	if b.Key, err = s.c.cachePath(ctx, "ssl-key", key); err != nil {
		return binding{}, err
	}
	if b.Cert, err = s.c.cachePath(ctx, "ssl-cert", cert); err != nil {
		return binding{}, err
	}
	if chain != "" {
		if b.Chain, err = s.c.cachePath(ctx, "ssl-cert", chain); err != nil {
			return binding{}, err
		}
	}
	return b, nil
}

// bind adds to transaction tx the change that points the target at b.
// In a profile only the entry named entry changes; every entry is sent as
// its name, certificate, key and chain, and nothing else of what the
// device returned (references, app service, passphrase) goes back.
func (s *session) bind(ctx context.Context, b binding, entry string, tx int64) error {
	if s.opts.Target == targetHTTPD {
		if err := s.c.patchHTTPD(ctx, httpd{CertFile: b.Cert, KeyFile: b.Key, ChainFile: b.Chain}, tx); err != nil {
			return fmt.Errorf("change sys httpd: %w", err)
		}
		return nil
	}
	p, i, err := s.profileEntry(ctx, entry)
	if err != nil {
		return err
	}
	if err := passphraseFree(p, i); err != nil {
		return err
	}
	entries := make([]entryChange, len(p.CertKeyChain))
	for j, e := range p.CertKeyChain {
		entries[j] = entryChange{Name: e.Name, Cert: e.Cert, Key: e.Key, Chain: orNone(e.Chain)}
	}
	entries[i].Cert, entries[i].Key, entries[i].Chain = b.Cert, b.Key, orNone(b.Chain)
	if err := s.c.patchProfile(ctx, p.FullPath, entries, tx); err != nil {
		return fmt.Errorf("change client-ssl profile %s: %w", p.FullPath, err)
	}
	return nil
}

// orNone is a reference as a change sends it: "none" for nothing.
func orNone(ref string) string {
	if isNone(ref) {
		return "none"
	}
	return ref
}

// readChain reads the certificates b names: the certificate, then the
// chain. Only certificate files are read, never the key.
func (s *session) readChain(ctx context.Context, b binding) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	for _, ref := range []string{b.Cert, b.Chain} {
		if isNone(ref) {
			continue
		}
		path := ref
		if s.opts.Target != targetHTTPD {
			var err error
			if path, err = s.c.cachePath(ctx, "ssl-cert", ref); err != nil {
				return nil, err
			}
		}
		data, err := s.c.readFile(ctx, path)
		if err != nil {
			return nil, err
		}
		certs, err := driver.ParseCertificates(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		chain = append(chain, certs...)
	}
	return chain, nil
}
