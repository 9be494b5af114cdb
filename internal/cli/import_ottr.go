package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/ottrimport"
	"github.com/ottr-go/ottr/internal/route"
	"github.com/ottr-go/ottr/internal/secret/stores"
)

func newImportCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "import", Short: "Take over a deployment of another tool"}
	cmd.AddCommand(newImportOttrCmd(g))
	return cmd
}

// importOttrFlags are the flags of `ottr import ottr`.
type importOttrFlags struct {
	assets, routes, prefix, accountDir, ca string
	routeOptions, region, keyType, slack   string
	out                                    string
	print, dryRun, replaceAccount, merge   bool
	accountFromSecrets                     bool
}

func newImportOttrCmd(g *globals) *cobra.Command {
	var f importOttrFlags
	cmd := &cobra.Command{
		Use:   "ottr",
		Short: "Import an Ottr deployment: its assets, routes, device logins and ACME account",
		Long: `Import an Ottr deployment as it is: the DynamoDB export of its asset table,
its route.json, the prefix of its secrets in AWS Secrets Manager and its
acme.sh account files.

Ottr's platforms become routes of ottr's drivers (panos, f5 as bigip on its
management interface, lighthouse, linux through SSM as linux-ssm), each
platform's login the credentials {prefix}/otter/{platform} as aws-sm:
references (no secret is copied), written as a section to merge into
ottr.yaml (--out, or --print). The assets are imported all or nothing, and
the acme.sh account becomes the CA profile's ACME account, so ottr keeps
ordering under it. Nothing is written when anything is wrong; --dry-run
shows what would be done and writes nothing. docs/migrating-from-ottr.md
walks through the whole move.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runImportOttr(cmd, g, &f) },
	}
	fs := cmd.Flags()
	fs.StringVar(&f.assets, "assets", "", "export of Ottr's asset table: 'aws dynamodb scan --output json', a JSON array of items, or a DynamoDB S3 export (JSON lines)")
	fs.StringVar(&f.routes, "routes", "", "Ottr's route.json")
	fs.StringVar(&f.prefix, "secrets-prefix", "", "the {prefix} of Ottr's secrets {prefix}/otter/{platform} in AWS Secrets Manager")
	fs.StringVar(&f.accountDir, "account-dir", "", "directory holding acme.sh's account.key, account.json and ca.conf, as exported from {prefix}/otter/… (default: keep no account)")
	fs.BoolVar(&f.accountFromSecrets, "account-from-secrets", false, "read acme.sh's account from Secrets Manager ({prefix}/otter/account.key, account.json, ca.conf) through the config's secrets.aws")
	fs.StringVar(&f.ca, "ca", "lets_encrypt", "CA profile whose ACME account the acme.sh account becomes")
	fs.BoolVar(&f.replaceAccount, "replace-account", false, "replace an ACME account the CA profile has already")
	fs.StringVar(&f.routeOptions, "route-options", "", "YAML file of route options by Ottr platform, laid over the imported routes' (panos: {ca_file: /etc/ottr/devices.pem})")
	fs.StringVar(&f.region, "aws-region", "", "AWS region of the instances Ottr's linux platform reached through SSM")
	fs.StringVar(&f.keyType, "key-type", asset.KeyRSA2048, "key_type of assets whose item names none (Ottr made RSA 2048 keys); \"\" for the CA profile's")
	fs.StringVar(&f.slack, "slack-channel", "", "add a Slack notification channel posting here with Ottr's bot token ({prefix}/otter/slack)")
	fs.StringVar(&f.out, "out", "", "where to write the ottr.yaml section (default: ottr-import.yaml beside the config)")
	fs.BoolVar(&f.print, "print", false, "print the section on standard output instead of writing it")
	fs.BoolVar(&f.merge, "merge", false, "merge the section into the config file itself (the file as it was is kept as <config>.before-import)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "show everything the import would do, and write nothing")
	for _, name := range []string{"assets", "routes", "secrets-prefix"} {
		_ = cmd.MarkFlagRequired(name)
	}
	cmd.MarkFlagsMutuallyExclusive("account-dir", "account-from-secrets")
	cmd.MarkFlagsMutuallyExclusive("print", "merge", "out")
	return cmd
}

func runImportOttr(cmd *cobra.Command, g *globals, f *importOttrFlags) error {
	ctx := cmd.Context()
	out := g.stdout
	base, err := g.loadConfig()
	if err != nil {
		return err
	}
	in, err := readOttrExport(cmd, g, f, base)
	if err != nil {
		return err
	}

	fmt.Fprintln(out, "reading Ottr's deployment")
	plan, err := ottrimport.Build(in)
	if err != nil {
		return importError(err)
	}
	fmt.Fprintf(out, "  assets   %s: %d items\n", f.assets, len(plan.Items))
	fmt.Fprintf(out, "  routes   %s: %d routes for %s\n", f.routes, len(plan.Routes), strings.Join(routePlatforms(plan.Routes), ", "))
	if plan.Account != nil {
		fmt.Fprintf(out, "  account  %s: %s key, %s\n", cmp.Or(f.accountDir, "Secrets Manager"), plan.Account.KeyDescription(), plan.Account.URL)
	}

	baseText, err := os.ReadFile(g.configPath)
	if err != nil {
		return configError(err)
	}
	section, err := plan.Section(f.assets + " and " + f.routes)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "checking the section with %s\n", g.configPath)
	checked, err := plan.Check(g.configPath, baseText, section, app.CompileRoutes, f.ca)
	if err != nil {
		return importError(err)
	}
	checked.Config.Database = base.Database

	if err := writeImportedAssets(out, checked); err != nil {
		return err
	}
	for _, platform := range plan.Pending {
		fmt.Fprintf(out, "pending: platform %q is PENDING in route.json (Ottr had no executor for it) and no item is on it; to rotate such devices add a route for it by hand (the script driver runs your own scripts)\n", platform)
	}
	for _, name := range checked.Unrouted {
		fmt.Fprintf(out, "no route: %s: Ottr had no executor for it either; add a route, or ottr lists it as having none\n", name)
	}

	sectionPath := f.out
	if sectionPath == "" {
		sectionPath = filepath.Join(filepath.Dir(g.configPath), "ottr-import.yaml")
	}
	if f.merge {
		sectionPath = g.configPath
	}
	if f.dryRun {
		return reportDryRun(out, f, plan, checked, section, sectionPath)
	}
	return applyImport(ctx, g, f, plan, checked, section, baseText, sectionPath)
}

// readOttrExport reads the files the flags name.
func readOttrExport(cmd *cobra.Command, g *globals, f *importOttrFlags, cfg *config.Config) (ottrimport.Input, error) {
	in := ottrimport.Input{
		ItemsName: f.assets, RouteJSONName: f.routes, SecretsPrefix: f.prefix,
		AWSRegion: f.region, KeyType: f.keyType, SlackChannel: f.slack,
		Drivers: app.Drivers("").Names(),
	}
	var err error
	if in.Items, err = readInput(g, f.assets); err != nil {
		return in, usageErrorf(nil, "--assets: %w", err)
	}
	if in.RouteJSON, err = os.ReadFile(f.routes); err != nil {
		return in, usageErrorf(nil, "--routes: %w", err)
	}
	if f.routeOptions != "" {
		in.RouteOptionsName = f.routeOptions
		if in.RouteOptions, err = readRouteOptions(f.routeOptions); err != nil {
			return in, usageErrorf(nil, "--route-options: %w", err)
		}
	}
	switch {
	case f.accountDir != "":
		if in.Account, err = readAccountDir(f.accountDir); err != nil {
			return in, usageErrorf(nil, "--account-dir: %w", err)
		}
	case f.accountFromSecrets:
		if in.Account, err = readAccountSecrets(cmd.Context(), cfg, f.prefix); err != nil {
			return in, err
		}
	}
	return in, nil
}

// applyImport writes what the import checked: the ACME account, the
// assets in one transaction, then the section (or the merged config), by
// rename, so a failure before leaves no file half-written.
func applyImport(ctx context.Context, g *globals, f *importOttrFlags, plan *ottrimport.Plan, checked *ottrimport.Checked, section, baseText []byte, sectionPath string) error {
	out := g.stdout
	var tmp string
	var err error
	switch {
	case f.merge:
		tmp, err = writeTemp(sectionPath, checked.Merged)
	case !f.print:
		tmp, err = writeTemp(sectionPath, section)
	}
	if err != nil {
		return err
	}
	if tmp != "" {
		defer os.Remove(tmp)
	}
	ap, err := app.New(ctx, checked.Config, app.Options{Logger: g.logger()})
	if err != nil {
		return err
	}
	defer ap.Close()
	assets := checked.Assets
	for i := range assets {
		if assets[i], err = ap.Prepare(assets[i]); err != nil {
			return usageErrorf(nil, "%s: %w", assets[i].SystemName, err)
		}
	}
	accountNote := "none (ottr registers an account of its own at the first order)"
	if plan.Account != nil {
		imported, err := ap.ImportACMEAccount(ctx, f.ca, plan.Account.Key, plan.Account.URL, f.replaceAccount)
		if errors.Is(err, app.ErrOtherACMEAccount) {
			return usageErrorf(nil, "nothing imported: %w; pass --replace-account to keep Ottr's instead", err)
		}
		if err != nil {
			return err
		}
		accountNote = "kept " + plan.Account.URL
		if !imported {
			accountNote += " (stored already)"
		}
		fmt.Fprintf(out, "ACME account of %s: %s\n", f.ca, accountNote)
	}
	if err := ap.Store.ImportAssets(ctx, assets); err != nil {
		return err
	}
	fmt.Fprintf(out, "imported %d assets\n", len(assets))
	switch {
	case f.print:
		fmt.Fprintf(out, "the section to merge into %s:\n", g.configPath)
		_, _ = out.Write(section)
	case f.merge:
		if err := os.WriteFile(g.configPath+".before-import", baseText, 0o600); err != nil {
			return fmt.Errorf("keep %s as it was: %w", g.configPath, err)
		}
		if err := os.Rename(tmp, g.configPath); err != nil {
			return fmt.Errorf("write %s: %w", g.configPath, err)
		}
		fmt.Fprintf(out, "merged the section into %s (as it was: %s.before-import)\n", g.configPath, g.configPath)
	default:
		if err := os.Rename(tmp, sectionPath); err != nil {
			return fmt.Errorf("write %s: %w", sectionPath, err)
		}
		fmt.Fprintf(out, "wrote %s: merge it into %s\n", sectionPath, g.configPath)
	}
	fmt.Fprintf(out, "summary: %d assets, %d routes, %d credentials (references to %s/otter/…), ACME account %s, %d platform(s) PENDING, %d asset(s) without a route\n",
		len(assets), len(plan.Routes), len(plan.Credentials), strings.Trim(f.prefix, "/"), accountNote, len(plan.Pending), len(checked.Unrouted))
	return nil
}

// reportDryRun says what the import would write.
func reportDryRun(out io.Writer, f *importOttrFlags, plan *ottrimport.Plan, checked *ottrimport.Checked, section []byte, sectionPath string) error {
	where := "would write " + sectionPath + ":"
	switch {
	case f.print:
		where = "would print the section:"
	case f.merge:
		where = "would merge the section into " + sectionPath + ":"
	}
	fmt.Fprintln(out, where)
	if f.merge {
		section = checked.Merged
	}
	_, _ = out.Write(section)
	fmt.Fprintf(out, "would import %d assets (replacing any of the same system_name)\n", len(checked.Assets))
	if plan.Account != nil {
		fmt.Fprintf(out, "would keep the ACME account %s as the account of %s\n", plan.Account.URL, f.ca)
	}
	fmt.Fprintln(out, "dry run: nothing written")
	return nil
}

// writeImportedAssets lists the assets and the route each takes.
func writeImportedAssets(out io.Writer, checked *ottrimport.Checked) error {
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SYSTEM NAME\tPLATFORM\tOS VERSION\tCA\tROUTE\tDRIVER\tCREDENTIALS")
	for _, a := range checked.Assets {
		name, driverName := "-", "-"
		if r, _, ok := checked.Table.Match(a); ok {
			name, driverName = r.Name, r.Driver
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.SystemName, a.HostPlatform, a.OSVersion, a.CertificateAuthority, name, driverName, a.Credentials)
	}
	return tw.Flush()
}

// importError makes an import's list of problems a usage error: the
// inputs must be fixed.
func importError(err error) error {
	if ottrimport.ErrProblems(err) {
		return &usageError{err: err}
	}
	return err
}

func routePlatforms(routes []route.Route) []string {
	var out []string
	for _, r := range routes {
		if len(out) == 0 || out[len(out)-1] != r.Match.Platform {
			out = append(out, r.Match.Platform)
		}
	}
	return out
}

// readRouteOptions reads --route-options: a mapping of Ottr platform to
// route options.
func readRouteOptions(path string) (map[string]map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var options map[string]map[string]any
	if err := yaml.Unmarshal(data, &options); err != nil {
		return nil, fmt.Errorf("%s: want a mapping of Ottr platform to route options (panos: {ca_file: …}): %w", path, err)
	}
	return options, nil
}

// readAccountDir reads acme.sh's account files from dir.
func readAccountDir(dir string) (*ottrimport.AccountFiles, error) {
	f := &ottrimport.AccountFiles{
		KeyName:    filepath.Join(dir, ottrimport.AccountKeyFile),
		JSONName:   filepath.Join(dir, ottrimport.AccountJSONFile),
		CAConfName: filepath.Join(dir, ottrimport.CAConfFile),
	}
	var errs []error
	for _, file := range []struct {
		name string
		data *[]byte
	}{{f.KeyName, &f.Key}, {f.JSONName, &f.JSON}, {f.CAConfName, &f.CAConf}} {
		data, err := os.ReadFile(file.name)
		if err != nil {
			errs = append(errs, err)
		}
		*file.data = data
	}
	return f, errors.Join(errs...)
}

// readAccountSecrets reads acme.sh's account files from Secrets Manager,
// where Ottr kept them, through the config's secret stores.
func readAccountSecrets(ctx context.Context, cfg *config.Config, prefix string) (*ottrimport.AccountFiles, error) {
	resolver, err := stores.New(cfg.Secrets, stores.Options{})
	if err != nil {
		return nil, configError(fmt.Errorf("secrets: %w", err))
	}
	f := &ottrimport.AccountFiles{}
	f.KeyName, f.JSONName, f.CAConfName = ottrimport.AccountRefs(prefix)
	var errs []error
	for _, file := range []struct {
		ref  string
		data *[]byte
	}{{f.KeyName, &f.Key}, {f.JSONName, &f.JSON}, {f.CAConfName, &f.CAConf}} {
		value, err := resolver.ResolveContext(ctx, file.ref)
		if err != nil {
			errs = append(errs, fmt.Errorf("--account-from-secrets: %w", err))
		}
		*file.data = []byte(value)
	}
	return f, errors.Join(errs...)
}

// writeTemp writes data to a new file beside path, to be renamed to it.
func writeTemp(path string, data []byte) (string, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return tmp.Name(), nil
}
