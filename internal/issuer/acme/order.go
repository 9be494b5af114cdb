package acme

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	legoacme "github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/acme/api"
	"github.com/go-acme/lego/v5/certcrypto"
	"github.com/go-acme/lego/v5/challenge"

	"github.com/ottr-go/ottr/internal/issuer"
)

// An order is driven through lego's acme/api one state at a time rather
// than with Certifier.ObtainForCSR, which creates, solves, finalizes and
// downloads in one call: the caller must learn of the order as soon as it
// exists, and an order created by an interrupted Issue must be picked up
// in whatever state the CA holds it.

const (
	// authorizationTimeout bounds the wait for challenges answered before
	// an interruption, which the CA may still be validating.
	authorizationTimeout = 2 * time.Minute
	// maxOrderSteps bounds the status changes of one order, so a CA that
	// keeps answering "pending" or "ready" cannot hold Issue in a loop.
	maxOrderSteps = 8
)

// obtain returns the PEM bundle the CA issues for csr: from the order in
// o.Resume when that can still be continued, or from a new one.
func (i *Issuer) obtain(ctx context.Context, csr *x509.CertificateRequest, names []string, profile string, o issuer.IssueOptions) ([]byte, error) {
	if o.Resume != nil && o.Resume.URL != "" {
		bundle, err := i.resume(ctx, csr, names, *o.Resume)
		var gone *orderGoneError
		if !errors.As(err, &gone) {
			return bundle, err
		}
		i.log.Warn("acme: the order cannot be continued; ordering again", "names", names, "reason", gone.reason, "order", o.Resume.URL)
	}
	order, err := i.newOrder(ctx, names, profile, o)
	if err != nil {
		return nil, err
	}
	return i.complete(ctx, csr, order, false)
}

// newOrder places an order and hands it to o.OnOrder. While a caller keeps
// its orders (OnOrder is set), this Issuer places one at a time, from the
// request until OnOrder has returned: a process killed meanwhile loses at
// most the one order whose answer it had not kept yet, which nothing in
// ACME can find again. Orders are a small part of a rotation's time, and
// a public CA allows a few hundred new orders an hour: going one at a
// time costs little.
func (i *Issuer) newOrder(ctx context.Context, names []string, profile string, o issuer.IssueOptions) (legoacme.ExtendedOrder, error) {
	if o.OnOrder != nil {
		select {
		case i.placing <- struct{}{}:
		case <-ctx.Done():
			return legoacme.ExtendedOrder{}, ctx.Err()
		}
		defer func() { <-i.placing }()
	}
	order, err := i.core.Orders.New(ctx, names, &api.OrderOptions{Profile: profile, ReplacesCertID: o.Replaces})
	if err != nil {
		return order, err
	}
	if o.OnOrder != nil {
		ref := issuer.OrderRef{
			URL:            order.Location,
			Authorizations: slices.Clone(order.Authorizations),
			Finalize:       order.Finalize,
			Replaces:       order.Replaces,
			Profile:        order.Profile,
		}
		if expires, err := time.Parse(time.RFC3339, order.Expires); err == nil {
			ref.Expires = expires.UTC()
		}
		if err := o.OnOrder(ctx, ref); err != nil {
			return order, &callerError{err: err}
		}
	}
	return order, nil
}

// resume continues the order ref names. It returns an *orderGoneError
// when the CA reports the order invalid or expired, or does not know it:
// only then is a new order placed.
func (i *Issuer) resume(ctx context.Context, csr *x509.CertificateRequest, names []string, ref issuer.OrderRef) ([]byte, error) {
	order, err := i.core.Orders.Get(ctx, ref.URL)
	if unknownToCA(err) {
		return nil, &orderGoneError{reason: "the CA does not know it"}
	}
	if notOurs(err) {
		// The order belongs to another account of this CA profile: one
		// registered by a process that raced this one to the first
		// registration, or an account the operator replaced.
		return nil, &orderGoneError{reason: "another ACME account owns it"}
	}
	if err != nil {
		return nil, err
	}
	// lego's Get leaves the URL out: it is the one asked for.
	order.Location = ref.URL
	if !sameNames(order.Identifiers, names) {
		return nil, &orderGoneError{reason: "it is for other names than the CSR's"}
	}
	i.log.Info("acme: continuing the order", "order", ref.URL, "status", order.Status, "names", names)
	return i.complete(ctx, csr, order, true)
}

// complete takes order from the state the CA holds it in to the issued
// certificate: it answers the pending challenges, finalizes with csr,
// waits for the CA to issue and downloads the chain. resumed says the
// order was created by an earlier, interrupted Issue.
func (i *Issuer) complete(ctx context.Context, csr *x509.CertificateRequest, order legoacme.ExtendedOrder, resumed bool) ([]byte, error) {
	var authorized, finalized bool
	var issuing time.Time
	var issued *poller
	if resumed && order.Status != legoacme.StatusPending {
		// Every name was answered before the interruption, maybe with
		// its record still in place.
		i.removeRecordsOf(ctx, order)
	}
	for step := 0; ; step++ {
		switch order.Status {
		case legoacme.StatusValid:
			return i.download(ctx, order.Certificate)
		case legoacme.StatusPending:
			if authorized || step >= maxOrderSteps {
				return nil, fmt.Errorf("order %s is still pending after its challenges were answered", order.Location)
			}
			if err := i.authorize(ctx, order, resumed); err != nil {
				return nil, err
			}
			authorized = true
			// Every name is authorized: the order is ready, and is
			// finalized without asking again, as lego does.
			order.Status = legoacme.StatusReady
			continue
		case legoacme.StatusReady:
			if finalized || step >= maxOrderSteps {
				return nil, fmt.Errorf("order %s is still ready after it was finalized", order.Location)
			}
			next, err := i.core.Orders.UpdateForCSR(ctx, order.Finalize, csr.Raw)
			if err != nil {
				return nil, err
			}
			finalized = true
			// The answer is the order; a CA that issued at once says valid.
			next.Location = order.Location
			order = next
			continue
		case legoacme.StatusProcessing:
			// Asked again at once the first time, as lego does: the CA has
			// often issued by then. lego does not pass on an order's
			// Retry-After, so the order is polled at PollInterval.
			if issuing.IsZero() {
				issuing = time.Now()
				issued = i.newPoller(0)
				break
			}
			if time.Since(issuing) > certificateTimeout {
				return nil, fmt.Errorf("order %s: the CA did not issue the certificate within %s", order.Location, certificateTimeout)
			}
			if err := i.pause(ctx, issued.wait()); err != nil {
				return nil, err
			}
		default:
			// Invalid, or a status RFC 8555 gives authorizations only.
			err := fmt.Errorf("order %s is %s", order.Location, order.Status)
			if order.Error != nil {
				err = fmt.Errorf("order %s is %s: %w", order.Location, order.Status, order.Error)
			}
			if resumed && step == 0 {
				return nil, &orderGoneError{reason: err.Error()}
			}
			return nil, err
		}
		next, err := i.core.Orders.Get(ctx, order.Location)
		if err != nil {
			return nil, err
		}
		next.Location = order.Location
		order = next
	}
}

// pendingAuthorization is an authorization and its URL.
type pendingAuthorization struct {
	url   string
	authz legoacme.Authorization
}

// authorize answers the order's pending challenges with lego's DNS-01
// solver. A challenge answered before an interruption, which the CA is
// still validating, is waited for rather than answered again: the CA
// refuses a second answer.
func (i *Issuer) authorize(ctx context.Context, order legoacme.ExtendedOrder, resumed bool) error {
	var toSolve []pendingAuthorization
	var settled []legoacme.Authorization
	for _, url := range order.Authorizations {
		authz, err := i.core.Authorizations.Get(ctx, url)
		if err != nil {
			return err
		}
		switch {
		case authz.Status == legoacme.StatusValid:
			settled = append(settled, authz)
		case authz.Status == legoacme.StatusPending && answered(authz):
			if authz, err = i.awaitAuthorization(ctx, url, 0); err != nil {
				return err
			}
			settled = append(settled, authz)
		case authz.Status == legoacme.StatusPending:
			toSolve = append(toSolve, pendingAuthorization{url: url, authz: authz})
		default:
			return fmt.Errorf("the authorization for %s is %s", challenge.GetTargetedDomain(authz), authz.Status)
		}
	}
	if resumed {
		i.removeLeftRecords(ctx, settled)
	}
	if len(toSolve) == 0 {
		return nil
	}
	authzs := make([]legoacme.Authorization, len(toSolve))
	for n, p := range toSolve {
		authzs[n] = p.authz
	}
	if err := i.solveAll(ctx, authzs); err != nil {
		// As lego does: a failed order does not leave authorizations
		// pending at the CA. An interrupted one keeps them, so the
		// resumed Issue can still answer them.
		if ctx.Err() == nil {
			for _, p := range toSolve {
				if err := i.core.Authorizations.Deactivate(ctx, p.url); err != nil {
					i.log.Debug("acme: could not deactivate an authorization", "authorization", p.url, "err", err)
				}
			}
		}
		return err
	}
	return nil
}

// answered reports whether one of authz's challenges was answered and
// is being validated.
func answered(authz legoacme.Authorization) bool {
	return slices.ContainsFunc(authz.Challenges, func(c legoacme.Challenge) bool {
		return c.Status == legoacme.StatusProcessing
	})
}

// awaitAuthorization polls the authorization at url until the CA has
// validated it or found it invalid, every retryAfter when the CA gave one
// (else see newPoller).
func (i *Issuer) awaitAuthorization(ctx context.Context, url string, retryAfter time.Duration) (legoacme.Authorization, error) {
	deadline := time.Now().Add(authorizationTimeout)
	polls := i.newPoller(retryAfter)
	if retryAfter > 0 {
		if err := i.pause(ctx, retryAfter); err != nil {
			return legoacme.Authorization{}, err
		}
	}
	for {
		authz, err := i.core.Authorizations.Get(ctx, url)
		if err != nil {
			return authz, err
		}
		switch authz.Status {
		case legoacme.StatusValid:
			return authz, nil
		case legoacme.StatusPending:
		default:
			for _, c := range authz.Challenges {
				if c.Error != nil {
					return authz, fmt.Errorf("the authorization for %s is %s: %w", challenge.GetTargetedDomain(authz), authz.Status, c.Error)
				}
			}
			return authz, fmt.Errorf("the authorization for %s is %s", challenge.GetTargetedDomain(authz), authz.Status)
		}
		if time.Now().After(deadline) {
			return authz, fmt.Errorf("the CA did not validate the challenge for %s within %s", challenge.GetTargetedDomain(authz), authorizationTimeout)
		}
		if err := i.pause(ctx, polls.wait()); err != nil {
			return authz, err
		}
	}
}

// removeRecordsOf removes the challenge records an interrupted Issue may
// have left for order's authorizations. An authorization that cannot be
// read is skipped: the certificate does not depend on its record.
func (i *Issuer) removeRecordsOf(ctx context.Context, order legoacme.ExtendedOrder) {
	var authzs []legoacme.Authorization
	for _, url := range order.Authorizations {
		authz, err := i.core.Authorizations.Get(ctx, url)
		if err != nil {
			i.log.Debug("acme: could not read an authorization to remove its record", "authorization", url, "err", err)
			continue
		}
		authzs = append(authzs, authz)
	}
	i.removeLeftRecords(ctx, authzs)
}

// removeLeftRecords removes the challenge records an interrupted Issue
// may have left for authorizations that need no answer any more. A
// record that cannot be removed is logged: the certificate does not
// depend on it.
func (i *Issuer) removeLeftRecords(ctx context.Context, authzs []legoacme.Authorization) {
	for _, authz := range authzs {
		chlg, err := challenge.FindChallenge(challenge.DNS01, authz)
		if err != nil {
			continue
		}
		keyAuth, err := i.core.GetKeyAuthorization(chlg.Token)
		if err == nil {
			err = i.provider.CleanUp(ctx, challenge.GetTargetedDomain(authz), chlg.Token, keyAuth)
		}
		if err != nil {
			i.log.Warn("acme: could not remove a challenge record left by an interrupted order", "name", challenge.GetTargetedDomain(authz), "err", err)
		}
	}
}

// download fetches the certificate at url with its chain, choosing among
// the chains the CA offers the one PreferredChain names.
func (i *Issuer) download(ctx context.Context, url string) ([]byte, error) {
	certs, err := i.core.Certificates.GetAll(ctx, url, true)
	if err != nil {
		return nil, err
	}
	chosen := certs[url]
	if i.cfg.PreferredChain == "" {
		return chosen.Cert, nil
	}
	// The default chain first, then the alternates in a stable order.
	links := []string{url}
	for _, link := range slices.Sorted(maps.Keys(certs)) {
		if link != url {
			links = append(links, link)
		}
	}
	for _, link := range links {
		if topIssuedBy(certs[link].Issuer, i.cfg.PreferredChain) {
			return certs[link].Cert, nil
		}
	}
	i.log.Warn("acme: no chain the CA offers ends at the preferred issuer; using the default chain", "preferred_chain", i.cfg.PreferredChain)
	return chosen.Cert, nil
}

// topIssuedBy reports whether the last certificate of the PEM bundle is
// issued by commonName.
func topIssuedBy(bundle []byte, commonName string) bool {
	certs, err := certcrypto.ParsePEMBundle(bundle)
	return err == nil && len(certs) > 0 && certs[len(certs)-1].Issuer.CommonName == commonName
}

// sameNames reports whether an order's identifiers are names.
func sameNames(ids []legoacme.Identifier, names []string) bool {
	got := make([]string, 0, len(ids))
	for _, id := range ids {
		got = append(got, strings.ToLower(id.Value))
	}
	want := make([]string, 0, len(names))
	for _, name := range names {
		want = append(want, strings.ToLower(name))
	}
	slices.Sort(got)
	slices.Sort(want)
	return slices.Equal(slices.Compact(got), slices.Compact(want))
}

// unknownToCA reports whether err is the CA answering 404 Not Found: it
// does not know the resource. lego reports an answer without a problem
// document (Pebble's 404 has none) by its status code first: "404 :: …".
func unknownToCA(err error) bool {
	if err == nil {
		return false
	}
	var problem *legoacme.ProblemDetails
	if errors.As(err, &problem) {
		return problem.HTTPStatus == http.StatusNotFound
	}
	return strings.HasPrefix(err.Error(), "404 ::")
}

// notOurs reports whether err is the CA refusing the order to this
// account (RFC 8555 §7.4: an order is readable by its own account only).
func notOurs(err error) bool {
	var problem *legoacme.ProblemDetails
	return errors.As(err, &problem) && (problem.HTTPStatus == http.StatusForbidden ||
		problem.Type == "urn:ietf:params:acme:error:unauthorized")
}

// orderGoneError is an order that cannot be continued: the CA reports it
// invalid or expired, or does not know it.
type orderGoneError struct{ reason string }

func (e *orderGoneError) Error() string { return "the order cannot be continued: " + e.reason }

// callerError is IssueOptions.OnOrder failing: the caller's error, not
// the CA's, so it is not classified as one.
type callerError struct{ err error }

func (e *callerError) Error() string { return "keep the order: " + e.err.Error() }
func (e *callerError) Unwrap() error { return e.err }

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
