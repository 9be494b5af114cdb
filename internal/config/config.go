// Package config reads ottr.yaml: its schema, the defaults of every setting,
// and validation whose errors give the line and the rule broken.
package config

import (
	"time"

	"github.com/ottr-go/ottr/internal/policy"
	"github.com/ottr-go/ottr/internal/ratelimit"
	"github.com/ottr-go/ottr/internal/route"
)

// Config is the whole of ottr.yaml. The zero value of every field means its
// documented default; Load and Parse fill the defaults in and resolve
// relative paths against the configuration file's directory.
type Config struct {
	// Database is a SQLite file path (default "ottr.db" in DataDir) or, in
	// cluster mode, a postgres:// URL; env:NAME or file:PATH reads the URL
	// from the environment or a file, so its password stays out of this
	// file.
	Database string `yaml:"database"`
	// DataDir holds the database, the master key and the lab's files.
	// Default: "./ottr-data".
	DataDir string `yaml:"data_dir"`
	// MasterKeyFile holds the 32-byte key that encrypts secrets at rest
	// (hex). Default: DataDir/master.key, created on first start.
	MasterKeyFile string `yaml:"master_key_file"`
	// KnownHostsFile is the OpenSSH known_hosts file device host keys are
	// verified against. Default: DataDir/known_hosts.
	KnownHostsFile string `yaml:"known_hosts_file"`

	// API is where `ottr serve` answers the REST API.
	API       API       `yaml:"api"`
	Scheduler Scheduler `yaml:"scheduler"`
	Workers   Workers   `yaml:"workers"`
	// Policy is the renewal policy.
	Policy policy.Settings `yaml:"policy"`

	// CertificateAuthorities are the CA profiles, by the name assets use in
	// certificate_authority (Ottr's "lets_encrypt", "digicert", …).
	CertificateAuthorities map[string]CA `yaml:"certificate_authorities"`
	DNS                    DNS           `yaml:"dns"`
	// Credentials are device logins by name; "default" is used when an asset
	// names none.
	Credentials map[string]Credential `yaml:"credentials"`
	// Routes is the routing table: first match wins.
	Routes []route.Route `yaml:"routes"`
	// Secrets configures the secret stores of aws-sm: and vault:
	// references, and how long their values are cached.
	Secrets Secrets `yaml:"secrets"`
	// Notifications tell people about failures, expiries and drift.
	Notifications Notifications `yaml:"notifications"`
	// Log is how ottr writes its own log.
	Log Log `yaml:"log"`
	// Metrics is where a worker serves /metrics and /healthz.
	Metrics Metrics `yaml:"metrics"`

	// Warnings are things Parse found allowed but unwise, such as a
	// password written into the file; each names the line and setting,
	// never the secret.
	Warnings []string `yaml:"-"`

	// source and lines let Validate name the file and line of a setting
	// after parsing: lines maps a setting's path
	// ("certificate_authorities.lets_encrypt.directory") to its line.
	source string
	lines  map[string]int
}

// Log settings.
type Log struct {
	// Format is text (the default) or json; --log-format overrides it.
	Format string `yaml:"format"`
	// Level is debug, info, warn (the default) or error; --log-level
	// overrides it.
	Level string `yaml:"level"`
}

// Metrics settings.
type Metrics struct {
	// WorkerListen is where `ottr worker` serves /metrics and /healthz.
	// Default 127.0.0.1:9464; `ottr serve` serves them on the API's
	// address.
	WorkerListen string `yaml:"worker_listen"`
}

// API settings.
type API struct {
	// Listen is the address the API listens on. Default 127.0.0.1:8080:
	// without TLS, ottr serves only loopback unless told otherwise.
	Listen string `yaml:"listen"`
	// TLSCertFile and TLSKeyFile, when both set, make the API serve HTTPS.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
}

// Scheduler settings.
type Scheduler struct {
	// Interval between scans for due assets. Default 5m.
	Interval time.Duration `yaml:"interval"`
	// Batch is the most assets one scan enqueues. Default 10000.
	Batch int `yaml:"batch"`
}

// Workers settings.
type Workers struct {
	// Concurrency is how many rotations run at once in one process ('ottr
	// serve' or 'ottr worker'), over all the data centers it works.
	// Default 50, like Ottr's Map state.
	Concurrency int `yaml:"concurrency"`
	// PerDataCenter caps, by data center name (as in the inventory), how
	// many of that data center's rotations run at once in one process,
	// within Concurrency; a data center not named uses the whole of it.
	PerDataCenter map[string]int `yaml:"per_data_center"`
	// JobTimeout bounds one rotation. Default 10m (Ottr's task timeout).
	JobTimeout time.Duration `yaml:"job_timeout"`
	// TakeoverAfter is how long a cluster process may miss its heartbeats
	// before another takes its rotations over; a process that could not
	// write one for half of it stops its rotations first. Default 30s.
	// On SQLite, processes share one machine and a dead one's rotations
	// are taken over at once.
	TakeoverAfter time.Duration `yaml:"takeover_after"`
	// MemoryLimitMiB is a soft limit on the process's memory, in MiB, that
	// the Go runtime collects garbage earlier to stay under, never below
	// what the rotations in flight hold; GOMEMLIMIT, when set, wins.
	// Default 0: none.
	MemoryLimitMiB int `yaml:"memory_limit_mib"`
}

// CA is one CA profile.
type CA struct {
	// Preset names a CA ottr knows (letsencrypt, letsencrypt-staging,
	// zerossl, google, google-staging, digicert, sslcom-rsa, sslcom-ecc):
	// it gives the directory and expected issuers unless they are set here.
	Preset string `yaml:"preset"`
	// Directory is the ACME directory URL. Required without a preset.
	Directory string `yaml:"directory"`
	// Email is the ACME account contact.
	Email string `yaml:"email"`
	// EAB binds the account to an external account, for CAs that need it.
	EAB *EAB `yaml:"eab"`
	// RootsFile is a PEM bundle: the roots the ACME server's TLS is checked
	// against and the roots issued chains must verify to. Empty: the
	// system pool.
	RootsFile string `yaml:"roots_file"`
	// Profile is the ACME profile name to order (e.g. "shortlived").
	Profile string `yaml:"profile"`
	// PreferredChain picks an alternate chain by its root's common name.
	PreferredChain string `yaml:"preferred_chain"`
	// KeyType is the key devices generate when an asset does not say.
	// Default ecdsa256.
	KeyType string `yaml:"key_type"`
	// KeyTypes, when set, are the only key types this CA's assets may
	// have their devices generate (the key-type policy); key_type must be
	// one of them. Empty allows every type.
	KeyTypes []string `yaml:"key_types"`
	// ExpectedIssuers are accepted issuers of the served leaf: each is
	// matched, ignoring case, as a substring of the issuer's organisation
	// or common name ("let's encrypt" matches O=Let's Encrypt, CN=R11).
	// Empty accepts any issuer the roots vouch for.
	ExpectedIssuers []string `yaml:"expected_issuers"`
	// MinLifetime is the least lifetime a fresh certificate must have, so
	// verify catches a device serving an old one. Default 24h.
	MinLifetime time.Duration `yaml:"min_lifetime"`
	// PollInterval is how soon a challenge being validated, or an order
	// being issued, is looked at again when the CA sends no Retry-After
	// (later looks back off up to ten times it); a Retry-After the CA
	// sends wins. Default 500ms.
	PollInterval time.Duration `yaml:"poll_interval"`
	// RateLimits are the CA's order limits the scheduler budgets for, so a
	// wave of due certificates is spread over time instead of tripping
	// them. Each limit left unset takes the CA's published one: Let's
	// Encrypt's for its presets and directories, none for other CAs.
	RateLimits ratelimit.Limits `yaml:"rate_limits"`
}

// EAB is an ACME external account binding. The HMAC key is a secret
// reference (see Credential).
type EAB struct {
	KeyID   string `yaml:"kid"`
	HMACKey string `yaml:"hmac_key"`
}

// DNS settings for DNS-01 through a delegated zone.
type DNS struct {
	// Zones maps each managed zone to its delegate zone, as Ottr's
	// hosted_zones did: _acme-challenge.<x>.<zone> must be a CNAME to
	// _acme-challenge.<x>.<delegate>, and only the delegate is written.
	// Parse writes both in lower case without a trailing dot.
	Zones map[string]string `yaml:"zones"`
	// Resolvers answer the CNAME and propagation look-ups ("host:port").
	// Default: the system's.
	Resolvers []string `yaml:"resolvers"`
	// PropagationTimeout bounds the wait for the TXT record. Default 2m.
	PropagationTimeout time.Duration `yaml:"propagation_timeout"`
	// PollingInterval is the pause between propagation checks. Default
	// 500ms: every name of an order is checked at once, and a check is one
	// query per resolver.
	PollingInterval time.Duration `yaml:"polling_interval"`
	// CheckResolversOnly trusts the resolvers alone for propagation and
	// skips asking every authoritative server of the delegate zone on port
	// 53 — for a delegate zone served on another port, as in the lab.
	CheckResolversOnly bool `yaml:"check_resolvers_only"`
	// RFC2136 writes the challenge records with TSIG-signed updates, in
	// every delegate zone without an entry in Providers.
	RFC2136 RFC2136 `yaml:"rfc2136"`
	// Providers writes the records of a delegate zone through another
	// provider, keyed by the delegate zone: one provider per zone.
	Providers map[string]DNSProvider `yaml:"providers"`
	// Apply is how `ottr dns apply` creates missing _acme-challenge
	// CNAMEs in the managed zones, for operators who allow ottr to write
	// them. Unset: dns apply only prints the records.
	Apply DNSApply `yaml:"apply"`
	// DoH, when set, is a DNS-over-HTTPS endpoint (RFC 8484) that
	// propagation checks ask instead of the resolvers, such as
	// https://cloudflare-dns.com/dns-query. Empty: the resolvers.
	DoH string `yaml:"doh"`
}

// DNSApply writes the managed zones.
type DNSApply struct {
	// RFC2136 sends the updates to the managed zones' primary server,
	// signed with a key allowed to add CNAMEs there.
	RFC2136 RFC2136 `yaml:"rfc2136"`
}

// RFC2136 is the dynamic-update provider's settings.
type RFC2136 struct {
	Nameserver    string `yaml:"nameserver"`
	TSIGKey       string `yaml:"tsig_key"`
	TSIGAlgorithm string `yaml:"tsig_algorithm"`
	// TSIGSecret is a secret reference (see Credential).
	TSIGSecret string `yaml:"tsig_secret"`
}

// Credential is a device login. Password and PrivateKey are secret
// references: "env:NAME" reads an environment variable, "file:PATH" a file
// (a relative PATH is taken from the configuration file's directory),
// "aws-sm:NAME#key" a key of an AWS Secrets Manager secret and
// "vault:MOUNT/PATH#key" a field of a Vault KV secret (see Secrets); a
// bare value is taken as is (discouraged outside the lab, and reported in
// Config.Warnings). Username is a value, or a reference where it is kept
// beside the password (aws-sm:prod/otter/panos#username).
type Credential struct {
	Username   string `yaml:"username"`
	Password   string `yaml:"password"`
	PrivateKey string `yaml:"private_key"`
}
