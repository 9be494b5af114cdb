// Package cli is ottr's command line: one cobra command per verb, wiring the
// packages below it together and nothing more.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/config"
)

// globals are the flags every command shares.
type globals struct {
	configPath string
	configSet  bool
	logLevel   string
	database   string
	stdin      io.Reader
	stdout     io.Writer
	stderr     io.Writer
}

// Main runs the ottr command line with args until it ends or the process is
// interrupted, and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, args, stdin, stdout, stderr)
}

// Run runs the ottr command line with args until it ends or ctx does, and
// returns the exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := NewRoot(stdin, stdout, stderr)
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(ctx); err != nil {
		if !errors.Is(err, errQuiet) {
			fmt.Fprintln(stderr, "ottr:", err)
		}
		return 1
	}
	return 0
}

// errQuiet fails a command whose output already said what is wrong.
var errQuiet = errors.New("failed")

// NewRoot returns the root command with every subcommand.
func NewRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "ottr",
		Short:         "Agentless certificate rotation for firewalls, load balancers and hosts",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			g.configSet = cmd.Flags().Changed("config")
		},
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVarP(&g.configPath, "config", "c", "ottr.yaml", "configuration file")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	root.PersistentFlags().StringVar(&g.database, "database", "", "database: a SQLite file or a postgres:// URL (or env:NAME, file:PATH holding it); default: database in the config")
	root.AddCommand(
		newLabCmd(g),
		newAssetCmd(g),
		newRouteCmd(g),
		newPlanCmd(g),
		newRotateCmd(g),
		newDNSCmd(g),
		newServeCmd(g),
		newWorkerCmd(g),
		newMigrateCmd(g),
		newUserCmd(g),
		newBackupCmd(g),
		newMasterKeyCmd(g),
		newNotifyCmd(g),
	)
	return root
}

func (g *globals) logger() *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		level = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level}))
}

// loadConfig reads the config file, with a hint when there is none.
func (g *globals) loadConfig() (*config.Config, error) {
	cfg, err := config.Load(g.configPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no configuration at %s: copy ottr.example.yaml to ottr.yaml and edit it, or pass --config", g.configPath)
	}
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(g.stderr, "warning:", w)
	}
	if g.database != "" {
		cfg.Database = g.database
		if !strings.Contains(g.database, "://") && !strings.HasPrefix(g.database, "env:") && !strings.HasPrefix(g.database, "file:") {
			if cfg.Database, err = filepath.Abs(g.database); err != nil {
				return nil, fmt.Errorf("--database: %w", err)
			}
		}
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("--database: %w", err)
		}
	}
	return cfg, nil
}

// open loads the config and assembles the app.
func (g *globals) open(ctx context.Context, o app.Options) (*app.App, error) {
	cfg, err := g.loadConfig()
	if err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = g.logger()
	}
	return app.New(ctx, cfg, o)
}

// withApp turns fn into a cobra RunE that assembles the app from the config
// first and closes it after.
func (g *globals) withApp(fn func(cmd *cobra.Command, args []string, ap *app.App) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ap, err := g.open(cmd.Context(), app.Options{})
		if err != nil {
			return err
		}
		defer ap.Close()
		return fn(cmd, args, ap)
	}
}
