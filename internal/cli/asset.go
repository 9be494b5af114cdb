package cli

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
)

func newAssetCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "asset", Short: "Manage the inventory of device certificates"}
	cmd.AddCommand(newAssetAddCmd(g), newAssetUpdateCmd(g), newAssetGetCmd(g), newAssetListCmd(g),
		newAssetDeleteCmd(g), newAssetImportCmd(g), newAssetExportCmd(g))
	return cmd
}

// assetFlags are the fields an asset can be given on the command line.
type assetFlags struct {
	file                                                 string
	systemName, commonName, ca, platform, ip, dataCenter string
	model, osVersion, keyType, credentials, expiration   string
	sans, labels                                         []string
	port                                                 int
	validation, paused                                   bool
}

func (f *assetFlags) register(fs *pflag.FlagSet, withFile bool) {
	if withFile {
		fs.StringVarP(&f.file, "file", "f", "", "read the asset from a JSON file (Ottr's item format accepted; - for stdin)")
	}
	fs.StringVar(&f.systemName, "system-name", "", "the device's unique name (FQDN)")
	fs.StringVar(&f.commonName, "common-name", "", "the certificate's common name")
	fs.StringSliceVar(&f.sans, "san", nil, "subject alternative name (repeatable; the common name is always included)")
	fs.StringVar(&f.ca, "ca", "", "certificate authority profile (certificate_authority)")
	fs.StringVar(&f.platform, "platform", "", "host platform (host_platform), as routes match it")
	fs.StringVar(&f.ip, "ip", "", "IP address (IPv4 or IPv6)")
	fs.StringVar(&f.dataCenter, "data-center", "", "data center; rotations run on its queue")
	fs.StringVar(&f.model, "model", "", "device model")
	fs.StringVar(&f.osVersion, "os-version", "", "OS version")
	fs.StringVar(&f.keyType, "key-type", "", "key the device generates: "+strings.Join(asset.KeyTypes(), ", "))
	fs.StringVar(&f.credentials, "credentials", "", "name of the credentials in the config (default: default)")
	fs.StringVar(&f.expiration, "expiration", "", "current certificate expiry (RFC 3339), or None")
	fs.StringSliceVar(&f.labels, "label", nil, "label key=value (repeatable)")
	fs.IntVar(&f.port, "port", 0, "TLS port verification connects to (default 443)")
	fs.BoolVar(&f.validation, "certificate-validation", false, "verify the device's TLS when connecting to its API")
	fs.BoolVar(&f.paused, "paused", false, "never rotate on schedule")
}

// apply copies the flags that were set onto a.
func (f *assetFlags) apply(fs *pflag.FlagSet, a *asset.Asset) error {
	set := func(name string, do func()) {
		if fs.Changed(name) {
			do()
		}
	}
	set("system-name", func() { a.SystemName = f.systemName })
	set("common-name", func() { a.CommonName = f.commonName })
	set("san", func() { a.SubjectAlternativeName = f.sans })
	set("ca", func() { a.CertificateAuthority = f.ca })
	set("platform", func() { a.HostPlatform = f.platform })
	set("ip", func() { a.IPAddress = f.ip })
	set("data-center", func() { a.DataCenter = f.dataCenter })
	set("model", func() { a.DeviceModel = f.model })
	set("os-version", func() { a.OSVersion = f.osVersion })
	set("key-type", func() { a.KeyType = f.keyType })
	set("credentials", func() { a.Credentials = f.credentials })
	set("port", func() { a.Port = f.port })
	set("certificate-validation", func() { a.CertificateValidation = f.validation })
	set("paused", func() { a.Paused = f.paused })
	if fs.Changed("label") {
		a.Labels = map[string]string{}
		for _, kv := range f.labels {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return fmt.Errorf("--label %q: want key=value", kv)
			}
			a.Labels[k] = v
		}
	}
	if fs.Changed("expiration") {
		if strings.EqualFold(f.expiration, "none") || f.expiration == "" {
			a.CertificateExpiration = nil
		} else {
			t, err := time.Parse(time.RFC3339, f.expiration)
			if err != nil {
				return fmt.Errorf("--expiration %q: want RFC 3339 (2026-12-31T00:00:00Z) or None", f.expiration)
			}
			t = t.UTC()
			a.CertificateExpiration = &t
		}
	}
	return nil
}

func readInput(g *globals, name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(g.stdin)
	}
	return os.ReadFile(name)
}

func newAssetAddCmd(g *globals) *cobra.Command {
	var f assetFlags
	cmd := &cobra.Command{
		Use:   "add",
		Short: "Add an asset (from flags or a JSON file)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var a asset.Asset
			if f.file != "" {
				data, err := readInput(g, f.file)
				if err != nil {
					return err
				}
				if a, err = asset.ParseOttrItem(data); err != nil {
					return usageErrorf(nil, "%s: %w", f.file, err)
				}
			}
			if err := f.apply(cmd.Flags(), &a); err != nil {
				return &usageError{err: err, cmd: cmd}
			}
			ap, err := g.open(cmd.Context(), app.Options{})
			if err != nil {
				return err
			}
			defer ap.Close()
			if a, err = ap.Prepare(a); err != nil {
				return &usageError{err: err}
			}
			if err := ap.Store.CreateAsset(cmd.Context(), a); err != nil {
				if errors.Is(err, store.ErrExists) {
					return fmt.Errorf("asset %s exists already: use 'ottr asset update'", a.SystemName)
				}
				return err
			}
			fmt.Fprintf(g.stdout, "added %s\n", a.SystemName)
			return nil
		},
	}
	f.register(cmd.Flags(), true)
	return cmd
}

func newAssetUpdateCmd(g *globals) *cobra.Command {
	var f assetFlags
	cmd := &cobra.Command{
		Use:               "update NAME",
		Short:             "Change the fields given as flags",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeAssets(1),
		RunE: g.withApp(func(cmd *cobra.Command, args []string, ap *app.App) error {
			a, err := ap.Store.GetAsset(cmd.Context(), args[0])
			if err != nil {
				return notFound(err, args[0])
			}
			if cmd.Flags().Changed("system-name") && f.systemName != a.SystemName {
				return usageErrorf(cmd, "--system-name cannot change: it is the asset's key (delete and add instead)")
			}
			if err := f.apply(cmd.Flags(), &a); err != nil {
				return &usageError{err: err, cmd: cmd}
			}
			if a, err = ap.Prepare(a); err != nil {
				return &usageError{err: err}
			}
			if err := ap.Store.UpdateAsset(cmd.Context(), a); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "updated %s\n", a.SystemName)
			return nil
		}),
	}
	f.register(cmd.Flags(), false)
	return cmd
}

// notFound says that no asset is named name when err is the store's
// ErrNotFound, and returns err otherwise.
func notFound(err error, name string) error {
	if errors.Is(err, store.ErrNotFound) {
		return notFoundf("no asset named %s ('ottr asset list' shows them)", name)
	}
	return err
}

func newAssetGetCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:               "get NAME",
		Short:             "Print one asset, every field",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeAssets(1),
	}
	out := addOutputFlag(cmd)
	cmd.RunE = g.withApp(func(cmd *cobra.Command, args []string, ap *app.App) error {
		a, err := ap.Store.GetAsset(cmd.Context(), args[0])
		if err != nil {
			return notFound(err, args[0])
		}
		return out.print(g.stdout, a, func(w io.Writer) error { return writeAssetFields(w, a) })
	})
	return cmd
}

// writeAssetFields writes one asset as a column of field names and values.
func writeAssetFields(w io.Writer, a asset.Asset) error {
	labels := make([]string, 0, len(a.Labels))
	for _, k := range slices.Sorted(maps.Keys(a.Labels)) {
		labels = append(labels, k+"="+a.Labels[k])
	}
	port := "-"
	if a.Port != 0 {
		port = strconv.Itoa(a.Port)
	}
	renewalWindow := "-"
	if rw := a.RenewalWindow; rw != nil {
		renewalWindow = formatTime(&rw.Start) + " to " + formatTime(&rw.End)
	}
	return writeFields(w, [][2]string{
		{"system_name", a.SystemName},
		{"common_name", a.CommonName},
		{"subject_alternative_name", strings.Join(a.SubjectAlternativeName, ", ")},
		{"certificate_authority", a.CertificateAuthority},
		{"host_platform", a.HostPlatform},
		{"os_version", a.OSVersion},
		{"device_model", a.DeviceModel},
		{"ip_address", a.IPAddress},
		{"port", port},
		{"data_center", a.DataCenter},
		{"credentials", a.Credentials},
		{"key_type", a.KeyType},
		{"labels", strings.Join(labels, ", ")},
		{"origin", a.Origin},
		{"paused", yesNo(a.Paused)},
		{"certificate_validation", yesNo(a.CertificateValidation)},
		{"certificate_expiration", formatTime(a.CertificateExpiration)},
		{"certificate_serial", a.CertificateSerial},
		{"certificate_issuer", a.CertificateIssuer},
		{"certificate_not_before", formatTimeOr(a.CertificateNotBefore, "-")},
		{"last_rotation", formatTimeOr(a.LastRotation, "-")},
		{"renewal_time", formatTimeOr(a.RenewalTime, "-")},
		{"renewal_window", renewalWindow},
		{"failure_count", strconv.Itoa(a.FailureCount)},
		{"next_attempt_at", formatTimeOr(a.NextAttemptAt, "-")},
	})
}

// writeFields writes name and value pairs in two aligned columns, with
// "-" for an empty value; the lines of a value of several stay in its
// column.
func writeFields(w io.Writer, fields [][2]string) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, f := range fields {
		fmt.Fprintf(tw, "%s:\t%s\n", f[0], strings.ReplaceAll(cmp.Or(f[1], "-"), "\n", "\n\t"))
	}
	return tw.Flush()
}

func newAssetListCmd(g *globals) *cobra.Command {
	var filter store.AssetFilter
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List assets",
		Args:  cobra.NoArgs,
	}
	out := addOutputFlag(cmd)
	cmd.RunE = g.withApp(func(cmd *cobra.Command, _ []string, ap *app.App) error {
		assets, err := ap.Store.ListAssets(cmd.Context(), filter)
		if err != nil {
			return err
		}
		if assets == nil {
			assets = []asset.Asset{}
		}
		return out.print(g.stdout, assets, func(w io.Writer) error {
			tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SYSTEM NAME\tPLATFORM\tCA\tDATA CENTER\tIP\tEXPIRES\tFAILURES")
			for _, a := range assets {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", a.SystemName, a.HostPlatform, a.CertificateAuthority,
					a.DataCenter, a.IPAddress, formatTime(a.CertificateExpiration), a.FailureCount)
			}
			return tw.Flush()
		})
	})
	cmd.Flags().StringVar(&filter.HostPlatform, "platform", "", "only this host_platform")
	cmd.Flags().StringVar(&filter.DataCenter, "data-center", "", "only this data center")
	cmd.Flags().StringVar(&filter.IPAddress, "ip", "", "only this IP address")
	cmd.Flags().StringVar(&filter.Origin, "origin", "", "only this origin")
	return cmd
}

// formatTime formats t for a table, or "None" (Ottr's word) for no time.
func formatTime(t *time.Time) string { return formatTimeOr(t, "None") }

// formatTimeOr formats t for a table, or returns none for no time.
func formatTimeOr(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.UTC().Format(time.RFC3339)
}

func newAssetDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "delete NAME",
		Short:             "Delete an asset and its rotation history",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeAssets(1),
		RunE: g.withApp(func(cmd *cobra.Command, args []string, ap *app.App) error {
			if err := ap.Store.DeleteAsset(cmd.Context(), args[0]); err != nil {
				return notFound(err, args[0])
			}
			fmt.Fprintf(g.stdout, "deleted %s\n", args[0])
			return nil
		}),
	}
}

// readAssets parses an import file: CSV, our JSON, or Ottr's DynamoDB items.
func readAssets(data []byte, format, name string) ([]asset.Asset, error) {
	if format == "auto" {
		format = "json"
		if strings.HasSuffix(strings.ToLower(name), ".csv") {
			format = "csv"
		}
	}
	switch format {
	case "csv":
		return asset.ReadCSV(bytes.NewReader(data))
	case "json":
		return asset.ParseOttrItems(data)
	}
	return nil, fmt.Errorf("--format %q: want auto, csv or json", format)
}

// checkImportFormat refuses an import format ottr does not read.
func checkImportFormat(cmd *cobra.Command, format string) error {
	if !slices.Contains([]string{"auto", "csv", "json"}, format) {
		return usageErrorf(cmd, "--format %q: want auto, csv or json", format)
	}
	return nil
}

func newAssetImportCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Import assets from CSV or JSON (Ottr's DynamoDB items accepted): all or nothing",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkImportFormat(cmd, format); err != nil {
				return err
			}
			data, err := readInput(g, args[0])
			if err != nil {
				return err
			}
			assets, err := readAssets(data, format, args[0])
			if err != nil {
				return usageErrorf(nil, "%s: %w", args[0], err)
			}
			ap, err := g.open(cmd.Context(), app.Options{})
			if err != nil {
				return err
			}
			defer ap.Close()
			var problems []error
			seen := map[string]int{}
			for i := range assets {
				a, err := ap.Prepare(assets[i])
				if err != nil {
					problems = append(problems, fmt.Errorf("record %d (%s): %w", i+1, assets[i].SystemName, err))
					continue
				}
				if prev, dup := seen[a.SystemName]; dup {
					problems = append(problems, fmt.Errorf("record %d: system_name %s repeats record %d", i+1, a.SystemName, prev))
				}
				seen[a.SystemName] = i + 1
				assets[i] = a
			}
			if len(problems) > 0 {
				return usageErrorf(nil, "nothing imported, %d record(s) need fixing:\n%w", len(problems), errors.Join(problems...))
			}
			if err := ap.Store.ImportAssets(cmd.Context(), assets); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "imported %d assets\n", len(assets))
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "auto", "auto (by file name), csv or json")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"auto", "csv", "json"}, noFiles))
	return cmd
}

func newAssetExportCmd(g *globals) *cobra.Command {
	var format, out string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export every asset as JSON or CSV",
		Args:  cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			if format != "json" && format != "csv" {
				return usageErrorf(cmd, "--format %q: want json or csv", format)
			}
			return nil
		},
		RunE: g.withApp(func(cmd *cobra.Command, _ []string, ap *app.App) error {
			assets, err := ap.Store.ListAssets(cmd.Context(), store.AssetFilter{})
			if err != nil {
				return err
			}
			if assets == nil {
				assets = []asset.Asset{}
			}
			var buf bytes.Buffer
			if format == "csv" {
				err = asset.WriteCSV(&buf, assets)
			} else {
				err = writeJSON(&buf, assets)
			}
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				_, err = g.stdout.Write(buf.Bytes())
				return err
			}
			return os.WriteFile(out, buf.Bytes(), 0o600)
		}),
	}
	cmd.Flags().StringVar(&format, "format", "json", "json or csv")
	cmd.Flags().StringVarP(&out, "file", "f", "", "write to this file instead of standard output")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"json", "csv"}, noFiles))
	return cmd
}
