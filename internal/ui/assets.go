package ui

import "net/http"

// assetsPage lists the assets.
func (u *UI) assetsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	return u.render(w, r, s, http.StatusOK, "assets", "Assets", nil)
}

// assetsBulk pauses, resumes or rotates the chosen assets.
func (u *UI) assetsBulk(w http.ResponseWriter, r *http.Request, s *session) error {
	u.redirect(w, r, "/ui/assets")
	return nil
}
