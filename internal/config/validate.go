package config

import (
	"encoding/base64"
	"fmt"
	"iter"
	"maps"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/ratelimit"
)

// Limits the validation rules enforce.
const (
	minInterval   = 10 * time.Second
	minJobTimeout = 10 * time.Second
	// minMemoryLimitMiB is about what ottr holds idle: a lower limit
	// would only be raised at once.
	minMemoryLimitMiB = 64
	minTakeoverAfter  = 15 * time.Second
	maxConcurrency    = 10000
	maxFixedDays      = 400 // no publicly trusted certificate lives longer than 398 days
	exampleDirectory  = "https://acme-v02.api.letsencrypt.org/directory"
	exampleNameserver = "192.0.2.53:53"
)

// Validate checks every rule of the configuration and returns nil or an
// *Error listing every broken one, with lines when the Config was parsed.
// Parse already calls it; call it again after changing a Config in code.
func (c *Config) Validate() error {
	if problems := c.problems(); len(problems) > 0 {
		return newError(c.source, problems)
	}
	return nil
}

// checker collects the problems of one Config.
type checker struct {
	c        *Config
	problems []Problem
}

func (k *checker) add(path, format string, args ...any) {
	k.problems = append(k.problems, Problem{Line: k.c.Line(path), Path: path, Message: fmt.Sprintf(format, args...)})
}

func (c *Config) problems() []Problem {
	k := &checker{c: c}
	k.checkStorage()
	k.checkAPI()
	k.checkScheduling()
	k.checkPolicy()
	k.checkCAs()
	k.checkDNS()
	k.checkCredentials()
	k.checkRoutes()
	k.checkNotifications()
	k.checkLogAndMetrics()
	k.checkSecrets()
	return k.problems
}

func (k *checker) checkStorage() {
	if db := k.c.Database; isURL(db) {
		scheme, _, _ := strings.Cut(db, "://")
		if scheme != "postgres" && scheme != "postgresql" {
			// The URL is not quoted: it may carry a password.
			k.add("database", "must be a SQLite file path or a postgres:// URL, not a %s:// URL", scheme)
		}
	}
}

func (k *checker) checkScheduling() {
	s, w := k.c.Scheduler, k.c.Workers
	if s.Interval < minInterval {
		k.add("scheduler.interval", "must be at least %v, got %v", minInterval, s.Interval)
	}
	if s.Batch < 1 {
		k.add("scheduler.batch", "must be at least 1, got %d", s.Batch)
	}
	if w.Concurrency < 1 || w.Concurrency > maxConcurrency {
		k.add("workers.concurrency", "must be between 1 and %d, got %d", maxConcurrency, w.Concurrency)
	}
	for _, dataCenter := range k.c.inFileOrder("workers.per_data_center", maps.Keys(w.PerDataCenter)) {
		if n := w.PerDataCenter[dataCenter]; n < 1 {
			k.add(join("workers.per_data_center", dataCenter), "must be at least 1, got %d; to run none of a data center's rotations in a process, leave its queue out (ottr worker --queue)", n)
		}
	}
	if w.TakeoverAfter < minTakeoverAfter {
		k.add("workers.takeover_after", "must be at least %v (a heartbeat is written every 5s), got %v", minTakeoverAfter, w.TakeoverAfter)
	}
	if w.MemoryLimitMiB != 0 && w.MemoryLimitMiB < minMemoryLimitMiB {
		k.add("workers.memory_limit_mib", "must be 0 (no limit) or at least %d, got %d", minMemoryLimitMiB, w.MemoryLimitMiB)
	}
	if w.JobTimeout < minJobTimeout {
		k.add("workers.job_timeout", "must be at least %v, got %v", minJobTimeout, w.JobTimeout)
	}
}

func (k *checker) checkPolicy() {
	p := k.c.Policy
	if p.RenewFraction <= 0 || p.RenewFraction >= 1 {
		k.add("policy.renew_fraction", "must be between 0 and 1, such as 0.33, got %v", p.RenewFraction)
	}
	if p.FixedDays < 0 || p.FixedDays >= maxFixedDays {
		k.add("policy.fixed_days", "must be between 0 and %d days, got %d", maxFixedDays-1, p.FixedDays)
	}
	if p.BackoffBase < 0 {
		k.add("policy.backoff_base", "must not be negative, got %v", p.BackoffBase)
	}
	if p.BackoffMax < 0 {
		k.add("policy.backoff_max", "must not be negative, got %v", p.BackoffMax)
	}
	if p.BackoffBase > p.BackoffMax {
		k.add("policy.backoff_base", "%v is longer than backoff_max (%v)", p.BackoffBase, p.BackoffMax)
	}
}

func (k *checker) checkCAs() {
	for _, name := range k.c.inFileOrder("certificate_authorities", maps.Keys(k.c.CertificateAuthorities)) {
		ca := k.c.CertificateAuthorities[name]
		path := join("certificate_authorities", name)
		if name == "" {
			k.add("certificate_authorities", "a CA profile needs a name")
		}
		preset, hasPreset := LookupPreset(ca.Preset)
		if ca.Preset != "" && !hasPreset {
			k.add(path+".preset", "%q is not a CA ottr knows; use one of %s, or set directory instead", ca.Preset, strings.Join(PresetNames(), ", "))
		}
		if reason := checkDirectory(ca.Directory); reason != "" && (ca.Preset == "" || hasPreset) {
			if ca.Directory == "" {
				reason += ", or a preset (" + strings.Join(PresetNames(), ", ") + ")"
			}
			k.add(path+".directory", "%s", reason)
		}
		if preset.NeedsEAB && ca.EAB == nil {
			k.add(path+".eab", "is required: %s registers ACME accounts only with an external account binding; %s", ca.Preset, preset.EABHelp)
		}
		for i, kt := range ca.KeyTypes {
			if !slices.Contains(asset.KeyTypes(), kt) {
				k.add(fmt.Sprintf("%s.key_types[%d]", path, i), "%q is not a key type; use one of %s", kt, strings.Join(asset.KeyTypes(), ", "))
			}
		}
		if len(ca.KeyTypes) > 0 && ca.KeyType != "" && !slices.Contains(ca.KeyTypes, ca.KeyType) {
			k.add(path+".key_type", "%q is not among key_types (%s)", ca.KeyType, strings.Join(ca.KeyTypes, ", "))
		}
		if ca.Email != "" {
			if addr, err := mail.ParseAddress(ca.Email); err != nil || addr.Address != ca.Email {
				k.add(path+".email", "%q is not an email address such as pki@example.com", ca.Email)
			}
		}
		if ca.EAB != nil {
			if ca.EAB.KeyID == "" {
				k.add(path+".eab.kid", "is required when eab is set: the key identifier the CA gave you")
			}
			if ca.EAB.HMACKey == "" {
				k.add(path+".eab.hmac_key", "is required when eab is set: env:NAME or file:PATH holding the CA's HMAC key")
			}
			k.checkSecretRef(path+".eab.hmac_key", ca.EAB.HMACKey)
		}
		if !slices.Contains(asset.KeyTypes(), ca.KeyType) {
			k.add(path+".key_type", "%q is not a key type; use one of %s", ca.KeyType, strings.Join(asset.KeyTypes(), ", "))
		}
		if ca.MinLifetime < 0 {
			k.add(path+".min_lifetime", "must not be negative, got %v", ca.MinLifetime)
		}
		if ca.PollInterval < 0 {
			k.add(path+".poll_interval", "must be positive, such as 500ms, got %v", ca.PollInterval)
		}
		for i, issuer := range ca.ExpectedIssuers {
			if strings.TrimSpace(issuer) == "" {
				k.add(fmt.Sprintf("%s.expected_issuers[%d]", path, i), "is empty")
			}
		}
		k.checkRateLimits(path+".rate_limits", ca.RateLimits)
	}
}

// checkRateLimits reports each limit ratelimit.Limits.Validate rejects at
// its own setting, so the problem carries that setting's line.
func (k *checker) checkRateLimits(path string, l ratelimit.Limits) {
	err := l.Validate()
	if err == nil {
		return
	}
	for line := range strings.SplitSeq(strings.TrimPrefix(err.Error(), "ratelimit: "), "\n") {
		if name, msg, ok := strings.Cut(line, ": "); ok && !strings.ContainsAny(name, " ") {
			k.add(path+"."+name, "%s, such as {count: 300, period: 3h}", msg)
			continue
		}
		k.add(path, "%s", line)
	}
}

// checkDirectory returns why dir is not an acceptable ACME directory URL,
// or "". It never quotes dir: a URL may carry credentials.
func checkDirectory(dir string) string {
	if dir == "" {
		return "is required: the CA's ACME directory URL, such as " + exampleDirectory
	}
	return checkHTTPS(dir, exampleDirectory)
}

// checkHTTPS returns why raw is not an https:// URL (or an http:// one to
// a loopback host), or "". example is what the message suggests. It never
// quotes raw: a URL may carry credentials.
func checkHTTPS(raw, example string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "must be an https:// URL, such as " + example
	}
	if u.User != nil {
		return "must not carry a user name or password"
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return ""
	case "http":
		if isLoopback(u.Hostname()) {
			return ""
		}
		return "must use https://; http:// is only allowed to a loopback host such as 127.0.0.1"
	}
	return "must be an https:// URL, such as " + example
}

func isLoopback(host string) bool {
	host = strings.ToLower(host)
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (k *checker) checkDNS() {
	d := k.c.DNS
	seen := map[string]string{}
	for _, zone := range k.c.inFileOrder("dns.zones", maps.Keys(d.Zones)) {
		path := join("dns.zones", zone)
		if reason := checkDomain(zone); reason != "" {
			k.add(path, "zone %q %s", zone, reason)
		} else if first, dup := seen[normalZone(zone)]; dup {
			k.add(path, "zone %q is listed twice (also as %q)", zone, first)
		} else {
			seen[normalZone(zone)] = zone
		}
		if reason := checkDomain(d.Zones[zone]); reason != "" {
			k.add(path, "delegate zone %q %s", d.Zones[zone], reason)
		}
	}
	for i, resolver := range d.Resolvers {
		if reason := checkHostPort(resolver); reason != "" {
			k.add(fmt.Sprintf("dns.resolvers[%d]", i), "%q %s", resolver, reason)
		}
	}
	if d.PropagationTimeout <= 0 {
		k.add("dns.propagation_timeout", "must be positive, got %v", d.PropagationTimeout)
	}
	if d.PollingInterval <= 0 || d.PollingInterval > d.PropagationTimeout {
		k.add("dns.polling_interval", "must be positive and at most propagation_timeout, got %v", d.PollingInterval)
	}
	k.checkRFC2136()
	k.checkProviders()
	k.checkRFC2136At("dns.apply.rfc2136", k.c.DNS.Apply.RFC2136, false)
}

func (k *checker) checkRFC2136() {
	k.checkRFC2136At("dns.rfc2136", k.c.DNS.RFC2136, false)
}

// checkRFC2136At checks RFC 2136 settings at path; required says the
// nameserver must be set.
func (k *checker) checkRFC2136At(path string, r RFC2136, required bool) {
	switch {
	case r.Nameserver == "" && required:
		k.add(path+".nameserver", "is required: the primary server's host:port, such as %s", exampleNameserver)
	case r.Nameserver == "":
		if r.TSIGKey != "" || r.TSIGSecret != "" {
			k.add(path+".nameserver", "is required when a TSIG key is set: the primary server's host:port, such as %s", exampleNameserver)
		}
	default:
		if reason := checkHostPort(r.Nameserver); reason != "" {
			k.add(path+".nameserver", "%q %s", r.Nameserver, reason)
		}
	}
	if r.TSIGKey != "" && r.TSIGSecret == "" {
		k.add(path+".tsig_secret", "is required when tsig_key is set: env:NAME or file:PATH holding the base64 key")
	}
	if r.TSIGSecret != "" && r.TSIGKey == "" {
		k.add(path+".tsig_key", "is required when tsig_secret is set: the TSIG key's name, as the DNS server knows it")
	}
	if !slices.Contains(tsigAlgorithms, r.TSIGAlgorithm) {
		k.add(path+".tsig_algorithm", "%q is not supported; use one of %s", r.TSIGAlgorithm, strings.Join(tsigAlgorithms, ", "))
	}
	k.checkSecretRef(path+".tsig_secret", r.TSIGSecret)
	if isLiteralSecret(r.TSIGSecret) {
		if _, err := base64.StdEncoding.DecodeString(r.TSIGSecret); err != nil {
			k.add(path+".tsig_secret", "is not valid base64")
		}
	}
}

func (k *checker) checkCredentials() {
	for _, name := range k.c.inFileOrder("credentials", maps.Keys(k.c.Credentials)) {
		if name == "" {
			k.add("credentials", "a credential needs a name")
		}
		cred := k.c.Credentials[name]
		path := join("credentials", name)
		if isReference(cred.Username) {
			k.checkSecretRef(path+".username", cred.Username)
		}
		k.checkSecretRef(path+".password", cred.Password)
		k.checkSecretRef(path+".private_key", cred.PrivateKey)
	}
}

var envVarName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// checkSecretRef checks the form of a secret reference. Its messages never
// quote the value, which may be the secret itself.
func (k *checker) checkSecretRef(path, ref string) {
	if strings.HasPrefix(ref, awsRefPrefix) || strings.HasPrefix(ref, vaultRefPrefix) {
		k.checkStoreRef(path, ref)
		return
	}
	if name, isEnv := strings.CutPrefix(ref, envRefPrefix); isEnv && !envVarName.MatchString(name) {
		k.add(path, "an env: reference needs an environment variable name of letters, digits and underscores, such as env:OTTR_DEVICE_PASSWORD")
	}
	if file, isFile := strings.CutPrefix(ref, fileRefPrefix); isFile && file == "" {
		k.add(path, "a file: reference needs a path, such as file:/etc/ottr/device.key")
	}
}

func isLiteralSecret(ref string) bool {
	for _, prefix := range []string{envRefPrefix, fileRefPrefix, awsRefPrefix, vaultRefPrefix} {
		if strings.HasPrefix(ref, prefix) {
			return false
		}
	}
	return ref != ""
}

func (k *checker) checkRoutes() {
	named := map[string]int{}
	for i, r := range k.c.Routes {
		path := fmt.Sprintf("routes[%d]", i)
		if strings.TrimSpace(r.Driver) == "" {
			k.add(path+".driver", "is required: the driver that rotates the matching assets, such as linux")
		}
		if ca := r.Match.CertificateAuthority; ca != "" {
			if _, ok := k.c.CertificateAuthorities[ca]; !ok {
				k.add(path+".match.certificate_authority", "%q is not a configured CA profile (configured: %s)", ca, listOrNone(slices.Sorted(maps.Keys(k.c.CertificateAuthorities))))
			}
		}
		for j, ca := range r.FallbackIssuers {
			if _, ok := k.c.CertificateAuthorities[ca]; !ok {
				k.add(fmt.Sprintf("%s.fallback_issuers[%d]", path, j), "%q is not a configured CA profile (configured: %s)", ca, listOrNone(slices.Sorted(maps.Keys(k.c.CertificateAuthorities))))
			}
		}
		if r.Name != "" {
			if first, dup := named[r.Name]; dup {
				k.add(path+".name", "%q is already the name of routes[%d]", r.Name, first)
			} else {
				named[r.Name] = i
			}
		}
	}
}

// inFileOrder returns the keys of the map at section in the order the file
// lists them (by name when not parsed), so problems read top to bottom and
// the first of two clashing entries is the one kept.
func (c *Config) inFileOrder(section string, keys iter.Seq[string]) []string {
	sorted := slices.Sorted(keys)
	slices.SortStableFunc(sorted, func(a, b string) int {
		return c.lines[join(section, a)] - c.lines[join(section, b)]
	})
	return sorted
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// checkDomain returns why name is not a fully qualified domain name, or "".
// A trailing dot is allowed; underscores are, as DNS allows them in zones.
func checkDomain(name string) string {
	n := strings.TrimSuffix(name, ".")
	if n == "" {
		return "is empty"
	}
	if len(n) > 253 {
		return "is longer than 253 characters"
	}
	labels := strings.Split(n, ".")
	if len(labels) < 2 {
		return "is not fully qualified: it needs a dot, as in example.com"
	}
	for _, label := range labels {
		switch {
		case label == "":
			return "has an empty label"
		case len(label) > 63:
			return "has a label longer than 63 characters"
		case label[0] == '-' || label[len(label)-1] == '-':
			return "has a label that starts or ends with a hyphen"
		}
		for _, r := range label {
			if !isDomainRune(r) {
				return fmt.Sprintf("has the character %q; write international names in their xn-- form", r)
			}
		}
	}
	if _, err := strconv.Atoi(labels[len(labels)-1]); err == nil {
		return "ends in a number, so it is an address, not a domain name"
	}
	return ""
}

func isDomainRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}

// normalZone is the form zones are compared and reported in: lower case,
// without the trailing dot.
func normalZone(zone string) string { return strings.ToLower(strings.TrimSuffix(zone, ".")) }

func (k *checker) checkAPI() {
	a := k.c.API
	if reason := checkHostPort(a.Listen); reason != "" {
		k.add("api.listen", "%q %s", a.Listen, reason)
	}
	if (a.TLSCertFile == "") != (a.TLSKeyFile == "") {
		k.add("api", "tls_cert_file and tls_key_file go together: set both to serve HTTPS, or neither")
	}
}

// checkHostPort returns why s is not "host:port", or "".
func checkHostPort(s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return "must be host:port, such as " + exampleNameserver
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "has no valid port: use 1 to 65535, usually 53"
	}
	return ""
}

// warnings lists what the configuration allows but an operator should
// change. Messages name the setting, never a secret.
func (c *Config) warnings() []string {
	var out []string
	warn := func(path, message string) {
		out = append(out, formatProblem(c.source, Problem{Line: c.Line(path), Path: path, Message: message}))
	}
	literal := "the secret is written in the configuration file; use env:NAME, file:PATH, aws-sm:NAME#key or vault:MOUNT/PATH#key to keep it out"
	for _, name := range c.inFileOrder("certificate_authorities", maps.Keys(c.CertificateAuthorities)) {
		if eab := c.CertificateAuthorities[name].EAB; eab != nil && isLiteralSecret(eab.HMACKey) {
			warn(join("certificate_authorities", name)+".eab.hmac_key", literal)
		}
	}
	warnRFC2136 := func(path string, r RFC2136) {
		if isLiteralSecret(r.TSIGSecret) {
			warn(path+".tsig_secret", literal)
		}
		if r.Nameserver != "" && r.TSIGKey == "" {
			warn(path, "updates are sent unsigned: anyone who reaches the nameserver can change the zone; set tsig_key and tsig_secret")
		}
		if r.TSIGAlgorithm == "hmac-sha1." {
			warn(path+".tsig_algorithm", "hmac-sha1 is weak; prefer hmac-sha256")
		}
	}
	for _, dataCenter := range c.inFileOrder("workers.per_data_center", maps.Keys(c.Workers.PerDataCenter)) {
		if n := c.Workers.PerDataCenter[dataCenter]; n > c.Workers.Concurrency {
			warn(join("workers.per_data_center", dataCenter), fmt.Sprintf("%d is above workers.concurrency (%d), the total over every data center, so it limits nothing; lower it or remove it", n, c.Workers.Concurrency))
		}
	}
	warnRFC2136("dns.rfc2136", c.DNS.RFC2136)
	warnRFC2136("dns.apply.rfc2136", c.DNS.Apply.RFC2136)
	for _, zone := range c.inFileOrder("dns.providers", maps.Keys(c.DNS.Providers)) {
		p, path := c.DNS.Providers[zone], join("dns.providers", zone)
		if p.Type == ProviderRFC2136 {
			warnRFC2136(path+".rfc2136", p.RFC2136)
		}
		for setting, ref := range map[string]string{
			"route53.secret_access_key": p.Route53.SecretAccessKey, "cloudflare.api_token": p.Cloudflare.APIToken,
			"cloudflare.zone_token": p.Cloudflare.ZoneToken, "httpreq.password": p.HTTPReq.Password,
		} {
			if isLiteralSecret(ref) {
				warn(path+"."+setting, literal)
			}
		}
	}
	for _, name := range c.inFileOrder("credentials", maps.Keys(c.Credentials)) {
		cred := c.Credentials[name]
		if isLiteralSecret(cred.Password) {
			warn(join("credentials", name)+".password", literal)
		}
		if isLiteralSecret(cred.PrivateKey) {
			warn(join("credentials", name)+".private_key", literal)
		}
	}
	for _, s := range []struct{ setting, ref string }{
		{"secrets.aws.secret_access_key", c.Secrets.AWS.SecretAccessKey},
		{"secrets.vault.auth.token", c.Secrets.Vault.Auth.Token},
		{"secrets.vault.auth.secret_id", c.Secrets.Vault.Auth.SecretID},
	} {
		if isLiteralSecret(s.ref) {
			warn(s.setting, "the secret is written in the configuration file; use env:NAME or file:PATH to keep it out")
		}
	}
	for _, r := range c.SecretRefs() {
		if message := lookalikeWarning(r.Ref); message != "" {
			warn(r.Setting, message)
		}
	}
	return out
}
