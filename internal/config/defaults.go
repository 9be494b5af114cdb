package config

import (
	"path/filepath"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/ratelimit"
	"github.com/ottr-go/ottr/internal/secret"
)

// Defaults, as ottr.example.yaml documents them; the policy section takes
// the policy package's.
const (
	defaultDataDir            = "./ottr-data"
	defaultDatabaseFile       = "ottr.db"
	defaultMasterKeyFile      = "master.key"
	defaultKnownHostsFile     = "known_hosts"
	defaultSchedulerInterval  = 5 * time.Minute
	defaultSchedulerBatch     = 10000
	defaultConcurrency        = 50
	defaultJobTimeout         = 10 * time.Minute
	defaultTakeoverAfter      = 30 * time.Second
	defaultKeyType            = asset.KeyECDSA256
	defaultMinLifetime        = 24 * time.Hour
	defaultCAPollInterval     = 500 * time.Millisecond
	defaultPropagationTimeout = 2 * time.Minute
	defaultPollingInterval    = 500 * time.Millisecond
	defaultAPIListen          = "127.0.0.1:8080"
	defaultTSIGAlgorithm      = "hmac-sha256."
)

// tsigAlgorithms are the TSIG algorithms RFC 2136 updates may be signed
// with, in the fully qualified form miekg/dns expects.
var tsigAlgorithms = []string{"hmac-sha256.", "hmac-sha384.", "hmac-sha512.", "hmac-sha1."}

// withDefaults fills every zero setting with its default and makes relative
// paths relative to baseDir, the configuration file's directory, so ottr
// finds the same files whatever directory it is started from.
func (c *Config) withDefaults(baseDir string) {
	if c.DataDir == "" {
		c.DataDir = defaultDataDir
	}
	c.DataDir = resolvePath(baseDir, c.DataDir)
	switch {
	case c.Database == "":
		c.Database = filepath.Join(c.DataDir, defaultDatabaseFile)
	case isReference(c.Database):
		// A PostgreSQL URL with its password, kept out of the file.
		c.Database = resolveSecretRef(baseDir, c.Database)
	case !isURL(c.Database):
		c.Database = resolvePath(baseDir, c.Database)
	}
	c.MasterKeyFile = resolveOr(baseDir, c.MasterKeyFile, filepath.Join(c.DataDir, defaultMasterKeyFile))
	c.KnownHostsFile = resolveOr(baseDir, c.KnownHostsFile, filepath.Join(c.DataDir, defaultKnownHostsFile))

	if c.Scheduler.Interval == 0 {
		c.Scheduler.Interval = defaultSchedulerInterval
	}
	if c.Scheduler.Batch == 0 {
		c.Scheduler.Batch = defaultSchedulerBatch
	}
	if c.Workers.Concurrency == 0 {
		c.Workers.Concurrency = defaultConcurrency
	}
	if c.Workers.JobTimeout == 0 {
		c.Workers.JobTimeout = defaultJobTimeout
	}
	if c.Workers.TakeoverAfter == 0 {
		c.Workers.TakeoverAfter = defaultTakeoverAfter
	}
	// The policy package owns its defaults, so Decide and the
	// configuration cannot disagree about them.
	c.Policy = c.Policy.WithDefaults()

	for name, ca := range c.CertificateAuthorities {
		ca = applyPreset(ca)
		if ca.KeyType == "" && len(ca.KeyTypes) > 0 {
			ca.KeyType = ca.KeyTypes[0]
		}
		if ca.KeyType == "" {
			ca.KeyType = defaultKeyType
		}
		if ca.MinLifetime == 0 {
			ca.MinLifetime = defaultMinLifetime
		}
		if ca.PollInterval == 0 {
			ca.PollInterval = defaultCAPollInterval
		}
		ca.RateLimits = ca.RateLimits.WithDefaults(ratelimit.Defaults(rateLimitKind(ca)))
		ca.RootsFile = resolvePath(baseDir, ca.RootsFile)
		if ca.EAB != nil {
			eab := *ca.EAB
			eab.HMACKey = resolveSecretRef(baseDir, eab.HMACKey)
			ca.EAB = &eab
		}
		c.CertificateAuthorities[name] = ca
	}

	if c.DNS.PropagationTimeout == 0 {
		c.DNS.PropagationTimeout = defaultPropagationTimeout
	}
	if c.API.Listen == "" {
		c.API.Listen = defaultAPIListen
	}
	c.API.TLSCertFile = resolvePath(baseDir, c.API.TLSCertFile)
	c.API.TLSKeyFile = resolvePath(baseDir, c.API.TLSKeyFile)
	if c.DNS.PollingInterval == 0 {
		c.DNS.PollingInterval = defaultPollingInterval
	}
	c.Secrets.withDefaults(baseDir)
	c.logDefaults()
	c.normalizeZones()
	c.DNS.RFC2136.TSIGAlgorithm = normalTSIGAlgorithm(c.DNS.RFC2136.TSIGAlgorithm)
	c.DNS.RFC2136.TSIGSecret = resolveSecretRef(baseDir, c.DNS.RFC2136.TSIGSecret)
	for zone, p := range c.DNS.Providers {
		c.DNS.Providers[zone] = providerDefaults(baseDir, p)
	}
	c.DNS.Apply.RFC2136.TSIGAlgorithm = normalTSIGAlgorithm(c.DNS.Apply.RFC2136.TSIGAlgorithm)
	c.DNS.Apply.RFC2136.TSIGSecret = resolveSecretRef(baseDir, c.DNS.Apply.RFC2136.TSIGSecret)

	for name, cred := range c.Credentials {
		cred.Username = resolveSecretRef(baseDir, cred.Username)
		cred.Password = resolveSecretRef(baseDir, cred.Password)
		cred.PrivateKey = resolveSecretRef(baseDir, cred.PrivateKey)
		c.Credentials[name] = cred
	}
	c.Notifications.withDefaults(baseDir)
}

// normalizeZones writes dns.zones in lower case without trailing dots, so
// callers can compare names with them directly. Two keys naming the same
// zone are left as written for Validate to report.
func (c *Config) normalizeZones() {
	zones := make(map[string]string, len(c.DNS.Zones))
	for zone, delegate := range c.DNS.Zones {
		if _, dup := zones[normalZone(zone)]; dup {
			return
		}
		zones[normalZone(zone)] = normalZone(delegate)
	}
	for zone := range c.DNS.Zones {
		if line, ok := c.lines[join("dns.zones", zone)]; ok {
			c.lines[join("dns.zones", normalZone(zone))] = line
		}
	}
	if c.DNS.Zones != nil {
		c.DNS.Zones = zones
	}
	providers := make(map[string]DNSProvider, len(c.DNS.Providers))
	for zone, p := range c.DNS.Providers {
		if _, dup := providers[normalZone(zone)]; dup {
			return
		}
		providers[normalZone(zone)] = p
		if line, ok := c.lines[join("dns.providers", zone)]; ok {
			c.lines[join("dns.providers", normalZone(zone))] = line
		}
	}
	if c.DNS.Providers != nil {
		c.DNS.Providers = providers
	}
}

// normalTSIGAlgorithm returns the default for "", and the fully qualified
// lower-case name for a supported algorithm written without the trailing
// dot or in capitals; anything else is returned as written so the problem
// quotes the operator's own text.
func normalTSIGAlgorithm(algorithm string) string {
	if algorithm == "" {
		return defaultTSIGAlgorithm
	}
	normal := strings.ToLower(strings.TrimSuffix(algorithm, ".")) + "."
	for _, known := range tsigAlgorithms {
		if normal == known {
			return known
		}
	}
	return algorithm
}

func resolvePath(baseDir, path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(baseDir, path)
}

func resolveOr(baseDir, path, fallback string) string {
	if path == "" {
		return fallback
	}
	return resolvePath(baseDir, path)
}

// isURL tells a database URL (postgres://…) from a SQLite file path.
func isURL(s string) bool { return strings.Contains(s, "://") }

// Secret reference prefixes (see Credential).
const (
	envRefPrefix   = secret.EnvPrefix
	fileRefPrefix  = secret.FilePrefix
	awsRefPrefix   = secret.AWSPrefix
	vaultRefPrefix = secret.VaultPrefix
)

// isReference reports whether s is a secret reference rather than a value.
func isReference(s string) bool { return !isLiteralSecret(s) && s != "" }

// resolveSecretRef makes the path of a "file:" reference relative to
// baseDir and leaves every other value alone.
func resolveSecretRef(baseDir, ref string) string {
	path, isFile := strings.CutPrefix(ref, fileRefPrefix)
	if !isFile || path == "" {
		return ref
	}
	return fileRefPrefix + resolvePath(baseDir, path)
}
