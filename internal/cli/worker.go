package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/queue"
)

// stopTimeout is how long running rotations get to finish on shutdown;
// those still running resume in another process after their last step.
const stopTimeout = 30 * time.Second

func newWorkerCmd(g *globals) *cobra.Command {
	var queues []string
	var lead bool
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
heartbeat; they resume after their last finished step.`,
		Args: cobra.NoArgs,
		RunE: g.withApp(func(cmd *cobra.Command, _ []string, ap *app.App) error {
			if len(queues) == 0 {
				return errors.New("name the queues to work with --queue (data centers, e.g. --queue dc1 --queue dc2; default for assets without one)")
			}
			names := make([]string, 0, len(queues))
			for _, q := range queues {
				names = append(names, queue.Name(q))
			}
			if !ap.Clustered() {
				fmt.Fprintln(g.stderr, "warning: the database is SQLite: only processes on this machine can share it; use PostgreSQL for workers on other machines")
			}
			q, _, err := ap.Queue(cmd.Context(), app.QueueRole{Work: true, Queues: names, Scan: lead})
			if err != nil {
				return err
			}
			if err := q.Start(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "ottr worker on queues %s: %d rotations at once\n", strings.Join(names, ", "), ap.Config.Workers.Concurrency)
			<-cmd.Context().Done()
			stopCtx, cancel := context.WithTimeout(context.Background(), stopTimeout)
			defer cancel()
			return q.Stop(stopCtx)
		}),
	}
	cmd.Flags().StringSliceVar(&queues, "queue", nil, "a data-center queue to work (repeat or comma-separate)")
	cmd.Flags().BoolVar(&lead, "lead", false, "let this worker be elected leader and run the scan too (for a cluster without 'ottr serve')")
	return cmd
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
