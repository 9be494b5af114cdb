package ottrimport

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"
)

// The names acme.sh gives an account's files, which Ottr kept in Secrets
// Manager as {prefix}/otter/<name>.
const (
	AccountKeyFile  = "account.key"
	AccountJSONFile = "account.json"
	CAConfFile      = "ca.conf"
)

// AccountFiles are acme.sh's files of one account, each with the name it
// is reported under (a path, or a Secrets Manager name).
type AccountFiles struct {
	Key, JSON, CAConf             []byte
	KeyName, JSONName, CAConfName string
}

// Account is an ACME account acme.sh registered: its key, and the URL the
// CA gave it (ca.conf's ACCOUNT_URL).
type Account struct {
	Key crypto.Signer
	URL string
	// Email is the contact acme.sh registered, if any.
	Email string
}

// KeyDescription names the account key's algorithm and size, as in
// "ECDSA P-256" or "RSA 2048".
func (a *Account) KeyDescription() string {
	switch k := a.Key.Public().(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	}
	return fmt.Sprintf("%T", a.Key.Public())
}

// ParseAccount reads acme.sh's account files. Every problem is reported,
// each naming its file; no error quotes a secret (the key, or the EAB HMAC
// key acme.sh may keep in ca.conf).
func ParseAccount(f AccountFiles) (*Account, error) {
	var problems []error
	key, err := parseAccountKey(f.Key)
	if err != nil {
		problems = append(problems, fmt.Errorf("%s: %w", f.KeyName, err))
	}
	contact, err := checkAccountJSON(f.JSON, key)
	if err != nil {
		problems = append(problems, fmt.Errorf("%s: %w", f.JSONName, err))
	}
	conf, err := parseCAConf(f.CAConf)
	if err != nil {
		problems = append(problems, fmt.Errorf("%s: %w", f.CAConfName, err))
	}
	accountURL := conf["ACCOUNT_URL"]
	if err == nil {
		if accountURL == "" {
			problems = append(problems, fmt.Errorf("%s: no ACCOUNT_URL: acme.sh writes it when it registers the account; export the ca.conf that sits beside account.key", f.CAConfName))
		} else if u, err := url.Parse(accountURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			problems = append(problems, fmt.Errorf("%s: ACCOUNT_URL %q is not an https:// URL", f.CAConfName, accountURL))
		}
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	email := conf["CA_EMAIL"]
	if email == "" {
		for _, c := range contact {
			if e, ok := strings.CutPrefix(c, "mailto:"); ok {
				email = e
				break
			}
		}
	}
	return &Account{Key: key, URL: accountURL, Email: email}, nil
}

// CheckCA reports whether the account belongs to the CA whose ACME
// directory is given: an account URL is on its CA's host.
func (a *Account) CheckCA(directory string) error {
	acct, err := url.Parse(a.URL)
	if err != nil {
		return fmt.Errorf("account URL %q: %w", a.URL, err)
	}
	dir, err := url.Parse(directory)
	if err != nil {
		return fmt.Errorf("directory %q: %w", directory, err)
	}
	if !strings.EqualFold(acct.Host, dir.Host) || acct.Scheme != dir.Scheme {
		return fmt.Errorf("the account %s was registered at %s://%s, but the CA profile's directory is %s: import it into the profile of that CA (--ca), or register a new account by importing none",
			a.URL, acct.Scheme, acct.Host, directory)
	}
	return nil
}

// parseAccountKey reads the account key as acme.sh writes it: an
// "EC PRIVATE KEY" (openssl ecparam, acme.sh's default ec-256), an
// "RSA PRIVATE KEY" (openssl genrsa, older acme.sh) or PKCS #8.
func parseAccountKey(data []byte) (crypto.Signer, error) {
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM private key: the file is empty, cut short, or not acme.sh's account key (one PEM block of an EC or RSA key)")
		}
		var (
			key any
			err error
		)
		switch block.Type {
		case "EC PARAMETERS":
			continue
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		default:
			return nil, fmt.Errorf("a PEM %q block, not a private key", block.Type)
		}
		if err != nil {
			return nil, errors.New("the PEM private key does not parse: the file is damaged or cut short")
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("a %T key cannot sign ACME requests", key)
		}
		return signer, nil
	}
}

// checkAccountJSON checks account.json, the CA's answer to the account's
// registration, and returns its contacts. When it holds the account's
// public key (Let's Encrypt's and Pebble's do), that must be key's.
func checkAccountJSON(data []byte, key crypto.Signer) ([]string, error) {
	var doc struct {
		Key     json.RawMessage `json:"key"`
		Contact []string        `json:"contact"`
		Status  string          `json:"status"`
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, errors.New("not a JSON object: the file is empty, cut short, or not acme.sh's account.json")
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not the CA's account object: %w", err)
	}
	if doc.Status != "" && doc.Status != "valid" {
		return nil, fmt.Errorf("the account's status is %q: the CA no longer takes orders from it; import none, and ottr registers a new account", doc.Status)
	}
	if len(doc.Key) > 0 && key != nil {
		same, err := jwkIsKey(doc.Key, key.Public())
		if err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
		if !same {
			return nil, errors.New("its key is not account.key's: the files come from two accounts; export the three files of one account directory")
		}
	}
	return doc.Contact, nil
}

// jwkIsKey reports whether the JSON Web Key is pub.
func jwkIsKey(raw json.RawMessage, pub crypto.PublicKey) (bool, error) {
	var jwk struct {
		Kty, Crv, N, E, X, Y string
	}
	if err := json.Unmarshal(raw, &jwk); err != nil {
		return false, fmt.Errorf("not a JSON Web Key: %w", err)
	}
	num := func(s string) (*big.Int, error) {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
		if err != nil {
			return nil, errors.New("a JSON Web Key value is not base64url")
		}
		return new(big.Int).SetBytes(b), nil
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if jwk.Kty != "RSA" {
			return false, nil
		}
		n, err := num(jwk.N)
		if err != nil {
			return false, err
		}
		e, err := num(jwk.E)
		if err != nil {
			return false, err
		}
		return n.Cmp(k.N) == 0 && e.Int64() == int64(k.E), nil
	case *ecdsa.PublicKey:
		if jwk.Kty != "EC" {
			return false, nil
		}
		x, err := num(jwk.X)
		if err != nil {
			return false, err
		}
		y, err := num(jwk.Y)
		if err != nil {
			return false, err
		}
		ecdhKey, err := k.ECDH()
		if err != nil {
			return false, nil
		}
		// An uncompressed point: 0x04, then X and Y of the curve's size.
		point := ecdhKey.Bytes()
		size := (len(point) - 1) / 2
		return bytes.Equal(point[1:1+size], x.FillBytes(make([]byte, size))) &&
			bytes.Equal(point[1+size:], y.FillBytes(make([]byte, size))), nil
	}
	return false, nil
}

// acme.sh wraps a value it saved base64-encoded in these markers.
const (
	b64ConfStart = "__ACME_BASE64__START_"
	b64ConfEnd   = "__ACME_BASE64__END_"
)

// parseCAConf reads ca.conf, the shell assignments acme.sh keeps per CA
// (NAME='value', one a line).
func parseCAConf(data []byte) (map[string]string, error) {
	conf := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok || name == "" || strings.ContainsAny(name, " \t'\"") {
			return nil, fmt.Errorf("line %d: not a NAME='value' line: is this acme.sh's ca.conf?", n)
		}
		if len(value) >= 2 && (value[0] == '\'' || value[0] == '"') {
			if value[len(value)-1] != value[0] {
				return nil, fmt.Errorf("line %d: %s: the quoted value does not end: the file is cut short", n, name)
			}
			value = value[1 : len(value)-1]
		} else if strings.HasPrefix(value, "'") || strings.HasPrefix(value, `"`) {
			return nil, fmt.Errorf("line %d: %s: the quoted value does not end: the file is cut short", n, name)
		}
		if inner, ok := strings.CutPrefix(value, b64ConfStart); ok {
			inner, ok = strings.CutSuffix(inner, b64ConfEnd)
			decoded, err := base64.StdEncoding.DecodeString(inner)
			if !ok || err != nil {
				return nil, fmt.Errorf("line %d: %s: a base64 value acme.sh saved is damaged", n, name)
			}
			value = string(decoded)
		}
		conf[name] = value
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(conf) == 0 {
		return nil, errors.New("empty: acme.sh's ca.conf holds at least ACCOUNT_URL")
	}
	return conf, nil
}
