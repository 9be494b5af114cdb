package cli

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/route"
	"github.com/ottr-go/ottr/internal/secret"
	"github.com/ottr-go/ottr/internal/store"
)

// Completion of names from the configuration and the inventory, for the
// shells' TAB (cobra's `ottr completion bash|zsh|fish|powershell`). A
// completion that cannot read what it completes from offers nothing
// rather than an error: the shell has no place to show one.

// maxCompletions caps what one TAB offers: no shell shows more usefully,
// and a large inventory must not be read whole for it.
const maxCompletions = 200

const noFiles = cobra.ShellCompDirectiveNoFileComp

// completionApp opens the app for a completion, or returns nil when there
// is nothing to complete from: no configuration, or no SQLite database
// yet (a TAB must not create one).
func (g *globals) completionApp(cmd *cobra.Command) *app.App {
	cfg, err := g.loadConfig()
	if err != nil {
		return nil
	}
	db := cfg.Database
	if ref, _ := secret.ParseRef(db); ref.IsLiteral() && !app.IsPostgresURL(db) {
		if _, err := os.Stat(db); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
	}
	ap, err := app.New(completionContext(cmd), cfg, app.Options{})
	if err != nil {
		return nil
	}
	return ap
}

func completionContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// completeFromStore completes the first maxArgs arguments (every
// argument when maxArgs is 0) with what list reads from the store for the
// word being typed, leaving out what was given already, in list's order.
func (g *globals) completeFromStore(maxArgs int, list func(ctx context.Context, st store.Store, toComplete string) ([]cobra.Completion, error)) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if maxArgs > 0 && len(args) >= maxArgs {
			return nil, noFiles
		}
		ap := g.completionApp(cmd)
		if ap == nil {
			return nil, noFiles
		}
		defer ap.Close()
		choices, err := list(completionContext(cmd), ap.Store, toComplete)
		if err != nil {
			return nil, noFiles
		}
		choices = slices.DeleteFunc(choices, func(c cobra.Completion) bool {
			value, _, _ := strings.Cut(c, "\t")
			return slices.Contains(args, value)
		})
		return choices, noFiles | cobra.ShellCompDirectiveKeepOrder
	}
}

// completeAssets completes asset names, for the first maxArgs arguments
// (every argument when maxArgs is 0).
func (g *globals) completeAssets(maxArgs int) cobra.CompletionFunc {
	return g.completeFromStore(maxArgs, func(ctx context.Context, st store.Store, toComplete string) ([]cobra.Completion, error) {
		return assetNamesWithPrefix(ctx, st, toComplete, maxCompletions)
	})
}

// assetNamesWithPrefix returns up to limit asset names that start with
// prefix, in order. It reads from just before the prefix and stops past
// it: the store lists names in byte order.
func assetNamesWithPrefix(ctx context.Context, st store.Store, prefix string, limit int) ([]string, error) {
	prefix = strings.ToLower(prefix)
	f := store.AssetFilter{Limit: limit}
	if prefix != "" {
		f.After = prefix[:len(prefix)-1]
	}
	var names []string
	for {
		page, err := st.ListAssets(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, a := range page {
			switch {
			case strings.HasPrefix(a.SystemName, prefix):
				if names = append(names, a.SystemName); len(names) == limit {
					return names, nil
				}
			case a.SystemName > prefix:
				return names, nil
			}
		}
		if len(page) < f.Limit {
			return names, nil
		}
		f.After = page[len(page)-1].SystemName
	}
}

// completeRoutes completes the first argument with the names of the
// configured routes, each described by its driver.
func (g *globals) completeRoutes(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, noFiles
	}
	cfg, err := g.loadConfig()
	if err != nil {
		return nil, noFiles
	}
	// Compiled without checking the drivers, for the names it gives
	// the routes that have none.
	table, err := route.Compile(cfg.Routes, nil)
	if err != nil {
		return nil, noFiles
	}
	var out []cobra.Completion
	for _, r := range table.Routes() {
		out = append(out, cobra.CompletionWithDesc(r.Name, "driver "+r.Driver))
	}
	return out, noFiles
}

// completeRotations completes the first argument with the IDs of the
// newest rotations, newest first, each described by its asset and state.
func (g *globals) completeRotations() cobra.CompletionFunc {
	return g.completeFromStore(1, func(ctx context.Context, st store.Store, _ string) ([]cobra.Completion, error) {
		rots, err := st.ListRotations(ctx, store.RotationFilter{Limit: maxCompletions})
		var out []cobra.Completion
		for _, r := range rots {
			out = append(out, cobra.CompletionWithDesc(strconv.FormatInt(r.ID, 10), r.Asset+" "+string(r.State)))
		}
		return out, err
	})
}

// completeUsers completes the first argument with the API users' names,
// each described by its role.
func (g *globals) completeUsers() cobra.CompletionFunc {
	return g.completeFromStore(1, func(ctx context.Context, st store.Store, _ string) ([]cobra.Completion, error) {
		users, err := st.ListUsers(ctx)
		var out []cobra.Completion
		for _, u := range users {
			out = append(out, cobra.CompletionWithDesc(u.Username, u.Role))
		}
		return out, err
	})
}

// completeChannels completes the first argument with the names of the
// configured notification channels, each described by its kind.
func (g *globals) completeChannels(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, noFiles
	}
	cfg, err := g.loadConfig()
	if err != nil {
		return nil, noFiles
	}
	var out []cobra.Completion
	for name, ch := range cfg.Notifications.Channels {
		out = append(out, cobra.CompletionWithDesc(name, ch.Kind))
	}
	slices.Sort(out)
	return out, noFiles
}
