package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/policy"
	"github.com/ottr-go/ottr/internal/queue"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/store"
)

func newRotateCmd(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:               "rotate NAME",
		Short:             "Rotate one asset's certificate now, in the foreground, showing each step",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeAssets(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			start := time.Now()
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			// The logger follows the config's log settings, so it is made
			// once the config is loaded.
			log := &foregroundLog{Handler: g.logger().Handler(), failure: new(atomic.Pointer[string])}
			observe := func(e rotation.Event) {
				if e.Phase == "fail" && e.Err != nil {
					log.failure.Store(new(e.Err.Error()))
				}
				printStep(g, e)
			}
			ap, err := app.New(ctx, cfg, app.Options{Observer: observe, Logger: slog.New(log)})
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
					return fmt.Errorf("rotation %d of %s is %s in process %s; follow it with 'ottr rotation show %d', or wait for it to end",
						rot.ID, a.SystemName, rot.State, busy.Process, rot.ID)
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
			if !store.Final(rot.State) {
				return fmt.Errorf("rotation %d stopped while %s: 'ottr serve', or 'ottr rotate %s' again, resumes it", rot.ID, rot.State, a.SystemName)
			}
			if rot.State != store.StateSucceeded {
				// The one place the failure is said: the step line showed
				// where, and the log leaves it out (foregroundLog).
				return fmt.Errorf("rotation %d %s (its log: ottr rotation show %d): %s",
					rot.ID, strings.ReplaceAll(string(rot.State), "_", " "), rot.ID, rot.Error)
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
		fmt.Fprintf(g.stdout, "  %-10s FAILED %s\n", e.Step, e.Duration.Round(time.Millisecond))
	}
}

// foregroundLog is the log of `ottr rotate`: it leaves out the records of
// the rotation's own log that say its failure again, which the command
// says once, as its error. They are its error lines (the failure, a
// failed rollback) and the lines that quote the failed step's error (the
// rollback's warning). The rotation's captured log, which 'ottr rotation
// show' prints, keeps every line.
type foregroundLog struct {
	slog.Handler
	// failure is the error of the step that failed, once one has.
	failure *atomic.Pointer[string]
}

func (h *foregroundLog) Handle(ctx context.Context, r slog.Record) error {
	if h.repeatsFailure(r) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h *foregroundLog) repeatsFailure(r slog.Record) bool {
	// The runner writes its rotation log with these keys, and only it.
	var ofRotation, ofStep bool
	r.Attrs(func(a slog.Attr) bool {
		ofRotation = ofRotation || a.Key == "rotation"
		ofStep = ofStep || a.Key == "step"
		return true
	})
	if !ofRotation || !ofStep {
		return false
	}
	if r.Level >= slog.LevelError {
		return true
	}
	failure := h.failure.Load()
	return failure != nil && strings.Contains(r.Message, *failure)
}

func (h *foregroundLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &foregroundLog{Handler: h.Handler.WithAttrs(attrs), failure: h.failure}
}

func (h *foregroundLog) WithGroup(name string) slog.Handler {
	return &foregroundLog{Handler: h.Handler.WithGroup(name), failure: h.failure}
}

func firstLine(err error) string {
	if err == nil {
		return ""
	}
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
