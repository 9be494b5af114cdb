package rotation

import (
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/issuer"
)

// defaultRecheck is how long to wait before asking the CA about a window
// again when it did not say (RFC 9773 suggests six hours).
const defaultRecheck = 6 * time.Hour

// order has ca sign the CSR, continuing resume — an order ca created
// before the rotation was interrupted — when there is one. A renewal of a
// certificate ca issued names it in "replaces" (RFC 9773 §5), which tells
// the CA the order is a renewal — Let's Encrypt exempts such renewals from
// its rate limits. When the CA refuses or fails the order because of that
// field (the certificate was replaced already, or the CA cannot find it),
// the same order is placed once more without it: the device still needs
// its certificate. A rate limit is not worked around this way.
func (rn *run) order(ctx context.Context, ca *CAProfile, resume *issuer.OrderRef) ([]*x509.Certificate, error) {
	opts := issuer.IssueOptions{Profile: ca.Profile, Replaces: rn.replaces(ca), Resume: resume, OnOrder: rn.keepOrder(ca.Name)}
	if opts.Replaces != "" && resume == nil {
		rn.logf(slog.LevelInfo, "the order replaces certificate %s (ACME ARI)", opts.Replaces)
	}
	chain, err := ca.Issuer.Issue(ctx, rn.csr, opts)
	if opts.Replaces != "" && issuer.RefusedReplaces(err) && ctx.Err() == nil {
		rn.logf(slog.LevelWarn, "%v; ordering again without replacing certificate %s", err, opts.Replaces)
		opts.Replaces, opts.Resume = "", nil
		chain, err = ca.Issuer.Issue(ctx, rn.csr, opts)
	}
	return chain, err
}

// replaces returns the ARI certificate ID to name in an order to ca: that
// of the certificate ottr last installed, if ca issued it. Another CA does
// not know the certificate and would refuse the order.
func (rn *run) replaces(ca *CAProfile) string {
	a := rn.asset
	if a.RenewalCertID == "" || cmp.Or(a.RenewalCertCA, a.CertificateAuthority) != ca.Name {
		return ""
	}
	return a.RenewalCertID
}

// ariState is what the record step keeps of the CA's renewal information
// for a newly installed certificate.
type ariState struct {
	window  *asset.Window
	certID  string
	checkAt *time.Time
}

// renewalInfo asks the CA when leaf should be renewed. A CA without ARI
// leaves everything unset, so the scheduler never asks it again; a CA that
// could not answer now is asked again at the next scan.
func (rn *run) renewalInfo(ctx context.Context, leaf *x509.Certificate) ariState {
	var parent *x509.Certificate
	if len(rn.chain) > 1 {
		parent = rn.chain[1]
	}
	info, err := rn.ca.Issuer.RenewalWindow(ctx, leaf, parent)
	if errors.Is(err, issuer.ErrNoRenewalInfo) {
		return ariState{}
	}
	id, idErr := issuer.CertID(leaf)
	if idErr != nil {
		rn.logf(slog.LevelWarn, "the certificate cannot be named to the CA's renewal information (ARI): %v", idErr)
		id = ""
	}
	now := rn.r.d.Now().UTC()
	if err != nil {
		rn.logf(slog.LevelWarn, "could not ask the CA for a renewal window: %v", err)
		if id == "" {
			return ariState{}
		}
		return ariState{certID: id, checkAt: &now}
	}
	rn.logf(slog.LevelInfo, "CA suggests renewing between %s and %s", info.Start.UTC().Format(time.RFC3339), info.End.UTC().Format(time.RFC3339))
	out := ariState{window: &asset.Window{Start: info.Start.UTC(), End: info.End.UTC()}, certID: id}
	if id != "" {
		check := now.Add(defaultRecheck)
		if !info.RetryAfter.IsZero() {
			check = info.RetryAfter.UTC()
		}
		out.checkAt = &check
	}
	return out
}
