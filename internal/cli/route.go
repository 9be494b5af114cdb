package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/route"
)

func newRouteCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "route", Short: "Inspect and import the routing table"}
	cmd.AddCommand(newRouteListCmd(g), newRouteTestCmd(g), newRouteImportCmd(g))
	return cmd
}

func newRouteListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the routes in order (the first match wins)",
		Args:  cobra.NoArgs,
		RunE: g.withApp(func(cmd *cobra.Command, _ []string, ap *app.App) error {
			tw := tabwriter.NewWriter(g.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "#\tNAME\tPLATFORM\tOS VERSION\tCA\tMODELS\tDRIVER")
			for i, r := range ap.Routes.Routes() {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", i, r.Name, orAny(r.Match.Platform), orAny(r.Match.OSVersion),
					orAny(r.Match.CertificateAuthority), orAny(strings.Join(r.Match.Models, ",")), r.Driver)
			}
			return tw.Flush()
		}),
	}
}

func orAny(s string) string {
	if s == "" {
		return "*"
	}
	return s
}

func newRouteTestCmd(g *globals) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "test [NAME]",
		Short: "Explain which route an asset takes, and why not the others",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (len(args) == 1) == (file != "") {
				return fmt.Errorf("name an asset in the inventory, or pass --file with an asset's JSON")
			}
			ap, err := g.open(cmd.Context(), app.Options{})
			if err != nil {
				return err
			}
			defer ap.Close()
			var a asset.Asset
			if file != "" {
				data, err := readInput(g, file)
				if err != nil {
					return err
				}
				if a, err = asset.ParseOttrItem(data); err != nil {
					return fmt.Errorf("%s: %w", file, err)
				}
				asset.Normalize(&a)
			} else if a, err = ap.Store.GetAsset(cmd.Context(), args[0]); err != nil {
				return notFound(err, args[0])
			}
			printExplanation(g, a, ap.Routes.Explain(a))
			r, _, ok := ap.Routes.Match(a)
			if !ok {
				return fmt.Errorf("no route matches %s", a.SystemName)
			}
			return printOptions(g, ap.Drivers, r)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "test an asset from a JSON file instead of the inventory")
	return cmd
}

func printExplanation(g *globals, a asset.Asset, ex []route.Explanation) {
	fmt.Fprintf(g.stdout, "%s: platform=%s os_version=%s certificate_authority=%s model=%s data_center=%s\n",
		a.SystemName, a.HostPlatform, a.OSVersion, a.CertificateAuthority, a.DeviceModel, a.DataCenter)
	chosen := false
	for _, e := range ex {
		mark := "  "
		verdict := "no:  " + strings.Join(e.Reasons, "; ")
		if e.Matched {
			if !chosen {
				mark, verdict, chosen = "->", "takes this route", true
			} else {
				verdict = "matches too, but an earlier route wins"
			}
		}
		fmt.Fprintf(g.stdout, "%s route %d %-20s driver %-10s %s\n", mark, e.Index, e.Name, e.Driver, verdict)
	}
}

// printOptions shows the options the chosen route gives its driver, the
// values of secret ones redacted as the API shows them to all but ADMIN:
// a terminal's scrollback and a pasted transcript are no place for where
// the secrets are kept.
func printOptions(g *globals, drivers *driver.Registry, r route.Route) error {
	if len(r.Options) == 0 {
		return nil
	}
	js, err := json.Marshal(drivers.RedactOptions(r.Driver, r.Options))
	if err != nil {
		return fmt.Errorf("route %q: options: %w", r.Name, err)
	}
	_, err = fmt.Fprintf(g.stdout, "   with options %s\n", js)
	return err
}

func newRouteImportCmd(g *globals) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "import ROUTE_JSON",
		Short: "Convert Ottr's route.json into ottr.yaml routes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readInput(g, args[0])
			if err != nil {
				return err
			}
			imp, err := route.ImportOttr(data)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			// Check the converted table the way ottr will load it.
			drivers := app.Drivers()
			if _, err := route.Compile(imp.Routes, nil); err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			var b strings.Builder
			fmt.Fprintf(&b, "# Converted from %s.\n", args[0])
			fmt.Fprintf(&b, "# Certificate authorities it names (configure each under certificate_authorities): %s\n", strings.Join(imp.CertificateAuthorities, ", "))
			fmt.Fprintf(&b, "# Hosted zones (map each to its delegate zone under dns.zones): %s\n", strings.Join(imp.Zones, ", "))
			for _, r := range imp.Routes {
				if _, ok := drivers.Get(r.Driver); !ok {
					fmt.Fprintf(&b, "# note: route %q uses driver %q, which this build does not have yet\n", r.Name, r.Driver)
				}
			}
			y, err := yaml.Marshal(map[string]any{"routes": imp.Routes})
			if err != nil {
				return err
			}
			b.Write(y)
			if out == "" || out == "-" {
				_, err = fmt.Fprint(g.stdout, b.String())
				return err
			}
			return os.WriteFile(out, []byte(b.String()), 0o644)
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the routes to this file instead of stdout")
	return cmd
}
