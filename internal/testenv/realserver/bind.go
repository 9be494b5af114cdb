package realserver

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// TSIGKey is a key that signs dynamic updates.
type TSIGKey struct {
	// Name is the key's name, e.g. "ottr-e2e.".
	Name string
	// Algorithm is BIND's name for it. Default "hmac-sha256".
	Algorithm string
	// Secret is the base64 shared secret.
	Secret string
}

// Zone is one zone BIND is the primary server for.
type Zone struct {
	// Name is the zone's apex, e.g. "e2e.ottr.test".
	Name string
	// Records are zone-file lines after the SOA and NS records BIND's
	// configuration adds, with absolute names or names relative to the
	// zone ("www 60 IN A 127.0.0.1").
	Records []string
	// UpdateKey, when set, names the TSIG key that may add and remove TXT
	// records anywhere in the zone with RFC 2136 updates. Without it the
	// zone takes no updates at all.
	UpdateKey string
}

// BINDConfig tunes StartBIND.
type BINDConfig struct {
	// User runs named and owns its working directory and journals.
	// Default: DedicatedUser.
	User User
	// Zones to serve. At least one.
	Zones []Zone
	// Keys are the TSIG keys zones' UpdateKey may name.
	Keys []TSIGKey
}

// BIND is a running BIND 9 name server (Debian bind9).
//
// It is authoritative for its zones and, for 127.0.0.1 only, recursive:
// named follows a CNAME into another zone it serves only when it may
// recurse, and an ACME CA's validator relies on exactly that (it asks once
// for the TXT of _acme-challenge.<host> and expects the CNAME into the
// delegate zone and the TXT there in one answer). It is also primary for a
// private root zone, so every name it does not serve gets NXDOMAIN from
// that zone: recursion never leaves the machine.
type BIND struct {
	Dir        string
	ConfigPath string
	// Addr is 127.0.0.1:Port, on UDP and TCP.
	Addr  string
	Port  int
	User  User
	Zones []Zone

	proc *process
}

// StartBIND starts "named -g -c <own named.conf>" on a free loopback port
// and returns once it answers for every zone.
func StartBIND(ctx context.Context, cfg BINDConfig) (b *BIND, err error) {
	program, err := lookProgram("named", "bind9")
	if err != nil {
		return nil, err
	}
	if len(cfg.Zones) == 0 {
		return nil, fmt.Errorf("realserver: bind: no zones")
	}
	keys := map[string]bool{}
	for _, k := range cfg.Keys {
		if err := checkKey(k); err != nil {
			return nil, err
		}
		keys[dns.CanonicalName(k.Name)] = true
	}
	for _, z := range cfg.Zones {
		if err := checkWord("zone name", z.Name); err != nil {
			return nil, err
		}
		if z.UpdateKey != "" && !keys[dns.CanonicalName(z.UpdateKey)] {
			return nil, fmt.Errorf("realserver: bind: zone %s names update key %q, which is not among the keys", z.Name, z.UpdateKey)
		}
	}
	u, err := cfg.User.orDefault(ctx)
	if err != nil {
		return nil, err
	}
	// named writes its journals, pid and key files here after dropping
	// to u.
	dir, err := serverDir("bind", &u)
	if err != nil {
		return nil, err
	}
	b = &BIND{Dir: dir, ConfigPath: filepath.Join(dir, "named.conf"), User: u, Zones: cfg.Zones}
	defer func() {
		if err != nil {
			_ = b.Close()
			b = nil
		}
	}()
	if err := writeOwned(filepath.Join(dir, "root.zone"), []byte(zoneFile(".", nil)), 0o644, u); err != nil {
		return b, err
	}
	for _, z := range cfg.Zones {
		if err := writeOwned(filepath.Join(dir, zoneFileName(z.Name)), []byte(zoneFile(z.Name, z.Records)), 0o644, u); err != nil {
			return b, err
		}
	}
	b.proc, err = startOnFreePorts(ctx, func() (*process, error) { return b.launch(program, cfg.Keys) }, b.ready)
	return b, err
}

// launch gives named a port free for both UDP and TCP, writes the
// configuration and starts it.
func (b *BIND) launch(program string, keys []TSIGKey) (*process, error) {
	port, err := freePort(true)
	if err != nil {
		return nil, err
	}
	b.Port = port
	b.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := writeOwned(b.ConfigPath, []byte(b.config(keys)), 0o600, b.User); err != nil {
		return nil, err
	}
	// named runs as User from the start instead of dropping to it with -u:
	// it needs no privilege on a high port, and a process that changes
	// its own user ID loses the signal that stops it with the test binary.
	return startProcess("named", filepath.Join(b.Dir, "named.log"), &b.User, program, "-g", "-4", "-n", "1", "-c", b.ConfigPath)
}

func checkKey(k TSIGKey) error {
	if err := checkWord("TSIG key name", k.Name); err != nil {
		return err
	}
	if k.Algorithm != "" {
		if err := checkWord("TSIG algorithm", strings.TrimSuffix(k.Algorithm, ".")); err != nil {
			return err
		}
	}
	if _, err := base64.StdEncoding.DecodeString(k.Secret); err != nil || k.Secret == "" {
		// The secret itself stays out of the message.
		return fmt.Errorf("realserver: TSIG key %s: the secret must be base64", k.Name)
	}
	return nil
}

func zoneFileName(zone string) string { return strings.TrimSuffix(zone, ".") + ".zone" }

// zoneFile is a zone with an SOA, an NS at 127.0.0.1 and records. The
// minimum TTL is short so a name that did not exist yet is not cached as
// missing for long.
func zoneFile(zone string, records []string) string {
	origin := dns.Fqdn(zone)
	ns := "ns." + strings.TrimPrefix(origin, ".")
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s\n$TTL 60\n", origin)
	fmt.Fprintf(&b, "@ IN SOA %s hostmaster.%s 1 3600 600 86400 5\n", ns, strings.TrimPrefix(origin, "."))
	fmt.Fprintf(&b, "@ IN NS %s\n%s IN A 127.0.0.1\n", ns, ns)
	for _, r := range records {
		b.WriteString(r + "\n")
	}
	return b.String()
}

func (b *BIND) config(keys []TSIGKey) string {
	var c strings.Builder
	fmt.Fprintf(&c, `options {
    directory "%s";
    pid-file "named.pid";
    session-keyfile "session.key";
    managed-keys-directory "%s";
    listen-on port %d { 127.0.0.1; };
    listen-on-v6 { none; };
    allow-query { 127.0.0.1; };
    recursion yes;
    allow-recursion { 127.0.0.1; };
    dnssec-validation no;
    notify no;
    allow-transfer { none; };
    empty-zones-enable no;
};
// No rndc: the control channel would take port 953 from the machine's own
// named.
controls { };
zone "." { type primary; file "root.zone"; };
`, b.Dir, b.Dir, b.Port)
	for _, k := range keys {
		alg := k.Algorithm
		if alg == "" {
			alg = "hmac-sha256"
		}
		fmt.Fprintf(&c, "key \"%s\" { algorithm %s; secret \"%s\"; };\n", dns.Fqdn(k.Name), strings.TrimSuffix(alg, "."), k.Secret)
	}
	for _, z := range b.Zones {
		fmt.Fprintf(&c, "zone \"%s\" {\n    type primary;\n    file \"%s\";\n", strings.TrimSuffix(z.Name, "."), zoneFileName(z.Name))
		if z.UpdateKey != "" {
			fmt.Fprintf(&c, "    update-policy { grant %s zonesub TXT; };\n", dns.Fqdn(z.UpdateKey))
		}
		c.WriteString("};\n")
	}
	return c.String()
}

// ready asks for every zone's SOA and wants an authoritative answer.
func (b *BIND) ready(ctx context.Context) error {
	client := &dns.Client{Net: "tcp", Timeout: time.Second}
	for _, z := range b.Zones {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(z.Name), dns.TypeSOA)
		in, _, err := client.ExchangeContext(ctx, m, b.Addr)
		if err != nil {
			return err
		}
		if in.Rcode != dns.RcodeSuccess || !in.Authoritative {
			return fmt.Errorf("zone %s: %s, authoritative %t", z.Name, dns.RcodeToString[in.Rcode], in.Authoritative)
		}
	}
	return nil
}

// Log returns the end of named's log.
func (b *BIND) Log() string { return tailFile(filepath.Join(b.Dir, "named.log"), 8000) }

// Close stops named and removes its directory.
func (b *BIND) Close() error { return closeAll(b.Dir, b.proc) }
