package acme

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// EncodeImportedAccount returns what an AccountStore keeps for an account
// registered by another ACME client (acme.sh, certbot): its key and its
// URL at the CA whose directory is given. New then looks the account up by
// its key and keeps using it, so its orders and rate-limit history stay
// with it.
func EncodeImportedAccount(key crypto.Signer, uri, directory string) ([]byte, error) {
	if key == nil || uri == "" || directory == "" {
		return nil, errors.New("acme: import account: the key, the account URL and the directory are all needed")
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("acme: import account key: %w", err)
	}
	return storedAccount{
		KeyPEM:    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		URI:       uri,
		Directory: directory,
	}.encode()
}

// StoredAccount is an account as an AccountStore keeps it, without its
// private key.
type StoredAccount struct {
	// PublicKey is the account key's public half.
	PublicKey crypto.PublicKey
	// URI is the account URL; Directory the CA's directory it belongs to.
	URI, Directory string
}

// DecodeStoredAccount reads what an AccountStore keeps.
func DecodeStoredAccount(data []byte) (StoredAccount, error) {
	stored, key, err := decodeAccount(data)
	if err != nil {
		return StoredAccount{}, err
	}
	return StoredAccount{PublicKey: key.Public(), URI: stored.URI, Directory: stored.Directory}, nil
}

// SameKey reports whether two public keys are one key.
func SameKey(a, b crypto.PublicKey) bool {
	ad, errA := x509.MarshalPKIXPublicKey(a)
	bd, errB := x509.MarshalPKIXPublicKey(b)
	return errA == nil && errB == nil && bytes.Equal(ad, bd)
}
