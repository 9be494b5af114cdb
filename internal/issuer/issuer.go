// Package issuer defines how ottr gets a device's CSR signed. The acme
// package implements it on lego; other CAs implement the same interface.
package issuer

import (
	"context"
	"crypto/x509"
	"time"
)

// Issuer signs CSRs for one CA profile.
type Issuer interface {
	// Issue has the CA sign csr and returns the chain, leaf first. The names
	// to validate are the CSR's. replaces, if not empty, is the ARI
	// certificate identifier of the certificate being replaced.
	Issue(ctx context.Context, csr *x509.CertificateRequest, o IssueOptions) ([]*x509.Certificate, error)
	// RenewalWindow asks the CA (ACME ARI) when leaf should be renewed. It
	// returns ErrNoRenewalInfo when the CA does not support ARI.
	RenewalWindow(ctx context.Context, leaf, issuer *x509.Certificate) (RenewalInfo, error)
}

// IssueOptions tune one order.
type IssueOptions struct {
	// Profile is the ACME profile name (e.g. "shortlived"); empty means the
	// CA profile's default.
	Profile string
	// Replaces is the ARI certificate ID of the certificate this replaces.
	Replaces string
}

// RenewalInfo is a CA's suggested renewal window.
type RenewalInfo struct {
	Start, End time.Time
	// RetryAfter is when to ask again.
	RetryAfter time.Time
	// ExplanationURL is the CA's reason, if it gave one.
	ExplanationURL string
}

// ErrNoRenewalInfo: the CA does not offer ARI.
var ErrNoRenewalInfo = errNoRenewalInfo{}

type errNoRenewalInfo struct{}

func (errNoRenewalInfo) Error() string {
	return "issuer: the CA does not offer renewal information (ARI)"
}
