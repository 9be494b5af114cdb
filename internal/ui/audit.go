package ui

import "net/http"

// auditPage shows the audit log, filterable.
func (u *UI) auditPage(w http.ResponseWriter, r *http.Request, s *session) error {
	return u.render(w, r, s, http.StatusOK, "audit", "Audit log", nil)
}
