package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/dnsdelegate"
	"github.com/ottr-go/ottr/internal/dnsdoctor"
	"github.com/ottr-go/ottr/internal/issuer/acme"
	"github.com/ottr-go/ottr/internal/store"
)

func newDNSCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "dns", Short: "DNS delegation for DNS-01 challenges"}
	cmd.AddCommand(newDNSPlanCmd(g), newDNSDoctorCmd(g), newDNSApplyCmd(g))
	return cmd
}

// assetNames returns the certificate names of the named assets, or of every
// asset when none is named.
func assetNames(ctx context.Context, st store.Store, names []string) ([]string, error) {
	var out []string
	add := func(a asset.Asset) error {
		out = append(out, a.Names()...)
		return nil
	}
	if len(names) == 0 {
		return out, forEachAsset(ctx, st, store.AssetFilter{}, add)
	}
	for _, name := range names {
		a, err := st.GetAsset(ctx, name)
		if err != nil {
			return nil, notFound(err, name)
		}
		_ = add(a)
	}
	return out, nil
}

// errNoZones refuses a DNS command when the configuration delegates no zone.
var errNoZones = configError(errors.New("no delegated zones configured: set dns.zones in the config (managed zone: delegate zone)"))

// doctor builds the delegation doctor from the config; with write, it
// proves write access to the delegate zones with the issuance writer.
func doctor(ap *app.App, write bool) (*dnsdoctor.Doctor, error) {
	d := ap.DelegationDoctor()
	if d == nil {
		return nil, errNoZones
	}
	if !write {
		return d, nil
	}
	dns01, err := ap.DNS01()
	if err != nil {
		return nil, err
	}
	if d.Writer, err = acme.NewChallengeWriter(dns01); err != nil {
		return nil, err
	}
	d.KeyName = dns01.TSIGKey
	if dns01.TSIGSecret != "" {
		d.Secrets = append(d.Secrets, dns01.TSIGSecret)
	}
	return d, nil
}

func newDNSDoctorCmd(g *globals) *cobra.Command {
	var noWrite, asJSON bool
	var out *output
	cmd := &cobra.Command{
		Use:   "doctor [ASSET...]",
		Short: "Follow every name's live _acme-challenge CNAME chain and test writing the delegate zones",
		Long: `doctor looks up the _acme-challenge name of every certificate name (of the named
assets, or of all) through the configured resolvers, follows its CNAME chain,
and says what is wrong and which record fixes it. It then writes a test TXT
record into each delegate zone with ottr's DNS credentials, checks that the
resolvers see it, and deletes it. It exits with status 1 when anything is wrong.`,
		ValidArgsFunction: g.completeAssets(0),
		RunE: g.withApp(func(cmd *cobra.Command, args []string, ap *app.App) error {
			d, err := doctor(ap, !noWrite)
			if err != nil {
				return err
			}
			names, err := assetNames(cmd.Context(), ap.Store, args)
			if err != nil {
				return err
			}
			report, err := d.Run(cmd.Context(), names)
			if err != nil {
				return err
			}
			if asJSON {
				g.warn("--json is deprecated: use -o json")
				out.format = "json"
			}
			if report.Findings == nil {
				report.Findings = []dnsdoctor.Finding{}
			}
			err = out.print(g.stdout, report, func(w io.Writer) error { return dnsdoctor.WriteText(w, report) })
			if err == nil && !report.OK() {
				return errQuiet
			}
			return err
		}),
	}
	out = addOutputFlag(cmd)
	cmd.Flags().BoolVar(&noWrite, "no-write", false, "skip the test write to the delegate zones")
	// --json came before -o; scripts that pass it get the JSON still. A
	// hidden flag, not cobra's deprecated one, whose notice would go to
	// standard output ahead of the JSON.
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the findings as JSON (use -o json)")
	_ = cmd.Flags().MarkHidden("json")
	return cmd
}

func newDNSApplyCmd(g *globals) *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "apply [ASSET...]",
		Short: "Create the missing _acme-challenge CNAMEs in the managed zones (dns.apply)",
		Long: `apply runs the doctor's lookups and creates, through dns.apply.rfc2136, the
CNAMEs of the names that have none. A name that owns any record is never
overwritten: it is reported as a conflict, with the record the doctor says to
use. With --dry-run, or without dns.apply configured, it only prints them.`,
		ValidArgsFunction: g.completeAssets(0),
		RunE: g.withApp(func(cmd *cobra.Command, args []string, ap *app.App) error {
			d, err := doctor(ap, false)
			if err != nil {
				return err
			}
			names, err := assetNames(cmd.Context(), ap.Store, args)
			if err != nil {
				return err
			}
			report, err := d.Run(cmd.Context(), names)
			if err != nil {
				return err
			}
			missing := report.Missing()
			r := ap.Config.DNS.Apply.RFC2136
			if r.Nameserver == "" && !dryRun {
				fmt.Fprintln(g.stdout, "; dns.apply is not configured: these are the records to add")
				dryRun = true
			}
			applier := &dnsdoctor.RFC2136{Nameserver: r.Nameserver, Zones: ap.Delegations.Zones(),
				TSIGKey: r.TSIGKey, TSIGAlgorithm: r.TSIGAlgorithm}
			if r.TSIGSecret != "" {
				if applier.TSIGSecret, err = ap.Resolve(r.TSIGSecret); err != nil {
					return fmt.Errorf("dns.apply.rfc2136.tsig_secret: %w", err)
				}
			}
			results := dnsdoctor.Apply(cmd.Context(), applier, missing, dnsdoctor.ApplyOptions{DryRun: dryRun})
			if err := dnsdoctor.WriteApplyText(g.stdout, results); err != nil {
				return err
			}
			var failed int
			for _, res := range results {
				if res.Action == dnsdoctor.ActionConflict || res.Action == dnsdoctor.ActionFailed {
					failed++
				}
			}
			for _, f := range report.Findings {
				if !f.OK() && f.Status != dnsdoctor.StatusMissing {
					fmt.Fprintln(g.stdout, "; other problems need an operator: run 'ottr dns doctor'")
					break
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d record(s) could not be created", failed)
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the records without creating them")
	return cmd
}

// dnsPlan is what `ottr dns plan` finds: the CNAMEs the assets need in
// the managed zones, and the assets with names no managed zone holds.
type dnsPlan struct {
	Zones    []string       `json:"zones"`
	Records  []cnameRecord  `json:"records"`
	Problems []assetProblem `json:"problems"`
}

// cnameRecord is one _acme-challenge CNAME to create.
type cnameRecord struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	TTL    int    `json:"ttl"`
	Target string `json:"target"`
}

// assetProblem is why one asset cannot be delegated.
type assetProblem struct {
	Asset string `json:"asset"`
	Error string `json:"error"`
}

func newDNSPlanCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:               "plan [NAME...]",
		Short:             "Print the _acme-challenge CNAME records every asset needs, as a zone-file snippet",
		ValidArgsFunction: g.completeAssets(0),
	}
	out := addOutputFlag(cmd)
	cmd.RunE = g.withApp(func(cmd *cobra.Command, args []string, ap *app.App) error {
		if ap.Delegations == nil {
			return errNoZones
		}
		needed := ap.Delegations.NewPlan()
		add := func(a asset.Asset) error {
			needed.Add(a.SystemName, a.Names())
			return nil
		}
		if len(args) > 0 {
			for _, name := range args {
				a, err := ap.Store.GetAsset(cmd.Context(), name)
				if err != nil {
					return notFound(err, name)
				}
				_ = add(a)
			}
		} else if err := forEachAsset(cmd.Context(), ap.Store, store.AssetFilter{}, add); err != nil {
			return err
		}
		plan := dnsPlan{Zones: ap.Delegations.Zones(), Records: []cnameRecord{}, Problems: []assetProblem{}}
		for _, r := range needed.Records() {
			plan.Records = append(plan.Records, cnameRecord{Name: r.Name, Type: "CNAME", TTL: dnsdelegate.DefaultTTL, Target: r.Target})
		}
		for _, p := range needed.Problems {
			plan.Problems = append(plan.Problems, assetProblem{Asset: p.Asset, Error: p.Err.Error()})
		}
		err := out.print(g.stdout, plan, func(w io.Writer) error {
			fmt.Fprintf(w, "; _acme-challenge delegations for zones %s\n", strings.Join(plan.Zones, ", "))
			for _, r := range plan.Records {
				fmt.Fprintln(w, dnsdelegate.Record{Name: r.Name, Target: r.Target}.ZoneLine())
			}
			for _, p := range plan.Problems {
				fmt.Fprintf(w, "; cannot delegate %s: %s\n", p.Asset, p.Error)
			}
			return nil
		})
		if err == nil && len(plan.Problems) > 0 {
			err = fmt.Errorf("%d asset(s) have names outside the managed zones", len(plan.Problems))
		}
		return err
	})
	return cmd
}
