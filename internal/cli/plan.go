package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/policy"
	"github.com/ottr-go/ottr/internal/scheduler"
	"github.com/ottr-go/ottr/internal/store"
)

// planRow is what `ottr plan` says of one asset. A field without a value
// is null.
type planRow struct {
	Asset   string    `json:"asset"`
	Due     bool      `json:"due"`
	Reason  string    `json:"reason"`
	Message string    `json:"message"`
	When    time.Time `json:"when"`
	// RunsAt is when the scheduler would run the due rotation: now, or
	// later when the CA's rate limits have no room for its order before.
	// Null for assets not due or without a route, which get none.
	RunsAt *time.Time `json:"runs_at"`
	// Route, RouteIndex and Driver are the route that takes the asset;
	// null when none does.
	Route      *string `json:"route"`
	RouteIndex *int    `json:"route_index"`
	Driver     *string `json:"driver"`
}

// routeText is the row's route as the table shows it.
func (r planRow) routeText() string {
	if r.Route == nil {
		return "NO ROUTE"
	}
	return fmt.Sprintf("%d %s", *r.RouteIndex, *r.Route)
}

// forEachAsset pages through the inventory, so a large one is never held in
// memory at once.
func forEachAsset(ctx context.Context, st store.Store, f store.AssetFilter, fn func(asset.Asset) error) error {
	const page = 1000
	f.Limit = page
	for {
		assets, err := st.ListAssets(ctx, f)
		if err != nil {
			return err
		}
		for _, a := range assets {
			if err := fn(a); err != nil {
				return err
			}
		}
		if len(assets) < page {
			return nil
		}
		f.After = assets[len(assets)-1].SystemName
	}
}

func planFor(ap *app.App, a asset.Asset, now time.Time) planRow {
	d := policy.Decide(policy.Input{Asset: a, Now: now, Settings: ap.Config.Policy})
	row := planRow{Asset: a.SystemName, Due: d.Due, Reason: d.Reason, Message: d.Message, When: d.When(now)}
	if r, i, ok := ap.Routes.Match(a); ok {
		row.Route, row.RouteIndex, row.Driver = &r.Name, &i, &r.Driver
	}
	return row
}

func newPlanCmd(g *globals) *cobra.Command {
	var dueOnly bool
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show, for every asset, whether it is due and why, when its rotation would run, and the route it takes; changes nothing",
		Args:  cobra.NoArgs,
	}
	out := addOutputFlag(cmd)
	cmd.RunE = g.withApp(func(cmd *cobra.Command, _ []string, ap *app.App) error {
		now := time.Now().UTC()
		var rows []planRow
		due, noRoute := 0, 0
		var bookings scheduler.Bookings
		err := forEachAsset(cmd.Context(), ap.Store, store.AssetFilter{}, func(a asset.Asset) error {
			row := planFor(ap, a, now)
			if row.Due {
				due++
			}
			if row.Route == nil {
				noRoute++
			}
			shown := -1
			if !dueOnly || row.Due {
				shown = len(rows)
				rows = append(rows, row)
			}
			if row.Due && row.Route != nil {
				bookings.Add(shown, a, now)
			}
			return nil
		})
		if err != nil {
			return err
		}
		last := bookings.Times(ap.Budget, func(row int, at time.Time) {
			if row >= 0 {
				rows[row].RunsAt = &at
			}
		})
		if rows == nil {
			rows = []planRow{}
		}
		return out.print(g.stdout, rows, func(w io.Writer) error {
			tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ASSET\tDUE\tWHEN\tRUNS AT\tROUTE\tDRIVER\tWHY")
			for _, r := range rows {
				runsAt, driver := "-", "-"
				if r.RunsAt != nil {
					runsAt = r.RunsAt.Format(time.RFC3339)
				}
				if r.Driver != nil {
					driver = *r.Driver
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Asset, yesNo(r.Due), r.When.UTC().Format(time.RFC3339), runsAt, r.routeText(), driver, r.Message)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(w, "%d due, %d without a route\n", due, noRoute)
			if last.After(now) {
				fmt.Fprintf(w, "the CAs' rate limits spread the due rotations until %s (%s from now)\n",
					last.Format(time.RFC3339), last.Sub(now).Round(time.Minute))
			}
			return nil
		})
	})
	cmd.Flags().BoolVar(&dueOnly, "due", false, "list only the assets that are due")
	return cmd
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
