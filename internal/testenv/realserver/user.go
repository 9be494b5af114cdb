package realserver

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
)

// DefaultUserName is the system account DedicatedUser creates when the
// tests run as root.
const DefaultUserName = "ottr-e2e"

// User is the unprivileged account the servers run as, own their files as,
// and that SSH clients log in as.
type User struct {
	Name     string
	UID, GID int
	Home     string
}

// asRoot reports whether this process may switch to other accounts.
func asRoot() bool { return os.Geteuid() == 0 }

// switchTo reports whether starting a process as u means switching account.
func (u User) switchTo() bool { return asRoot() && u.UID != 0 }

// chown gives path to u; a no-op unless the process is root (otherwise the
// file already belongs to the current user, which is u).
func (u User) chown(path string) error {
	if !asRoot() {
		return nil
	}
	if err := os.Lchown(path, u.UID, u.GID); err != nil {
		return fmt.Errorf("realserver: give %s to %s: %w", path, u.Name, err)
	}
	return nil
}

// DedicatedUser returns the account the servers use. Running as root, it is
// the system account name (DefaultUserName when empty), created with
// "useradd -m -s /bin/sh" when missing, with a password that matches
// nothing but does not lock the account: sshd refuses even key logins to a
// locked one. Running as anyone else, it is the current user, whatever
// name says.
func DedicatedUser(ctx context.Context, name string) (User, error) {
	if !asRoot() {
		u, err := user.Current()
		if err != nil {
			return User{}, fmt.Errorf("realserver: current user: %w", err)
		}
		return fromOS(u)
	}
	if name == "" {
		name = DefaultUserName
	}
	if err := checkWord("user name", name); err != nil {
		return User{}, err
	}
	if _, err := user.Lookup(name); err != nil {
		useradd, lookErr := lookProgram("useradd", "passwd")
		if lookErr != nil {
			return User{}, lookErr
		}
		out, addErr := exec.CommandContext(ctx, useradd, "-m", "-s", "/bin/sh", "-p", "*", "-c", "ottr end-to-end tests", name).CombinedOutput()
		// Another test binary may have created it at the same moment;
		// what counts is that it exists now.
		if _, err := user.Lookup(name); err != nil {
			return User{}, fmt.Errorf("realserver: useradd %s: %v: %s", name, addErr, strings.TrimSpace(string(out)))
		}
	}
	if err := unlock(ctx, name); err != nil {
		return User{}, err
	}
	u, err := user.Lookup(name)
	if err != nil {
		return User{}, fmt.Errorf("realserver: user %s: %w", name, err)
	}
	return fromOS(u)
}

// unlock replaces a locked password ("!…", useradd's default) with "*",
// which no password matches but which sshd does not treat as a lock.
func unlock(ctx context.Context, name string) error {
	shadow, err := os.ReadFile("/etc/shadow")
	if err != nil {
		return nil // no shadow file: nothing locks the account there
	}
	for _, line := range strings.Split(string(shadow), "\n") {
		fields := strings.SplitN(line, ":", 3)
		if len(fields) < 2 || fields[0] != name || !strings.HasPrefix(fields[1], "!") {
			continue
		}
		usermod, err := lookProgram("usermod", "passwd")
		if err != nil {
			return err
		}
		if out, err := exec.CommandContext(ctx, usermod, "-p", "*", name).CombinedOutput(); err != nil {
			return fmt.Errorf("realserver: unlock %s for key logins: %v: %s", name, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

func fromOS(u *user.User) (User, error) {
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return User{}, fmt.Errorf("realserver: user %s: uid %q: %w", u.Username, u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return User{}, fmt.Errorf("realserver: user %s: gid %q: %w", u.Username, u.Gid, err)
	}
	return User{Name: u.Username, UID: uid, GID: gid, Home: u.HomeDir}, nil
}

// orDefault returns u, or the dedicated account when u is the zero value.
func (u User) orDefault(ctx context.Context) (User, error) {
	if u.Name != "" {
		return u, nil
	}
	return DedicatedUser(ctx, "")
}
