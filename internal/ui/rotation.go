package ui

import "net/http"

// rotationPage shows one rotation.
func (u *UI) rotationPage(w http.ResponseWriter, r *http.Request, s *session) error {
	return u.render(w, r, s, http.StatusOK, "rotation", "Rotation "+r.PathValue("id"), nil)
}

// rotationLive is the part of the rotation page htmx polls while it runs.
func (u *UI) rotationLive(w http.ResponseWriter, r *http.Request, s *session) error {
	return u.renderPartial(w, r, s, "rotation", "live", nil)
}
