package cli

import (
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/verify"
)

func newDeviceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "device", Short: "Look at assets' devices without rotating"}
	cmd.AddCommand(newDeviceCheckCmd(g))
	return cmd
}

func newDeviceCheckCmd(g *globals) *cobra.Command {
	var out *output
	cmd := &cobra.Command{
		Use:   "check NAME",
		Short: "Log in to an asset's device and say whether a rotation could work, changing nothing",
		Long: `Opens the asset's device as a rotation would (its route, driver, credentials
and options), reads the current certificate and the binding, and reports the
device's software and each capability a rotation needs: login, key
generation, CSR export, import, binding, commit and rollback, each ok,
failed (with the fix), unknown (it cannot be known without changing the
device) or unsupported. Nothing on the device changes, so a real device can be
tried before its first rotation.

Exits 1 when a check failed or the current certificate could not be read.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeAssetNames,
		RunE: g.withApp(func(cmd *cobra.Command, args []string, ap *app.App) error {
			report, err := checkDevice(cmd.Context(), ap, args[0])
			if err != nil {
				return err
			}
			if err := out.print(g.stdout, report, report.writeTable); err != nil {
				return err
			}
			if report.Failed {
				return errQuiet
			}
			return nil
		}),
	}
	out = addOutputFlag(cmd)
	return cmd
}

// deviceReport is what `ottr device check` prints; null in JSON and YAML
// where there is no value.
type deviceReport struct {
	Asset      string `json:"asset"`
	Route      string `json:"route"`
	RouteIndex int    `json:"route_index"`
	Driver     string `json:"driver"`
	// Software and Binding are the driver's report's, nil when empty.
	Software *string `json:"software"`
	Binding  *string `json:"binding"`
	// Certificate is the leaf the device has in service, nil when it has
	// none or it could not be read (CertificateError).
	Certificate      *certificateView         `json:"certificate"`
	CertificateError *string                  `json:"certificate_error"`
	Checks           []driver.CapabilityCheck `json:"checks"`
	// Failed: a check failed, or the certificate could not be read.
	Failed bool `json:"failed"`
}

// certificateView is a certificate as an operator checks it.
type certificateView struct {
	Subject  string    `json:"subject"`
	Names    []string  `json:"names"`
	Issuer   string    `json:"issuer"`
	Serial   string    `json:"serial"`
	NotAfter time.Time `json:"not_after"`
	// DaysLeft is whole days until NotAfter, negative once it passed.
	DaysLeft int `json:"days_left"`
	// ChainLength counts the leaf and the certificates after it.
	ChainLength int `json:"chain_length"`
}

// checkDevice opens the asset's device as a rotation would and has its
// driver look at it.
func checkDevice(ctx context.Context, ap *app.App, name string) (*deviceReport, error) {
	dev, err := ap.Runner.OpenDevice(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, notFound(err, name)
	case errors.Is(err, rotation.ErrNoRoute):
		return nil, fmt.Errorf("%w: 'ottr route test %s' says why each route does not take it", err, name)
	case err != nil:
		return nil, err
	}
	defer dev.Close()
	checker, ok := dev.Session.(driver.Checker)
	if !ok {
		return nil, fmt.Errorf("the %s driver (route %q) cannot check a device yet: its sessions have no device check", dev.Driver, dev.Route)
	}
	found, err := checker.Check(ctx)
	if err != nil {
		return nil, fmt.Errorf("check %s with driver %s (route %q): %w", name, dev.Driver, dev.Route, err)
	}
	r := &deviceReport{
		Asset: name, Route: dev.Route, RouteIndex: dev.RouteIndex, Driver: dev.Driver,
		Software: orNull(found.Software), Binding: orNull(found.Binding),
		Checks: found.Checks, Failed: found.Failed(),
	}
	if r.Checks == nil {
		r.Checks = []driver.CapabilityCheck{}
	}
	chain, err := dev.CurrentCertificate(ctx)
	switch {
	case err != nil:
		r.CertificateError, r.Failed = orNull(err.Error()), true
	case len(chain) > 0:
		r.Certificate = viewCertificate(chain, time.Now())
	}
	return r, nil
}

func viewCertificate(chain []*x509.Certificate, now time.Time) *certificateView {
	leaf := chain[0]
	names := append([]string{}, leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	return &certificateView{
		Subject:     leaf.Subject.String(),
		Names:       names,
		Issuer:      leaf.Issuer.String(),
		Serial:      verify.SerialHex(leaf),
		NotAfter:    leaf.NotAfter.UTC(),
		DaysLeft:    int(math.Floor(leaf.NotAfter.Sub(now).Hours() / 24)),
		ChainLength: len(chain),
	}
}

// writeTable writes the report for people: the device, its certificate,
// then a line per capability.
func (r *deviceReport) writeTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "asset\t%s\n", r.Asset)
	fmt.Fprintf(tw, "route\t%s (#%d), driver %s\n", r.Route, r.RouteIndex, r.Driver)
	fmt.Fprintf(tw, "software\t%s\n", valueOr(r.Software, "not reported by the device"))
	fmt.Fprintf(tw, "binding\t%s\n", valueOr(r.Binding, "not reported"))
	switch c := r.Certificate; {
	case r.CertificateError != nil:
		fmt.Fprintf(tw, "certificate\tnot read: %s\n", *r.CertificateError)
	case c == nil:
		fmt.Fprintf(tw, "certificate\tnone\n")
	default:
		fmt.Fprintf(tw, "certificate\t%s\n", c.Subject)
		fmt.Fprintf(tw, "  names\t%s\n", cmp.Or(strings.Join(c.Names, ", "), "none"))
		fmt.Fprintf(tw, "  issuer\t%s\n", c.Issuer)
		fmt.Fprintf(tw, "  serial\t%s\n", c.Serial)
		fmt.Fprintf(tw, "  not after\t%s (%s)\n", c.NotAfter.Format(time.RFC3339), daysLeft(c.DaysLeft))
		fmt.Fprintf(tw, "  chain\t%d certificate(s)\n", c.ChainLength)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CAPABILITY\tSTATUS\tDETAIL")
	for _, c := range r.Checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Capability, c.Status, c.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	failed := slices.ContainsFunc(r.Checks, func(c driver.CapabilityCheck) bool { return c.Status == driver.CheckFailed })
	switch {
	case failed:
		_, err := fmt.Fprintln(w, "\na rotation would fail: see the failed checks")
		return err
	case r.Failed:
		_, err := fmt.Fprintln(w, "\na rotation would fail: the current certificate could not be read")
		return err
	}
	_, err := fmt.Fprintln(w, "\nno check failed; nothing on the device was changed")
	return err
}

func valueOr(s *string, none string) string {
	if s == nil {
		return none
	}
	return *s
}

func daysLeft(days int) string {
	switch {
	case days < 0:
		return fmt.Sprintf("expired %d day(s) ago", -days)
	case days == 1:
		return "1 day left"
	}
	return fmt.Sprintf("%d days left", days)
}

// completeAssetNames completes an asset's name from the inventory.
func (g *globals) completeAssetNames(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ap, err := g.open(ctx, app.Options{})
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
	}
	defer ap.Close()
	assets, err := ap.Store.ListAssets(ctx, store.AssetFilter{})
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
	}
	var names []cobra.Completion
	for _, a := range assets {
		if strings.HasPrefix(a.SystemName, toComplete) {
			names = append(names, a.SystemName)
		}
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}
