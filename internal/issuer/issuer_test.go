package issuer

import (
	"errors"
	"fmt"
	"testing"
)

func TestRefusedErrorKinds(t *testing.T) {
	tests := []struct {
		name            string
		problem         Problem
		rateLimited     bool
		refusedReplaces bool
	}{
		{"a rate limit is a rate limit", Problem{Type: ProblemRateLimited, Detail: "too many new orders"}, true, false},
		{"a rate limit on replacement orders is still only a rate limit", Problem{Type: ProblemRateLimited, Detail: "too many replacement orders for this certificate"}, true, false},
		{"an already replaced certificate refuses the replaces field", Problem{Type: ProblemAlreadyReplaced, Detail: "certificate with serial 1f already has a replacement order"}, false, true},
		{"a malformed replaces field refuses the replaces field", Problem{Type: ProblemMalformed, Detail: "Unable to parse 'replaces' field"}, false, true},
		{"an unparsable certificate ID refuses the replaces field", Problem{Type: ProblemMalformed, Detail: "parsing ARI CertID failed: Invalid path"}, false, true},
		{"a certificate another account ordered refuses the replaces field", Problem{Type: "urn:ietf:params:acme:error:unauthorized", Status: 403,
			Detail: "requester account did not request the certificate being replaced by this order"}, false, true},
		{"another malformed order is neither", Problem{Type: ProblemMalformed, Detail: "Order included DNS identifier with empty value"}, false, false},
		{"a policy refusal is neither", Problem{Type: "urn:ietf:params:acme:error:rejectedIdentifier", Detail: "replace this name"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &RefusedError{CA: "le", Problem: tt.problem}
			if got := e.RateLimited(); got != tt.rateLimited {
				t.Errorf("RateLimited() = %v, want %v", got, tt.rateLimited)
			}
			if got := RefusedReplaces(fmt.Errorf("rotation: %w", e)); got != tt.refusedReplaces {
				t.Errorf("RefusedReplaces() = %v, want %v", got, tt.refusedReplaces)
			}
		})
	}
}

func TestACAFailingOnTheReplacedCertificateRefusesTheReplacesField(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"a 500 saying the CA cannot find the replaced certificate counts",
			&UnavailableError{CA: "lab", Problem: &Problem{Type: "urn:ietf:params:acme:error:serverInternal", Status: 500,
				Detail: "could not find an order for the given certificate: could not find order resulting in the given certificate serial number"}}, true},
		{"a 500 saying the replaced certificate's names differ counts",
			&UnavailableError{CA: "lab", Problem: &Problem{Type: "urn:ietf:params:acme:error:serverInternal", Status: 500,
				Detail: "at least one identifier in the new order and existing order must match"}}, true},
		{"a 503 of a CA that is down does not",
			&UnavailableError{CA: "lab", Problem: &Problem{Type: "urn:ietf:params:acme:error:serverInternal", Status: 503, Detail: "service unavailable"}}, false},
		{"a CA that cannot be reached does not",
			&UnavailableError{CA: "lab", Err: errors.New("dial tcp 192.0.2.1:443: connection refused")}, false},
		{"an error that is no CA's answer does not", errors.New("given certificate replaced"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RefusedReplaces(tt.err); got != tt.want {
				t.Errorf("RefusedReplaces(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
