package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/queue"
)

// stopTimeout is how long running rotations get to finish on shutdown;
// those still running resume in another process after their last step.
const stopTimeout = 30 * time.Second

func newWorkerCmd(g *globals) *cobra.Command {
	var queues []string
	var lead bool
	var metricsListen string
	cmd := &cobra.Command{
		Use:   "worker --queue DC [--queue DC2]",
		Short: "Run the rotations of the named data-center queues until interrupted",
		Long: `worker runs rotations taken from the named queues, one queue per data center
(an asset's data_center; "default" holds the assets without one), with
workers.concurrency rotations at once. Put a worker where it can reach its data
centers' devices; in cluster mode every worker shares the PostgreSQL database
of 'database' (or --database).

Workers never lead: the queue's maintenance (scheduling the scan, moving
scheduled and retried rotations on, cleaning up) and the scan itself, which
asks the CAs about renewal windows, run on the 'ottr serve' processes, one of
which is elected leader. A worker that dies has its rotations taken over by
another process after workers.takeover_after (default 30s) without its
heartbeat; they resume after their last finished step.

A worker answers /metrics (its own rotations, steps, ACME requests and DNS
updates; 'ottr serve' answers the inventory's) and /healthz on
metrics.worker_listen (default 127.0.0.1:9464) or --metrics-listen. When
that address is taken (two workers on one machine with the default), the
worker warns and runs without it, unless --metrics-listen named it.

SIGHUP reloads the configuration as it does for 'ottr serve': each process
reloads its own, so send it to every serve and worker of a cluster.`,
		Args: cobra.NoArgs,
		RunE: reloadable(g, func(cmd *cobra.Command, ap *app.App, reloads <-chan os.Signal) error {
			if len(queues) == 0 {
				return errors.New("name the queues to work with --queue (data centers, e.g. --queue dc1 --queue dc2; default for assets without one)")
			}
			names := make([]string, 0, len(queues))
			for _, q := range queues {
				names = append(names, queue.Name(q))
			}
			if !ap.Clustered() {
				g.warn("the database is SQLite: only processes on this machine can share it; use PostgreSQL for workers on other machines")
			}
			q, _, err := ap.Queue(cmd.Context(), app.QueueRole{Work: true, Queues: names, Scan: lead})
			if err != nil {
				return err
			}
			listener, err := workerListener(g, ap, metricsListen, cmd.Flags().Changed("metrics-listen"))
			if err != nil {
				return err
			}
			if err := q.Start(cmd.Context()); err != nil {
				if listener != nil {
					listener.Close()
				}
				return err
			}
			fmt.Fprintf(g.stdout, "ottr worker on queues %s: %d rotations at once\n", strings.Join(names, ", "), ap.Config.Workers.Concurrency)
			var hs *http.Server
			if listener != nil {
				hs = workerServer(ap, g)
				go func() { _ = hs.Serve(listener) }()
				fmt.Fprintf(g.stdout, "ottr worker serving /metrics and /healthz on http://%s\n", listener.Addr())
			}
			stopReloads := watchReloads(cmd.Context(), g, ap, reloads)
			<-cmd.Context().Done()
			stopReloads()
			stopCtx, cancel := context.WithTimeout(context.Background(), stopTimeout)
			defer cancel()
			if hs != nil {
				_ = hs.Shutdown(stopCtx)
			}
			return q.Stop(stopCtx)
		}),
	}
	cmd.Flags().StringSliceVar(&queues, "queue", nil, "a data-center queue to work (repeat or comma-separate)")
	cmd.Flags().StringVar(&metricsListen, "metrics-listen", "", "address to serve /metrics and /healthz on (default: metrics.worker_listen in the config, 127.0.0.1:9464)")
	cmd.Flags().BoolVar(&lead, "lead", false, "let this worker be elected leader and run the scan too (for a cluster without 'ottr serve')")
	return cmd
}

// workerListener listens on the worker's metrics address: the flag's, or
// the config's. A taken address the flag did not name leaves the worker
// without the listener, with a warning: a second worker on a machine must
// still run its rotations.
func workerListener(g *globals, ap *app.App, flag string, flagSet bool) (net.Listener, error) {
	addr := ap.Config.Metrics.WorkerListen
	if flagSet {
		if reason := config.CheckListenAddress(flag); reason != "" {
			return nil, fmt.Errorf("--metrics-listen %q %s", flag, reason)
		}
		addr = flag
	}
	ln, err := net.Listen("tcp", addr)
	switch {
	case err == nil:
		return ln, nil
	case flagSet:
		return nil, fmt.Errorf("--metrics-listen: %w", err)
	}
	g.warn("the worker serves no /metrics or /healthz: %v; give each worker on this machine its own metrics.worker_listen or --metrics-listen", err)
	return nil, nil
}

// workerServer serves a worker's /metrics and /healthz.
func workerServer(ap *app.App, g *globals) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", ap.Metrics.WorkerHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(g.logger().Handler(), slog.LevelWarn),
	}
}

func newMigrateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database migrations (ottr's and the job queue's) and exit",
		Long: `migrate brings the database schema up to date and exits. serve and worker
also migrate when they start, under a lock, so this is for deployments that
migrate as a step of their own, before rolling out new processes.`,
		Args: cobra.NoArgs,
		RunE: g.withApp(func(cmd *cobra.Command, _ []string, ap *app.App) error {
			if err := ap.Migrate(cmd.Context()); err != nil {
				return err
			}
			kind := "SQLite"
			if ap.Clustered() {
				kind = "PostgreSQL"
			}
			fmt.Fprintf(g.stdout, "the %s database is up to date\n", kind)
			return nil
		}),
	}
}
