// Package issuer defines how ottr gets a device's CSR signed. The acme
// package implements it on lego; other CAs implement the same interface.
package issuer

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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
	// RenewalInfo asks the CA (ACME ARI) when the certificate with the
	// given ARI certificate ID (see CertID) should be renewed, for a
	// caller that keeps the ID rather than the certificate. It returns
	// ErrNoRenewalInfo when the CA does not support ARI.
	RenewalInfo(ctx context.Context, certID string) (RenewalInfo, error)
}

// IssueOptions tune one order.
type IssueOptions struct {
	// Profile is the ACME profile name (e.g. "shortlived"); empty means the
	// CA profile's default.
	Profile string
	// Replaces is the ARI certificate ID of the certificate this replaces.
	Replaces string
	// Resume is an order the CA created for this CSR during an earlier
	// Issue that was interrupted (see OnOrder). Issue continues it —
	// answers the challenges still pending, finalizes it, or downloads the
	// certificate the CA already issued — and creates a new order only
	// when the CA reports this one invalid or expired, or no longer knows
	// it.
	Resume *OrderRef
	// OnOrder, when set, is called as soon as the CA has created an order,
	// before any of its challenges is answered, so the caller can keep it
	// and pass it back as Resume should this Issue be interrupted. When
	// OnOrder fails, Issue stops there and returns its error.
	OnOrder func(ctx context.Context, order OrderRef) error
}

// OrderRef names an order a CA created: what a caller keeps so that an
// interrupted Issue is continued rather than ordered again. It is plain
// data, meant to be stored as JSON.
type OrderRef struct {
	// URL is the order's URL at the CA.
	URL string `json:"url"`
	// Authorizations are the URLs of the order's authorizations.
	Authorizations []string `json:"authorizations,omitempty"`
	// Finalize is where the CSR is sent once every name is authorized.
	Finalize string `json:"finalize,omitempty"`
	// Replaces is the ARI certificate ID the order named in "replaces".
	Replaces string `json:"replaces,omitempty"`
	// Profile is the certificate profile the order asked for.
	Profile string `json:"profile,omitempty"`
	// Expires is when the CA forgets the order if it is not finished.
	Expires time.Time `json:"expires,omitzero"`
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

// Problem is the problem document (RFC 8555 §6.7) a CA answered with.
type Problem struct {
	Type   string `json:"type"`
	Detail string `json:"detail,omitempty"`
	Status int    `json:"status,omitempty"`
	// Subproblems are the per-identifier problems of a compound one.
	Subproblems []Subproblem `json:"subproblems,omitempty"`
}

// Subproblem is one identifier's problem.
type Subproblem struct {
	Identifier string `json:"identifier,omitempty"`
	Type       string `json:"type"`
	Detail     string `json:"detail,omitempty"`
}

// RefusedError is a CA answering an order with a problem document: a rate
// limit, a policy, a failed validation. Trying another CA does not help;
// trying again before RetryAfter does not either.
type RefusedError struct {
	// CA is the CA profile's name.
	CA      string
	Problem Problem
	// RetryAfter is when the CA said to try again; zero when it did not.
	RetryAfter time.Time
	// Err is the underlying error.
	Err error
}

func (e *RefusedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "CA %s refused the order: %s", e.CA, strings.TrimPrefix(e.Problem.Type, "urn:ietf:params:acme:error:"))
	if e.Problem.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Problem.Status)
	}
	if e.Problem.Detail != "" {
		b.WriteString(": " + e.Problem.Detail)
	}
	if !e.RetryAfter.IsZero() {
		fmt.Fprintf(&b, "; the CA asks to retry after %s", e.RetryAfter.UTC().Format(time.RFC3339))
	}
	if doc, err := json.Marshal(e.Problem); err == nil {
		fmt.Fprintf(&b, "; problem document %s", doc)
	}
	return b.String()
}

func (e *RefusedError) Unwrap() error { return e.Err }

// ACME error types callers branch on (RFC 8555 §6.7, RFC 9773 §5).
const (
	ProblemRateLimited     = "urn:ietf:params:acme:error:rateLimited"
	ProblemAlreadyReplaced = "urn:ietf:params:acme:error:alreadyReplaced"
	ProblemMalformed       = "urn:ietf:params:acme:error:malformed"
)

// RateLimited reports whether the CA refused the order because a rate
// limit was reached.
func (e *RefusedError) RateLimited() bool {
	return e.Problem.Type == ProblemRateLimited
}

// RefusedReplaces reports whether err is a CA refusing or failing an
// order because of the certificate the order named in "replaces": one
// already replaced by another order, one the CA does not know or cannot
// find, or one another account ordered — whether the CA answered with a
// 4xx or a 5xx. The same order without "replaces" may then be accepted.
// A rate limit never counts: the order would be refused again.
func RefusedReplaces(err error) bool {
	var refused *RefusedError
	if errors.As(err, &refused) {
		return refused.Problem.namesReplaced()
	}
	var down *UnavailableError
	if errors.As(err, &down) && down.Problem != nil {
		return down.Problem.namesReplaced()
	}
	return false
}

// replacedWords are how CAs' problem details speak of the certificate an
// order replaces: RFC 9773's field and identifier, and the phrases of
// Pebble ("could not find an order for the given certificate", "…the
// certificate being replaced…", "…the new order and existing order must
// match") and Boulder.
var replacedWords = []string{
	"replaces", "replaced", "replacement",
	"certid", "cert id", "certificate id",
	"given certificate", "original certificate", "existing order",
}

// namesReplaced reports whether p is about the certificate an order
// replaces.
func (p Problem) namesReplaced() bool {
	switch p.Type {
	case ProblemAlreadyReplaced:
		return true
	case ProblemRateLimited:
		return false
	}
	detail := strings.ToLower(p.Detail)
	for _, word := range replacedWords {
		if strings.Contains(detail, word) {
			return true
		}
	}
	return false
}

// UnavailableError is a CA that could not be reached or failed on its own
// side (an HTTP 5xx): a fallback issuer may be tried.
type UnavailableError struct {
	CA string
	// Problem is the problem document of a CA that answered with a 5xx;
	// nil when it could not be reached.
	Problem *Problem
	Err     error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("CA %s is unavailable: %v", e.CA, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// RetryAfter returns when the CA behind err asked to be tried again, and
// whether it did.
func RetryAfter(err error) (time.Time, bool) {
	var refused *RefusedError
	if errors.As(err, &refused) && !refused.RetryAfter.IsZero() {
		return refused.RetryAfter, true
	}
	return time.Time{}, false
}
