package cli

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ottr-go/ottr/internal/notify"
)

func newNotifyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "notify", Short: "Work with the notification channels"}
	cmd.AddCommand(newNotifyTestCmd(g, notify.NewChannel))
	return cmd
}

// newNotifyTestCmd is 'ottr notify test', building channels with build.
func newNotifyTestCmd(g *globals, build notify.Constructor) *cobra.Command {
	return &cobra.Command{
		Use:   "test CHANNEL",
		Short: "Send a sample message through a notification channel and print its answer",
		Long: `test builds the channel named CHANNEL from notifications.channels in the
configuration, with its secrets read as 'ottr serve' reads them, sends it a
sample event (a failed rotation of test.ottr.invalid, marked as a test) and
prints what the channel answered. It exits 1 when the message was not
delivered. Nothing is queued or retried, and nothing is written to the
database.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeChannels,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if err := notify.CheckConfig(cfg); err != nil {
				return err
			}
			if _, ok := cfg.Notifications.Channels[args[0]]; !ok {
				names := slices.Sorted(maps.Keys(cfg.Notifications.Channels))
				return notFoundf("no channel named %q in notifications.channels of %s (configured: %s)",
					args[0], g.configPath, cmp.Or(strings.Join(names, ", "), "none"))
			}
			resolver, err := g.secretResolver(cfg)
			if err != nil {
				return err
			}
			channels, err := notify.BuildChannels(cfg, args, build, notify.ChannelOptions{Resolve: resolver.Resolve, Logger: g.logger()})
			if err != nil {
				return err
			}
			ch := channels[args[0]]
			ctx, cancel := context.WithTimeout(cmd.Context(), cfg.Notifications.Channels[args[0]].Timeout+5*time.Second)
			defer cancel()
			receipt, err := ch.Send(ctx, notify.SampleEvent(cfg.Notifications.ExternalURL, time.Now()))
			if err != nil {
				return fmt.Errorf("%s (%s) did not take the sample message: %w", ch.Name(), ch.Kind(), err)
			}
			fmt.Fprintf(g.stdout, "%s (%s) took the sample message: %s\n", ch.Name(), ch.Kind(), receipt.Status)
			if receipt.Detail != "" {
				fmt.Fprintf(g.stdout, "  %s\n", receipt.Detail)
			}
			return nil
		},
	}
}
