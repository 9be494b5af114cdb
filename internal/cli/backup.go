package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/secret"
	"github.com/ottr-go/ottr/internal/store/sqlite"
)

func newBackupCmd(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "backup FILE",
		Short: "Copy the embedded SQLite database to FILE, consistently, while ottr runs",
		Long: `backup writes a consistent copy of the SQLite database (the inventory,
rotations, users, audit trail, sealed secrets and job queue) to FILE, mode 0600,
while 'ottr serve' goes on running. It refuses to replace an existing FILE unless
given --force.

The copy does not hold the master key (master_key_file), and its sealed secrets
open only with it: back the key up too, apart from the copies. docs/deployment.md
("Backup and restore") gives the restore steps. On PostgreSQL, use pg_dump or
continuous archiving instead.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return backup(cmd.Context(), g, args[0], force) },
	}
	cmd.Flags().BoolVar(&force, "force", false, "replace FILE if it exists")
	return cmd
}

func backup(ctx context.Context, g *globals, file string, force bool) error {
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	database := cfg.Database
	if ref, _ := secret.ParseRef(database); !ref.IsLiteral() {
		resolver, err := g.secretResolver(cfg)
		if err != nil {
			return err
		}
		url, err := resolver.ResolveContext(ctx, database)
		if err != nil {
			return fmt.Errorf("database: %w", err)
		}
		database = strings.TrimSpace(url)
	}
	if app.IsPostgresURL(database) {
		return errors.New(`the database is PostgreSQL, and ottr backup copies the embedded SQLite database only: ` +
			`back PostgreSQL up with its own tools, pg_dump (pg_dump -Fc -f ottr.dump "$OTTR_DATABASE_URL") or continuous archiving, ` +
			`and keep the master key apart from the dumps; see "Backups" in docs/deployment.md`)
	}
	if _, err := os.Stat(database); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("there is no database at %s to back up: check database and data_dir in %s", database, g.configPath)
	}
	if file, err = filepath.Abs(file); err != nil {
		return err
	}
	st, err := sqlite.Open(ctx, database, sqlite.WithLogger(g.logger()))
	if err != nil {
		return err
	}
	defer st.Close()
	err = st.Backup(ctx, file, force)
	if errors.Is(err, sqlite.ErrBackupExists) {
		return fmt.Errorf("%s exists: name a new file, or pass --force to replace it", file)
	}
	if err != nil {
		return err
	}
	info, err := os.Stat(file)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "backed up %s to %s (%d bytes, mode %04o)\n", database, file, info.Size(), info.Mode().Perm())
	if _, err := os.Stat(cfg.MasterKeyFile); errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(g.stderr, "warning: the master key file %s is missing; if the database holds sealed secrets, they open only with that key: find it before you need this backup\n", cfg.MasterKeyFile)
		return nil
	}
	fmt.Fprintf(g.stdout, "the backup does not hold the master key: keep a copy of %s apart from it (its secrets open only with that key)\n", cfg.MasterKeyFile)
	return nil
}
