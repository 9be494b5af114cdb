package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
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
	cmd.AddCommand(newRouteListCmd(g), newRouteShowCmd(g), newRouteTestCmd(g), newRouteImportCmd(g))
	return cmd
}

// routeRecord is a route as the route commands print it: secret options
// redacted as the API shows them to all but ADMIN (a terminal's
// scrollback is no place for where the secrets are kept).
type routeRecord struct {
	Index   int            `json:"index"`
	Name    string         `json:"name"`
	Match   matchRecord    `json:"match"`
	Driver  string         `json:"driver"`
	Options map[string]any `json:"options"`
	// Host is the template naming the device the route's assets live
	// on, for taking it in turns; null when the driver's own key is used.
	Host            *string  `json:"host"`
	FallbackIssuers []string `json:"fallback_issuers"`
}

// matchRecord is what a route matches on; null where it takes any value.
type matchRecord struct {
	Platform             *string  `json:"platform"`
	OSVersion            *string  `json:"os_version"`
	CertificateAuthority *string  `json:"certificate_authority"`
	Models               []string `json:"models"`
	DataCenter           *string  `json:"data_center"`
}

func viewRoute(drivers *driver.Registry, i int, r route.Route) routeRecord {
	options := drivers.RedactOptions(r.Driver, r.Options)
	if options == nil {
		options = map[string]any{}
	}
	return routeRecord{
		Index: i, Name: r.Name, Driver: r.Driver, Options: options, Host: orNull(r.Host),
		FallbackIssuers: append([]string{}, r.FallbackIssuers...),
		Match: matchRecord{
			Platform: orNull(r.Match.Platform), OSVersion: orNull(r.Match.OSVersion),
			CertificateAuthority: orNull(r.Match.CertificateAuthority), Models: r.Match.Models,
			DataCenter: orNull(r.Match.DataCenter),
		},
	}
}

func newRouteListCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the routes in order (the first match wins)",
		Args:  cobra.NoArgs,
	}
	out := addOutputFlag(cmd)
	cmd.RunE = g.withApp(func(cmd *cobra.Command, _ []string, ap *app.App) error {
		routes := ap.Routes.Routes()
		records := make([]routeRecord, 0, len(routes))
		for i, r := range routes {
			records = append(records, viewRoute(ap.Drivers, i, r))
		}
		return out.print(g.stdout, records, func(w io.Writer) error {
			tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "#\tNAME\tPLATFORM\tOS VERSION\tCA\tMODELS\tDATA CENTER\tDRIVER")
			for i, r := range routes {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i, r.Name, orAny(r.Match.Platform), orAny(r.Match.OSVersion),
					orAny(r.Match.CertificateAuthority), orAny(strings.Join(r.Match.Models, ",")), orAny(r.Match.DataCenter), r.Driver)
			}
			return tw.Flush()
		})
	})
	return cmd
}

func orAny(s string) string { return orDefault(s, "*") }

// orDefault is s, or what stands in for it when it is empty.
func orDefault(s, empty string) string {
	if s == "" {
		return empty
	}
	return s
}

func newRouteShowCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:               "show NAME",
		Short:             "Show one route: what it matches, its driver and its options (secrets redacted)",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeRoutes,
	}
	out := addOutputFlag(cmd)
	cmd.RunE = g.withApp(func(cmd *cobra.Command, args []string, ap *app.App) error {
		routes := ap.Routes.Routes()
		i := slices.IndexFunc(routes, func(r route.Route) bool { return r.Name == args[0] })
		if i < 0 {
			names := make([]string, len(routes))
			for j, r := range routes {
				names[j] = r.Name
			}
			return notFoundf("no route named %q (the routes: %s)", args[0], strings.Join(names, ", "))
		}
		rec := viewRoute(ap.Drivers, i, routes[i])
		return out.print(g.stdout, rec, func(w io.Writer) error {
			options, err := json.Marshal(rec.Options)
			if err != nil {
				return fmt.Errorf("route %q: options: %w", rec.Name, err)
			}
			m := routes[i].Match
			return writeFields(w, [][2]string{
				{"index", strconv.Itoa(rec.Index)},
				{"name", rec.Name},
				{"match.platform", orAny(m.Platform)},
				{"match.os_version", orAny(m.OSVersion)},
				{"match.certificate_authority", orAny(m.CertificateAuthority)},
				{"match.models", orAny(strings.Join(m.Models, ", "))},
				{"match.data_center", orAny(m.DataCenter)},
				{"driver", rec.Driver},
				{"options", string(options)},
				{"host", orDefault(routes[i].Host, "(the driver's device key)")},
				{"fallback_issuers", strings.Join(rec.FallbackIssuers, ", ")},
			})
		})
	})
	return cmd
}

// routeTest is what `ottr route test` finds: the asset's fields that
// routes match on, every route's verdict, and the route it takes (null
// when none does).
type routeTest struct {
	Asset  routedAsset    `json:"asset"`
	Routes []routeVerdict `json:"routes"`
	Route  *routeRecord   `json:"route"`
}

// routedAsset is an asset's fields that routes match on, with the asset's
// field names.
type routedAsset struct {
	SystemName           string `json:"system_name"`
	HostPlatform         string `json:"host_platform"`
	OSVersion            string `json:"os_version"`
	CertificateAuthority string `json:"certificate_authority"`
	DeviceModel          string `json:"device_model"`
	DataCenter           string `json:"data_center"`
}

// routeVerdict is one route's answer: whether it matches and why (every
// field that held) or why not (every field that failed).
type routeVerdict struct {
	Index   int      `json:"index"`
	Name    string   `json:"name"`
	Driver  string   `json:"driver"`
	Matched bool     `json:"matched"`
	Chosen  bool     `json:"chosen"`
	Reasons []string `json:"reasons"`
}

func newRouteTestCmd(g *globals) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:               "test [NAME]",
		Short:             "Explain which route an asset takes, and why not the others",
		Long:              "test explains which route the asset NAME of the inventory, or the asset in --file, takes, and why not\nthe others. It exits with status 1 when no route takes the asset.",
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: g.completeAssets(1),
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if (len(args) == 1) == (file != "") {
			return usageErrorf(cmd, "name an asset in the inventory, or pass --file with an asset's JSON")
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
				return usageErrorf(nil, "%s: %w", file, err)
			}
			asset.Normalize(&a)
		} else if a, err = ap.Store.GetAsset(cmd.Context(), args[0]); err != nil {
			return notFound(err, args[0])
		}
		result := routeTest{
			Asset: routedAsset{SystemName: a.SystemName, HostPlatform: a.HostPlatform, OSVersion: a.OSVersion,
				CertificateAuthority: a.CertificateAuthority, DeviceModel: a.DeviceModel, DataCenter: a.DataCenter},
			Routes: []routeVerdict{},
		}
		for _, e := range ap.Routes.Explain(a) {
			result.Routes = append(result.Routes, routeVerdict{Index: e.Index, Name: e.Name, Driver: e.Driver,
				Matched: e.Matched, Chosen: e.Chosen, Reasons: append([]string{}, e.Reasons...)})
		}
		if r, i, ok := ap.Routes.Match(a); ok {
			rec := viewRoute(ap.Drivers, i, r)
			result.Route = &rec
		}
		err = out.print(g.stdout, result, func(w io.Writer) error { return writeRouteTest(w, result) })
		if err == nil && result.Route == nil {
			err = fmt.Errorf("no route takes %s", a.SystemName)
		}
		return err
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "test an asset from a JSON file instead of the inventory")
	return cmd
}

func writeRouteTest(w io.Writer, t routeTest) error {
	a := t.Asset
	fmt.Fprintf(w, "%s: platform=%s os_version=%s certificate_authority=%s model=%s data_center=%s\n",
		a.SystemName, a.HostPlatform, a.OSVersion, a.CertificateAuthority, a.DeviceModel, a.DataCenter)
	for _, v := range t.Routes {
		mark := "  "
		verdict := "no:  " + strings.Join(v.Reasons, "; ")
		switch {
		case v.Chosen:
			mark, verdict = "->", "takes this route"
		case v.Matched:
			verdict = "matches too, but an earlier route wins"
		}
		fmt.Fprintf(w, "%s route %d %-20s driver %-10s %s\n", mark, v.Index, v.Name, v.Driver, verdict)
	}
	if t.Route == nil || len(t.Route.Options) == 0 {
		return nil
	}
	js, err := json.Marshal(t.Route.Options)
	if err != nil {
		return fmt.Errorf("route %q: options: %w", t.Route.Name, err)
	}
	_, err = fmt.Fprintf(w, "   with options %s\n", js)
	return err
}

func newRouteImportCmd(g *globals) *cobra.Command {
	var file string
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
				return usageErrorf(nil, "%s: %w", args[0], err)
			}
			// Check the converted table the way ottr will load it.
			drivers := app.Drivers("")
			if _, err := route.Compile(imp.Routes, nil); err != nil {
				return usageErrorf(nil, "%s: %w", args[0], err)
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
			if file == "" || file == "-" {
				_, err = fmt.Fprint(g.stdout, b.String())
				return err
			}
			return os.WriteFile(file, []byte(b.String()), 0o644)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "write the routes to this file instead of standard output")
	return cmd
}
