package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ottr-go/ottr/internal/api"
	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/ui"
)

type serveFlags struct {
	listen, tlsCert, tlsKey string
	queues                  []string
	allowPlainHTTP          bool
}

func newServeCmd(g *globals) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the REST API and run the scheduler and rotation workers until interrupted",
		Long: `serve answers the REST API and runs the scheduler and the rotation workers
until interrupted (SIGINT, SIGTERM); rotations still running get 30 seconds to
finish, and the others resume after their last finished step at the next start.

SIGHUP (systemctl reload) reads the configuration file again and swaps in its
routes, CA profiles, credentials, DNS settings and notification channels once
it checks out; a file with errors is refused, with its errors logged, and the
configuration in effect stays. Rotations already running finish with the
route, CA profile and login they started with. Settings a running process
cannot change (database, data and key files, api, metrics, scheduler, workers,
policy, log) are named in a warning and take effect at the next restart.`,
		Args: cobra.NoArgs,
		RunE: reloadable(g, func(cmd *cobra.Command, ap *app.App, reloads <-chan os.Signal) error {
			return serve(cmd, g, ap, f, reloads)
		}),
	}
	cmd.Flags().StringVar(&f.listen, "listen", "", "API address (default: api.listen in the config, 127.0.0.1:8080)")
	cmd.Flags().StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate to serve HTTPS (default: api.tls_cert_file)")
	cmd.Flags().StringVar(&f.tlsKey, "tls-key", "", "PEM key to serve HTTPS (default: api.tls_key_file)")
	cmd.Flags().BoolVar(&f.allowPlainHTTP, "allow-plain-http", false, "serve plain HTTP on an address other than loopback (tokens and passwords cross the network in clear)")
	cmd.Flags().StringSliceVar(&f.queues, "queue", nil, "run the rotations of these data-center queues (default: all on SQLite; none in cluster mode, where 'ottr worker' runs them)")
	return cmd
}

// listenSettings merges flags over the config and refuses plain HTTP
// beyond loopback unless asked: API tokens and passwords would cross the
// network in clear.
func listenSettings(ap *app.App, f serveFlags) (addr, cert, key string, err error) {
	addr, cert, key = ap.Config.API.Listen, ap.Config.API.TLSCertFile, ap.Config.API.TLSKeyFile
	if f.listen != "" {
		addr = f.listen
	}
	if f.tlsCert != "" || f.tlsKey != "" {
		cert, key = f.tlsCert, f.tlsKey
	}
	if (cert == "") != (key == "") {
		return "", "", "", usageErrorf(nil, "--tls-cert and --tls-key go together: give both to serve HTTPS, or neither")
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", "", "", usageErrorf(nil, "--listen %q: want host:port, like 127.0.0.1:8080", addr)
	}
	if cert == "" && !f.allowPlainHTTP && !isLoopback(host) {
		return "", "", "", fmt.Errorf("--listen %s without TLS would send tokens and passwords in clear: give --tls-cert and --tls-key, listen on loopback, or pass --allow-plain-http", addr)
	}
	return addr, cert, key, nil
}

// listenError says why the API cannot listen on addr and which setting
// chose it: --listen when given, else api.listen in the config.
func listenError(ap *app.App, addr string, fromFlag bool, err error) error {
	setting := "--listen"
	if !fromFlag {
		setting = "api.listen in " + ap.Config.Source()
		// Line falls back to the enclosing section's line when api.listen
		// is not written.
		if line := ap.Config.Line("api.listen"); line > 0 && line != ap.Config.Line("api") {
			setting = fmt.Sprintf("api.listen (%s:%d)", ap.Config.Source(), line)
		}
		setting += " or --listen"
	}
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("API: %s is in use by another process (another ottr serve?): stop it, or choose another address with %s", addr, setting)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("API: %s: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE): choose another address with %s", addr, setting)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("API: %s is not an address of this machine: choose another with %s", addr, setting)
	}
	return fmt.Errorf("API: listen on %s (%s): %w", addr, setting, err)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func serve(cmd *cobra.Command, g *globals, ap *app.App, f serveFlags, reloads <-chan os.Signal) error {
	ctx := cmd.Context()
	addr, cert, key, err := listenSettings(ap, f)
	if err != nil {
		return err
	}
	// On one node, serve does everything. In a cluster, workers placed
	// by data center run the rotations unless serve is given queues.
	work := !ap.Clustered() || len(f.queues) > 0
	q, _, err := ap.Queue(ctx, app.QueueRole{Work: work, Queues: f.queues, Scan: true})
	if err != nil {
		return err
	}
	srv, err := api.New(ctx, api.Config{App: ap, Enqueuer: q, Logger: g.logger()})
	if err != nil {
		return err
	}
	if err := ui.Mount(srv, ui.Config{App: ap, Enqueuer: q, Logger: g.logger()}); err != nil {
		return err
	}
	// Listen before starting the workers, so a taken port fails at once.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return listenError(ap, addr, f.listen != "", err)
	}
	if err := q.Start(ctx); err != nil {
		ln.Close()
		return err
	}
	hs := srv.HTTPServer(addr)
	served := make(chan error, 1)
	go func() {
		if cert != "" {
			served <- hs.ServeTLS(ln, cert, key)
		} else {
			served <- hs.Serve(ln)
		}
	}()
	scheme := "http"
	if cert != "" {
		scheme = "https"
	}
	working := fmt.Sprintf("%d rotations at once", ap.Config.Workers.Concurrency)
	if !work {
		working = "rotations run by 'ottr worker'"
	}
	fmt.Fprintf(g.stdout, "ottr serving the API on %s://%s (web UI at /ui/, OpenAPI at /openapi.json, docs at /docs); scanning every %s, %s\n",
		scheme, ln.Addr(), ap.Config.Scheduler.Interval, working)
	defer watchReloads(ctx, g, ap, reloads)()

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = hs.Shutdown(stopCtx)
	stopErr := q.Stop(stopCtx)
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("API: %w", serveErr)
	}
	return stopErr
}

// reloadable turns run into a cobra RunE that assembles the app and hands
// run the SIGHUPs the process receives, each a request to reload the
// configuration. SIGHUP is caught before the app is assembled: one sent
// while the process starts is taken once it runs, rather than ending it,
// as SIGHUP does by default.
func reloadable(g *globals, run func(cmd *cobra.Command, ap *app.App, reloads <-chan os.Signal) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		reloads := make(chan os.Signal, 1)
		signal.Notify(reloads, syscall.SIGHUP)
		defer signal.Stop(reloads)
		return g.withApp(func(cmd *cobra.Command, _ []string, ap *app.App) error {
			return run(cmd, ap, reloads)
		})(cmd, args)
	}
}

// watchReloads reloads the configuration into ap at every signal on
// reloads until ctx ends or the returned stop is called; stop returns once
// no reload is under way, so the app can be closed after it.
func watchReloads(ctx context.Context, g *globals, ap *app.App, reloads <-chan os.Signal) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-reloads:
				reload(g, ap)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// reload reads the configuration file again and swaps it into ap, or
// logs why it cannot and leaves the configuration in effect. Each process
// reloads its own: in a cluster, every serve and worker is sent its own
// SIGHUP.
func reload(g *globals, ap *app.App) {
	// The log keeps the settings it started with, whatever the new file
	// says (a restart takes them).
	logSettings := g.logSettings
	cfg, err := g.loadConfig()
	g.logSettings = logSettings
	var res app.Reloaded
	if err == nil {
		res, err = ap.Reload(cfg)
	}
	if err != nil {
		g.logger().Error("configuration reload refused: the configuration in effect stays", "config", g.configPath, "err", err)
		return
	}
	fmt.Fprintf(g.stdout, "ottr reloaded %s: %s\n", g.configPath, res)
	if len(res.NeedRestart) > 0 {
		g.warn("%s changes settings a running ottr keeps until it restarts: %s", g.configPath, strings.Join(res.NeedRestart, ", "))
	}
}
