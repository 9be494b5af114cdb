package panos

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"strings"
)

// CurrentCertificate returns the chain of the certificate bound to the
// route's service in the running configuration. When management has no
// profile bound, it returns what the management interface serves (the
// device's default certificate); a GlobalProtect service with none has
// none.
func (s *session) CurrentCertificate(ctx context.Context) ([]*x509.Certificate, error) {
	chain, err := s.runningChain(ctx)
	if err != nil {
		return nil, wrapf("read the current certificate", err)
	}
	if len(chain) > 0 || s.opts.Bind != bindManagement {
		return chain, nil
	}
	served, err := s.c.servedChain(ctx)
	if err != nil {
		return nil, wrapf("read the certificate the management interface serves", err)
	}
	return served, nil
}

// runningChain follows binding -> profile -> certificate in the running
// configuration; nil when a link is missing.
func (s *session) runningChain(ctx context.Context) ([]*x509.Certificate, error) {
	profile, err := s.c.show(ctx, s.opts.bindingXPath())
	if err != nil || profile == nil || strings.TrimSpace(profile.Text) == "" {
		return nil, err
	}
	certName, err := s.c.show(ctx, profileXPath(strings.TrimSpace(profile.Text))+"/certificate")
	if err != nil || certName == nil {
		return nil, err
	}
	cert, err := s.c.show(ctx, certificateXPath(strings.TrimSpace(certName.Text)))
	if err != nil || cert == nil {
		return nil, err
	}
	return leafFirst(parseChain(cert.text("public-key"))), nil
}

// leafFirst puts the leaf of a bundle first: the certificate that issued
// none of the others. A certificate entry's public-key holds the imported
// PEM; whether PAN-OS keeps the intermediates in it, and in which order, no
// published source says, so the leaf is found rather than assumed first.
func leafFirst(bundle []*x509.Certificate) []*x509.Certificate {
	issues := func(parent, child *x509.Certificate) bool {
		return parent != child && bytes.Equal(child.RawIssuer, parent.RawSubject) && !bytes.Equal(child.RawIssuer, child.RawSubject)
	}
	for i, c := range bundle {
		isIssuer := false
		for _, other := range bundle {
			if issues(c, other) {
				isIssuer = true
				break
			}
		}
		if !isIssuer {
			return append(append([]*x509.Certificate{c}, bundle[:i]...), bundle[i+1:]...)
		}
	}
	return bundle
}

// parseChain returns the certificates of a PEM bundle, in order.
func parseChain(bundle string) []*x509.Certificate {
	var out []*x509.Certificate
	rest := []byte(bundle)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return out
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			out = append(out, c)
		}
	}
}
