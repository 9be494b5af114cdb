package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/secret"
	"github.com/ottr-go/ottr/internal/secret/stores"
)

// secretResolver builds the Resolver of cfg for a command that resolves
// references without opening the app.
func (g *globals) secretResolver(cfg *config.Config) (*secret.Resolver, error) {
	r, err := stores.New(cfg.Secrets, stores.Options{Logger: g.logger()})
	if err != nil {
		return nil, configError(fmt.Errorf("secrets: %w", err))
	}
	return r, nil
}

func newSecretCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "secret", Short: "Check the secret references of the configuration"}
	cmd.AddCommand(newSecretCheckCmd(g))
	return cmd
}

func newSecretCheckCmd(g *globals) *cobra.Command {
	var out *output
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Resolve every secret reference of the configuration and say which fail, printing no value",
		Long: `check resolves every secret reference of the configuration as 'ottr serve'
and 'ottr worker' would (env:, file:, aws-sm: and vault: references) and prints,
for each, the setting that holds it, its line, and ok or why it failed. It
covers the database URL, CA EAB keys, TSIG secrets, DNS provider keys, device
credentials, notification channels and the secret options of routes. It
never prints a value, and writes nothing.

Run it where the processes that rotate run, with their environment and
identity: a reference that resolves on one machine may not on another.

Exits 1 when a reference failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			resolver, err := g.secretResolver(cfg)
			if err != nil {
				return err
			}
			report := checkSecrets(cmd.Context(), resolver, secretSettings(cfg))
			if err := out.print(g.stdout, report, report.writeTable); err != nil {
				return err
			}
			if report.Failed > 0 {
				return errQuiet
			}
			return nil
		},
	}
	out = addOutputFlag(cmd)
	return cmd
}

// secretReport is what `ottr secret check` prints.
type secretReport struct {
	References []referenceCheck `json:"references"`
	// Failed counts the references that did not resolve.
	Failed int `json:"failed"`
}

// referenceCheck is one reference and how it resolved; never its value.
type referenceCheck struct {
	Setting string `json:"setting"`
	// Line is the setting's line in the file, nil when unknown.
	Line *int `json:"line"`
	// Reference is as written; "(literal value)" for a value written out.
	Reference string `json:"reference"`
	// Store is env, file, aws-sm, vault, or literal.
	Store string  `json:"store"`
	OK    bool    `json:"ok"`
	Error *string `json:"error"`
}

// secretSettings lists every secret setting of cfg, the secret options of
// routes last.
func secretSettings(cfg *config.Config) []config.SecretRef {
	refs := cfg.SecretRefs()
	drivers := app.Drivers(cfg.KnownHostsFile)
	for i, rt := range cfg.Routes {
		d, ok := drivers.Get(rt.Driver)
		if !ok {
			continue
		}
		for _, o := range driver.SecretReferences(rt.Options, d.Schema().SecretNames()) {
			setting := fmt.Sprintf("routes[%d].options.%s", i, o.Option)
			if o.Entry != "" {
				setting += "." + o.Entry
			}
			refs = append(refs, config.SecretRef{Setting: setting, Line: cfg.Line(setting), Ref: o.Ref})
		}
	}
	return refs
}

// checkSecrets resolves every reference at once: each store read has the
// resolver's timeout, so a store that does not answer holds the check up
// for one timeout, not one per reference.
func checkSecrets(ctx context.Context, resolver *secret.Resolver, refs []config.SecretRef) *secretReport {
	report := &secretReport{References: make([]referenceCheck, len(refs))}
	var wg sync.WaitGroup
	for i, r := range refs {
		parsed, _ := secret.ParseRef(r.Ref)
		c := referenceCheck{Setting: r.Setting, Reference: parsed.String(), Store: parsed.Scheme}
		if c.Store == "" {
			c.Store = "literal"
		}
		if r.Line > 0 {
			c.Line = &r.Line
		}
		report.References[i] = c
		wg.Go(func() {
			_, err := resolver.ResolveContext(ctx, r.Ref)
			if err != nil {
				// The reference is in its own column.
				var refErr *secret.RefError
				if errors.As(err, &refErr) {
					err = refErr.Err
				}
				report.References[i].Error = orNull(strings.TrimPrefix(err.Error(), "secret: "))
				return
			}
			report.References[i].OK = true
		})
	}
	wg.Wait()
	for _, c := range report.References {
		if !c.OK {
			report.Failed++
		}
	}
	return report
}

func (r *secretReport) writeTable(w io.Writer) error {
	if len(r.References) == 0 {
		_, err := fmt.Fprintln(w, "The configuration has no secret settings.")
		return err
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tLINE\tREFERENCE\tRESULT")
	for _, c := range r.References {
		line := "-"
		if c.Line != nil {
			line = fmt.Sprint(*c.Line)
		}
		result := "ok"
		if c.Error != nil {
			result = "FAILED: " + *c.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Setting, line, c.Reference, result)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d of %d references resolved.\n", len(r.References)-r.Failed, len(r.References))
	return err
}
