package rotation

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/devicelock"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/issuer"
	"github.com/ottr-go/ottr/internal/policy"
	"github.com/ottr-go/ottr/internal/route"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/verify"
)

// run is the state of one rotation while Run executes it.
type run struct {
	r     *Runner
	rot   store.Rotation
	asset asset.Asset
	// before is the asset as the rotation found it, for Deps.Ended.
	before  asset.Asset
	route   route.Route
	routeNo int
	drv     driver.Driver
	ca      *CAProfile
	session driver.Session
	// device is the rotation's turn on its device, from the install (or
	// a resumed verify) to the end of verify or rollback.
	device *devicelock.Hold

	mu      sync.Mutex
	pending []store.LogLine
	step    Step

	csr       *x509.CertificateRequest
	chain     []*x509.Certificate
	installed driver.Installed
	observed  verifyOutput
	// servedBefore and servedAtVerify are what the device served when
	// preflight read it, and when verify found another certificate than
	// the issued one (Ending).
	servedBefore, servedAtVerify string
}

// Run executes the rotation with the given id, resuming after its last
// journaled step. It returns nil on success, a *Failure when the rotation
// failed or was rolled back (and that is recorded), and any other error when
// the outcome could not be recorded — the caller should retry those.
func (r *Runner) Run(ctx context.Context, id int64) (store.Rotation, error) {
	rot, err := r.d.Store.GetRotation(ctx, id)
	if err != nil {
		return store.Rotation{}, fmt.Errorf("rotation %d: %w", id, err)
	}
	if store.Final(rot.State) {
		return rot, nil
	}
	a, err := r.d.Store.GetAsset(ctx, rot.Asset)
	if err != nil {
		return rot, fmt.Errorf("rotation %d: %w", id, err)
	}
	rot.Attempts++
	rn := &run{r: r, rot: rot, asset: a, before: a.Clone()}
	defer rn.close()

	if unreadable := checkJournal(rot); unreadable != nil {
		return rn.finish(ctx, unreadable.Step, store.StateFailed, unreadable)
	}
	err = r.writeStore(ctx, id, "mark running", func(ctx context.Context) error {
		return r.d.Store.UpdateRotationState(ctx, id, store.StateUpdate{State: store.StateRunning, Attempts: rot.Attempts})
	})
	if err != nil {
		return rot, fmt.Errorf("rotation %d: mark running: %w", id, err)
	}
	if rot.Attempts > 1 {
		rn.logf(slog.LevelInfo, "resuming (attempt %d) after step %q", rot.Attempts, rn.lastStep())
	}
	if len(rot.Journal) == 0 && rot.Trigger == store.TriggerSchedule && !rot.Force {
		// A scan works from a snapshot: by the time this job runs, another
		// rotation may have renewed the certificate. Ordering again would
		// waste a certificate and rate limit.
		if d := policy.Decide(policy.Input{Asset: a, Now: r.d.Now(), Settings: r.d.Policy}); !d.Due {
			rn.logf(slog.LevelInfo, "not due any more, nothing to do: %s", d.Message)
			return rn.finish(ctx, "", store.StateSucceeded, nil)
		}
	}

	for _, s := range steps {
		step := s.name()
		if err := ctx.Err(); err != nil {
			rn.flush(context.WithoutCancel(ctx))
			return rn.rot, fmt.Errorf("rotation %d: interrupted before %s: %w", id, step, err)
		}
		if e, done := rn.journaled(step); done {
			reused, err := s.resume(ctx, rn, e)
			if err != nil {
				return rn.finish(ctx, step, store.StateFailed, err)
			}
			if reused {
				r.observe(Event{RotationID: id, Asset: a.SystemName, Step: step, Phase: PhaseSkip})
				continue
			}
		}
		started := r.d.Now()
		rn.step = step
		r.observe(Event{RotationID: id, Asset: a.SystemName, Step: step, Phase: PhaseStart})
		output, err := s.perform(ctx, rn)
		if err != nil {
			r.observe(Event{RotationID: id, Asset: a.SystemName, Step: step, Phase: PhaseFail, Duration: r.d.Now().Sub(started), Err: err})
			if ctx.Err() != nil {
				// Shutting down, not failing: leave the rotation running so
				// the job is retried and resumes here.
				rn.flush(context.WithoutCancel(ctx))
				return rn.rot, fmt.Errorf("rotation %d: interrupted in %s: %w", id, step, err)
			}
			if step == StepVerify && rn.installed != nil {
				return rn.rollback(ctx, err)
			}
			// The device is left as it was: the next turn need not wait
			// for the failure to be recorded and told.
			rn.unlockDevice()
			return rn.finish(ctx, step, store.StateFailed, err)
		}
		if step == StepVerify {
			rn.unlockDevice()
		}
		raw, err := json.Marshal(output)
		if err != nil {
			return rn.rot, fmt.Errorf("rotation %d: encode %s output: %w", id, step, err)
		}
		entry := store.JournalEntry{Step: string(step), Output: raw, StartedAt: started, FinishedAt: r.d.Now()}
		rn.flush(ctx)
		err = r.writeStore(ctx, id, "journal "+string(step), func(ctx context.Context) error {
			return r.d.Store.AppendJournal(ctx, id, entry)
		})
		if err != nil {
			return rn.rot, fmt.Errorf("rotation %d: journal %s: %w", id, step, err)
		}
		rn.rot.Journal = append(rn.rot.Journal, entry)
		r.observe(Event{RotationID: id, Asset: a.SystemName, Step: step, Phase: PhaseDone, Duration: entry.FinishedAt.Sub(entry.StartedAt)})
	}
	return rn.finish(ctx, "", store.StateSucceeded, nil)
}

func (r *Runner) observe(e Event) {
	if r.d.Observer != nil {
		r.d.Observer(e)
	}
}

func (rn *run) lastStep() string {
	if n := len(rn.rot.Journal); n > 0 {
		return rn.rot.Journal[n-1].Step
	}
	return "none"
}

// journaled returns the rotation's journal entry for step, if it has one.
func (rn *run) journaled(step Step) (store.JournalEntry, bool) {
	return rn.rot.Step(string(step))
}

func (rn *run) resolveRoute(ctx context.Context) error {
	if err := rn.matchRoute(); err != nil {
		return err
	}
	ca, err := rn.r.d.CAs(ctx, rn.asset.CertificateAuthority)
	if err != nil {
		return err
	}
	rn.ca = ca
	return nil
}

// matchRoute finds the asset's route and its driver.
func (rn *run) matchRoute() error {
	rt, idx, ok := rn.r.d.Routes.Match(rn.asset)
	if !ok {
		return fmt.Errorf("%w asset %s (platform %q, os_version %q, certificate_authority %q, model %q)",
			ErrNoRoute, rn.asset.SystemName, rn.asset.HostPlatform, rn.asset.OSVersion, rn.asset.CertificateAuthority, rn.asset.DeviceModel)
	}
	drv, ok := rn.r.d.Drivers.Get(rt.Driver)
	if !ok {
		return fmt.Errorf("route %d names driver %q, which this build does not have", idx, rt.Driver)
	}
	rn.route, rn.routeNo, rn.drv = rt, idx, drv
	return nil
}

// open returns the device session, connecting on first use: a resumed
// rotation connects only if a step it still has to do needs the device.
func (rn *run) open(ctx context.Context) (driver.Session, error) {
	if rn.session != nil {
		return rn.session, nil
	}
	creds, err := rn.r.d.Credentials(rn.asset, rn.route)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	// The resolved options hold secrets: they go to the driver and
	// nowhere else.
	options, err := driver.ResolveSecretOptions(rn.route.Options, rn.drv.Schema().SecretNames(), rn.r.d.ResolveSecret)
	if err != nil {
		return nil, fmt.Errorf("route %q: secret options: %w", rn.route.Name, err)
	}
	s, err := rn.drv.Open(ctx, driver.Target{Asset: rn.asset, Options: options}, creds)
	if err != nil {
		return nil, err
	}
	rn.session = s
	return s, nil
}

func (rn *run) close() {
	rn.unlockDevice()
	rn.closeSession()
}

// closeSession ends the device's session, if any; the next step that needs
// the device opens a new one, as a resumed rotation does.
func (rn *run) closeSession() {
	if rn.session != nil {
		_ = rn.session.Close()
		rn.session = nil
	}
}

func (rn *run) preflight(ctx context.Context) (preflightOutput, error) {
	if err := rn.resolveRoute(ctx); err != nil {
		return preflightOutput{}, err
	}
	out := preflightOutput{Route: rn.routeNo, RouteName: rn.route.Name, Driver: rn.drv.Name()}
	rn.logf(slog.LevelInfo, "route %d (%s) with driver %s", rn.routeNo, rn.route.Name, rn.drv.Name())
	if rn.r.d.CheckDelegation != nil {
		if err := rn.r.d.CheckDelegation(ctx, rn.asset.Names()); err != nil {
			return preflightOutput{}, fmt.Errorf("DNS delegation: %w", err)
		}
		rn.logf(slog.LevelInfo, "DNS delegation in place for %s", strings.Join(rn.asset.Names(), ", "))
	}
	s, err := rn.open(ctx)
	if err != nil {
		return preflightOutput{}, fmt.Errorf("connect to %s: %w", rn.asset.SystemName, err)
	}
	// A device the rotation could not take its turn on fails now, before
	// a certificate is ordered for it.
	if _, err := rn.deviceKey(s); err != nil {
		return preflightOutput{}, err
	}
	current, err := s.CurrentCertificate(ctx)
	if err != nil {
		return preflightOutput{}, fmt.Errorf("read current certificate: %w", err)
	}
	if len(current) > 0 {
		out.CurrentSerial = verify.SerialHex(current[0])
		rn.servedBefore = out.CurrentSerial
		rn.logf(slog.LevelInfo, "current certificate serial %s expires %s", out.CurrentSerial, current[0].NotAfter.UTC().Format(time.RFC3339))
	} else {
		rn.logf(slog.LevelInfo, "no current certificate")
	}
	return out, nil
}

func (rn *run) keyType() string {
	if rn.asset.KeyType != "" {
		return rn.asset.KeyType
	}
	if rn.ca.KeyType != "" {
		return rn.ca.KeyType
	}
	return asset.KeyECDSA256
}

func (rn *run) generateCSR(ctx context.Context) (csrOutput, error) {
	s, err := rn.open(ctx)
	if err != nil {
		return csrOutput{}, fmt.Errorf("connect to %s: %w", rn.asset.SystemName, err)
	}
	if !rn.ca.Allows(rn.keyType()) {
		return csrOutput{}, fmt.Errorf("CA %s does not allow %s keys (its key_types: %s): set the asset's key_type to one of them",
			rn.ca.Name, rn.keyType(), strings.Join(rn.ca.KeyTypes, ", "))
	}
	req := driver.CSRRequest{CommonName: rn.asset.CommonName, DNSNames: rn.asset.Names(), KeyType: rn.keyType()}
	csr, err := s.GenerateCSR(ctx, req)
	if err != nil {
		return csrOutput{}, err
	}
	if err := CheckCSR(csr, req); err != nil {
		return csrOutput{}, err
	}
	rn.csr = csr
	rn.logf(slog.LevelInfo, "device generated a %s key and a CSR for %s", req.KeyType, strings.Join(req.DNSNames, ", "))
	return csrOutput{CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr.Raw}))}, nil
}

// issue has the asset's CA sign the CSR. When that CA cannot be reached or
// fails on its side, the route's fallback issuers are tried in turn; a CA
// that refuses the order (rate limit, policy) is not worked around. An
// order journaled before an interruption is continued at the CA that
// created it, which is asked first: asking another would order a second
// certificate.
func (rn *run) issue(ctx context.Context) (issueOutput, error) {
	// The CA takes seconds, minutes under load, and the device is not
	// needed meanwhile: an SSH connection kept idle is about 40 KiB and
	// five goroutines, most of what thousands of rotations in flight hold.
	// Install connects again.
	rn.closeSession()
	pending, err := rn.journaledOrder()
	if err != nil {
		return issueOutput{}, err
	}
	candidates := append([]string{rn.ca.Name}, rn.route.FallbackIssuers...)
	if pending != nil {
		if at := slices.Index(candidates, pending.CA); at >= 0 {
			candidates = append([]string{pending.CA}, slices.Delete(candidates, at, at+1)...)
		} else {
			rn.logf(slog.LevelWarn, "order %s was created by CA %s, which the route no longer names; it is left unfinished", pending.URL, pending.CA)
			pending = nil
		}
	}
	var unavailable []error
	for _, name := range candidates {
		ca := rn.ca
		if name != rn.ca.Name {
			if ca, err = rn.r.d.CAs(ctx, name); err != nil {
				unavailable = append(unavailable, err)
				continue
			}
			if !ca.Allows(rn.keyType()) {
				rn.logf(slog.LevelWarn, "fallback CA %s does not allow %s keys (key_types %s); skipped", name, rn.keyType(), strings.Join(ca.KeyTypes, ", "))
				continue
			}
		}
		var resume *issuer.OrderRef
		switch {
		case pending != nil && pending.CA == ca.Name:
			resume = &pending.OrderRef
			rn.logf(slog.LevelInfo, "continuing order %s, which CA %s created before the rotation was interrupted", resume.URL, ca.Name)
		case name != rn.ca.Name:
			rn.logf(slog.LevelWarn, "trying fallback CA %s", name)
		}
		// A hold keeps new orders from a rate-limiting CA; continuing one
		// it already created places none.
		if resume == nil {
			if err := rn.heldBack(ca.Name); err != nil {
				if name == rn.ca.Name {
					return issueOutput{}, err
				}
				rn.logf(slog.LevelWarn, "%v; skipped", err)
				unavailable = append(unavailable, err)
				continue
			}
		}
		chain, err := rn.order(ctx, ca, resume)
		var down *issuer.UnavailableError
		if errors.As(err, &down) && ctx.Err() == nil {
			rn.logf(slog.LevelWarn, "%v", err)
			unavailable = append(unavailable, err)
			continue
		}
		if err != nil {
			return issueOutput{}, err
		}
		if len(chain) == 0 {
			return issueOutput{}, fmt.Errorf("CA %s returned an empty chain", ca.Name)
		}
		rn.ca, rn.chain = ca, chain
		leaf := chain[0]
		rn.logf(slog.LevelInfo, "%s issued serial %s, valid until %s", ca.Name, verify.SerialHex(leaf), leaf.NotAfter.UTC().Format(time.RFC3339))
		return issueOutput{Chain: encodeChain(chain), Serial: verify.SerialHex(leaf), NotAfter: leaf.NotAfter, CA: ca.Name}, nil
	}
	if len(unavailable) == 1 {
		return issueOutput{}, unavailable[0]
	}
	return issueOutput{}, fmt.Errorf("no CA could issue: %w", errors.Join(unavailable...))
}

func (rn *run) install(ctx context.Context) (installOutput, error) {
	s, err := rn.open(ctx)
	if err != nil {
		return installOutput{}, fmt.Errorf("connect to %s: %w", rn.asset.SystemName, err)
	}
	if err := rn.lockDevice(ctx, s); err != nil {
		return installOutput{}, err
	}
	installed, err := s.Install(driver.WithBatch(ctx, rn.device), rn.chain)
	// Whatever happened, this install is over: the others of the turn no
	// longer wait for it to reload together.
	rn.device.Settle()
	if err != nil {
		return installOutput{}, err
	}
	rn.installed = installed
	rn.logf(slog.LevelInfo, "installed the chain (%d certificates)", len(rn.chain))
	return installOutput{Installed: installed}, nil
}

func (rn *run) verify(ctx context.Context) (verifyOutput, error) {
	// A resumed rotation verifies (and may roll back) in a turn of its
	// own on the device, as its install did.
	s, err := rn.open(ctx)
	if err != nil {
		return verifyOutput{}, fmt.Errorf("connect to %s: %w", rn.asset.SystemName, err)
	}
	if err := rn.lockDevice(ctx, s); err != nil {
		return verifyOutput{}, err
	}
	rn.device.Settle()
	exp := verify.Expectation{
		Address:         net.JoinHostPort(rn.asset.IPAddress, strconv.Itoa(rn.asset.TLSPort())),
		ServerName:      rn.asset.CommonName,
		Names:           rn.asset.Names(),
		Issued:          rn.chain,
		Roots:           rn.ca.Roots,
		ExpectedIssuers: rn.ca.ExpectedIssuers,
		MinLifetime:     rn.ca.MinLifetime,
		Now:             rn.r.d.Now,
	}
	wait := rn.r.d.VerifyInterval
	var res verify.Result
	for attempt := 1; ; attempt++ {
		res, err = rn.r.d.Verify(ctx, exp)
		var mismatch *verify.MismatchError
		if err == nil || !errors.As(err, &mismatch) || attempt >= rn.r.d.VerifyAttempts {
			break
		}
		rn.logf(slog.LevelInfo, "device does not serve the new certificate yet (%v); looking again in %s", err, wait)
		select {
		case <-ctx.Done():
			return verifyOutput{}, ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
	// A device serving neither the old certificate nor the new one is
	// told as drift (Ending).
	var served *verify.MismatchError
	if errors.As(err, &served) && served.Check == verify.CheckSerial {
		rn.servedAtVerify = served.Got
	}
	if err != nil {
		return verifyOutput{}, err
	}
	rn.observed = verifyOutput{Serial: res.Serial, Issuer: res.Issuer, NotAfter: res.NotAfter}
	rn.logf(slog.LevelInfo, "%s serves serial %s, valid until %s", exp.Address, res.Serial, res.NotAfter.UTC().Format(time.RFC3339))
	if err := rn.finalize(ctx); err != nil {
		return verifyOutput{}, err
	}
	return rn.observed, nil
}

// finalize lets a driver finish an install once it is verified, e.g.
// confirm a commit the device would otherwise undo by itself.
func (rn *run) finalize(ctx context.Context) error {
	s, err := rn.open(ctx)
	if err != nil {
		return fmt.Errorf("connect to %s to finalize the install: %w", rn.asset.SystemName, err)
	}
	f, ok := s.(driver.Finalizer)
	if !ok {
		return nil
	}
	if err := f.Finalize(ctx, rn.installed); err != nil {
		return fmt.Errorf("finalize the install: %w", err)
	}
	rn.logf(slog.LevelInfo, "finalized the install")
	return nil
}

// record writes what verify saw on the wire into the asset.
func (rn *run) record(ctx context.Context) (recordOutput, error) {
	// The database being briefly away must not fail a rotation whose
	// certificate the device already serves: the asset's record is read
	// and written again until it comes back.
	var a asset.Asset
	err := rn.r.writeStore(ctx, rn.rot.ID, "read the asset", func(ctx context.Context) error {
		var err error
		a, err = rn.r.d.Store.GetAsset(ctx, rn.asset.SystemName)
		return err
	})
	if err != nil {
		return recordOutput{}, err
	}
	now := rn.r.d.Now().UTC()
	leaf := rn.chain[0]
	notAfter, notBefore := rn.observed.NotAfter.UTC(), leaf.NotBefore.UTC()
	a.CertificateExpiration = &notAfter
	a.CertificateNotBefore = &notBefore
	a.CertificateSerial = rn.observed.Serial
	a.CertificateIssuer = rn.observed.Issuer
	a.CertificateValidation = true
	a.LastRotation = &now
	a.FailureCount = 0
	a.NextAttemptAt = nil
	// The CA's old window describes the old certificate; ask for the new
	// one's, so renewal follows the CA (ARI) rather than a fixed rule, and
	// keep what the scheduler needs to ask again and the next order to
	// name it in "replaces".
	ari := rn.renewalInfo(ctx, leaf)
	a.RenewalWindow, a.RenewalCertID, a.RenewalCheckAt = ari.window, ari.certID, ari.checkAt
	a.RenewalCertCA = ""
	if ari.certID != "" {
		a.RenewalCertCA = rn.ca.Name
	}
	a.RenewalTime = policy.RenewalTime(a, rn.r.d.Policy)
	if err := rn.r.writeStore(ctx, rn.rot.ID, "record the asset", func(ctx context.Context) error {
		return rn.r.d.Store.UpdateAsset(ctx, a)
	}); err != nil {
		return recordOutput{}, err
	}
	rn.asset = a
	rn.logf(slog.LevelInfo, "recorded expiry %s", notAfter.Format(time.RFC3339))
	return recordOutput{}, nil
}

// rollbackTimeout bounds a rollback, whatever time the job has left.
const rollbackTimeout = time.Minute

// rollback undoes an install whose verification failed.
func (rn *run) rollback(ctx context.Context, cause error) (store.Rotation, error) {
	rn.logf(slog.LevelWarn, "verification failed: %v; rolling back", cause)
	// A verification that used up the job's time must still leave the
	// device on its old certificate: the rollback gets a minute of its
	// own (the queue rescues a job only after that margin).
	rbCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	s, err := rn.open(rbCtx)
	if err == nil {
		err = rn.lockDevice(rbCtx, s)
	}
	if err == nil {
		// Alone in the turn: another rotation's reload must not load
		// this one's files half restored.
		err = rn.device.Alone(rbCtx, func(ctx context.Context) error { return s.Rollback(ctx, rn.installed) })
	}
	rn.unlockDevice()
	if err != nil {
		rn.logf(slog.LevelError, "rollback failed: %v", err)
		return rn.finish(ctx, StepVerify, store.StateFailed, fmt.Errorf("%w; rollback also failed: %v", cause, err))
	}
	rn.logf(slog.LevelInfo, "rolled back to the previous certificate")
	return rn.finish(ctx, StepVerify, store.StateRolledBack, cause)
}

// finish records the rotation's final state and, on failure, the asset's
// backoff. It returns a *Failure for failed and rolled back rotations.
func (rn *run) finish(ctx context.Context, step Step, state store.State, cause error) (store.Rotation, error) {
	ctx = context.WithoutCancel(ctx)
	var msg string
	if cause != nil {
		msg = fmt.Sprintf("%s: %v", step, cause)
		rn.logf(slog.LevelError, "%s", msg)
		if err := rn.recordFailure(ctx, cause); err != nil {
			rn.logf(slog.LevelError, "could not record the failure on the asset: %v", err)
		}
	} else {
		rn.logf(slog.LevelInfo, "rotation succeeded")
	}
	rn.flush(ctx)
	writeCtx, cancel := context.WithTimeout(ctx, finalWriteTimeout)
	defer cancel()
	err := rn.r.writeStore(writeCtx, rn.rot.ID, "record state "+string(state), func(ctx context.Context) error {
		return rn.r.d.Store.UpdateRotationState(ctx, rn.rot.ID, store.StateUpdate{State: state, Attempts: rn.rot.Attempts, Error: msg})
	})
	if err != nil {
		return rn.rot, fmt.Errorf("rotation %d: record state %s: %w", rn.rot.ID, state, err)
	}
	rot, err := rn.r.d.Store.GetRotation(ctx, rn.rot.ID)
	if err != nil {
		return rn.rot, fmt.Errorf("rotation %d: %w", rn.rot.ID, err)
	}
	rn.r.d.Logger.Info("rotation finished", "rotation", rot.ID, "asset", rot.Asset, "state", state, "step", step)
	rn.r.observe(Event{RotationID: rot.ID, Asset: rot.Asset, Step: step, Phase: PhaseEnd, State: state, Err: cause})
	if rn.r.d.Ended != nil {
		rn.r.d.Ended(ctx, Ending{Rotation: rot, Before: rn.before, After: rn.asset.Clone(), Step: step, Err: cause,
			ServedBefore: rn.servedBefore, ServedAtVerify: rn.servedAtVerify})
	}
	if cause != nil {
		return rot, &Failure{RotationID: rot.ID, Step: step, State: state, Err: cause}
	}
	return rot, nil
}

// recordFailure counts the failure on the asset and holds it back for the
// backoff, so a broken device is not retried and alerted on every scan.
//
// A CA that asked to be retried later (Retry-After) is not asked before
// then: retrying sooner would only be refused again.
func (rn *run) recordFailure(ctx context.Context, cause error) error {
	// Called without the job's cancellation: the database gets as long
	// as the final state's write does.
	ctx, cancel := context.WithTimeout(ctx, finalWriteTimeout)
	defer cancel()
	var a asset.Asset
	err := rn.r.writeStore(ctx, rn.rot.ID, "read the asset", func(ctx context.Context) error {
		var err error
		a, err = rn.r.d.Store.GetAsset(ctx, rn.asset.SystemName)
		return err
	})
	if err != nil {
		return err
	}
	a.FailureCount++
	next := rn.r.d.Now().Add(policy.Backoff(a.FailureCount, rn.r.d.Policy)).UTC()
	if at, ok := retryNotBefore(cause); ok && at.After(next) {
		next = at.UTC()
		rn.logf(slog.LevelInfo, "the CA asked not to be tried again before %s", next.Format(time.RFC3339))
	}
	rn.rateLimited(cause, next)
	a.NextAttemptAt = &next
	err = rn.r.writeStore(ctx, rn.rot.ID, "record the failure on the asset", func(ctx context.Context) error {
		return rn.r.d.Store.UpdateAsset(ctx, a)
	})
	if err == nil {
		rn.asset = a
	}
	return err
}

// logf adds a line to the rotation log; lines are written to the store in
// batches at the end of each step.
func (rn *run) logf(level slog.Level, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	rn.mu.Lock()
	rn.pending = append(rn.pending, store.LogLine{Time: rn.r.d.Now().UTC(), Level: strings.ToLower(level.String()), Step: string(rn.step), Message: msg})
	rn.mu.Unlock()
	rn.r.d.Logger.Log(context.Background(), level, msg, "rotation", rn.rot.ID, "asset", rn.rot.Asset, "step", rn.step)
}

func (rn *run) flush(ctx context.Context) {
	rn.mu.Lock()
	lines := rn.pending
	rn.pending = nil
	rn.mu.Unlock()
	if len(lines) == 0 {
		return
	}
	if err := rn.r.d.Store.AppendLog(ctx, rn.rot.ID, lines...); err != nil {
		rn.r.d.Logger.Error("could not save rotation log", "rotation", rn.rot.ID, "err", err)
	}
}
