package cli

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ottr-go/ottr/internal/api"
	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/store"
)

func newUserCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage API users"}
	cmd.AddCommand(newUserCreateCmd(g), newUserListCmd(g))
	return cmd
}

func newUserCreateCmd(g *globals) *cobra.Command {
	var role string
	cmd := &cobra.Command{
		Use:   "create USERNAME --role ADMIN|PRIVILEGED|DEVELOPER",
		Short: "Create an API user; the password is read from standard input, never from a flag",
		Args:  cobra.ExactArgs(1),
		RunE: g.withApp(func(cmd *cobra.Command, args []string, ap *app.App) error {
			password, err := readPassword(g)
			if err != nil {
				return err
			}
			err = api.CreateUser(cmd.Context(), ap.Store, args[0], password, strings.ToUpper(role))
			if errors.Is(err, store.ErrExists) {
				return fmt.Errorf("user %s exists already", args[0])
			}
			if err != nil {
				return err
			}
			_, err = ap.Store.AppendAudit(cmd.Context(), store.AuditEvent{Actor: "cli", Action: "user.create", Target: "user/" + args[0],
				After: []byte(fmt.Sprintf(`{"username":%q,"role":%q}`, args[0], strings.ToUpper(role)))})
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "created %s (%s)\n", args[0], strings.ToUpper(role))
			return nil
		}),
	}
	cmd.Flags().StringVar(&role, "role", "", "ADMIN, PRIVILEGED or DEVELOPER")
	_ = cmd.MarkFlagRequired("role")
	return cmd
}

// readPassword reads the password without echo from a terminal, or the
// first line of standard input otherwise (for scripts).
func readPassword(g *globals) (string, error) {
	if f, ok := g.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(g.stderr, "password: ")
		pw, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(g.stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(g.stderr, "again: ")
		again, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(g.stderr)
		if err != nil {
			return "", err
		}
		if string(pw) != string(again) {
			return "", errors.New("the passwords differ")
		}
		return string(pw), nil
	}
	line, err := bufio.NewReader(g.stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no password on standard input (pipe it in, e.g. from a secret file)")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func newUserListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List API users and their roles",
		Args:  cobra.NoArgs,
		RunE: g.withApp(func(cmd *cobra.Command, _ []string, ap *app.App) error {
			users, err := ap.Store.ListUsers(cmd.Context())
			if err != nil {
				return err
			}
			for _, u := range users {
				fmt.Fprintf(g.stdout, "%s\t%s\n", u.Username, u.Role)
			}
			return nil
		}),
	}
}
