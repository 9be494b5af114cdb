package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/secret"
)

func newMasterKeyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "master-key",
		Short: "Manage the master key that seals the secrets kept in the database",
	}
	cmd.AddCommand(newMasterKeyRotateCmd(g))
	return cmd
}

func newMasterKeyRotateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rotate",
		Short: "Seal every secret in the database again under a new master key",
		Long: `rotate makes a new master key, seals every secret in the database again under
it in one transaction, and then replaces master_key_file with it, keeping its mode
and owner. The old key is kept beside it, as master_key_file.old-TIME. It needs the
current key, and changes nothing unless that key opens every secret.

Stop every ottr process that uses the database first (serve, workers): a process
still running holds the old key, and what it seals the new key cannot open. Then
back up the new key, and in a cluster copy it to every machine, before starting
them again. Keep the old key as long as you keep database backups made before the
rotation: their secrets open only with it.`,
		Args: cobra.NoArgs,
		RunE: g.withApp(func(cmd *cobra.Command, _ []string, ap *app.App) error {
			path := ap.Config.MasterKeyFile
			rot, err := secret.RotateKey(cmd.Context(), path, ap.Store, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "sealed %d secret(s) again under a new master key in %s\n", rot.Resealed, path)
			fmt.Fprintf(g.stdout, "the old key is kept in %s: database backups made before now open only with it; delete it when none of them is needed\n", rot.OldKeyFile)
			fmt.Fprintf(g.stdout, "next: back up the new key; in a cluster, copy it to every machine; then start ottr again (see \"The master key\" in docs/deployment.md)\n")
			return nil
		}),
	}
}
