package cli

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/suggest"
)

// Exit statuses, so a script can tell a failed rotation from a typo.
const (
	exitOK       = 0
	exitFailure  = 1 // the work failed: a rotation, a check that found problems
	exitUsage    = 2 // the command line or the configuration is wrong
	exitNotFound = 3 // no asset, rotation, user, route or channel of that name
)

// exitStatusHelp is the "Exit status" part of `ottr --help`.
const exitStatusHelp = `Exit status:
  0  success
  1  the work failed: a rotation failed, a check found problems
  2  usage or configuration error: unknown command or flag, bad argument or
     flag value, an invalid configuration file
  3  not found: no asset, rotation, user, route or channel of that name`

// usageError is a mistake in what the user typed or wrote in the
// configuration: running again changes nothing until they fix it.
type usageError struct {
	err error
	// cmd, when set, is the command used wrongly: Run points to its help.
	cmd *cobra.Command
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageErrorf returns a usage error of cmd with the formatted message.
func usageErrorf(cmd *cobra.Command, format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...), cmd: cmd}
}

// configError marks err as a fault of the configuration.
func configError(err error) error {
	if err == nil {
		return nil
	}
	return &usageError{err: err}
}

// notFoundError is a lookup of a record that does not exist.
type notFoundError struct{ err error }

func (e *notFoundError) Error() string { return e.err.Error() }
func (e *notFoundError) Unwrap() error { return e.err }

// notFoundf returns a not-found error with the formatted message.
func notFoundf(format string, args ...any) error {
	return &notFoundError{err: fmt.Errorf(format, args...)}
}

// exitCode is the exit status err ends the command with.
func exitCode(err error) int {
	var usage *usageError
	var cfg *config.Error
	var appConfig *app.ConfigError
	var missing *notFoundError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &usage), errors.As(err, &cfg), errors.As(err, &appConfig):
		return exitUsage
	case errors.As(err, &missing):
		return exitNotFound
	}
	return exitFailure
}

// strictUsage makes every mistake on the command line a usage error:
// flags (through the root's flag error function, which subcommands
// inherit), arguments, required flags and unknown subcommands. Commands
// that only group others print their help when given nothing, and refuse
// what is not one of their commands, suggesting the nearest.
func strictUsage(root *cobra.Command) {
	root.SetFlagErrorFunc(flagError)
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		cmd.SuggestionsMinimumDistance = 2
		if cmd.HasSubCommands() && !cmd.Runnable() {
			cmd.Args = cobra.ArbitraryArgs
			cmd.RunE = unknownSubcommand
		} else if validate := cmd.Args; validate != nil {
			cmd.Args = func(cmd *cobra.Command, args []string) error {
				if err := validate(cmd, args); err != nil {
					return &usageError{err: fmt.Errorf("%w; usage: %s", err, cmd.UseLine()), cmd: cmd}
				}
				return nil
			}
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// checkRequiredFlags runs cobra's checks of required and grouped flags
// before cobra does, so their failures are usage errors too.
func checkRequiredFlags(cmd *cobra.Command) error {
	if err := cmd.ValidateRequiredFlags(); err != nil {
		return &usageError{err: err, cmd: cmd}
	}
	if err := cmd.ValidateFlagGroups(); err != nil {
		return &usageError{err: err, cmd: cmd}
	}
	return nil
}

func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + orList(s) + "?"
	}
	return &usageError{err: errors.New(msg), cmd: cmd}
}

// flagError turns a flag the command does not have, or a flag value it
// cannot parse, into a usage error, suggesting the flags nearest to a
// mistyped one.
func flagError(cmd *cobra.Command, err error) error {
	msg := err.Error()
	var unknown *pflag.NotExistError
	if errors.As(err, &unknown) {
		name := unknown.GetSpecifiedName()
		short := unknown.GetSpecifiedShortnames() != ""
		switch {
		case (name == "o" && short || name == "output") && cmd.Flags().Lookup("file") != nil:
			msg += "; this command writes a file, named with -f/--file (-o/--output is how commands print records)"
		case !short:
			if s := similarFlags(cmd.Flags(), name); len(s) > 0 {
				msg += "; did you mean " + orList(s) + "?"
			}
		}
	}
	return &usageError{err: errors.New(msg), cmd: cmd}
}

// similarFlags returns the flags of fs whose names are within two edits of
// name, or start with it, as "--name".
func similarFlags(fs *pflag.FlagSet, name string) []string {
	var out []string
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden || f.Deprecated != "" {
			return
		}
		if suggest.Distance(name, f.Name) <= 2 || len(name) > 1 && strings.HasPrefix(f.Name, name) {
			out = append(out, "--"+f.Name)
		}
	})
	slices.Sort(out)
	return out
}

// orList joins choices as "a", "a or b", "a, b or c".
func orList(choices []string) string {
	if len(choices) == 1 {
		return choices[0]
	}
	return strings.Join(choices[:len(choices)-1], ", ") + " or " + choices[len(choices)-1]
}
