package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/ottr-go/ottr/internal/version"
)

func newVersionCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print ottr's version, the commit it was built from and the Go release that built it",
		Args:  cobra.NoArgs,
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(*cobra.Command, []string) error {
		v := version.Get()
		return out.print(g.stdout, v, func(w io.Writer) error {
			_, err := io.WriteString(w, versionText(v))
			return err
		})
	}
	return cmd
}

// versionText is what `ottr version` and `ottr --version` print.
func versionText(v version.Info) string {
	return fmt.Sprintf("ottr %s\ncommit  %s\ngo      %s %s\n", v.Version, v.Commit, v.Go, v.Platform)
}
