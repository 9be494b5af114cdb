package ui

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/ottr-go/ottr/internal/asset"
)

// editFields are the asset fields the edit form changes, by their API
// names; the others are recorded by ottr from each rotation.
var editFields = []string{"common_name", "subject_alternative_name", "certificate_authority", "data_center",
	"host_platform", "os_version", "device_model", "ip_address", "port", "origin", "key_type", "credentials", "labels"}

type editData struct {
	Asset    asset.Asset
	Form     *form
	CAs      []string
	KeyTypes []string
}

func (u *UI) assetEditPage(w http.ResponseWriter, r *http.Request, s *session) error {
	a, err := u.loadAsset(r.Context(), r)
	if err != nil {
		return err
	}
	return u.renderEdit(w, r, s, http.StatusOK, a, &form{Values: assetValues(a), Errors: map[string]string{}})
}

func (u *UI) renderEdit(w http.ResponseWriter, r *http.Request, s *session, status int, a asset.Asset, f *form) error {
	d := &editData{Asset: a, Form: f, KeyTypes: append([]string{""}, asset.KeyTypes()...)}
	d.CAs = slices.Sorted(maps.Keys(u.app.Current().CertificateAuthorities))
	if !slices.Contains(d.CAs, a.CertificateAuthority) {
		d.CAs = append([]string{a.CertificateAuthority}, d.CAs...)
	}
	return u.render(w, r, s, status, "asset-edit", "Edit "+a.SystemName, d)
}

// assetEdit saves the edit form when every field checks out with the
// API's rules, and otherwise shows the form again with each error beside
// its field, having saved nothing.
func (u *UI) assetEdit(w http.ResponseWriter, r *http.Request, s *session) error {
	a, err := u.loadAsset(r.Context(), r)
	if err != nil {
		return err
	}
	f := newForm(r)
	// Every field is checked, those that cannot be read and those that
	// break the API's rules, so the form shows every error at once.
	edited := a.Clone()
	applyEditForm(f, &edited)
	if _, err := u.app.Prepare(edited); err != nil {
		var invalid *asset.ValidationError
		if !errors.As(err, &invalid) {
			return err
		}
		for _, fe := range invalid.Errors {
			field, _, _ := strings.Cut(fe.Field, "[")
			field, _, _ = strings.Cut(field, ".")
			if slices.Contains(editFields, field) {
				f.fail(field, fe.Rule)
			} else {
				f.Error = strings.TrimSpace(f.Error + " " + fe.Error())
			}
		}
	}
	if !f.ok() {
		return u.renderEdit(w, r, s, http.StatusUnprocessableEntity, a, f)
	}
	// Applied again to the asset as stored now, and checked again, so a
	// change made meanwhile by the scheduler is not undone.
	if err := u.changeAsset(r, s, a.SystemName, "asset.update", func(e *asset.Asset) error {
		applyEditForm(f, e)
		return nil
	}); err != nil {
		return err
	}
	u.redirect(w, r, "/ui/assets/"+pathEscape(a.SystemName))
	return nil
}

// applyEditForm sets the edited fields of a from the form, recording the
// values that cannot even be read (the API's rules check the rest).
func applyEditForm(f *form, a *asset.Asset) {
	a.CommonName = f.get("common_name")
	a.SubjectAlternativeName = strings.FieldsFunc(f.get("subject_alternative_name"), func(r rune) bool {
		return r == ',' || r == '\n' || r == '\r' || r == ' '
	})
	a.CertificateAuthority = strings.TrimSpace(f.get("certificate_authority"))
	a.DataCenter = f.get("data_center")
	a.HostPlatform = strings.TrimSpace(f.get("host_platform"))
	a.OSVersion = strings.TrimSpace(f.get("os_version"))
	a.DeviceModel = strings.TrimSpace(f.get("device_model"))
	a.IPAddress = strings.TrimSpace(f.get("ip_address"))
	a.Origin = strings.TrimSpace(f.get("origin"))
	a.KeyType = strings.TrimSpace(f.get("key_type"))
	a.Credentials = strings.TrimSpace(f.get("credentials"))
	a.Port = 0
	if p := strings.TrimSpace(f.get("port")); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			f.fail("port", "port must be a whole number from 1 to 65535, or empty for the platform's default")
		}
		a.Port = n
	}
	a.Labels = nil
	for line := range strings.Lines(f.get("labels")) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			f.fail("labels", fmt.Sprintf("%q is not key=value: write one label a line, as key=value", line))
			continue
		}
		if a.Labels == nil {
			a.Labels = map[string]string{}
		}
		a.Labels[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
}

// assetValues fills the edit form from the asset.
func assetValues(a asset.Asset) url.Values {
	v := url.Values{}
	v.Set("common_name", a.CommonName)
	v.Set("subject_alternative_name", strings.Join(a.SubjectAlternativeName, "\n"))
	v.Set("certificate_authority", a.CertificateAuthority)
	v.Set("data_center", a.DataCenter)
	v.Set("host_platform", a.HostPlatform)
	v.Set("os_version", a.OSVersion)
	v.Set("device_model", a.DeviceModel)
	v.Set("ip_address", a.IPAddress)
	v.Set("origin", a.Origin)
	v.Set("key_type", a.KeyType)
	v.Set("credentials", a.Credentials)
	if a.Port != 0 {
		v.Set("port", strconv.Itoa(a.Port))
	}
	var labels []string
	for _, k := range slices.Sorted(maps.Keys(a.Labels)) {
		labels = append(labels, k+"="+a.Labels[k])
	}
	v.Set("labels", strings.Join(labels, "\n"))
	return v
}
