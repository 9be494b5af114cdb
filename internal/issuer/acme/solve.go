package acme

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	legoacme "github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/acme/api"
	"github.com/go-acme/lego/v5/challenge"
)

// An order's names are solved with lego's DNS-01 challenge (dns01.Challenge:
// PreSolve writes the record, Solve waits for it to propagate and answers
// the challenge, CleanUp removes it), but not through lego's Prober, which
// answers the names one after another and whose answer waits 5 s before
// its first look when the CA sends no Retry-After. Here every name's record
// is written first, then all names are checked and answered at once, and
// the CA is polled at Config.PollInterval unless it says otherwise.

// maxPollFactor caps the growth of the wait between polls the CA did not
// pace: at most this many poll intervals.
const maxPollFactor = 10

// solveAll answers the DNS-01 challenges of authzs, all pending. Names
// whose challenge records share one name (a name and its wildcard) go one
// after the other, as the record of one would replace the other's; the
// rest at once, or all one at a time when a zone's provider asks for it.
func (i *Issuer) solveAll(ctx context.Context, authzs []legoacme.Authorization) error {
	if one, pause := i.provider.sequential(); one {
		return i.solveInTurn(ctx, authzs, pause)
	}
	groups := groupBySharedRecord(authzs)

	// Every group's first record is written before any name is checked,
	// so the records propagate together.
	presented := make([]error, len(groups))
	var wg sync.WaitGroup
	for n, group := range groups {
		wg.Go(func() { presented[n] = i.dns01.PreSolve(ctx, group[0]) })
	}
	wg.Wait()

	failures := make([]error, len(groups))
	for n, group := range groups {
		wg.Go(func() {
			if err := presented[n]; err != nil {
				i.cleanUp(ctx, group[0])
				failures[n] = fmt.Errorf("%s: %w", challenge.GetTargetedDomain(group[0]), err)
				return
			}
			failures[n] = i.solveGroup(ctx, group)
		})
	}
	wg.Wait()
	return errors.Join(failures...)
}

// solveGroup solves authzs, whose first record is written, one after the
// other.
func (i *Issuer) solveGroup(ctx context.Context, authzs []legoacme.Authorization) error {
	for n, authz := range authzs {
		if err := i.solveName(ctx, authz, n == 0); err != nil {
			return err
		}
	}
	return nil
}

// solveInTurn solves authzs one at a time with pause between them.
func (i *Issuer) solveInTurn(ctx context.Context, authzs []legoacme.Authorization, pause time.Duration) error {
	for n, authz := range authzs {
		if n > 0 && pause > 0 {
			if err := i.pause(ctx, pause); err != nil {
				return err
			}
		}
		if err := i.solveName(ctx, authz, false); err != nil {
			return err
		}
	}
	return nil
}

// solveName writes authz's challenge record unless written says it is,
// waits for it to propagate, answers the challenge and removes the record.
func (i *Issuer) solveName(ctx context.Context, authz legoacme.Authorization, written bool) error {
	domain := challenge.GetTargetedDomain(authz)
	if !written {
		if err := i.dns01.PreSolve(ctx, authz); err != nil {
			i.cleanUp(ctx, authz)
			return fmt.Errorf("%s: %w", domain, err)
		}
	}
	err := i.dns01.Solve(ctx, authz)
	i.cleanUp(ctx, authz)
	if err != nil {
		return fmt.Errorf("%s: %w", domain, err)
	}
	return nil
}

// cleanUp removes authz's challenge record; a record left behind does not
// fail the order, so it is logged.
func (i *Issuer) cleanUp(ctx context.Context, authz legoacme.Authorization) {
	if err := i.dns01.CleanUp(ctx, authz); err != nil {
		i.log.Warn("acme: could not remove a challenge record", "name", challenge.GetTargetedDomain(authz), "err", err)
	}
}

// groupBySharedRecord groups authzs by identifier, in order: a name and
// its wildcard have one challenge record name.
func groupBySharedRecord(authzs []legoacme.Authorization) [][]legoacme.Authorization {
	var groups [][]legoacme.Authorization
	index := map[string]int{}
	for _, authz := range authzs {
		n, ok := index[authz.Identifier.Value]
		if !ok {
			n = len(groups)
			index[authz.Identifier.Value] = n
			groups = append(groups, nil)
		}
		groups[n] = append(groups[n], authz)
	}
	return groups
}

// validate is the dns01.ValidateFunc lego's DNS-01 challenge calls once the
// record has propagated: it answers the challenge and polls its
// authorization until the CA has decided, at the pace the CA's Retry-After
// sets or, without one, from Config.PollInterval.
func (i *Issuer) validate(ctx context.Context, core *api.Core, domain string, chlg legoacme.Challenge) error {
	answer, err := core.Challenges.New(ctx, chlg.URL)
	if err != nil {
		return fmt.Errorf("answer the challenge: %w", err)
	}
	switch answer.Status {
	case legoacme.StatusValid:
		return nil
	case legoacme.StatusPending, legoacme.StatusProcessing:
	case legoacme.StatusInvalid:
		return fmt.Errorf("the CA found the challenge for %s invalid: %w", domain, answer.Err())
	default:
		return fmt.Errorf("the CA answered the challenge for %s with status %q", domain, answer.Status)
	}
	_, err = i.awaitAuthorization(ctx, answer.AuthorizationURL, answer.RetryAfter)
	return err
}

// poller paces the polls of one resource: every Retry-After when the CA
// sent one, otherwise from PollInterval, growing by half each time up to
// maxPollFactor intervals, so a slow CA is not asked many times a second.
type poller struct {
	retryAfter, next, limit time.Duration
}

func (i *Issuer) newPoller(retryAfter time.Duration) *poller {
	return &poller{retryAfter: retryAfter, next: i.cfg.PollInterval, limit: maxPollFactor * i.cfg.PollInterval}
}

// wait is the pause before the next poll.
func (p *poller) wait() time.Duration {
	if p.retryAfter > 0 {
		return p.retryAfter
	}
	d := p.next
	p.next = min(p.next+p.next/2, p.limit)
	return d
}
