package cli_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ottr-go/ottr/internal/cli"
	"github.com/ottr-go/ottr/internal/testenv/output"
)

// The messages a new user meets first: each says what is wrong, where,
// and what to do.

func TestServeOnAPortInUseNamesTheSettingThatChoseIt(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()

	cfg := workspace(t)
	withListen := filepath.Join(filepath.Dir(cfg), "listen.yaml")
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(withListen, append(data, []byte("api:\n  listen: "+addr+"\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"an address given with --listen", []string{"-c", cfg, "serve", "--listen", addr},
			[]string{addr + " is in use by another process", "choose another address with --listen"}},
		{"an address from the config", []string{"-c", withListen, "serve"},
			[]string{addr + " is in use by another process", "api.listen (" + withListen + ":", "or --listen"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := run(t, "", tt.args...)
			if code == 0 {
				t.Fatal("serve started on a port in use")
			}
			for _, want := range tt.want {
				if !strings.Contains(errOut, want) {
					t.Errorf("error lacks %q:\n%s", want, errOut)
				}
			}
		})
	}
}

// Every command refuses a log level it does not know before it starts
// anything, the long-running ones included.
func TestEveryCommandRefusesAnUnknownLogLevel(t *testing.T) {
	cfg := workspace(t)
	for _, command := range [][]string{{"serve"}, {"worker", "--queue", "dc1"}, {"lab", "--devices", "1"}, {"plan"}} {
		t.Run(command[0], func(t *testing.T) {
			out, errOut, code := run(t, "", append([]string{"-c", cfg, "--log-level", "verbose"}, command...)...)
			if code == 0 || !strings.Contains(errOut, `--log-level: "verbose" is not a log level: use debug, info, warn or error`) {
				t.Errorf("exit %d:\n%s%s", code, out, errOut)
			}
			if out != "" {
				t.Errorf("%s started before the flag was checked:\n%s", command[0], out)
			}
		})
	}
}

func TestABadlyIndentedConfigIsReportedAtItsLine(t *testing.T) {
	cfg := workspace(t)
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The workspace's last route's options, one space too far right:
	// the file's first block starts on line 1.
	lines := strings.Split(string(data), "\n")
	n := len(lines) - 1
	lines[n-1] = " " + lines[n-1]
	if err := os.WriteFile(cfg, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := run(t, "", "-c", cfg, "plan")
	if want := cfg + ":" + strconv.Itoa(n) + ": invalid YAML: mapping values are not allowed in this context: this line is indented 5 spaces and line " + strconv.Itoa(n-1) + " above it 4"; code == 0 || !strings.Contains(errOut, want) {
		t.Errorf("exit %d, want %q:\n%s", code, want, errOut)
	}
}

func TestRouteImportOfBrokenJSONGivesLineAndColumn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "route.json")
	if err := os.WriteFile(path, []byte("{\"platform\": {\n  \"panos\": {\"os\": {}}\n  \"f5\": {\"os\": {}}\n}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := run(t, "", "route", "import", path)
	if want := path + ": route: ottr route.json: line 3, column 3: invalid character"; code == 0 || !strings.Contains(errOut, want) {
		t.Errorf("exit %d, want %q:\n%s", code, want, errOut)
	}
}

func TestDNSDoctorNoWriteSaysTheWriteCheckWasSkipped(t *testing.T) {
	cfg := dnsWorkspace(t, false)
	out, errOut, _ := run(t, "", "-c", cfg, "dns", "doctor", "--no-write")
	if !strings.Contains(out, "the write check was skipped (--no-write)") || strings.Contains(out, "no DNS provider") {
		t.Errorf("doctor --no-write:\n%s%s", out, errOut)
	}
}

// docCommands returns every ottr command line of a Markdown page: the
// lines of its code blocks that run ottr (continuations joined) and its
// inline code that starts with "ottr ", each as its words after "ottr".
func docCommands(t *testing.T, page string) [][]string {
	t.Helper()
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	inBlock := false
	var pending string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inBlock = !inBlock
			continue
		}
		if !inBlock {
			for _, span := range inlineCode.FindAllStringSubmatch(line, -1) {
				lines = append(lines, span[1])
			}
			continue
		}
		if strings.HasSuffix(line, `\`) {
			pending += strings.TrimSuffix(line, `\`) + " "
			continue
		}
		lines = append(lines, pending+line)
		pending = ""
	}
	var out [][]string
	for _, line := range lines {
		line = strings.TrimSpace(line)
		rest, ok := strings.CutPrefix(line, "ottr ")
		if !ok {
			if rest, ok = strings.CutPrefix(line, "go run ./cmd/ottr "); !ok {
				continue
			}
		}
		out = append(out, shellWords(t, rest))
	}
	return out
}

var inlineCode = regexp.MustCompile("`([^`]+)`")

// shellWords splits a command line as sh would, up to a comment, pipe,
// redirection or command separator.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var word strings.Builder
	inWord := false
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			word.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case strings.ContainsRune("#|<>;&", r) && !inWord:
			return words
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		t.Fatalf("unclosed quote in %q", line)
	}
	if inWord {
		words = append(words, word.String())
	}
	return words
}

// Every ottr command the new pages show can be typed as it is: its
// subcommand exists, its flags too, and it gets the arguments it takes.
func TestTheDocsCommandsParse(t *testing.T) {
	for _, page := range []string{"first-real-device.md", "troubleshooting.md", "migrating-from-ottr.md"} {
		commands := docCommands(t, filepath.Join("..", "..", "docs", page))
		if len(commands) == 0 {
			t.Errorf("%s shows no ottr command", page)
		}
		for _, words := range commands {
			t.Run(page+": ottr "+strings.Join(words, " "), func(t *testing.T) {
				root := cli.NewRoot(strings.NewReader(""), io.Discard, io.Discard)
				cmd, rest, err := root.Find(words)
				if err != nil {
					t.Fatal(err)
				}
				cmd.InitDefaultHelpFlag()
				if err := cmd.ParseFlags(rest); err != nil {
					t.Fatalf("%s: %v", cmd.CommandPath(), err)
				}
				if help, _ := cmd.Flags().GetBool("help"); help {
					return
				}
				if !cmd.Runnable() {
					t.Fatalf("%q is not a command that runs by itself: name one of its subcommands", cmd.CommandPath())
				}
				if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
					t.Fatalf("%s: %v", cmd.CommandPath(), err)
				}
			})
		}
	}
}

// startLabHost runs `ottr lab --no-rotate` with two Linux hosts in a
// child process until the test ends, and returns its ottr.yaml: its CA,
// DNS server and hosts stay up, and its hosts are assets of its database.
func startLabHost(t *testing.T) string {
	t.Helper()
	needLabTools(t)
	dir := filepath.Join(t.TempDir(), "lab")
	cmd := childCommand(t, testBinary(t), "lab", "--no-rotate", "--devices", "2", "--data", dir)
	out := &output.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(2 * time.Minute); !strings.Contains(out.String(), "or look first"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the lab did not come up:\n%s", out.String())
		}
	}
	return filepath.Join(dir, "ottr.yaml")
}

// Each preflight failure a lab can be made to show, provoked for real:
// the rotation's output carries the message, and troubleshooting.md
// quotes it, so the page covers what ottr says.
func TestTroubleshootingCoversThePreflightErrors(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("..", "..", "docs", "troubleshooting.md"))
	if err != nil {
		t.Fatal(err)
	}
	// Markdown reads a line break as a space.
	page := strings.Join(strings.Fields(string(text)), " ")
	cfg := startLabHost(t)
	dir := filepath.Dir(cfg)
	labYAML, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	host := getAsset(t, cfg, "host-0001.lab.ottr.test")
	// The lab's hosts share one SSH port; known_hosts names it.
	known, err := os.ReadFile(filepath.Join(dir, "known_hosts"))
	if err != nil {
		t.Fatal(err)
	}
	sshAddr, _, ok := strings.Cut(string(known), " ")
	if !ok || !strings.HasPrefix(sshAddr, "["+host.IPAddress+"]:") {
		t.Fatalf("the lab's known_hosts does not start with host-0001's address:\n%s", known)
	}
	sshPort := strings.TrimPrefix(sshAddr, "["+host.IPAddress+"]:")

	// variant writes the lab's ottr.yaml with old replaced by new, and
	// returns its path.
	variant := func(t *testing.T, old, new string) string {
		t.Helper()
		if !strings.Contains(string(labYAML), old) {
			t.Fatalf("the lab's ottr.yaml has no %q", old)
		}
		path := filepath.Join(dir, strings.NewReplacer("/", "", " ", "", ":", "", "\"", "").Replace(t.Name())+".yaml")
		if err := os.WriteFile(path, []byte(strings.Replace(string(labYAML), old, new, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	writeFile := func(t *testing.T, name, text string) string {
		t.Helper()
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	addAsset := func(t *testing.T, args ...string) {
		t.Helper()
		mustRun(t, append([]string{"-c", cfg, "asset", "add", "--platform", "linux", "--ca", "lab"}, args...)...)
	}
	const userLine = "username: ottr"
	tests := []struct {
		name string
		// setup returns the config to rotate with, and the asset.
		setup func(t *testing.T) (config, asset string)
		// says are what the output and the page must both hold.
		says []string
	}{
		{"a name without its CNAME", func(t *testing.T) (string, string) {
			addAsset(t, "--system-name", "nocname.lab.ottr.test", "--common-name", "nocname.lab.ottr.test", "--ip", host.IPAddress)
			return cfg, "nocname.lab.ottr.test"
		}, []string{"DNS delegation: missing DNS record: _acme-challenge."}},
		{"a device nothing answers for", func(t *testing.T) (string, string) {
			// A port nothing listens on: the lab's shared SSH socket
			// would take a connection to any of its addresses and only
			// then drop it.
			return variant(t, "ssh_port: "+sshPort, "ssh_port: "+closedPort(t)), "host-0001.lab.ottr.test"
		}, []string{"connect: connection refused"}},
		{"credentials the config does not have", func(t *testing.T) (string, string) {
			addAsset(t, "--system-name", "nologin.lab.ottr.test", "--common-name", "host-0001.lab.ottr.test", "--ip", host.IPAddress, "--credentials", "nosuch")
			return cfg, "nologin.lab.ottr.test"
		}, []string{`credentials: no credentials named "`, `" in the config (credentials.`}},
		{"a host key not in known_hosts", func(t *testing.T) (string, string) {
			kh := writeFile(t, "known_hosts", "")
			return variant(t, "credentials:", "known_hosts_file: "+kh+"\ncredentials:"), "host-0001.lab.ottr.test"
		}, []string{"is unknown: it is not in", "refusing to connect"}},
		{"a host key that is not the one recorded", func(t *testing.T) (string, string) {
			kh := writeFile(t, "known_hosts", sshAddr+" "+otherHostKey(t))
			return variant(t, "credentials:", "known_hosts_file: "+kh+"\ncredentials:"), "host-0001.lab.ottr.test"
		}, []string{"does not match known_hosts", "this can be an attack"}},
		{"a login the device refuses", func(t *testing.T) (string, string) {
			return variant(t, userLine, "username: nobody"), "host-0001.lab.ottr.test"
		}, []string{"unable to authenticate"}},
		{"a secret file that is not there", func(t *testing.T) (string, string) {
			return variant(t, "private_key: file:"+filepath.Join(dir, "id_ed25519"), "private_key: file:"+filepath.Join(dir, "missing")), "host-0001.lab.ottr.test"
		}, []string{"secret: read secret file", "no such file or directory"}},
		{"a secret in an environment variable that is not set", func(t *testing.T) (string, string) {
			return variant(t, `tsig_secret: "file:`+filepath.Join(dir, "tsig.secret")+`"`, `tsig_secret: "env:OTTR_TEST_UNSET_TSIG_SECRET"`), "host-0001.lab.ottr.test"
		}, []string{"secret: environment variable", "is not set"}},
		{"an asset no route takes", func(t *testing.T) (string, string) {
			return variant(t, "match: {platform: linux}", `match: {platform: linux, os_version: "22.*"}`), "host-0001.lab.ottr.test"
		}, []string{"no route matches"}},
		{"a CA that cannot be reached", func(t *testing.T) (string, string) {
			return variant(t, `directory: "https://`, `directory: "https://127.0.0.1:1/dir" # was `), "host-0001.lab.ottr.test"
		}, []string{"get directory at", "connection refused"}},
		{"a roots_file without a certificate", func(t *testing.T) (string, string) {
			return variant(t, `roots_file: "`+filepath.Join(dir, "ca-roots.pem")+`"`, `roots_file: "`+writeFile(t, "empty.pem", "")+`"`), "host-0001.lab.ottr.test"
		}, []string{"holds no PEM certificate"}},
		{"roots that do not vouch for the CA", func(t *testing.T) (string, string) {
			return variant(t, `roots_file: "`+filepath.Join(dir, "ca-roots.pem")+`"`, `roots_file: "`+writeFile(t, "other.pem", otherRoot(t))+`"`), "host-0001.lab.ottr.test"
		}, []string{"x509: certificate signed by unknown authority"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			config, name := tt.setup(t)
			out, errOut, code := run(t, "", "-c", config, "rotate", name, "--force")
			if code == 0 {
				t.Fatalf("the rotation succeeded:\n%s", out)
			}
			for _, says := range tt.says {
				if !strings.Contains(out+errOut, says) {
					t.Errorf("the rotation does not say %q:\n%s%s", says, out, errOut)
				}
				if !strings.Contains(page, says) {
					t.Errorf("troubleshooting.md does not quote %q", says)
				}
			}
		})
	}
}

// otherHostKey is an SSH public key no lab host has, in known_hosts form.
func otherHostKey(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(ssh.MarshalAuthorizedKey(key))
}

// otherRoot is a PEM root certificate that signed nothing the lab serves.
func otherRoot(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "not the lab's CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// closedPort returns a loopback port nothing listens on, for a while.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}
