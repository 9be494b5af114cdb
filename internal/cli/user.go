package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ottr-go/ottr/internal/api"
	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/store"
)

// passwordRule is the rule api.CheckPasswordRules enforces, in words; the
// symbols spaced out, so that the last is not read as a full stop.
var passwordRule = fmt.Sprintf("at least %d characters, among them a lower-case letter, an upper-case letter, a digit and one of the symbols %s, and at most %d bytes",
	api.MinPasswordLength, strings.Join(strings.Split(api.PasswordSymbols, ""), " "), api.MaxPasswordBytes)

func newUserCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage API users (each change is recorded in the audit trail)",
	}
	cmd.AddCommand(newUserCreateCmd(g), newUserListCmd(g), newUserDeleteCmd(g), newUserSetPasswordCmd(g), newUserSetRoleCmd(g))
	return cmd
}

// cliActor names who made a change from the command line in the audit
// trail, as the API names the user of the token: "cli:" and the operating
// system's user running ottr.
func cliActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	if name := os.Getenv("USER"); name != "" {
		return "cli:" + name
	}
	return "cli"
}

// auditUserChange records a change to a user as the API does: the user's
// name and role before and after, never a password or its hash.
func auditUserChange(ctx context.Context, st store.Store, action, username string, before, after map[string]string) error {
	e := store.AuditEvent{Actor: cliActor(), Action: action, Target: "user/" + username}
	var err error
	if before != nil {
		if e.Before, err = json.Marshal(before); err != nil {
			return err
		}
	}
	if after != nil {
		if e.After, err = json.Marshal(after); err != nil {
			return err
		}
	}
	// The change is made: record it even if the command is interrupted.
	if _, err := st.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		return fmt.Errorf("%s of %s was made, but the audit trail did not record it: %w", action, username, err)
	}
	return nil
}

// auditedUser is what the audit trail keeps of a user, as the API's.
func auditedUser(u store.User) map[string]string {
	return map[string]string{"username": u.Username, "role": u.Role}
}

// checkRole refuses a role ottr does not have, as a usage error.
func checkRole(cmd *cobra.Command, role string) (string, error) {
	if role == "" {
		return "", usageErrorf(cmd, "--role is required: %s", strings.Join(api.Roles(), ", "))
	}
	role = strings.ToUpper(role)
	if err := api.CheckRole(role); err != nil {
		return "", usageErrorf(cmd, "--role %s: %w", role, err)
	}
	return role, nil
}

// addRoleFlag gives cmd the --role flag, with completion of the roles.
func addRoleFlag(cmd *cobra.Command, role *string, usage string) {
	cmd.Flags().StringVar(role, "role", "", usage)
	_ = cmd.RegisterFlagCompletionFunc("role", cobra.FixedCompletions(api.Roles(), noFiles))
}

func newUserCreateCmd(g *globals) *cobra.Command {
	var role string
	cmd := &cobra.Command{
		Use:   "create USERNAME --role ADMIN|PRIVILEGED|DEVELOPER",
		Short: "Create an API user; the password is read from standard input, never from a flag",
		Long: "create makes an API user. The password is asked for on a terminal, or read from the\n" +
			"first line of standard input, never from a flag. It must have\n" + passwordRule + ".",
		Example: "  ottr user create admin --role ADMIN < admin-password",
		Args:    cobra.ExactArgs(1),
		RunE: g.withApp(func(cmd *cobra.Command, args []string, ap *app.App) error {
			role, err := checkRole(cmd, role)
			if err != nil {
				return err
			}
			if err := api.CheckUsername(args[0]); err != nil {
				return &usageError{err: err, cmd: cmd}
			}
			password, err := readPassword(g)
			if err != nil {
				return err
			}
			err = api.CreateUser(cmd.Context(), ap.Store, args[0], password, role)
			if errors.Is(err, store.ErrExists) {
				return fmt.Errorf("user %s exists already: 'ottr user set-password' or 'ottr user set-role' change it", args[0])
			}
			if err != nil {
				return err
			}
			if err := auditUserChange(cmd.Context(), ap.Store, "user.create", args[0], nil,
				map[string]string{"username": args[0], "role": role}); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "created %s (%s)\n", args[0], role)
			return nil
		}),
	}
	addRoleFlag(cmd, &role, "ADMIN, PRIVILEGED or DEVELOPER")
	return cmd
}

// readPassword reads a new password: without echo from a terminal, asking
// twice and stating the rule; else the first line of standard input (for
// scripts). It refuses one that breaks the rule, naming what is missing,
// as a usage error.
func readPassword(g *globals) (string, error) {
	if f, ok := g.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(g.stderr, "The password must have %s.\npassword: ", passwordRule)
		pw, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(g.stderr)
		if err != nil {
			return "", err
		}
		if err := api.CheckPasswordRules(string(pw)); err != nil {
			return "", &usageError{err: err}
		}
		fmt.Fprint(g.stderr, "again: ")
		again, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(g.stderr)
		if err != nil {
			return "", err
		}
		if string(pw) != string(again) {
			return "", usageErrorf(nil, "the passwords differ")
		}
		return string(pw), nil
	}
	line, err := bufio.NewReader(g.stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", usageErrorf(nil, "no password on standard input (pipe it in, e.g. from a secret file)")
	}
	password := strings.TrimRight(line, "\r\n")
	if err := api.CheckPasswordRules(password); err != nil {
		return "", usageErrorf(nil, "%w (the rule: %s)", err, passwordRule)
	}
	return password, nil
}

// getUser reads a user, saying so when there is none of that name.
func getUser(ctx context.Context, st store.Store, username string) (store.User, error) {
	u, err := st.GetUser(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		return u, notFoundf("no user named %s ('ottr user list' shows them)", username)
	}
	return u, err
}

// checkNotLastAdmin refuses to take the ADMIN role from u when it is the
// last user with it, as the API refuses: no one could manage users after.
func checkNotLastAdmin(ctx context.Context, st store.Store, u store.User, change string) error {
	last, err := api.IsLastAdmin(ctx, st, u)
	if err != nil {
		return err
	}
	if last {
		return fmt.Errorf("%s is the last ADMIN: create another admin before you %s", u.Username, change)
	}
	return nil
}

func newUserDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "delete USERNAME",
		Short:             "Delete an API user (not the last ADMIN); its tokens stop working at once",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeUsers(),
		RunE: g.withApp(func(cmd *cobra.Command, args []string, ap *app.App) error {
			ctx := cmd.Context()
			u, err := getUser(ctx, ap.Store, args[0])
			if err != nil {
				return err
			}
			if err := checkNotLastAdmin(ctx, ap.Store, u, "delete this one"); err != nil {
				return err
			}
			if err := ap.Store.DeleteUser(ctx, u.Username); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return notFoundf("no user named %s: deleted meanwhile", u.Username)
				}
				return err
			}
			if err := auditUserChange(ctx, ap.Store, "user.delete", u.Username, auditedUser(u), nil); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "deleted %s (%s)\n", u.Username, u.Role)
			return nil
		}),
	}
}

func newUserSetPasswordCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "set-password USERNAME",
		Short: "Set an API user's password; the tokens issued before stop working",
		Long: "set-password sets a user's password without the current one, for an operator with\n" +
			"access to the database. The new password is asked for on a terminal, or read from the\n" +
			"first line of standard input, never from a flag. It must have\n" + passwordRule + ".",
		Example:           "  ottr user set-password alice < new-password",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeUsers(),
		RunE: g.withApp(func(cmd *cobra.Command, args []string, ap *app.App) error {
			ctx := cmd.Context()
			u, err := getUser(ctx, ap.Store, args[0])
			if err != nil {
				return err
			}
			password, err := readPassword(g)
			if err != nil {
				return err
			}
			if u.PasswordHash, err = api.HashPassword(password); err != nil {
				return err
			}
			if err := ap.Store.UpdateUser(ctx, u); err != nil {
				return err
			}
			after := auditedUser(u)
			after["password"] = "changed"
			if err := auditUserChange(ctx, ap.Store, "user.password", u.Username, auditedUser(u), after); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "set the password of %s; its earlier tokens no longer work\n", u.Username)
			return nil
		}),
	}
}

func newUserSetRoleCmd(g *globals) *cobra.Command {
	var role string
	cmd := &cobra.Command{
		Use:               "set-role USERNAME --role ADMIN|PRIVILEGED|DEVELOPER",
		Short:             "Change an API user's role (not the last ADMIN's); it applies to the next request",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeUsers(),
		RunE: g.withApp(func(cmd *cobra.Command, args []string, ap *app.App) error {
			ctx := cmd.Context()
			role, err := checkRole(cmd, role)
			if err != nil {
				return err
			}
			u, err := getUser(ctx, ap.Store, args[0])
			if err != nil {
				return err
			}
			if u.Role == role {
				fmt.Fprintf(g.stdout, "%s is %s already\n", u.Username, role)
				return nil
			}
			if role != store.RoleAdmin {
				if err := checkNotLastAdmin(ctx, ap.Store, u, "make it "+role); err != nil {
					return err
				}
			}
			before := auditedUser(u)
			u.Role = role
			if err := ap.Store.UpdateUser(ctx, u); err != nil {
				return err
			}
			if err := auditUserChange(ctx, ap.Store, "user.role", u.Username, before, auditedUser(u)); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%s is %s now (was %s)\n", u.Username, role, before["role"])
			return nil
		}),
	}
	addRoleFlag(cmd, &role, "the new role: ADMIN, PRIVILEGED or DEVELOPER")
	return cmd
}

// userRecord is an API user as `ottr user list` prints it: never its
// password hash.
type userRecord struct {
	Username  string    `json:"username"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func newUserListCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List API users and their roles",
		Args:  cobra.NoArgs,
	}
	out := addOutputFlag(cmd)
	cmd.RunE = g.withApp(func(cmd *cobra.Command, _ []string, ap *app.App) error {
		users, err := ap.Store.ListUsers(cmd.Context())
		if err != nil {
			return err
		}
		records := make([]userRecord, 0, len(users))
		for _, u := range users {
			records = append(records, userRecord{Username: u.Username, Role: u.Role, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt})
		}
		return out.print(g.stdout, records, func(w io.Writer) error {
			tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USERNAME\tROLE\tCREATED\tUPDATED")
			for _, u := range records {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Username, u.Role, u.CreatedAt.UTC().Format(time.RFC3339), u.UpdatedAt.UTC().Format(time.RFC3339))
			}
			return tw.Flush()
		})
	})
	return cmd
}
