package dnsdoctor

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/dns"

	"github.com/ottr-go/ottr/internal/dnsdelegate"
)

// Applier creates _acme-challenge CNAMEs in the managed zones, for
// operators who give ottr write access to them. One implementation per DNS
// provider; RFC2136 is the first.
type Applier interface {
	// AddCNAME makes name a CNAME to target with a TTL in seconds, only if
	// name owns no record yet. If it owns any, AddCNAME changes nothing
	// and returns a *ConflictError.
	AddCNAME(ctx context.Context, name, target string, ttl int) error
}

// ConflictError reports that a name already owns records, so a CNAME
// could not be added without overwriting them.
type ConflictError struct {
	Name string
	// Target is the name's CNAME target now, or "" if it is no CNAME or
	// its records could not be read.
	Target string
	// Records are what the name owns now, as zone-file lines, where they
	// could be read.
	Records []string
}

func (e *ConflictError) Error() string {
	switch {
	case e.Target != "":
		return fmt.Sprintf("%s already exists as a CNAME to %s", e.Name, e.Target)
	case len(e.Records) > 0:
		return fmt.Sprintf("%s already exists: %s", e.Name, strings.Join(e.Records, "; "))
	}
	return e.Name + " already exists"
}

// Action is what Apply did, or would do, with one record.
type Action string

const (
	// ActionCreated: the CNAME was added.
	ActionCreated Action = "created"
	// ActionWouldCreate: dry run; the CNAME would be added.
	ActionWouldCreate Action = "would-create"
	// ActionPresent: the CNAME was there already, as wanted.
	ActionPresent Action = "present"
	// ActionConflict: the name owns other records, left untouched.
	ActionConflict Action = "conflict"
	// ActionFailed: the provider failed; see Problem.
	ActionFailed Action = "failed"
)

// ApplyResult is the outcome for one record.
type ApplyResult struct {
	Record  dnsdelegate.Record `json:"record"`
	Action  Action             `json:"action"`
	Problem string             `json:"problem,omitempty"`
}

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// DryRun returns what would be created without calling the Applier.
	DryRun bool
	// TTL of the new records in seconds. Default dnsdelegate.DefaultTTL.
	TTL int
}

// Apply creates each record through a, in order, and never overwrites:
// a name that already owns records is reported as a conflict (or as
// present, when it is already the wanted CNAME). Feed it Report.Missing()
// so that only names the doctor found empty are touched.
func Apply(ctx context.Context, a Applier, records []dnsdelegate.Record, opts ApplyOptions) []ApplyResult {
	ttl := opts.TTL
	if ttl <= 0 {
		ttl = dnsdelegate.DefaultTTL
	}
	out := make([]ApplyResult, 0, len(records))
	for _, r := range records {
		res := ApplyResult{Record: r}
		if opts.DryRun {
			res.Action = ActionWouldCreate
			out = append(out, res)
			continue
		}
		err := a.AddCNAME(ctx, r.Name, r.Target, ttl)
		var conflict *ConflictError
		switch {
		case err == nil:
			res.Action = ActionCreated
		case errors.As(err, &conflict) && strings.EqualFold(dns.Fqdn(conflict.Target), dns.Fqdn(r.Target)):
			res.Action = ActionPresent
		case errors.As(err, &conflict):
			res.Action = ActionConflict
			res.Problem = conflict.Error() + ": left as it is; fix it by hand"
		default:
			res.Action = ActionFailed
			res.Problem = err.Error()
		}
		out = append(out, res)
	}
	return out
}
