package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/ottr-go/ottr/internal/api"
	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/ui"
)

// labUIUser is the ADMIN user a lab that stays up creates for its web UI.
const labUIUser = "lab-admin"

// serveLabUI serves the API and the web UI of a lab that stays up on a
// free loopback port, creates (or resets) an ADMIN login with a new random
// password, and prints both, so a newcomer watches the fleet in a browser.
// The returned stop shuts the server down.
func serveLabUI(ctx context.Context, g *globals, ap *app.App, q api.Enqueuer) (stop func(), err error) {
	srv, err := api.New(ctx, api.Config{App: ap, Enqueuer: q, Logger: g.logger()})
	if err != nil {
		return nil, err
	}
	if err := ui.Mount(srv, ui.Config{App: ap, Enqueuer: q, Logger: g.logger()}); err != nil {
		return nil, err
	}
	secret := make([]byte, 12)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	// Random, with what the password rules ask for.
	password := base64.RawURLEncoding.EncodeToString(secret) + "-Aa1!"
	err = api.CreateUser(ctx, ap.Store, labUIUser, password, store.RoleAdmin)
	if errors.Is(err, store.ErrExists) { // a reused --data directory
		err = resetPassword(ctx, ap.Store, labUIUser, password)
	}
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("web UI: %w", err)
	}
	hs := srv.HTTPServer(ln.Addr().String())
	go func() { _ = hs.Serve(ln) }()
	fmt.Fprintf(g.stdout, "web UI: http://%s/ui/ — log in as %s with password %s\n", ln.Addr(), labUIUser, password)
	return func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(stopCtx)
	}, nil
}

func resetPassword(ctx context.Context, users store.Users, username, password string) error {
	u, err := users.GetUser(ctx, username)
	if err != nil {
		return err
	}
	if u.PasswordHash, err = api.HashPassword(password); err != nil {
		return err
	}
	u.Role = store.RoleAdmin
	return users.UpdateUser(ctx, u)
}
