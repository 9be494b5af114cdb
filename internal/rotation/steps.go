package rotation

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/store"
)

// Step names a step of a rotation and the journal entry that records it.
type Step string

// The steps, in the order they run.
const (
	StepPreflight Step = "preflight"
	StepCSR       Step = "csr"
	StepIssue     Step = "issue"
	StepInstall   Step = "install"
	StepVerify    Step = "verify"
	StepRecord    Step = "record"
)

// Phase is what an Event reports.
type Phase string

// The phases of a step, and of the rotation's end.
const (
	// PhaseStart: the step starts.
	PhaseStart Phase = "start"
	// PhaseDone: the step finished and is journaled.
	PhaseDone Phase = "done"
	// PhaseSkip: the step was journaled before a resume, and what it
	// produced is reused.
	PhaseSkip Phase = "skip"
	// PhaseFail: the step failed.
	PhaseFail Phase = "fail"
	// PhaseEnd: the rotation's final state is recorded.
	PhaseEnd Phase = "end"
)

// steps is the rotation: each step once, in the order they run, with the
// entry it journals (its type parameter), how a resumed rotation restores
// that entry, and when a journaled one may stand for doing the step again.
var steps = [...]rotationStep{
	stepOf[preflightOutput]{step: StepPreflight, do: (*run).preflight, restore: (*run).restorePreflight},
	stepOf[csrOutput]{step: StepCSR, do: (*run).generateCSR, restore: (*run).restoreCSR},
	stepOf[issueOutput]{step: StepIssue, do: (*run).issue, restore: (*run).restoreIssue, reusable: (*run).chainFresh},
	stepOf[installOutput]{step: StepInstall, do: (*run).install, restore: (*run).restoreInstall},
	stepOf[verifyOutput]{step: StepVerify, do: (*run).verify, restore: (*run).restoreVerify},
	stepOf[recordOutput]{step: StepRecord, do: (*run).record},
}

// Steps returns every step in the order they run.
func Steps() []Step {
	names := make([]Step, len(steps))
	for i, s := range steps {
		names[i] = s.name()
	}
	return names
}

// stepNamed returns the step of that name, if the rotation has one.
func stepNamed(name Step) (rotationStep, bool) {
	for _, s := range steps {
		if s.name() == name {
			return s, true
		}
	}
	return nil, false
}

// rotationStep is what the table keeps of a step, whatever its journal
// entry's type.
type rotationStep interface {
	name() Step
	// perform does the step and returns what to journal.
	perform(ctx context.Context, rn *run) (entry, error)
	// resume reads the step's journal entry and, when what it records may
	// be reused, rebuilds from it what later steps need; reused is false
	// when the step must be done again.
	resume(ctx context.Context, rn *run, e store.JournalEntry) (reused bool, err error)
	// read reports whether a journal entry of the step can be read.
	read(output json.RawMessage) error
}

// entry is what a step journals, encoded as JSON.
type entry interface {
	// check reports whether a decoded entry can be used (its PEM parses,
	// say): a resumed rotation reads every entry before it does anything.
	check() error
}

// stepOf is a step whose journal entry is an O.
type stepOf[O entry] struct {
	step Step
	do   func(rn *run, ctx context.Context) (O, error)
	// restore rebuilds from a journaled O what later steps use of it; nil
	// when they use nothing.
	restore func(rn *run, ctx context.Context, out O) error
	// reusable reports whether a journaled O may stand for doing the step
	// again; nil means always.
	reusable func(rn *run, ctx context.Context, out O) bool
}

func (s stepOf[O]) name() Step { return s.step }

func (s stepOf[O]) perform(ctx context.Context, rn *run) (entry, error) {
	return s.do(rn, ctx)
}

func (s stepOf[O]) resume(ctx context.Context, rn *run, e store.JournalEntry) (bool, error) {
	out, err := decode[O](e.Output)
	if err != nil {
		return false, fmt.Errorf("journaled %s unreadable: %w", s.step, err)
	}
	if s.reusable != nil && !s.reusable(rn, ctx, out) {
		return false, nil
	}
	if s.restore == nil {
		return true, nil
	}
	return true, s.restore(rn, ctx, out)
}

func (s stepOf[O]) read(output json.RawMessage) error {
	_, err := decode[O](output)
	return err
}

// decode reads a journaled entry.
func decode[O entry](output json.RawMessage) (O, error) {
	var out O
	if err := json.Unmarshal(output, &out); err != nil {
		return out, err
	}
	return out, out.check()
}

// The steps' journal entries.
type (
	preflightOutput struct {
		Route         int    `json:"route"`
		RouteName     string `json:"route_name,omitempty"`
		Driver        string `json:"driver"`
		CurrentSerial string `json:"current_serial,omitempty"`
	}
	csrOutput struct {
		CSR string `json:"csr"`
	}
	issueOutput struct {
		Chain    string    `json:"chain"`
		Serial   string    `json:"serial"`
		NotAfter time.Time `json:"not_after"`
		// CA is the profile that issued, when a fallback did; verify then
		// checks against its roots and issuers.
		CA string `json:"ca,omitempty"`
	}
	installOutput struct {
		Installed driver.Installed `json:"installed"`
	}
	verifyOutput struct {
		Serial   string    `json:"serial"`
		Issuer   string    `json:"issuer"`
		NotAfter time.Time `json:"not_after"`
	}
	recordOutput struct{}
)

func (preflightOutput) check() error { return nil }
func (installOutput) check() error   { return nil }
func (verifyOutput) check() error    { return nil }
func (recordOutput) check() error    { return nil }

func (o csrOutput) check() error {
	_, err := o.request()
	return err
}

func (o csrOutput) request() (*x509.CertificateRequest, error) { return parseCSR(o.CSR) }

func (o issueOutput) check() error {
	_, err := o.chain()
	return err
}

func (o issueOutput) chain() ([]*x509.Certificate, error) { return parseChain(o.Chain) }

func (rn *run) restorePreflight(ctx context.Context, out preflightOutput) error {
	rn.servedBefore = out.CurrentSerial
	return rn.resolveRoute(ctx)
}

func (rn *run) restoreCSR(ctx context.Context, out csrOutput) error {
	csr, err := out.request()
	if err != nil {
		return err
	}
	rn.csr = csr
	return nil
}

// chainFresh reports whether a journaled chain may be installed instead of
// ordering another: while it is still valid, from now, for at least the
// minimum lifetime of the CA profile that issued it. Ordering again would
// spend rate limit and leave an unused certificate behind; a chain with
// less left is ordered again. When the issuing profile is no longer
// configured, the asset's profile's minimum applies, and restoreIssue
// reports the missing profile if the chain is still to be used.
func (rn *run) chainFresh(ctx context.Context, out issueOutput) bool {
	minLifetime := rn.ca.MinLifetime
	if ca, err := rn.issuedBy(ctx, out); err == nil {
		minLifetime = ca.MinLifetime
	}
	return !rn.r.d.Now().Add(minLifetime).After(out.NotAfter)
}

// issuedBy returns the profile of the CA that issued a journaled chain.
func (rn *run) issuedBy(ctx context.Context, out issueOutput) (*CAProfile, error) {
	if out.CA == "" || out.CA == rn.ca.Name {
		return rn.ca, nil
	}
	ca, err := rn.r.d.CAs(ctx, out.CA)
	if err != nil {
		return nil, fmt.Errorf("the chain was issued by CA %s: %w", out.CA, err)
	}
	return ca, nil
}

func (rn *run) restoreIssue(ctx context.Context, out issueOutput) error {
	chain, err := out.chain()
	if err != nil {
		return err
	}
	ca, err := rn.issuedBy(ctx, out)
	if err != nil {
		return err
	}
	rn.chain, rn.ca = chain, ca
	return nil
}

func (rn *run) restoreInstall(ctx context.Context, out installOutput) error {
	rn.installed = out.Installed
	return nil
}

func (rn *run) restoreVerify(ctx context.Context, out verifyOutput) error {
	rn.observed = out
	return nil
}
