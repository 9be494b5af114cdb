package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ottr-go/ottr/internal/app"
)

func newServeCmd(g *globals) *cobra.Command {
	var queues []string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the scheduler and the rotation workers until interrupted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			ap, err := g.open(ctx, app.Options{})
			if err != nil {
				return err
			}
			defer ap.Close()
			q, _, err := ap.Queue(ctx, true, queues)
			if err != nil {
				return err
			}
			if err := q.Start(ctx); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "ottr serving: scanning every %s, %d rotations at once\n", ap.Config.Scheduler.Interval, ap.Config.Workers.Concurrency)
			<-ctx.Done()
			stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			return q.Stop(stopCtx)
		},
	}
	cmd.Flags().StringSliceVar(&queues, "queue", nil, "work only these data-center queues (default: all)")
	return cmd
}
