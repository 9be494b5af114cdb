package config

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/secret"
)

// Secrets configures the secret stores references may read from
// (aws-sm:, vault:) and how long their values are kept.
type Secrets struct {
	// CacheTTL is how long a value read from a store is used before it is
	// read again. Default 5m.
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// Timeout bounds one read from a store. Default 10s.
	Timeout time.Duration `yaml:"timeout"`
	// AWS configures aws-sm: references (AWS Secrets Manager).
	AWS SecretsAWS `yaml:"aws"`
	// Vault configures vault: references (HashiCorp Vault, OpenBao).
	Vault SecretsVault `yaml:"vault"`
}

// SecretsAWS reaches AWS Secrets Manager. Every field may be left out: the
// SDK's default chain (AWS_* variables, shared files, instance or task
// role) supplies the region and credentials.
type SecretsAWS struct {
	Region string `yaml:"region"`
	// Profile of the shared AWS configuration files.
	Profile string `yaml:"profile"`
	// Endpoint replaces the regional endpoint, such as a VPC endpoint.
	Endpoint string `yaml:"endpoint"`
	// AccessKeyID and SecretAccessKey are static credentials (env:NAME or
	// file:PATH references), both or neither.
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key"`
}

// SecretsVault reaches a HashiCorp Vault or OpenBao server.
type SecretsVault struct {
	// Address is the server's URL, such as https://vault.example.com:8200.
	Address string `yaml:"address"`
	// Namespace is the Vault Enterprise / OpenBao namespace, if any.
	Namespace string `yaml:"namespace"`
	// CAFile holds the PEM certificates the server's is verified against,
	// beside the system's.
	CAFile string `yaml:"ca_file"`
	// Auth is how ottr logs in.
	Auth VaultAuth `yaml:"auth"`
	// Mounts sets the KV version (1 or 2) of mounts by path; a mount not
	// listed is asked about (sys/internal/ui/mounts).
	Mounts map[string]int `yaml:"mounts"`
}

// Vault auth methods.
const (
	VaultAuthToken      = "token"
	VaultAuthAppRole    = "approle"
	VaultAuthKubernetes = "kubernetes"
)

// VaultAuth is a Vault login.
type VaultAuth struct {
	// Method is token (the default), approle or kubernetes.
	Method string `yaml:"method"`
	// Token is the token reference of the token method (env:NAME or
	// file:PATH).
	Token string `yaml:"token"`
	// RoleID and SecretID are the AppRole's (references).
	RoleID   string `yaml:"role_id"`
	SecretID string `yaml:"secret_id"`
	// Role is the Kubernetes auth role.
	Role string `yaml:"role"`
	// JWTFile is the service account token of the Kubernetes method.
	// Default /var/run/secrets/kubernetes.io/serviceaccount/token.
	JWTFile string `yaml:"jwt_file"`
	// Mount is where the auth method is mounted; default its name
	// (approle, kubernetes).
	Mount string `yaml:"mount"`
}

// DefaultJWTFile is where Kubernetes mounts a pod's service account token.
const DefaultJWTFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"

func (s *Secrets) withDefaults(baseDir string) {
	if s.CacheTTL == 0 {
		s.CacheTTL = secret.DefaultCacheTTL
	}
	if s.Timeout == 0 {
		s.Timeout = secret.DefaultTimeout
	}
	s.AWS.AccessKeyID = resolveSecretRef(baseDir, s.AWS.AccessKeyID)
	s.AWS.SecretAccessKey = resolveSecretRef(baseDir, s.AWS.SecretAccessKey)
	v := &s.Vault
	v.CAFile = resolvePath(baseDir, v.CAFile)
	if v.Address != "" && v.Auth.Method == "" {
		v.Auth.Method = VaultAuthToken
	}
	v.Auth.Token = resolveSecretRef(baseDir, v.Auth.Token)
	v.Auth.RoleID = resolveSecretRef(baseDir, v.Auth.RoleID)
	v.Auth.SecretID = resolveSecretRef(baseDir, v.Auth.SecretID)
	if v.Auth.Method == VaultAuthKubernetes && v.Auth.JWTFile == "" {
		v.Auth.JWTFile = DefaultJWTFile
	}
	v.Auth.JWTFile = resolvePath(baseDir, v.Auth.JWTFile)
	if v.Auth.Mount == "" && (v.Auth.Method == VaultAuthAppRole || v.Auth.Method == VaultAuthKubernetes) {
		v.Auth.Mount = v.Auth.Method
	}
}

func (k *checker) checkSecrets() {
	s := k.c.Secrets
	if s.CacheTTL < 0 {
		k.add("secrets.cache_ttl", "must not be negative, got %v", s.CacheTTL)
	}
	if s.Timeout < time.Second {
		k.add("secrets.timeout", "must be at least 1s, got %v", s.Timeout)
	}
	if e := s.AWS.Endpoint; e != "" {
		if u, err := url.Parse(e); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			k.add("secrets.aws.endpoint", "must be an http(s) URL, such as https://vpce-0abc.secretsmanager.eu-west-1.vpce.amazonaws.com")
		}
	}
	if (s.AWS.AccessKeyID == "") != (s.AWS.SecretAccessKey == "") {
		k.add("secrets.aws", "access_key_id and secret_access_key go together: set both, or neither to use the default credential chain")
	}
	k.checkBootstrapRef("secrets.aws.access_key_id", s.AWS.AccessKeyID)
	k.checkBootstrapRef("secrets.aws.secret_access_key", s.AWS.SecretAccessKey)
	k.checkVault(s.Vault)
	k.checkStoreRefs()
}

func (k *checker) checkVault(v SecretsVault) {
	const path = "secrets.vault"
	if v.Address == "" {
		if v.Auth != (VaultAuth{}) || v.Namespace != "" || v.CAFile != "" || len(v.Mounts) > 0 {
			k.add(path+".address", "is required when secrets.vault is set: the server's URL, such as https://vault.example.com:8200")
		}
		return
	}
	if u, err := url.Parse(v.Address); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		k.add(path+".address", "must be an http(s) URL, such as https://vault.example.com:8200")
	}
	a := v.Auth
	switch a.Method {
	case VaultAuthToken:
		if a.Token == "" {
			k.add(path+".auth.token", "is required for the token method: env:NAME or file:PATH holding a Vault token, such as env:VAULT_TOKEN")
		}
	case VaultAuthAppRole:
		if a.RoleID == "" {
			k.add(path+".auth.role_id", "is required for the approle method: the AppRole's role ID, as a value, env:NAME or file:PATH")
		}
		if a.SecretID == "" {
			k.add(path+".auth.secret_id", "is required for the approle method: env:NAME or file:PATH holding the AppRole's secret ID")
		}
	case VaultAuthKubernetes:
		if a.Role == "" {
			k.add(path+".auth.role", "is required for the kubernetes method: the Vault role the pod's service account logs in as")
		}
	default:
		k.add(path+".auth.method", "%q is not an auth method ottr knows: use token, approle or kubernetes", a.Method)
	}
	k.checkBootstrapRef(path+".auth.token", a.Token)
	k.checkBootstrapRef(path+".auth.secret_id", a.SecretID)
	k.checkBootstrapRef(path+".auth.role_id", a.RoleID)
	for _, mount := range k.c.inFileOrder(path+".mounts", maps.Keys(v.Mounts)) {
		if n := v.Mounts[mount]; n != 1 && n != 2 {
			k.add(join(path+".mounts", mount), "must be 1 or 2, the KV version of the mount, got %d", n)
		}
	}
}

// checkBootstrapRef checks a credential of a store itself: it can come
// from the environment or a file only, not from a store.
func (k *checker) checkBootstrapRef(path, ref string) {
	if r, err := secret.ParseRef(ref); err == nil && (r.Scheme == secret.SchemeAWS || r.Scheme == secret.SchemeVault) {
		k.add(path, "is a credential of a secret store, so it cannot itself come from one: use env:NAME or file:PATH")
		return
	}
	k.checkSecretRef(path, ref)
}

// checkStoreRefs requires a secrets.vault block for vault: references:
// unlike AWS, Vault has no default chain to fall back on.
func (k *checker) checkStoreRefs() {
	if k.c.Secrets.Vault.Address != "" {
		return
	}
	for _, r := range k.c.SecretRefs() {
		if strings.HasPrefix(r.Ref, secret.VaultPrefix) {
			k.add(r.Setting, "is a vault: reference, and secrets.vault.address is not set: add a secrets.vault block saying where the server is and how to log in")
		}
	}
}

// SecretRef is one secret setting of the configuration.
type SecretRef struct {
	// Setting is where it is, such as "credentials.firewalls.password".
	Setting string
	// Line is its line in the file, or 0.
	Line int
	// Ref is the reference, or the literal value.
	Ref string
}

// SecretRefs lists every secret setting that is set, in file order:
// the database URL, CA EAB keys, TSIG secrets, DNS provider keys, device
// credentials and notification channels. Route options are the drivers'
// to declare secret, so they are not listed here.
func (c *Config) SecretRefs() []SecretRef {
	var out []SecretRef
	add := func(setting, ref string) {
		if ref != "" {
			out = append(out, SecretRef{Setting: setting, Line: c.Line(setting), Ref: ref})
		}
	}
	if r, _ := secret.ParseRef(c.Database); !r.IsLiteral() {
		add("database", c.Database)
	}
	for _, name := range c.inFileOrder("certificate_authorities", maps.Keys(c.CertificateAuthorities)) {
		if eab := c.CertificateAuthorities[name].EAB; eab != nil {
			add(join("certificate_authorities", name)+".eab.hmac_key", eab.HMACKey)
		}
	}
	add("dns.rfc2136.tsig_secret", c.DNS.RFC2136.TSIGSecret)
	add("dns.apply.rfc2136.tsig_secret", c.DNS.Apply.RFC2136.TSIGSecret)
	for _, zone := range c.inFileOrder("dns.providers", maps.Keys(c.DNS.Providers)) {
		p, path := c.DNS.Providers[zone], join("dns.providers", zone)
		add(path+".rfc2136.tsig_secret", p.RFC2136.TSIGSecret)
		add(path+".route53.secret_access_key", p.Route53.SecretAccessKey)
		add(path+".cloudflare.api_token", p.Cloudflare.APIToken)
		add(path+".cloudflare.zone_token", p.Cloudflare.ZoneToken)
		add(path+".httpreq.password", p.HTTPReq.Password)
	}
	for _, name := range c.inFileOrder("credentials", maps.Keys(c.Credentials)) {
		cred, path := c.Credentials[name], join("credentials", name)
		if isReference(cred.Username) {
			add(path+".username", cred.Username)
		}
		add(path+".password", cred.Password)
		add(path+".private_key", cred.PrivateKey)
	}
	for _, name := range c.inFileOrder("notifications.channels", maps.Keys(c.Notifications.Channels)) {
		path := join("notifications.channels", name)
		for _, s := range c.Notifications.Channels[name].Secrets() {
			add(path+"."+s.Setting, s.Ref)
		}
	}
	return out
}

// checkStoreRef checks the form of an aws-sm: or vault: reference.
func (k *checker) checkStoreRef(path, ref string) {
	if _, err := secret.ParseRef(ref); err != nil {
		k.add(path, "%s", strings.TrimPrefix(err.Error(), "secret: "))
	}
}

// lookalikeWarning is the warning for a literal that reads as a misspelt
// reference, or "".
func lookalikeWarning(value string) string {
	prefix := secret.Lookalike(value)
	if prefix == "" {
		return ""
	}
	scheme, _, _ := strings.Cut(value, ":")
	return fmt.Sprintf("starts with %q, which is not a reference, so the value is taken literally: did you mean %s? (references: %s)",
		scheme+":", prefix, strings.Join(slices.Sorted(slices.Values([]string{secret.EnvPrefix, secret.FilePrefix, secret.AWSPrefix, secret.VaultPrefix})), " "))
}
