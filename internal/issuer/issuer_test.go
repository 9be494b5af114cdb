package issuer

import "testing"

func TestRefusedErrorKinds(t *testing.T) {
	tests := []struct {
		name            string
		problem         Problem
		rateLimited     bool
		refusedReplaces bool
	}{
		{"a rate limit is a rate limit", Problem{Type: ProblemRateLimited, Detail: "too many new orders"}, true, false},
		{"an already replaced certificate refuses the replaces field", Problem{Type: ProblemAlreadyReplaced, Detail: "certificate with serial 1f already has a replacement order"}, false, true},
		{"a malformed replaces field refuses the replaces field", Problem{Type: ProblemMalformed, Detail: "Unable to parse 'replaces' field"}, false, true},
		{"an unparsable certificate ID refuses the replaces field", Problem{Type: ProblemMalformed, Detail: "parsing ARI CertID failed: Invalid path"}, false, true},
		{"another malformed order is neither", Problem{Type: ProblemMalformed, Detail: "Order included DNS identifier with empty value"}, false, false},
		{"a policy refusal is neither", Problem{Type: "urn:ietf:params:acme:error:rejectedIdentifier", Detail: "replace this name"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &RefusedError{CA: "le", Problem: tt.problem}
			if got := e.RateLimited(); got != tt.rateLimited {
				t.Errorf("RateLimited() = %v, want %v", got, tt.rateLimited)
			}
			if got := e.RefusedReplaces(); got != tt.refusedReplaces {
				t.Errorf("RefusedReplaces() = %v, want %v", got, tt.refusedReplaces)
			}
		})
	}
}
