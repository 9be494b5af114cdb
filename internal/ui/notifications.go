package ui

import "net/http"

// notificationsPage shows the notification channels and their last delivery.
func (u *UI) notificationsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	return u.render(w, r, s, http.StatusOK, "notifications", "Notification channels", nil)
}
