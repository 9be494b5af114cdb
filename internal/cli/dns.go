package cli

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/dnsdelegate"
	"github.com/ottr-go/ottr/internal/store"
)

func newDNSCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "dns", Short: "DNS delegation for DNS-01 challenges"}
	cmd.AddCommand(newDNSPlanCmd(g))
	return cmd
}

func newDNSPlanCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "plan [NAME...]",
		Short: "Print the _acme-challenge CNAME records every asset needs, as a zone-file snippet",
		RunE: g.withApp(func(cmd *cobra.Command, args []string, ap *app.App) error {
			if ap.Delegations == nil {
				return errors.New("no delegated zones configured: set dns.zones in the config (managed zone: delegate zone)")
			}
			var records []dnsdelegate.Record
			seen := map[string]bool{}
			var problems []string
			add := func(a asset.Asset) error {
				needed, err := ap.Delegations.Records(a.Names())
				if err != nil {
					problems = append(problems, fmt.Sprintf("%s: %v", a.SystemName, err))
					return nil
				}
				for _, r := range needed {
					if !seen[r.Name] {
						seen[r.Name] = true
						records = append(records, r)
					}
				}
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
			sort.Slice(records, func(i, j int) bool { return records[i].Name < records[j].Name })
			fmt.Fprintf(g.stdout, "; _acme-challenge delegations for zones %s\n", strings.Join(ap.Delegations.Zones(), ", "))
			for _, r := range records {
				fmt.Fprintln(g.stdout, r.ZoneLine())
			}
			for _, p := range problems {
				fmt.Fprintf(g.stdout, "; cannot delegate %s\n", p)
			}
			if len(problems) > 0 {
				return fmt.Errorf("%d asset(s) have names outside the managed zones", len(problems))
			}
			return nil
		}),
	}
}
