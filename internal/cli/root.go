// Package cli is ottr's command line: one cobra command per verb, wiring the
// packages below it together and nothing more.
package cli

import (
	"cmp"
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
	"time"

	"github.com/spf13/cobra"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/secret"
	"github.com/ottr-go/ottr/internal/version"
)

// globals are the flags every command shares.
type globals struct {
	configPath string
	configSet  bool
	logLevel   string
	logFormat  string
	database   string
	// logSettings are the config's log section, once it is loaded; the
	// flags override them.
	logSettings config.Log
	log         *slog.Logger
	stdin       io.Reader
	stdout      io.Writer
	stderr      io.Writer
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
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	if !errors.Is(err, errQuiet) {
		fmt.Fprintln(stderr, "ottr:", err)
	}
	var usage *usageError
	if errors.As(err, &usage) && usage.cmd != nil {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", usage.cmd.CommandPath())
	}
	return exitCode(err)
}

// errQuiet fails a command whose output already said what is wrong.
var errQuiet = errors.New("failed")

// NewRoot returns the root command with every subcommand.
func NewRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "ottr",
		Short: "Agentless certificate rotation for firewalls, load balancers and hosts",
		Long: "ottr rotates TLS certificates on devices that cannot run an agent.\n\n" +
			"Commands that print records take -o/--output table, json or yaml.\n\n" + exitStatusHelp,
		Version:       version.Get().Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			g.configSet = cmd.Flags().Changed("config")
			if err := checkRequiredFlags(cmd); err != nil {
				return err
			}
			return g.checkLogFlags(cmd)
		},
	}
	root.SetVersionTemplate(versionText(version.Get()))
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVarP(&g.configPath, "config", "c", "ottr.yaml", "configuration file")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "", "log level: debug, info, warn or error (default: log.level in the config, warn)")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "", "log format on standard error: text or json (default: log.format in the config, text)")
	root.PersistentFlags().StringVar(&g.database, "database", "", "database: a SQLite file or a postgres:// URL (or a secret reference holding it: env:NAME, file:PATH, aws-sm:NAME#key, vault:MOUNT/PATH#key); default: database in the config")
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
		newDeviceCmd(g),
		newSecretCmd(g),
		newRotationCmd(g),
		newImportCmd(g),
		newVersionCmd(g),
	)
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	strictUsage(root)
	return root
}

// checkLogFlags refuses a log level or format ottr does not know, before
// the command does anything.
func (g *globals) checkLogFlags(cmd *cobra.Command) error {
	if g.logLevel != "" {
		if _, err := config.ParseLogLevel(g.logLevel); err != nil {
			return usageErrorf(cmd, "--log-level: %w", err)
		}
	}
	if g.logFormat != "" {
		if err := config.CheckLogFormat(g.logFormat); err != nil {
			return usageErrorf(cmd, "--log-format: %w", err)
		}
	}
	return nil
}

// logger returns the command's logger, writing to standard error in the
// format and from the level the flags say, else the config (when the
// command loaded one), else text from warn. It is made once, so every
// part of the command writes through one handler.
func (g *globals) logger() *slog.Logger {
	if g.log != nil {
		return g.log
	}
	level, format := cmp.Or(g.logLevel, g.logSettings.Level, "warn"), cmp.Or(g.logFormat, g.logSettings.Format, config.LogFormatText)
	// Both were checked: the flags before the command ran, the config as
	// it loaded.
	l, _ := config.ParseLogLevel(level)
	opts := &slog.HandlerOptions{Level: l}
	if format == config.LogFormatJSON {
		g.log = slog.New(slog.NewJSONHandler(g.stderr, opts))
	} else {
		g.log = slog.New(slog.NewTextHandler(g.stderr, opts))
	}
	return g.log
}

// warn tells the operator of something allowed but unwise, whatever the
// log level: a "warning:" line in the text format, a log record at WARN in
// JSON, so standard error stays one JSON object per line.
func (g *globals) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if cmp.Or(g.logFormat, g.logSettings.Format) != config.LogFormatJSON {
		fmt.Fprintln(g.stderr, "warning:", msg)
		return
	}
	_ = g.logger().Handler().Handle(context.Background(), slog.NewRecord(time.Now(), slog.LevelWarn, msg, 0))
}

// loadConfig reads the config file, with a hint when there is none.
func (g *globals) loadConfig() (_ *config.Config, err error) {
	// What goes wrong here is the configuration's fault: exit status 2.
	defer func() { err = configError(err) }()
	cfg, err := config.Load(g.configPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no configuration at %s: copy ottr.example.yaml to ottr.yaml and edit it, or pass --config", g.configPath)
	}
	if err != nil {
		return nil, err
	}
	g.logSettings = cfg.Log
	for _, w := range cfg.Warnings {
		g.warn("%s", w)
	}
	if g.database != "" {
		cfg.Database = g.database
		if ref, _ := secret.ParseRef(g.database); ref.IsLiteral() && !strings.Contains(g.database, "://") {
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
