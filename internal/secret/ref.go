package secret

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Prefixes of secret references in ottr.yaml.
const (
	// EnvPrefix reads the rest of the reference as an environment variable name.
	EnvPrefix = "env:"
	// FilePrefix reads the rest of the reference as a file path.
	FilePrefix = "file:"
	// AWSPrefix reads a secret of AWS Secrets Manager: aws-sm:NAME,
	// aws-sm:NAME#key, either followed by @STAGE.
	AWSPrefix = "aws-sm:"
	// VaultPrefix reads a field of a HashiCorp Vault or OpenBao KV secret:
	// vault:MOUNT/PATH#key.
	VaultPrefix = "vault:"
)

// Schemes of references, as Ref.Scheme holds them; the scheme of a literal
// value is "".
const (
	SchemeEnv   = "env"
	SchemeFile  = "file"
	SchemeAWS   = "aws-sm"
	SchemeVault = "vault"
)

// Ref is a parsed secret reference.
type Ref struct {
	// Scheme is one of the Scheme constants, or "" for a value taken
	// literally.
	Scheme string
	// Name is what the scheme reads: an environment variable, a file
	// path, a Secrets Manager secret's name or ARN, a Vault MOUNT/PATH.
	Name string
	// Key is the field of a JSON or KV secret, after "#"; empty for a
	// secret read whole.
	Key string
	// Stage is a Secrets Manager version stage, after the last "@"
	// (AWSCURRENT when empty).
	Stage string

	text string
}

// String is the reference as written. For a literal value it is
// "(literal value)": a literal is the secret itself.
func (r Ref) String() string {
	if r.Scheme == "" {
		return "(literal value)"
	}
	return r.text
}

// IsLiteral reports whether the value was written out rather than referred to.
func (r Ref) IsLiteral() bool { return r.Scheme == "" }

// document names what a backend fetches for the reference: the key is
// picked out of it, so every key of one secret shares a single fetch.
func (r Ref) document() string { return r.Scheme + ":" + r.Name + "@" + r.Stage }

// stageName is what a version stage may be: Secrets Manager's staging
// labels are 1 to 256 letters, digits and /_+=.@-, but "@" separates the
// stage here, so a stage holding "@" cannot be written.
var stageName = regexp.MustCompile(`^[A-Za-z0-9/_+=.-]{1,256}$`)

// ParseRef reads a reference. A value that starts with no known prefix is
// a literal and never an error: a password may well contain a colon.
// Errors quote the reference, which names a secret but holds none.
func ParseRef(text string) (Ref, error) {
	switch {
	case strings.HasPrefix(text, EnvPrefix):
		name := strings.TrimPrefix(text, EnvPrefix)
		if name == "" {
			return Ref{}, errors.New(`secret: reference "env:" names no environment variable`)
		}
		return Ref{Scheme: SchemeEnv, Name: name, text: text}, nil
	case strings.HasPrefix(text, FilePrefix):
		path := strings.TrimPrefix(text, FilePrefix)
		if path == "" {
			return Ref{}, errors.New(`secret: reference "file:" names no file`)
		}
		return Ref{Scheme: SchemeFile, Name: path, text: text}, nil
	case strings.HasPrefix(text, AWSPrefix):
		return parseAWS(text)
	case strings.HasPrefix(text, VaultPrefix):
		return parseVault(text)
	default:
		return Ref{text: text}, nil
	}
}

// parseAWS reads aws-sm:NAME[#KEY][@STAGE]. Secret names never hold "#",
// so the first "#" starts the key; the last "@" starts the stage, so a
// name or key that holds "@" is written with its stage
// (aws-sm:team@corp@AWSCURRENT).
func parseAWS(text string) (Ref, error) {
	rest := strings.TrimPrefix(text, AWSPrefix)
	ref := Ref{Scheme: SchemeAWS, text: text}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		rest, ref.Stage = rest[:at], rest[at+1:]
		if !stageName.MatchString(ref.Stage) {
			return Ref{}, fmt.Errorf("secret: reference %s: %q after the last @ is not a version stage: write one of letters, digits and /_+=.- such as AWSPREVIOUS, or leave @ out for AWSCURRENT", text, ref.Stage)
		}
	}
	name, key, hasKey := strings.Cut(rest, "#")
	ref.Name, ref.Key = name, key
	switch {
	case name == "":
		return Ref{}, fmt.Errorf("secret: reference %s names no secret: write aws-sm:NAME for a plain secret or aws-sm:NAME#key for a key of a JSON secret, such as aws-sm:prod/otter/panos#password", text)
	case hasKey && key == "":
		return Ref{}, fmt.Errorf("secret: reference %s has an empty key after #: name the JSON key, such as #password, or leave # out to read the whole secret", text)
	case strings.ContainsAny(name, " \t\n"):
		return Ref{}, fmt.Errorf("secret: reference %s: a secret name holds no spaces", text)
	}
	return ref, nil
}

// parseVault reads vault:MOUNT/PATH#KEY: a KV secret is a set of fields,
// so a reference always names one.
func parseVault(text string) (Ref, error) {
	rest := strings.TrimPrefix(text, VaultPrefix)
	location, key, hasKey := strings.Cut(rest, "#")
	location = strings.Trim(location, "/")
	mount, path, _ := strings.Cut(location, "/")
	switch {
	case mount == "" || path == "":
		return Ref{}, fmt.Errorf("secret: reference %s needs a mount and a path: write vault:MOUNT/PATH#key, such as vault:secret/otter/panos#password", text)
	case !hasKey || key == "":
		return Ref{}, fmt.Errorf("secret: reference %s names no key: a Vault secret holds fields, so write vault:%s#key, such as #password", text, location)
	case strings.Contains(location, "//"):
		return Ref{}, fmt.Errorf("secret: reference %s has an empty path segment (//)", text)
	}
	return Ref{Scheme: SchemeVault, Name: location, Key: key, text: text}, nil
}

// lookalikes are prefixes that read as a misspelt scheme. A value starting
// with one is still a literal (it might be a password), but is worth a
// warning.
var lookalikes = map[string]string{
	"aws":            AWSPrefix,
	"awssm":          AWSPrefix,
	"aws_sm":         AWSPrefix,
	"aws-secrets":    AWSPrefix,
	"secretsmanager": AWSPrefix,
	"sm":             AWSPrefix,
	"openbao":        VaultPrefix,
	"bao":            VaultPrefix,
	"hcvault":        VaultPrefix,
	"vault-kv":       VaultPrefix,
	"kv":             VaultPrefix,
	"environ":        EnvPrefix,
	"envvar":         EnvPrefix,
	"environment":    EnvPrefix,
	"path":           FilePrefix,
}

// Lookalike returns the prefix a literal value seems to have meant, such
// as "aws-sm:" for "awssm:prod/otter/panos", or "".
func Lookalike(value string) string {
	scheme, _, ok := strings.Cut(value, ":")
	if !ok {
		return ""
	}
	return lookalikes[strings.ToLower(scheme)]
}
