package linuxlab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// The in-process shell (Config.InProcessShell) runs a command's script with
// a POSIX shell interpreter inside the ottr process instead of /bin/sh. The
// file utilities drivers use to move certificate files around (cp, mv, rm,
// mkdir, chmod with an octal mode) are built into it, with the behaviour
// and messages of GNU coreutils for the options drivers pass, and so is
// openssl's key-and-CSR command (openssl.go); every other program runs as
// a real process in the host's directory. A fleet of thousands of hosts on
// one machine then spends its CPU on keys, not on starting programs.

// umaskCommand is what the interpreter calls for "umask": its own umask
// builtin is not implemented, so the call is renamed to reach execHandler.
const umaskCommand = "ottr-lab-umask"

// killTimeout is how long a program gets to exit after an interrupt when
// its command is cancelled.
const killTimeout = 2 * time.Second

// processUmask is the ottr process's umask, which files created by the
// interpreter get on top of the script's own.
var processUmask = sync.OnceValue(func() os.FileMode {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0o022
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "Umask:"); ok {
			if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
				return os.FileMode(m)
			}
		}
	}
	return 0o022
})

// shellRun is one script's run: the interpreter and the script's umask.
type shellRun struct {
	umask os.FileMode
	exec  interp.ExecHandlerFunc
	host  *Host
	// inputs are the script's inputs read ahead of the interpreter
	// (stdin.go).
	inputs inputs
}

// runInProcess runs script with the in-process shell in the host's
// directory and returns its exit status.
func (h *Host) runInProcess(ctx context.Context, script string, stdin io.Reader, stdout, stderr io.Writer) int {
	file, err := syntax.NewParser(syntax.Variant(syntax.LangPOSIX)).Parse(strings.NewReader(script), "")
	if err != nil {
		fmt.Fprintf(stderr, "sh: %v\n", err)
		return 2
	}
	run := &shellRun{umask: 0o022, exec: interp.DefaultExecHandler(killTimeout), host: h}
	in, err := run.inputs.session(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "sh: %v\n", err)
		return 2
	}
	defer in.close()
	r, err := interp.New(
		interp.Dir(h.cfg.Dir),
		interp.Env(expand.ListEnviron(h.commandEnv()...)),
		interp.StdIO(in.file, stdout, stderr),
		interp.CallHandler(run.call),
		interp.ExecHandlers(run.middleware),
		interp.OpenHandler(run.open),
		interp.ReadDirHandler2(h.readDir),
	)
	if err != nil {
		fmt.Fprintf(stderr, "sh: %v\n", err)
		return 2
	}
	err = r.Run(ctx, file)
	var status interp.ExitStatus
	switch {
	case err == nil:
		return 0
	case errors.As(err, &status):
		return int(status)
	case ctx.Err() != nil:
		return 137
	default:
		fmt.Fprintf(stderr, "sh: %v\n", err)
		return 2
	}
}

// readDir lists a directory for the interpreter's globs. The interpreter
// lists every directory on a pattern's path, root first, only to learn that
// it exists; the host's own directory sits below one that holds every
// host of the fleet, so each glob would sort thousands of names. The
// directories above the host's are only checked, never listed: a host's
// files are those in its own directory.
func (h *Host) readDir(_ context.Context, dir string) ([]fs.DirEntry, error) {
	dir, own := filepath.Clean(dir), filepath.Clean(h.cfg.Dir)
	if dir != own && strings.HasPrefix(own, strings.TrimSuffix(dir, string(filepath.Separator))+string(filepath.Separator)) {
		fi, err := os.Stat(dir)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			return nil, &fs.PathError{Op: "readdirent", Path: dir, Err: syscall.ENOTDIR}
		}
		return nil, nil
	}
	return os.ReadDir(dir)
}

// call renames the umask builtin, which the interpreter lacks, and
// answers "read -r NAME" from input read ahead (stdin.go). A script's own
// function named read is not looked for: no script drivers send defines
// one.
func (s *shellRun) call(ctx context.Context, args []string) ([]string, error) {
	switch args[0] {
	case "umask":
		args = append([]string{umaskCommand}, args[1:]...)
	case "read", "mapfile", "readarray":
		if call, ok := s.inputs.readCall(ctx, args); ok {
			return call, nil
		}
		s.inputs.giveBack(interp.HandlerCtx(ctx).Stdin)
	}
	return args, nil
}

// open applies the script's umask to files its redirections create.
func (s *shellRun) open(ctx context.Context, path string, flag int, perm os.FileMode) (io.ReadWriteCloser, error) {
	hc := interp.HandlerCtx(ctx)
	if path != "" && !filepath.IsAbs(path) {
		path = filepath.Join(hc.Dir, path)
	}
	f, err := os.OpenFile(path, flag, perm&^s.umask)
	if err == nil && flag == os.O_RDONLY {
		s.inputs.file(f)
	}
	return f, err
}

// middleware runs the built-in utilities and hands everything else to the
// real program.
func (s *shellRun) middleware(next interp.ExecHandlerFunc) interp.ExecHandlerFunc {
	return func(ctx context.Context, args []string) error {
		hc := interp.HandlerCtx(ctx)
		u := utility{dir: hc.Dir, umask: s.umask, stderr: hc.Stderr, name: args[0]}
		switch args[0] {
		case umaskCommand:
			return s.setUmask(hc, args[1:])
		case "cp":
			return u.status(u.cp(args[1:]))
		case "mv":
			return u.status(u.mv(args[1:]))
		case "rm":
			return u.status(u.rm(args[1:]))
		case "mkdir":
			return u.status(u.mkdir(args[1:]))
		case "chmod":
			if handled, err := u.chmod(args[1:]); handled {
				return u.status(err)
			}
		case "openssl":
			if req, ok := parseOpenSSLRequest(args[1:]); ok && !s.host.cfg.OpenSSLProcesses {
				s.host.keysInProcess.Add(1)
				return u.status(u.opensslReq(req, hc.Stdout))
			}
		}
		if s.umask != processUmask() {
			// A program inherits the ottr process's umask, which a
			// script cannot change; a shell sets the script's first.
			args = append([]string{"/bin/sh", "-c", fmt.Sprintf(`umask %03o && exec "$0" "$@"`, s.umask)}, args...)
		}
		// The program may read the script's input: from where read left it.
		s.inputs.giveBack(hc.Stdin)
		return next(ctx, args)
	}
}

func (s *shellRun) setUmask(hc interp.HandlerContext, args []string) error {
	if len(args) == 0 {
		fmt.Fprintf(hc.Stdout, "%04o\n", s.umask)
		return nil
	}
	m, err := strconv.ParseUint(args[0], 8, 32)
	if err != nil || m > 0o777 || len(args) > 1 {
		fmt.Fprintf(hc.Stderr, "sh: umask: invalid mode %q (this host takes an octal mask)\n", strings.Join(args, " "))
		return interp.NewExitStatus(2)
	}
	s.umask = os.FileMode(m)
	return nil
}

// utility is one run of a built-in file utility.
type utility struct {
	name   string
	dir    string
	umask  os.FileMode
	stderr io.Writer
}

// errReported is a failure whose message the utility has printed.
var errReported = errors.New("reported")

// status turns a utility's error into its exit status.
func (u utility) status(err error) error {
	if err == nil {
		return nil
	}
	if !errors.Is(err, errReported) {
		fmt.Fprintf(u.stderr, "%s: %v\n", u.name, err)
	}
	return interp.NewExitStatus(1)
}

// failf prints a coreutils-style message and returns errReported.
func (u utility) failf(format string, args ...any) error {
	fmt.Fprintf(u.stderr, u.name+": "+format+"\n", args...)
	return errReported
}

// abs resolves p against the script's directory.
func (u utility) abs(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(u.dir, p)
}

// parse splits args into the flags in allowed (single letters, possibly
// combined as in -pf) and operands; "--" ends the flags.
func (u utility) parse(args []string, allowed string) (flags map[byte]bool, operands []string, err error) {
	flags = map[byte]bool{}
	for i, a := range args {
		if a == "--" {
			return flags, append(operands, args[i+1:]...), nil
		}
		if len(a) < 2 || a[0] != '-' {
			operands = append(operands, a)
			continue
		}
		for j := 1; j < len(a); j++ {
			if !strings.ContainsRune(allowed, rune(a[j])) {
				return nil, nil, u.failf("invalid option -- '%c' (this emulated host's %s takes -%s)", a[j], u.name, allowed)
			}
			flags[a[j]] = true
		}
	}
	return flags, operands, nil
}

// target is where a copy or move of src to dst lands: into dst when it is
// a directory.
func (u utility) target(src, dst string) string {
	if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
		return filepath.Join(dst, filepath.Base(src))
	}
	return dst
}

// describe renders a file system error as coreutils does.
func describe(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s := errno.Error()
		return strings.ToUpper(s[:1]) + s[1:]
	}
	return err.Error()
}

func (u utility) cp(args []string) error {
	flags, ops, err := u.parse(args, "pf")
	if err != nil {
		return err
	}
	if len(ops) != 2 {
		return u.failf("this emulated host copies one file at a time: cp [-pf] [--] SOURCE DEST")
	}
	src, dst := u.abs(ops[0]), u.target(u.abs(ops[0]), u.abs(ops[1]))
	in, err := os.Open(src)
	if err != nil {
		return u.failf("cannot stat '%s': %s", ops[0], describe(err))
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return u.failf("cannot stat '%s': %s", ops[0], describe(err))
	}
	if fi.IsDir() {
		return u.failf("-r not specified; omitting directory '%s'", ops[0])
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fi.Mode().Perm()&^u.umask)
	if err != nil {
		return u.failf("cannot create regular file '%s': %s", ops[1], describe(err))
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return u.failf("error writing '%s': %s", ops[1], describe(err))
	}
	if err := out.Close(); err != nil {
		return u.failf("error writing '%s': %s", ops[1], describe(err))
	}
	if !flags['p'] {
		return nil
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		// Like cp -p, keep the owner where allowed and carry on where
		// not (an unprivileged user cannot give files away).
		_ = os.Lchown(dst, int(st.Uid), int(st.Gid))
	}
	if err := os.Chmod(dst, fi.Mode().Perm()); err != nil {
		return u.failf("preserving permissions for '%s': %s", ops[1], describe(err))
	}
	return os.Chtimes(dst, fi.ModTime(), fi.ModTime())
}

func (u utility) mv(args []string) error {
	_, ops, err := u.parse(args, "f")
	if err != nil {
		return err
	}
	if len(ops) != 2 {
		return u.failf("this emulated host moves one file at a time: mv [-f] [--] SOURCE DEST")
	}
	src := u.abs(ops[0])
	if err := os.Rename(src, u.target(src, u.abs(ops[1]))); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return u.failf("cannot stat '%s': %s", ops[0], describe(err))
		}
		return u.failf("cannot move '%s' to '%s': %s", ops[0], ops[1], describe(err))
	}
	return nil
}

func (u utility) rm(args []string) error {
	flags, ops, err := u.parse(args, "f")
	if err != nil {
		return err
	}
	var failed bool
	for _, op := range ops {
		err := os.Remove(u.abs(op))
		switch {
		case err == nil, flags['f'] && errors.Is(err, fs.ErrNotExist):
		default:
			failed = true
			u.failf("cannot remove '%s': %s", op, describe(err))
		}
	}
	if failed {
		return errReported
	}
	return nil
}

func (u utility) mkdir(args []string) error {
	flags, ops, err := u.parse(args, "p")
	if err != nil {
		return err
	}
	perm := os.FileMode(0o777) &^ u.umask
	for _, op := range ops {
		if flags['p'] {
			err = os.MkdirAll(u.abs(op), perm)
		} else {
			err = os.Mkdir(u.abs(op), perm)
		}
		if err != nil {
			return u.failf("cannot create directory '%s': %s", op, describe(err))
		}
	}
	return nil
}

// chmod handles an octal permission mode; handled is false for any other
// form, which the real chmod then runs.
func (u utility) chmod(args []string) (handled bool, err error) {
	if len(args) < 2 {
		return false, nil
	}
	m, perr := strconv.ParseUint(args[0], 8, 32)
	if perr != nil || m > 0o777 {
		// Symbolic modes and set-id bits: the real chmod knows them.
		return false, nil
	}
	for _, op := range args[1:] {
		if strings.HasPrefix(op, "-") {
			return false, nil
		}
	}
	for _, op := range args[1:] {
		if err := os.Chmod(u.abs(op), os.FileMode(m)); err != nil {
			return true, u.failf("cannot access '%s': %s", op, describe(err))
		}
	}
	return true, nil
}
