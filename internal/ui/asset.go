package ui

import "net/http"

// assetPage shows one asset.
func (u *UI) assetPage(w http.ResponseWriter, r *http.Request, s *session) error {
	return u.render(w, r, s, http.StatusOK, "asset", r.PathValue("name"), nil)
}

func (u *UI) assetEditPage(w http.ResponseWriter, r *http.Request, s *session) error {
	return u.assetPage(w, r, s)
}

func (u *UI) assetEdit(w http.ResponseWriter, r *http.Request, s *session) error {
	return u.backToAsset(w, r)
}

func (u *UI) assetRotate(w http.ResponseWriter, r *http.Request, s *session) error {
	return u.backToAsset(w, r)
}

func (u *UI) assetPause(w http.ResponseWriter, r *http.Request, s *session) error {
	return u.backToAsset(w, r)
}

func (u *UI) assetResume(w http.ResponseWriter, r *http.Request, s *session) error {
	return u.backToAsset(w, r)
}

func (u *UI) assetValidation(w http.ResponseWriter, r *http.Request, s *session) error {
	return u.backToAsset(w, r)
}

func (u *UI) assetDeletePage(w http.ResponseWriter, r *http.Request, s *session) error {
	return u.assetPage(w, r, s)
}

func (u *UI) assetDelete(w http.ResponseWriter, r *http.Request, s *session) error {
	return u.backToAsset(w, r)
}

func (u *UI) backToAsset(w http.ResponseWriter, r *http.Request) error {
	u.redirect(w, r, "/ui/assets/"+pathEscape(r.PathValue("name")))
	return nil
}
