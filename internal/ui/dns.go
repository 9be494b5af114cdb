package ui

import "net/http"

// dnsPage shows every missing DNS delegation as one zone-file snippet.
func (u *UI) dnsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	return u.render(w, r, s, http.StatusOK, "dns", "DNS", nil)
}
