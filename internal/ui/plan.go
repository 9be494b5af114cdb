package ui

import "net/http"

// planPage shows the renewal dry run over the fleet or a filter.
func (u *UI) planPage(w http.ResponseWriter, r *http.Request, s *session) error {
	return u.render(w, r, s, http.StatusOK, "plan", "Plan", nil)
}
