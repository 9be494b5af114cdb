package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/policy"
	"github.com/ottr-go/ottr/internal/queue"
	"github.com/ottr-go/ottr/internal/ratelimit"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/scheduler"
	"github.com/ottr-go/ottr/internal/store"
)

// planRow is what `ottr plan` says of one asset.
type planRow struct {
	Asset   string    `json:"asset"`
	Due     bool      `json:"due"`
	Reason  string    `json:"reason"`
	Message string    `json:"message"`
	When    time.Time `json:"when"`
	// RunsAt is when the scheduler would run the due rotation: now, or
	// later when the CA's rate limits have no room for its order before.
	// Unset for assets not due or without a route, which get none.
	RunsAt *time.Time `json:"runs_at,omitempty"`
	Route  string     `json:"route"`
	Driver string     `json:"driver"`
}

// plannedOrder is a due rotation's order, waiting to be given a time.
type plannedOrder struct {
	row         int // index in the rows, or -1 when the row is not shown
	renewalTime *time.Time
	name        string
	order       ratelimit.Order
}

// planRunTimes sets RunsAt on the rows of due rotations: when each would
// run if the scheduler booked them now, CA by CA in the order it books
// them (earliest renewal time first), against a budget that spends
// nothing. It returns the latest time of all.
func planRunTimes(budget *ratelimit.Budget, byCA map[string][]plannedOrder, rows []planRow) time.Time {
	var last time.Time
	for ca, planned := range byCA {
		slices.SortStableFunc(planned, func(a, b plannedOrder) int {
			switch {
			case a.renewalTime == nil && b.renewalTime != nil:
				return -1
			case a.renewalTime != nil && b.renewalTime == nil:
				return 1
			case a.renewalTime != nil:
				if c := a.renewalTime.Compare(*b.renewalTime); c != 0 {
					return c
				}
			}
			return strings.Compare(a.name, b.name)
		})
		orders := make([]ratelimit.Order, len(planned))
		for i, p := range planned {
			orders[i] = p.order
		}
		for i, at := range budget.Plan(ca, orders) {
			at = at.UTC()
			if at.After(last) {
				last = at
			}
			if r := planned[i].row; r >= 0 {
				rows[r].RunsAt = &at
			}
		}
	}
	return last
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
	row := planRow{Asset: a.SystemName, Due: d.Due, Reason: d.Reason, Message: d.Message, When: d.NotBefore, Route: "NO ROUTE", Driver: "-"}
	if d.Due && (d.NotBefore.IsZero() || d.NotBefore.Before(now)) {
		row.When = now
	}
	if r, i, ok := ap.Routes.Match(a); ok {
		row.Route = fmt.Sprintf("%d", i)
		if r.Name != "" {
			row.Route += " " + r.Name
		}
		row.Driver = r.Driver
	}
	return row
}

func newPlanCmd(g *globals) *cobra.Command {
	var output string
	var dueOnly bool
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show, for every asset, whether it is due and why, when its rotation would run, and the route it takes; changes nothing",
		Args:  cobra.NoArgs,
		RunE: g.withApp(func(cmd *cobra.Command, _ []string, ap *app.App) error {
			now := time.Now().UTC()
			var rows []planRow
			due, noRoute := 0, 0
			byCA := map[string][]plannedOrder{}
			err := forEachAsset(cmd.Context(), ap.Store, store.AssetFilter{}, func(a asset.Asset) error {
				row := planFor(ap, a, now)
				if row.Due {
					due++
				}
				if row.Driver == "-" {
					noRoute++
				}
				shown := -1
				if !dueOnly || row.Due {
					shown = len(rows)
					rows = append(rows, row)
				}
				if row.Due && row.Driver != "-" {
					byCA[a.CertificateAuthority] = append(byCA[a.CertificateAuthority], plannedOrder{
						row: shown, renewalTime: a.RenewalTime, name: a.SystemName, order: scheduler.Order(a, now)})
				}
				return nil
			})
			if err != nil {
				return err
			}
			last := planRunTimes(ap.Budget, byCA, rows)
			if output == "json" {
				return writeJSON(g.stdout, rows)
			}
			if output != "table" {
				return fmt.Errorf("--output %q: want table or json", output)
			}
			tw := tabwriter.NewWriter(g.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ASSET\tDUE\tWHEN\tRUNS AT\tROUTE\tDRIVER\tWHY")
			for _, r := range rows {
				runsAt := "-"
				if r.RunsAt != nil {
					runsAt = r.RunsAt.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Asset, yesNo(r.Due), r.When.UTC().Format(time.RFC3339), runsAt, r.Route, r.Driver, r.Message)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%d due, %d without a route\n", due, noRoute)
			if last.After(now) {
				fmt.Fprintf(g.stdout, "the CAs' rate limits spread the due rotations until %s (%s from now)\n",
					last.Format(time.RFC3339), last.Sub(now).Round(time.Minute))
			}
			return nil
		}),
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	cmd.Flags().BoolVar(&dueOnly, "due", false, "list only the assets that are due")
	return cmd
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func newRotateCmd(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "rotate NAME",
		Short: "Rotate one asset's certificate now, in the foreground, showing each step",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			start := time.Now()
			ap, err := g.open(ctx, app.Options{Observer: func(e rotation.Event) { printStep(g, e) }})
			if err != nil {
				return err
			}
			defer ap.Close()
			a, err := ap.Store.GetAsset(ctx, args[0])
			if err != nil {
				return notFound(err, args[0])
			}
			// The rotation runs here, as a job on this process's own queue:
			// if this process dies, 'ottr serve' resumes it.
			q, err := ap.ForegroundQueue(ctx)
			if err != nil {
				return err
			}
			rot, err := ap.Store.ActiveRotation(ctx, a.SystemName)
			switch {
			case err == nil:
				var busy *queue.BusyError
				if err := q.Adopt(ctx, rot); errors.As(err, &busy) {
					return fmt.Errorf("rotation %d of %s is %s in process %s; follow it with GET %s, or wait for it to end",
						rot.ID, a.SystemName, rot.State, busy.Process, "/api/v1/rotations/"+strconv.FormatInt(rot.ID, 10))
				} else if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "resuming rotation %d of %s (state %s)\n", rot.ID, a.SystemName, rot.State)
			case errors.Is(err, store.ErrNotFound):
				if !force {
					d := policy.Decide(policy.Input{Asset: a, Now: time.Now(), Settings: ap.Config.Policy})
					if !d.Due {
						return fmt.Errorf("%s is not due: %s; pass --force to rotate anyway", a.SystemName, d.Message)
					}
				}
				if rot, err = ap.Runner.Create(ctx, a.SystemName, store.TriggerManual, force, q.EnqueueFunc(a.DataCenter, time.Time{})); err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "rotation %d of %s\n", rot.ID, a.SystemName)
			default:
				return err
			}
			if err := q.RunHere(ctx, rot.ID); err != nil {
				return err
			}
			if rot, err = ap.Store.GetRotation(ctx, rot.ID); err != nil {
				return err
			}
			if rot.State != store.StateSucceeded {
				return fmt.Errorf("rotation %d %s: %s", rot.ID, rot.State, rot.Error)
			}
			after, err := ap.Store.GetAsset(ctx, a.SystemName)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%s: serial %s -> %s, expires %s (%s)\n", a.SystemName, orNone(a.CertificateSerial),
				after.CertificateSerial, formatTime(after.CertificateExpiration), time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "rotate even if the certificate is not due")
	return cmd
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func printStep(g *globals, e rotation.Event) {
	switch e.Phase {
	case "start":
		fmt.Fprintf(g.stdout, "  %-10s ...\n", e.Step)
	case "done":
		fmt.Fprintf(g.stdout, "  %-10s ok   %s\n", e.Step, e.Duration.Round(time.Millisecond))
	case "skip":
		fmt.Fprintf(g.stdout, "  %-10s done before, skipped\n", e.Step)
	case "fail":
		fmt.Fprintf(g.stdout, "  %-10s FAILED %s: %s\n", e.Step, e.Duration.Round(time.Millisecond), firstLine(e.Err))
	}
}

func firstLine(err error) string {
	if err == nil {
		return ""
	}
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
