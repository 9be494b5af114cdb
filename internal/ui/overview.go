package ui

import "net/http"

// overviewPage shows the fleet at a glance.
func (u *UI) overviewPage(w http.ResponseWriter, r *http.Request, s *session) error {
	return u.render(w, r, s, http.StatusOK, "overview", "Fleet", nil)
}
