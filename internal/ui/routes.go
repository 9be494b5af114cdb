package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/ottr-go/ottr/internal/asset"
	routing "github.com/ottr-go/ottr/internal/route"
	"github.com/ottr-go/ottr/internal/store"
)

// routeView is one route of the routing table as the screen shows it.
type routeView struct {
	Index                                       int
	Name, Driver                                string
	Platform, OSVersion, CA, Models, DataCenter string
	Options                                     string
	FallbackIssuers                             string
}

// routeVerdict is one route's answer to the tested asset.
type routeVerdict struct {
	Index           int
	Name, Driver    string
	Matched, Chosen bool
	Reasons         []string
}

type routesData struct {
	Routes []routeView
	Form   *form
	// Tested is set once the tester has run: the asset's routed fields
	// and every route's verdict.
	Tested   *asset.Asset
	Verdicts []routeVerdict
	// Chosen is the route that takes the tested asset; nil when none
	// does.
	Chosen *routeView
}

// routeTestFields are the tester's form fields, in the order shown.
var routeTestFields = []string{"asset", "system_name", "sans", "host_platform", "os_version",
	"certificate_authority", "device_model", "data_center", "labels"}

// routesPage shows the routing table and the route tester: given an
// inventory asset or an asset's fields, the route it takes and why not
// each other, as `ottr route test` explains it (route.Table.Explain).
// Secret options show as references to ADMIN only, as the API shows them.
func (u *UI) routesPage(w http.ResponseWriter, r *http.Request, s *session) error {
	// One table for the list and the test, whatever a reload does meanwhile.
	table := u.app.Routes.Table()
	d := &routesData{Form: queryForm(r)}
	for i, rt := range table.Routes() {
		v, err := u.viewRoute(s, i, rt)
		if err != nil {
			return err
		}
		d.Routes = append(d.Routes, v)
	}
	tested := false
	for _, name := range routeTestFields {
		tested = tested || d.Form.get(name) != ""
	}
	if !tested {
		return u.render(w, r, s, http.StatusOK, "routes", "Routes", d)
	}
	a, err := u.routeTestAsset(r, d.Form)
	if err != nil {
		return err
	}
	if !d.Form.ok() {
		return u.render(w, r, s, http.StatusUnprocessableEntity, "routes", "Routes", d)
	}
	d.Tested = &a
	for _, e := range table.Explain(a) {
		d.Verdicts = append(d.Verdicts, routeVerdict{Index: e.Index, Name: e.Name, Driver: e.Driver,
			Matched: e.Matched, Chosen: e.Chosen, Reasons: e.Reasons})
		if e.Chosen {
			d.Chosen = &d.Routes[e.Index]
		}
	}
	return u.render(w, r, s, http.StatusOK, "routes", "Routes", d)
}

// routeTestAsset is the asset the tester routes: the inventory asset the
// form names, or one made of the form's fields, normalized and checked
// with the API's asset rules. What is wrong is recorded on f.
func (u *UI) routeTestAsset(r *http.Request, f *form) (asset.Asset, error) {
	if name := strings.TrimSpace(f.get("asset")); name != "" {
		a, err := u.store.GetAsset(r.Context(), asset.NormalizeName(name))
		if errors.Is(err, store.ErrNotFound) {
			f.fail("asset", "no asset named "+name+" in the inventory; leave this empty to test the fields below")
		} else if err != nil {
			return a, fmt.Errorf("ui: read asset %s: %w", name, err)
		}
		for _, field := range routeTestFields[1:] {
			if f.get(field) != "" {
				f.fail("asset", "name an inventory asset or fill in the fields below, not both")
				break
			}
		}
		return a, nil
	}
	name := f.get("system_name")
	a := asset.Asset{
		SystemName: name, CommonName: name,
		HostPlatform: f.get("host_platform"), OSVersion: f.get("os_version"),
		CertificateAuthority: f.get("certificate_authority"), DeviceModel: f.get("device_model"),
		DataCenter: f.get("data_center"),
	}
	for _, san := range strings.FieldsFunc(f.get("sans"), func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\n' || r == '\r' }) {
		a.SubjectAlternativeName = append(a.SubjectAlternativeName, san)
	}
	labels, err := parseLabels(f.get("labels"))
	if err != nil {
		f.fail("labels", err.Error())
	}
	a.Labels = labels
	sans := len(a.SubjectAlternativeName)
	asset.Normalize(&a)
	var verr *asset.ValidationError
	if err := asset.Validate(a, asset.Rules{}); errors.As(err, &verr) {
		for _, fe := range verr.Errors {
			switch {
			case fe.Field == "system_name" || fe.Field == "data_center":
				f.fail(fe.Field, fe.Field+" "+fe.Rule)
			case strings.HasPrefix(fe.Field, "subject_alternative_name[") && sans > 0:
				f.fail("sans", fmt.Sprintf("%s %q %s", fe.Field, fe.Value, fe.Rule))
			case strings.HasPrefix(fe.Field, "labels."):
				f.fail("labels", fe.Field+" "+fe.Rule)
			}
		}
	}
	return a, nil
}

// parseLabels reads labels written as in the inventory's CSV:
// "key=value; key=value".
func parseLabels(s string) (map[string]string, error) {
	var labels map[string]string
	for _, pair := range strings.Split(s, ";") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			return nil, fmt.Errorf("label %q: write each label as key=value, separated by ';', like team=pki; env=prod", pair)
		}
		if labels == nil {
			labels = map[string]string{}
		}
		labels[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return labels, nil
}

// viewRoute shows a route with its secret options redacted for all but
// ADMIN, as the API's route list does.
func (u *UI) viewRoute(s *session, i int, r routing.Route) (routeView, error) {
	options := r.Options
	if !s.Can(admin) {
		options = u.app.Drivers.RedactOptions(r.Driver, r.Options)
	}
	v := routeView{Index: i, Name: r.Name, Driver: r.Driver, Platform: r.Match.Platform, OSVersion: r.Match.OSVersion,
		CA: r.Match.CertificateAuthority, Models: strings.Join(r.Match.Models, ", "), DataCenter: r.Match.DataCenter,
		FallbackIssuers: strings.Join(r.FallbackIssuers, ", ")}
	if len(options) > 0 {
		js, err := json.Marshal(options)
		if err != nil {
			return v, fmt.Errorf("ui: route %q: options: %w", r.Name, err)
		}
		v.Options = string(js)
	}
	return v, nil
}
