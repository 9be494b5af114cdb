package ui

import "net/http"

// usersPage shows the users and their roles.
func (u *UI) usersPage(w http.ResponseWriter, r *http.Request, s *session) error {
	return u.render(w, r, s, http.StatusOK, "users", "Users", nil)
}
