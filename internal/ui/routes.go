package ui

import "net/http"

// routesPage shows the routing table and the route tester.
func (u *UI) routesPage(w http.ResponseWriter, r *http.Request, s *session) error {
	return u.render(w, r, s, http.StatusOK, "routes", "Routes", nil)
}
