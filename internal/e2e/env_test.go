package e2e_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/dnsdelegate"
	"github.com/ottr-go/ottr/internal/lab/pebble"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/testenv"
	"github.com/ottr-go/ottr/internal/testenv/realserver"
)

// Names of the test's zones, CA profile and hosts. Every host is an
// asset on 127.0.0.1; each test has hosts of its own so no test sees
// another's certificate.
const (
	deviceZone   = "e2e.ottr.test"
	delegateZone = "acme.ottr.test"
	tsigKeyName  = "ottr-e2e."
	caName       = "pebble"

	nginxHost    = "www." + deviceZone      // rotated through nginx
	rollbackHost = "rollback." + deviceZone // nginx, with a reload that refuses the new certificate
	pinnedHost   = "pinned." + deviceZone   // nginx, reached with a wrong known_hosts entry
	haproxyHost  = "lb." + deviceZone       // rotated through HAProxy

	// vhostCount vhosts of one nginx, vhost<N>.<deviceZone>, share one
	// templated route. Ten stay within sshd's default MaxStartups, which
	// drops unauthenticated connections beyond ten.
	vhostCount = 10
)

// vhostHosts are the names of the vhosts that share one route.
func vhostHosts() []string {
	hosts := make([]string, vhostCount)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("vhost%d.%s", i+1, deviceZone)
	}
	return hosts
}

// env holds the servers every test shares. They start once per test
// binary: Pebble cannot start twice in a process, and the others cost a
// second or so each.
type env struct {
	dir   string
	user  realserver.User
	bind  *realserver.BIND
	ca    *pebble.CA
	sshd  *realserver.SSHD
	nginx *realserver.Nginx
	// vhosts is an nginx serving vhostHosts, each from a bundle of key
	// and certificate.
	vhosts     *realserver.Nginx
	haproxy    *realserver.HAProxy
	tsigSecret string
	tsigFile   string
	rootsFile  string
	// roots are the CA's issuance roots, which served chains must verify to.
	roots *x509.CertPool
}

// shared is the environment TestMain started, or why it could not.
type shared struct {
	env *env
	err error
}

// theEnv is set once by TestMain before any test runs and only read after.
var theEnv shared

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		// Every test skips in need; starting the servers would only cost.
		os.Exit(m.Run())
	}
	e, err := startEnv(context.Background())
	theEnv = shared{env: e, err: err}
	code := m.Run()
	if e != nil {
		e.close()
	}
	os.Exit(code)
}

// need returns the shared environment, failing the test (never skipping
// it) when the servers could not be started. Under go test -short it skips
// the test: the environment is the real-servers tier.
func need(t *testing.T) *env {
	t.Helper()
	testenv.SkipInShort(t, testenv.RealServers)
	if theEnv.err != nil {
		t.Fatalf("the end-to-end environment did not start: %v", theEnv.err)
	}
	return theEnv.env
}

func startEnv(ctx context.Context) (e *env, err error) {
	e = &env{}
	defer func() {
		if err != nil {
			e.close()
			e = nil
		}
	}()
	if e.dir, err = os.MkdirTemp("", "ottr-e2e-"); err != nil {
		return e, err
	}
	if e.user, err = realserver.DedicatedUser(ctx, realserver.DefaultUserName); err != nil {
		return e, err
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return e, err
	}
	e.tsigSecret = base64.StdEncoding.EncodeToString(secret)

	// The device zone holds the hosts and the _acme-challenge CNAMEs an
	// operator would add (ottr's own mapping says which); only the
	// delegate zone takes updates, and only signed with the TSIG key.
	delegations, err := dnsdelegate.New(map[string]string{deviceZone: delegateZone})
	if err != nil {
		return e, err
	}
	var records []string
	hosts := append([]string{nginxHost, rollbackHost, pinnedHost, haproxyHost}, vhostHosts()...)
	for _, host := range append(hosts, waveHosts()...) {
		rec, err := delegations.Record(host)
		if err != nil {
			return e, err
		}
		records = append(records, host+". 60 IN A 127.0.0.1", rec.ZoneLine())
	}
	if e.bind, err = realserver.StartBIND(ctx, realserver.BINDConfig{
		User: e.user,
		Zones: []realserver.Zone{
			{Name: deviceZone, Records: records},
			{Name: delegateZone, UpdateKey: tsigKeyName},
		},
		Keys: []realserver.TSIGKey{{Name: tsigKeyName, Algorithm: "hmac-sha256", Secret: e.tsigSecret}},
	}); err != nil {
		return e, err
	}
	if e.ca, err = pebble.Start(ctx, pebble.Config{DNSResolver: e.bind.Addr}); err != nil {
		return e, err
	}
	if e.sshd, err = realserver.StartSSHD(ctx, realserver.SSHDConfig{User: e.user}); err != nil {
		return e, err
	}
	if e.nginx, err = realserver.StartNginx(ctx, realserver.NginxConfig{User: e.user, Sites: []string{nginxHost, rollbackHost, pinnedHost}}); err != nil {
		return e, err
	}
	if e.vhosts, err = realserver.StartNginx(ctx, realserver.NginxConfig{User: e.user, Sites: vhostHosts(), Bundle: true}); err != nil {
		return e, err
	}
	if e.haproxy, err = realserver.StartHAProxy(ctx, realserver.HAProxyConfig{User: e.user, Name: haproxyHost}); err != nil {
		return e, err
	}
	return e, e.writeTrust(ctx)
}

// writeTrust writes what ottr trusts for the CA (the ACME server's TLS
// root and the issuance roots) and the TSIG secret, as an operator would.
func (e *env) writeTrust(ctx context.Context) error {
	issuance, err := e.ca.IssuanceRootsPEM(ctx)
	if err != nil {
		return err
	}
	e.roots = x509.NewCertPool()
	if !e.roots.AppendCertsFromPEM(issuance) {
		return errors.New("the CA has no issuance roots")
	}
	e.rootsFile = filepath.Join(e.dir, "ca-roots.pem")
	if err := os.WriteFile(e.rootsFile, append(e.ca.TLSRootPEM(), issuance...), 0o644); err != nil {
		return err
	}
	e.tsigFile = filepath.Join(e.dir, "tsig.secret")
	return os.WriteFile(e.tsigFile, []byte(e.tsigSecret+"\n"), 0o600)
}

func (e *env) close() {
	if e.haproxy != nil {
		_ = e.haproxy.Close()
	}
	if e.vhosts != nil {
		_ = e.vhosts.Close()
	}
	if e.nginx != nil {
		_ = e.nginx.Close()
	}
	if e.sshd != nil {
		_ = e.sshd.Close()
	}
	if e.ca != nil {
		_ = e.ca.Close()
	}
	if e.bind != nil {
		_ = e.bind.Close()
	}
	if e.dir != "" {
		_ = os.RemoveAll(e.dir)
	}
}

// linuxRoute is the Linux driver's options for one host, and where the
// app keeps its data and its database (default: a directory of its own,
// with a SQLite file).
type linuxRoute struct {
	certPath, keyPath, reloadCommand string
	dataDir, database                string
}

// newApp writes an ottr.yaml for the environment with one route, loads it
// through the parser an operator's file goes through, assembles ottr on a
// fresh database and adds host as an asset served on port.
func (e *env) newApp(t *testing.T, knownHostsFile string, r linuxRoute, host string, port int) *app.App {
	t.Helper()
	ap := e.newRouteApp(t, knownHostsFile, r)
	e.addAsset(t, ap, host, port)
	return ap
}

// newRouteApp writes an ottr.yaml for the environment with one route,
// loads it through the parser an operator's file goes through and
// assembles ottr on a fresh database, with no asset yet.
func (e *env) newRouteApp(t testing.TB, knownHostsFile string, r linuxRoute) *app.App {
	t.Helper()
	dir := r.dataDir
	if dir == "" {
		dir = t.TempDir()
	}
	database := r.database
	if database == "" {
		database = filepath.Join(dir, "ottr.db")
	}
	yaml := fmt.Sprintf(`data_dir: %q
database: %q
known_hosts_file: %q
workers:
  concurrency: 4
  job_timeout: 2m
certificate_authorities:
  %s:
    directory: %q
    roots_file: %q
    profile: default
    key_type: ecdsa256
    expected_issuers: ["Pebble"]
    min_lifetime: 24h
dns:
  zones:
    %s: %s
  resolvers: [%q]
  propagation_timeout: 30s
  polling_interval: 100ms
  # BIND is authoritative for the delegate zone but not on port 53.
  check_resolvers_only: true
  rfc2136:
    nameserver: %q
    tsig_key: %q
    tsig_algorithm: hmac-sha256.
    tsig_secret: %q
credentials:
  default:
    username: %q
    private_key: %q
routes:
  - name: e2e-linux
    match: {platform: linux}
    driver: linux
    options:
      ssh_port: %d
      cert_path: %q
      key_path: %q
      reload_command: %q
`, dir, database, knownHostsFile,
		caName, e.ca.DirectoryURL(), e.rootsFile,
		deviceZone, delegateZone, e.bind.Addr, e.bind.Addr, tsigKeyName, "file:"+e.tsigFile,
		e.user.Name, "file:"+e.sshd.ClientKeyFile,
		e.sshd.Port, r.certPath, r.keyPath, r.reloadCommand)
	path := filepath.Join(dir, "ottr.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("the test's ottr.yaml does not load: %v", err)
	}
	ctx := context.Background()
	ap, err := app.New(ctx, cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ap.Close() })
	return ap
}

// addAsset adds host, served on port, as an asset of ap.
func (e *env) addAsset(t testing.TB, ap *app.App, host string, port int) {
	t.Helper()
	ctx := context.Background()
	a, err := ap.Prepare(asset.Asset{
		SystemName:             host,
		CommonName:             host,
		SubjectAlternativeName: []string{host},
		CertificateAuthority:   caName,
		DataCenter:             "e2e",
		DeviceModel:            "debian",
		HostPlatform:           "linux",
		IPAddress:              "127.0.0.1",
		Origin:                 "e2e",
		OSVersion:              "12",
		Port:                   port,
	})
	if err != nil {
		t.Fatalf("asset %s: %v", host, err)
	}
	if err := ap.Store.CreateAsset(ctx, a); err != nil {
		t.Fatal(err)
	}
}

// rotate runs a manual rotation of host to its end, as `ottr rotate` does.
// It may run on any goroutine: a rotation it cannot create is its error.
func rotate(ap *app.App, host string) (store.Rotation, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rot, err := ap.Runner.Create(ctx, host, store.TriggerManual, true, nil)
	if err != nil {
		return rot, fmt.Errorf("create the rotation: %w", err)
	}
	done, err := ap.Runner.Run(ctx, rot.ID)
	if full, getErr := ap.Store.GetRotation(context.Background(), rot.ID); getErr == nil {
		done = full // with its log, for failure messages
	}
	return done, err
}

// logOf renders a rotation's captured log for a failure message.
func logOf(rot store.Rotation) string {
	var b strings.Builder
	for _, l := range rot.Log {
		fmt.Fprintf(&b, "  %s %s %s\n", l.Level, l.Step, l.Message)
	}
	return b.String()
}

// servedChain connects to addr the way a browser would: SNI name, chain
// verified to roots. It returns the verified chain, leaf first, and what
// the server answers to GET /.
//
// A reloading nginx or HAProxy starts its new worker before the old one
// stops accepting, so for a moment after ottr's verify has seen the new
// certificate a connection may still reach the old worker. servedChain
// asks again, for up to reloadOverlap, while the answer fails (a chain
// roots do not verify, say) or the leaf is the one replaced (nil: none)
// that the server served before the reload.
func servedChain(t *testing.T, addr, name string, roots *x509.CertPool, replaced *x509.Certificate) ([]*x509.Certificate, string) {
	t.Helper()
	deadline := time.Now().Add(reloadOverlap)
	for {
		chain, body, err := getServed(addr, name, roots)
		switch {
		case err == nil && (replaced == nil || !chain[0].Equal(replaced)):
			return chain, body
		case err == nil && time.Now().After(deadline):
			return chain, body // still the old leaf: the caller reports it
		case err != nil && time.Now().After(deadline):
			t.Fatalf("GET https://%s/ as %s: %v", addr, name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// reloadOverlap bounds how long a reloading server's old worker may still
// take new connections, on a loaded machine.
const reloadOverlap = 10 * time.Second

func getServed(addr, name string, roots *x509.CertPool) ([]*x509.Certificate, string, error) {
	var chain []*x509.Certificate
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{
				ServerName: name,
				RootCAs:    roots,
				MinVersion: tls.VersionTLS12,
				VerifyConnection: func(cs tls.ConnectionState) error {
					if len(cs.VerifiedChains) > 0 {
						chain = cs.VerifiedChains[0]
					}
					return nil
				},
			},
			DisableKeepAlives: true,
		},
	}
	resp, err := client.Get("https://" + addr + "/")
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return chain, string(body), err
}

// poolOf is a pool holding only c.
func poolOf(c *x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c)
	return p
}

// onHost runs a command on the host over SSH as the dedicated user, as an
// operator checking the host would.
func (e *env) onHost(t *testing.T, command string) string {
	t.Helper()
	keyPEM, err := os.ReadFile(e.sshd.ClientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	hostKeys, err := knownhosts.New(e.sshd.KnownHostsFile)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ssh.Dial("tcp", e.sshd.Addr, &ssh.ClientConfig{
		User:            e.user.Name,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hostKeys,
		Timeout:         10 * time.Second,
	})
	if err != nil {
		t.Fatalf("ssh %s: %v", e.sshd.Addr, err)
	}
	defer conn.Close()
	sess, err := conn.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	out, err := sess.CombinedOutput(command)
	if err != nil {
		t.Fatalf("on the host, %q: %v: %s", command, err, out)
	}
	return strings.TrimSpace(string(out))
}
