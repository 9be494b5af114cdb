package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/store"
)

// rotationStates are the states a rotation can be in, in the order it
// goes through them, as --state takes them.
var rotationStates = []string{string(store.StatePending), string(store.StateRunning), string(store.StateSucceeded),
	string(store.StateFailed), string(store.StateRolledBack)}

func newRotationCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rotation",
		Short: "Inspect rotations, from the database (no 'ottr serve' or token needed)",
	}
	cmd.AddCommand(newRotationListCmd(g), newRotationShowCmd(g))
	return cmd
}

// rotationRow is what `ottr rotation list` says of one rotation. A field
// without a value is null.
type rotationRow struct {
	ID       int64         `json:"id"`
	Asset    string        `json:"asset"`
	State    store.State   `json:"state"`
	Trigger  store.Trigger `json:"trigger"`
	Force    bool          `json:"force"`
	Attempts int           `json:"attempts"`
	// CreatedAt and FinishedAt are to the second; the steps' times,
	// which `ottr rotation show` prints, to the millisecond.
	CreatedAt  time.Time  `json:"created_at"`
	FinishedAt *time.Time `json:"finished_at"`
	// FailedStep is the step a failed or rolled back rotation stopped in.
	FailedStep *string `json:"failed_step"`
	Error      *string `json:"error"`
}

// rotationDetail is what `ottr rotation show` says of one rotation: its
// row, the journal of the steps it finished and its captured log.
type rotationDetail struct {
	rotationRow
	Steps []stepRecord `json:"steps"`
	Log   []logRecord  `json:"log"`
}

// stepRecord is one finished step of the journal.
type stepRecord struct {
	Step       string    `json:"step"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	DurationMS int64     `json:"duration_ms"`
	// Output is what the step produced for the steps after it.
	Output json.RawMessage `json:"output"`
}

// logRecord is one line of a rotation's captured log.
type logRecord struct {
	Time    time.Time `json:"time"`
	Level   string    `json:"level"`
	Step    *string   `json:"step"`
	Message string    `json:"message"`
}

func viewRotationRow(r store.Rotation) rotationRow {
	row := rotationRow{ID: r.ID, Asset: r.Asset, State: r.State, Trigger: r.Trigger, Force: r.Force,
		Attempts: r.Attempts, CreatedAt: r.CreatedAt, FinishedAt: r.FinishedAt, Error: orNull(r.Error)}
	// A rotation that failed in a step recorded "step: cause".
	if step, _, ok := strings.Cut(r.Error, ": "); ok && slices.Contains(rotation.Steps(), rotation.Step(step)) {
		row.FailedStep = &step
	}
	return row
}

func viewRotationDetail(r store.Rotation) rotationDetail {
	d := rotationDetail{rotationRow: viewRotationRow(r), Steps: []stepRecord{}, Log: make([]logRecord, 0, len(r.Log))}
	steps := rotation.Steps()
	for _, e := range r.Journal {
		if !slices.Contains(steps, rotation.Step(e.Step)) {
			// The journal also keeps what a step needs to resume (the
			// ACME order of the issue step), which is not a step.
			continue
		}
		output := e.Output
		if len(output) == 0 {
			output = json.RawMessage("null")
		}
		d.Steps = append(d.Steps, stepRecord{Step: e.Step, StartedAt: e.StartedAt, FinishedAt: e.FinishedAt,
			DurationMS: e.FinishedAt.Sub(e.StartedAt).Milliseconds(), Output: output})
	}
	for _, l := range r.Log {
		d.Log = append(d.Log, logRecord{Time: l.Time, Level: l.Level, Step: orNull(l.Step), Message: l.Message})
	}
	return d
}

func newRotationListCmd(g *globals) *cobra.Command {
	var filter store.RotationFilter
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List rotations, newest first",
		Example: `  ottr rotation list --state failed
  ottr rotation list --asset fw1.example.com --limit 5 -o json`,
		Args: cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			if filter.State != "" && !slices.Contains(rotationStates, string(filter.State)) {
				return usageErrorf(cmd, "--state %q: want one of %s", filter.State, strings.Join(rotationStates, ", "))
			}
			if filter.Limit < 0 {
				return usageErrorf(cmd, "--limit %d: want 0 (every rotation) or more", filter.Limit)
			}
			return nil
		},
	}
	out := addOutputFlag(cmd)
	cmd.RunE = g.withApp(func(cmd *cobra.Command, _ []string, ap *app.App) error {
		ctx := cmd.Context()
		f := filter
		if f.Asset != "" {
			f.Asset = asset.NormalizeName(f.Asset)
			// Deleting an asset deletes its rotations: none of a
			// name no asset has is a typo more likely than history.
			if _, err := ap.Store.GetAsset(ctx, f.Asset); err != nil {
				return notFound(err, filter.Asset)
			}
		}
		rots, err := ap.Store.ListRotations(ctx, f)
		if err != nil {
			return err
		}
		rows := make([]rotationRow, 0, len(rots))
		for _, r := range rots {
			rows = append(rows, viewRotationRow(r))
		}
		return out.print(g.stdout, rows, func(w io.Writer) error { return writeRotationTable(w, rows) })
	})
	cmd.Flags().StringVar(&filter.Asset, "asset", "", "only this asset's rotations")
	cmd.Flags().StringVar((*string)(&filter.State), "state", "", "only rotations in this state: "+strings.Join(rotationStates, ", "))
	cmd.Flags().IntVar(&filter.Limit, "limit", 100, "at most this many rotations, newest first (0: all)")
	_ = cmd.RegisterFlagCompletionFunc("asset", g.completeAssets(0))
	_ = cmd.RegisterFlagCompletionFunc("state", cobra.FixedCompletions(rotationStates, noFiles))
	return cmd
}

func writeRotationTable(w io.Writer, rows []rotationRow) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tASSET\tSTATE\tTRIGGER\tCREATED\tFINISHED\tERROR")
	for _, r := range rows {
		errText := "-"
		if r.Error != nil {
			errText = shorten(firstLine(errors.New(*r.Error)), 80)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Asset, r.State, r.Trigger,
			r.CreatedAt.UTC().Format(time.RFC3339), formatTimeOr(r.FinishedAt, "-"), errText)
	}
	return tw.Flush()
}

// shorten cuts s to at most n runes, marking the cut.
func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// stateMeanings say what a rotation's state means for the device.
var stateMeanings = map[store.State]string{
	store.StatePending:    "waiting for a worker",
	store.StateRunning:    "running",
	store.StateSucceeded:  "the device serves the new certificate",
	store.StateFailed:     "the device was not given a new certificate, or not one it serves",
	store.StateRolledBack: "the device did not serve the new certificate and was given its previous one back",
}

func newRotationShowCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:               "show ID",
		Short:             "Show one rotation: its state, each step with its timings, its log and its error",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeRotations(),
	}
	out := addOutputFlag(cmd)
	cmd.RunE = g.withApp(func(cmd *cobra.Command, args []string, ap *app.App) error {
		id, err := strconv.ParseInt(args[0], 10, 64)
		if err != nil || id < 1 {
			return usageErrorf(cmd, "rotation %q: want its number, as 'ottr rotation list' shows it", args[0])
		}
		r, err := ap.Store.GetRotation(cmd.Context(), id)
		if errors.Is(err, store.ErrNotFound) {
			return notFoundf("no rotation %d ('ottr rotation list' shows them)", id)
		}
		if err != nil {
			return err
		}
		d := viewRotationDetail(r)
		return out.print(g.stdout, d, func(w io.Writer) error { return writeRotationDetail(w, d) })
	})
	return cmd
}

func writeRotationDetail(w io.Writer, d rotationDetail) error {
	trigger := string(d.Trigger)
	if d.Force {
		trigger += " (forced)"
	}
	errText := ""
	if d.Error != nil {
		errText = *d.Error
	}
	err := writeFields(w, [][2]string{
		{"rotation", strconv.FormatInt(d.ID, 10)},
		{"asset", d.Asset},
		{"state", string(d.State) + ": " + stateMeanings[d.State]},
		{"trigger", trigger},
		{"attempts", strconv.Itoa(d.Attempts)},
		{"created", d.CreatedAt.UTC().Format(time.RFC3339)},
		{"finished", formatTimeOr(d.FinishedAt, "-")},
		{"error", errText},
	})
	if err != nil {
		return err
	}

	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tSTARTED\tDURATION\tRESULT")
	for _, s := range d.Steps {
		fmt.Fprintf(tw, "%s\t%s\t%s\tdone\n", s.Step, s.StartedAt.UTC().Format(timeMS), time.Duration(s.DurationMS)*time.Millisecond)
	}
	if d.FailedStep != nil {
		result := "failed"
		if d.State == store.StateRolledBack {
			result = "failed, rolled back"
		}
		fmt.Fprintf(tw, "%s\t-\t-\t%s\n", *d.FailedStep, result)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w)
	if len(d.Log) == 0 {
		_, err := fmt.Fprintln(w, "LOG: none captured")
		return err
	}
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LOG\tLEVEL\tSTEP\tMESSAGE")
	for _, l := range d.Log {
		step := "-"
		if l.Step != nil {
			step = *l.Step
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", l.Time.UTC().Format(timeMS), l.Level, step, l.Message)
	}
	return tw.Flush()
}

// timeMS is RFC 3339 with milliseconds: steps take milliseconds.
const timeMS = "2006-01-02T15:04:05.000Z07:00"
