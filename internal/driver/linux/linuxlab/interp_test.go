package linuxlab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInProcessShellBehavesLikeAHostShell runs the same scripts on a host
// with /bin/sh and on one with the in-process shell, and checks both give
// the outcome a real host would.
func TestInProcessShellBehavesLikeAHostShell(t *testing.T) {
	tests := []struct {
		name   string
		script string
		stdin  string
		// check inspects the host's directory after the script.
		check      func(t *testing.T, dir string)
		wantStatus int
		wantStdout string
		// wantStderr is text the error output must contain.
		wantStderr string
		// inProcessOnly: a real host's utilities take more options.
		inProcessOnly bool
	}{
		{
			name:       "cp -p keeps the mode of the file it copies",
			script:     "umask 022; printf secret > k; chmod 640 k; cp -p -- k k.bak; cp k k.plain",
			check:      wantModes(map[string]os.FileMode{"k.bak": 0o640, "k.plain": 0o640}),
			wantStdout: "",
		},
		{
			name:   "umask 077 makes files, directories and openssl's key private",
			script: "umask 077\nmkdir -p d/e\nprintf x > f\nopenssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key.pem 2>/dev/null",
			check:  wantModes(map[string]os.FileMode{"d": 0o700, "d/e": 0o700, "f": 0o600, "key.pem": 0o600}),
		},
		{
			name:       "umask without an argument prints the mask",
			script:     "umask 027; umask",
			wantStdout: "0027\n",
		},
		{
			name:   "mv renames over an existing file and into a directory",
			script: "printf new > a.tmp; printf old > a; mv -f -- a.tmp a; mkdir d; mv a d",
			check: func(t *testing.T, dir string) {
				if b, err := os.ReadFile(filepath.Join(dir, "d", "a")); err != nil || string(b) != "new" {
					t.Errorf("d/a = %q, %v; want new", b, err)
				}
				if _, err := os.Stat(filepath.Join(dir, "a.tmp")); !os.IsNotExist(err) {
					t.Errorf("a.tmp still exists: %v", err)
				}
			},
		},
		{
			name:       "rm -f ignores a missing file, rm does not",
			script:     "rm -f -- missing && echo ok; rm missing",
			wantStatus: 1,
			wantStdout: "ok\n",
			wantStderr: "rm: cannot remove 'missing': No such file or directory",
		},
		{
			name:       "set -e stops at a failing copy",
			script:     "set -e\ncp -- nothing here\necho not reached",
			wantStatus: 1,
			wantStderr: "cp: cannot stat 'nothing': No such file or directory",
		},
		{
			name:          "an option the host's utilities do not take is an error",
			script:        "printf x > f; cp -r f g",
			wantStatus:    1,
			wantStderr:    "cp: invalid option -- 'r'",
			inProcessOnly: true,
		},
		{
			name:       "standard input reaches read and the exit status is the script's",
			script:     "read -r line; printf '%s\\n' \"$line\" > got; exit 4",
			stdin:      "first line\nsecond\n",
			wantStatus: 4,
			check: func(t *testing.T, dir string) {
				if b, _ := os.ReadFile(filepath.Join(dir, "got")); string(b) != "first line\n" {
					t.Errorf("got = %q", b)
				}
			},
		},
		{
			name:       "read splits on IFS, IFS= keeps the line whole, and a program reads on from there",
			script:     "read -r a; IFS= read -r b; cat > rest; printf '[%s][%s]\\n' \"$a\" \"$b\"",
			stdin:      "  one  \n  two  \nthree\nfour",
			wantStdout: "[one][  two  ]\n",
			check: func(t *testing.T, dir string) {
				if b, _ := os.ReadFile(filepath.Join(dir, "rest")); string(b) != "three\nfour" {
					t.Errorf("rest = %q", b)
				}
			},
		},
		{
			// read is a regular builtin: IFS= before it lasts for that
			// call alone, and later words split as before.
			name:       "IFS= before read -r does not stay set after it",
			script:     "IFS= read -r a; x='p q r'; set -- $x; echo \"$# [$a]\"",
			stdin:      "one two\n",
			wantStdout: "3 [one two]\n",
		},
		{
			name:       "read fails on a last line without a newline, having set the variable",
			script:     "while IFS= read -r l; do printf '[%s]\\n' \"$l\"; done; echo \"last [$l]\"; read -r l || echo \"at the end [$l]\"",
			stdin:      "a\n\nit's \"$x\" `y` \\n\nb",
			wantStdout: "[a]\n[]\n[it's \"$x\" `y` \\n]\nlast [b]\nat the end []\n",
		},
		{
			name:       "another form of read takes the input where read -r left it, and read -r after it",
			script:     "read -r a; read b c; read -r d; printf '[%s][%s][%s][%s]\\n' \"$a\" \"$b\" \"$c\" \"$d\"",
			stdin:      "1\n2 3 4\n5\n6\n",
			wantStdout: "[1][2][3 4][5]\n",
		},
		{
			name:       "a file redirected into a group is read on by a program where read left it",
			script:     "printf 'k1\\nk2\\nk3\\n' > f; { read -r x; head -c 3; read -r y; read -r z || echo end; } < f; printf '%s %s\\n' \"$x\" \"$y\"",
			wantStdout: "k2\nend\nk1 k3\n",
		},
		{
			name:       "a function reads the input line by line up to a marker and leaves the rest",
			script:     "up() { while IFS= read -r line; do if [ \"$line\" = END ]; then return 0; fi; printf '%s\\n' \"$line\"; done; return 1; }\nup > a && up > b; echo $?; read -r tail; echo \"tail [$tail]\"",
			stdin:      "a1\na2\nEND\nb1\n",
			wantStdout: "1\ntail []\n",
			check: func(t *testing.T, dir string) {
				a, _ := os.ReadFile(filepath.Join(dir, "a"))
				b, _ := os.ReadFile(filepath.Join(dir, "b"))
				if string(a) != "a1\na2\n" || string(b) != "b1\n" {
					t.Errorf("a = %q, b = %q", a, b)
				}
			},
		},
		{
			// The driver's backup pruning globs the certificate's directory.
			name:       "a glob through the path prefix lists the host's own files",
			script:     "printf a > .c-2; printf b > .c-1; mkdir d; for f in /ottr-lab/.c-* /ottr-lab/d/* /ottr-lab/missing/*; do echo \"${f##*/}\"; done",
			wantStdout: ".c-1\n.c-2\n*\n*\n",
		},
		{
			name:       "a syntax error is reported, not run",
			script:     "if then",
			wantStatus: 2,
			wantStderr: "sh:",
		},
	}
	for _, shell := range []struct {
		name      string
		inProcess bool
	}{{"/bin/sh", false}, {"in-process shell", true}} {
		for _, tt := range tests {
			if tt.inProcessOnly && !shell.inProcess {
				continue
			}
			t.Run(shell.name+": "+tt.name, func(t *testing.T) {
				h, signer := testHost(t, Config{InProcessShell: shell.inProcess})
				var stdin []byte
				if tt.stdin != "" {
					stdin = []byte(tt.stdin)
				}
				res := run(t, h, signer, "sh -c "+quote(tt.script), stdin)
				if res.status != tt.wantStatus || res.stdout != tt.wantStdout {
					t.Errorf("status %d, stdout %q (stderr %q); want %d, %q", res.status, res.stdout, res.stderr, tt.wantStatus, tt.wantStdout)
				}
				if tt.wantStderr != "" && !strings.Contains(res.stderr, tt.wantStderr) {
					t.Errorf("stderr %q does not contain %q", res.stderr, tt.wantStderr)
				}
				if tt.check != nil {
					tt.check(t, h.cfg.Dir)
				}
			})
		}
	}
}

func TestInProcessShellRunsOtherProgramsForReal(t *testing.T) {
	h, signer := testHost(t, Config{InProcessShell: true})
	res := run(t, h, signer, `sh -c 'mkdir -p x && cp /dev/null x/y && openssl version'`, nil)
	if res.status != 0 || !strings.Contains(res.stdout, "OpenSSL") {
		t.Errorf("got %+v, want openssl's version", res)
	}
}

func wantModes(want map[string]os.FileMode) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		t.Helper()
		for name, mode := range want {
			info, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if info.Mode().Perm() != mode {
				t.Errorf("%s has mode %04o, want %04o", name, info.Mode().Perm(), mode)
			}
		}
	}
}

// quote single-quotes s as the drivers do.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func TestInProcessOpenSSLTakesOnlyTheKeyAndCSRForm(t *testing.T) {
	const newEC = "req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:named_curve -nodes -keyout k.pem"
	for _, tc := range []struct {
		args    string
		builtin bool
	}{
		{newEC + " -sha256 -subj /CN=a.example -addext subjectAltName=DNS:a.example,DNS:b.example -pubkey", true},
		{"req -new -newkey rsa:3072 -nodes -keyout k.pem -subj /CN=a.example", true},
		{newEC + " -subj /CN=a.example/O=Example", false},                          // more subject attributes
		{newEC + " -subj /CN=a.example -addext subjectAltName=IP:10.0.0.1", false}, // not a DNS name
		{newEC + " -subj /CN=a.example -out req.pem", false},                       // an option not listed
		{"req -new -newkey rsa:1024 -nodes -keyout k.pem -subj /CN=a.example", false},
		{"req -new -newkey ec -nodes -keyout k.pem -subj /CN=a.example", false},                           // no curve
		{"req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout k.pem -subj /CN=a.example", false}, // encrypted key
		{"pkey -pubout -in k.pem", false},
	} {
		_, ok := parseOpenSSLRequest(strings.Fields(tc.args))
		if ok != tc.builtin {
			t.Errorf("openssl %s: made in process %v, want %v", tc.args, ok, tc.builtin)
		}
	}
}

func TestInProcessShellRunsOpenSSLForOtherForms(t *testing.T) {
	h, signer := testHost(t, Config{InProcessShell: true})
	res := run(t, h, signer, `sh -c 'openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem -subj /CN=a.example/O=Example 2>/dev/null'`, nil)
	if res.status != 0 || !strings.Contains(res.stdout, "BEGIN CERTIFICATE REQUEST") {
		t.Fatalf("got %+v, want a CSR", res)
	}
	if n := h.KeysMadeInProcess(); n != 0 {
		t.Errorf("the shell made %d keys itself for a subject it does not parse; openssl should have", n)
	}
	if info, err := os.Stat(filepath.Join(h.cfg.Dir, "k.pem")); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, %v; want mode 0600", info, err)
	}
}
