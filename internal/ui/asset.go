package ui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/dnsdoctor"
	"github.com/ottr-go/ottr/internal/policy"
	routetable "github.com/ottr-go/ottr/internal/route"
	"github.com/ottr-go/ottr/internal/store"
)

// assetHistory is how many rotations the asset page lists.
const assetHistory = 20

type assetData struct {
	Asset asset.Asset
	State string
	// Routes is every route's verdict on the asset, as `ottr route test`
	// gives it; Route is the one it takes, if any.
	Routes []routetable.Explanation
	Route  *routetable.Explanation
	// Decision is the renewal policy's, as `ottr plan` gives it, and When
	// when it puts the rotation.
	Decision policy.Decision
	When     time.Time
	History  []store.Rotation
	// Active is the pending or running rotation, if any.
	Active *store.Rotation
	// DNSEnabled is whether dns.zones are configured, so delegation can
	// be checked.
	DNSEnabled bool
}

// loadAsset reads the asset named in the path, or answers 404.
func (u *UI) loadAsset(ctx context.Context, r *http.Request) (asset.Asset, error) {
	name := asset.NormalizeName(r.PathValue("name"))
	a, err := u.store.GetAsset(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return asset.Asset{}, userError(http.StatusNotFound, "no asset named "+r.PathValue("name")+": the assets list has every asset")
	}
	return a, err
}

// assetPage shows one asset: its certificate, its route and why, its
// renewal decision, its DNS delegation, its rotations and what may be done
// to it.
func (u *UI) assetPage(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	a, err := u.loadAsset(ctx, r)
	if err != nil {
		return err
	}
	now := u.now().UTC()
	d := &assetData{Asset: a, DNSEnabled: u.app.Delegations != nil}
	d.Routes = u.app.Routes.Explain(a)
	for i := range d.Routes {
		if d.Routes[i].Chosen {
			d.Route = &d.Routes[i]
		}
	}
	d.Decision = policy.Decide(policy.Input{Asset: a, Now: now, Settings: u.app.Config.Policy})
	d.When = d.Decision.When(now)
	if d.History, err = u.store.ListRotations(ctx, store.RotationFilter{Asset: a.SystemName, Limit: assetHistory}); err != nil {
		return err
	}
	for i := range d.History {
		if !store.Final(d.History[i].State) {
			d.Active = &d.History[i]
			break
		}
	}
	entry := newFleetEntry(a)
	d.State = decideState(&entry, d.Route != nil, d.Active != nil, now.Unix())
	return u.render(w, r, s, http.StatusOK, "asset", a.SystemName, d)
}

type dnsData struct {
	Asset    string
	Findings []dnsdoctor.Finding
	Error    string
}

// assetDNS checks the live _acme-challenge CNAME of every name of the
// asset, as `ottr dns doctor` does without its test write, and says which
// record to add or fix. The asset page loads it on its own, since it waits
// on DNS; without JavaScript it is a page of its own.
func (u *UI) assetDNS(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	a, err := u.loadAsset(ctx, r)
	if err != nil {
		return err
	}
	d := &dnsData{Asset: a.SystemName}
	if doctor := u.app.DelegationDoctor(); doctor == nil {
		d.Error = "no delegated zones are configured (dns.zones), so ottr cannot validate these names by DNS-01"
	} else {
		report, err := doctor.Run(ctx, a.Names())
		if err != nil {
			d.Error = err.Error()
		}
		for _, f := range report.Findings {
			if f.Check == dnsdoctor.CheckDelegation {
				d.Findings = append(d.Findings, f)
			}
		}
	}
	if r.Header.Get("HX-Request") != "" {
		return u.renderPartial(w, r, s, "asset-dns", "dns", d)
	}
	return u.render(w, r, s, http.StatusOK, "asset-dns", "DNS delegation of "+a.SystemName, d)
}

// assetRotate starts a rotation now and shows it.
func (u *UI) assetRotate(w http.ResponseWriter, r *http.Request, s *session) error {
	a, err := u.loadAsset(r.Context(), r)
	if err != nil {
		return err
	}
	rot, err := u.sessions.Rotate(r.Context(), s.User.Username, s.RemoteAddr, a.SystemName)
	if err != nil {
		msg := actionError(err)
		if strings.HasPrefix(msg, "failed: ") {
			return err
		}
		return userError(http.StatusConflict, a.SystemName+": "+msg)
	}
	u.redirect(w, r, fmt.Sprintf("/ui/rotations/%d", rot.ID))
	return nil
}

func (u *UI) assetPause(w http.ResponseWriter, r *http.Request, s *session) error {
	return u.pauseOrResume(w, r, s, true)
}

func (u *UI) assetResume(w http.ResponseWriter, r *http.Request, s *session) error {
	return u.pauseOrResume(w, r, s, false)
}

func (u *UI) pauseOrResume(w http.ResponseWriter, r *http.Request, s *session, paused bool) error {
	name := asset.NormalizeName(r.PathValue("name"))
	if err := u.setPaused(r, s, name, paused); err != nil {
		return err
	}
	u.redirect(w, r, "/ui/assets/"+pathEscape(name))
	return nil
}

// setPaused pauses or resumes an asset, as a PUT of its paused field
// through the API would.
func (u *UI) setPaused(r *http.Request, s *session, name string, paused bool) error {
	return u.changeAsset(r, s, name, "asset.update", func(a *asset.Asset) error {
		a.Paused = paused
		return nil
	})
}

// changeAsset applies change to the stored asset, checks the result with
// the API's rules (app.Prepare), stores it and audits it as action. A
// change that breaks a rule stores nothing and returns the
// *asset.ValidationError.
func (u *UI) changeAsset(r *http.Request, s *session, name, action string, change func(*asset.Asset) error) error {
	ctx := r.Context()
	before, err := u.store.GetAsset(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return userError(http.StatusNotFound, "no asset named "+name+" (deleted meanwhile?)")
	}
	if err != nil {
		return err
	}
	a := before.Clone()
	if err := change(&a); err != nil {
		return err
	}
	if a, err = u.app.Prepare(a); err != nil {
		return err
	}
	if err := u.store.UpdateAsset(ctx, a); errors.Is(err, store.ErrNotFound) {
		return userError(http.StatusNotFound, "no asset named "+name+" (deleted meanwhile?)")
	} else if err != nil {
		return err
	}
	u.fleet.patch([]asset.Asset{a}, nil)
	u.sessions.Audit(ctx, s.User.Username, s.RemoteAddr, action, "asset/"+name, before, a)
	return nil
}

// assetValidation sets or unsets certificate validation (ADMIN, as in
// the API).
func (u *UI) assetValidation(w http.ResponseWriter, r *http.Request, s *session) error {
	name := asset.NormalizeName(r.PathValue("name"))
	set := r.PostFormValue("validation") == "on"
	action := "asset.certificate_validation.unset"
	if set {
		action = "asset.certificate_validation.set"
	}
	if err := u.changeAsset(r, s, name, action, func(a *asset.Asset) error {
		a.CertificateValidation = set
		return nil
	}); err != nil {
		return err
	}
	u.redirect(w, r, "/ui/assets/"+pathEscape(name))
	return nil
}

func (u *UI) assetDeletePage(w http.ResponseWriter, r *http.Request, s *session) error {
	a, err := u.loadAsset(r.Context(), r)
	if err != nil {
		return err
	}
	return u.render(w, r, s, http.StatusOK, "asset-delete", "Delete "+a.SystemName, a)
}

// assetDelete removes the asset and its rotations, after the
// confirmation page.
func (u *UI) assetDelete(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	before, err := u.loadAsset(ctx, r)
	if err != nil {
		return err
	}
	if err := u.store.DeleteAsset(ctx, before.SystemName); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	u.fleet.patch(nil, []string{before.SystemName})
	u.sessions.Audit(ctx, s.User.Username, s.RemoteAddr, "asset.delete", "asset/"+before.SystemName, before, nil)
	u.redirect(w, r, "/ui/assets")
	return nil
}
