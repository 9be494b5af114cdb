package acme

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"

	legoacme "github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/registration"
)

// AccountStore keeps ACME accounts between runs. The data is the account's
// private key and URI; the store is expected to encrypt it at rest.
type AccountStore interface {
	// LoadAccount returns what SaveAccount stored under name, or an error
	// wrapping ErrNoAccount or fs.ErrNotExist when there is none.
	LoadAccount(ctx context.Context, name string) ([]byte, error)
	SaveAccount(ctx context.Context, name string, data []byte) error
}

// AccountCreator is an AccountStore that can store an account only if none
// is stored under the name yet. Processes that start together (a cluster's
// serve and workers) and find no account then agree on the first one
// stored, rather than each ordering under an account of its own — an order
// one of them created could not be continued by another.
type AccountCreator interface {
	// CreateAccount stores data under name, or fails with an error
	// wrapping ErrAccountExists when an account is stored there already.
	CreateAccount(ctx context.Context, name string, data []byte) error
}

// ErrAccountExists is what CreateAccount returns (wrapped) when another
// process stored an account first.
var ErrAccountExists = errors.New("acme: an account is stored already")

// ErrNoAccount is what an AccountStore returns (wrapped) when it holds no
// account under the name asked for; New then registers one.
var ErrNoAccount = errors.New("acme: no stored account")

// storedAccount is the JSON an AccountStore keeps.
type storedAccount struct {
	// KeyPEM is the account key, PKCS #8.
	KeyPEM string `json:"key_pem"`
	// URI is the account URL at the CA it was registered with.
	URI string `json:"uri"`
	// Directory is the directory of the CA that URI belongs to; when the
	// profile moves to another CA, New registers the key there and saves
	// the new URI.
	Directory string `json:"directory"`
}

// user is the lego view of the account.
type user struct {
	email string
	key   crypto.Signer
	reg   *legoacme.ExtendedAccount
}

func (u *user) GetEmail() string                           { return u.email }
func (u *user) GetRegistration() *legoacme.ExtendedAccount { return u.reg }
func (u *user) GetPrivateKey() crypto.Signer               { return u.key }

var _ registration.User = (*user)(nil)

// loadAccount reads the stored account, or makes a new key when there is
// none (or no store).
func loadAccount(ctx context.Context, cfg Config) (*user, *storedAccount, error) {
	u := &user{email: cfg.Email}
	if cfg.Accounts != nil {
		data, err := cfg.Accounts.LoadAccount(ctx, cfg.Name)
		switch {
		case err == nil:
			stored, key, err := decodeAccount(data)
			if err != nil {
				return nil, nil, err
			}
			// u.reg stays empty: the account is looked up by its key
			// (a request signed with the key itself, not the stored URI).
			u.key = key
			return u, stored, nil
		case errors.Is(err, ErrNoAccount), errors.Is(err, fs.ErrNotExist):
		default:
			return nil, nil, fmt.Errorf("acme: load account %q: %w", cfg.Name, err)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("acme: account key: %w", err)
	}
	u.key = key
	return u, nil, nil
}

func decodeAccount(data []byte) (*storedAccount, crypto.Signer, error) {
	var stored storedAccount
	if err := json.Unmarshal(data, &stored); err != nil {
		return nil, nil, fmt.Errorf("acme: stored account: %w", err)
	}
	block, _ := pem.Decode([]byte(stored.KeyPEM))
	if block == nil {
		return nil, nil, errors.New("acme: stored account: no PEM key")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("acme: stored account key: %w", err)
	}
	key, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("acme: stored account key: %T cannot sign", parsed)
	}
	return &stored, key, nil
}

func encodeAccount(u *user, directory string) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(u.key)
	if err != nil {
		return nil, fmt.Errorf("acme: encode account key: %w", err)
	}
	return storedAccount{
		KeyPEM:    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		URI:       u.reg.Location,
		Directory: directory,
	}.encode()
}

func (s storedAccount) encode() ([]byte, error) {
	data, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("acme: encode account: %w", err)
	}
	return data, nil
}

// ensureAccount makes sure the CA knows the account key: it looks the key
// up (the CA may have forgotten it, as the lab's does on restart) and
// registers it when the CA does not know it. The result is saved when it
// differs from what was stored.
func ensureAccount(ctx context.Context, cfg Config, reg *registration.Registrar, u *user, stored *storedAccount) error {
	acct, err := reg.ResolveAccountByKey(ctx)
	if err != nil {
		var problem *legoacme.ProblemDetails
		if !errors.As(err, &problem) || problem.Type != legoacme.AccountDoesNotExistErrorType {
			return fmt.Errorf("acme: look up account: %w", err)
		}
		acct, err = register(ctx, cfg, reg)
		if err != nil {
			return err
		}
		cfg.Logger.Info("acme: registered account", "ca", cfg.Name, "account", acct.Location)
	}
	switch acct.Status {
	case "", legoacme.StatusValid:
	default:
		return fmt.Errorf("acme: account %s is %s", acct.Location, acct.Status)
	}
	u.reg = acct
	if cfg.Accounts == nil || (stored != nil && stored.URI == acct.Location && stored.Directory == cfg.DirectoryURL) {
		return nil
	}
	data, err := encodeAccount(u, cfg.DirectoryURL)
	if err != nil {
		return err
	}
	if creator, ok := cfg.Accounts.(AccountCreator); ok && stored == nil {
		// A new key: another process may have stored one meanwhile.
		err := creator.CreateAccount(ctx, cfg.Name, data)
		if errors.Is(err, ErrAccountExists) {
			cfg.Logger.Info("acme: another process stored an account first; using it", "ca", cfg.Name, "unused_account", acct.Location)
			return errStoredFirst
		}
		if err != nil {
			return fmt.Errorf("acme: save account %q: %w", cfg.Name, err)
		}
		return nil
	}
	if err := cfg.Accounts.SaveAccount(ctx, cfg.Name, data); err != nil {
		return fmt.Errorf("acme: save account %q: %w", cfg.Name, err)
	}
	return nil
}

// errStoredFirst is ensureAccount finding that another process stored an
// account first: New starts again with that one.
var errStoredFirst = errors.New("acme: another process stored an account first")

func register(ctx context.Context, cfg Config, reg *registration.Registrar) (*legoacme.ExtendedAccount, error) {
	if cfg.EAB != nil {
		acct, err := reg.RegisterWithExternalAccountBinding(ctx, registration.RegisterEABOptions{
			TermsOfServiceAgreed: true,
			Kid:                  cfg.EAB.KID,
			HmacEncoded:          cfg.EAB.HMACKey,
		})
		if err != nil {
			return nil, fmt.Errorf("acme: register account with external binding %q: %w", cfg.EAB.KID, err)
		}
		return acct, nil
	}
	acct, err := reg.Register(ctx, registration.RegisterOptions{TermsOfServiceAgreed: true})
	if err != nil {
		return nil, fmt.Errorf("acme: register account: %w", err)
	}
	return acct, nil
}
