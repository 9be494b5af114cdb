package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// boxVersion is the first byte of every sealed value. It names the
// algorithm (AES-256-GCM, 12-byte random nonce) so that a later format can be
// introduced without guessing what old values are.
const boxVersion byte = 1

// Box seals and opens values with AES-256-GCM. It is safe for concurrent use.
type Box struct {
	aead cipher.AEAD
}

// NewBox returns a Box using key, which must be KeySize bytes.
func NewBox(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret: key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plaintext and returns version || nonce || ciphertext+tag.
// additionalData is authenticated but not stored: Open must be given the
// same bytes. Use it to bind the value to where it is kept (its name).
func (b *Box) Seal(plaintext, additionalData []byte) []byte {
	nonceSize := b.aead.NonceSize()
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plaintext)+b.aead.Overhead())
	out[0] = boxVersion
	// A random 96-bit nonce is safe for far more values than a credential
	// store will ever seal under one key. crypto/rand.Read never fails.
	rand.Read(out[1 : 1+nonceSize])
	return b.aead.Seal(out, out[1:1+nonceSize], plaintext, b.authenticated(additionalData))
}

// Open decrypts a value made by Seal with the same additionalData. It fails
// if the value was altered, was sealed under another key, or was sealed
// with other additional data.
func (b *Box) Open(ciphertext, additionalData []byte) ([]byte, error) {
	nonceSize := b.aead.NonceSize()
	if len(ciphertext) == 0 {
		return nil, errors.New("secret: open: empty value")
	}
	if ciphertext[0] != boxVersion {
		return nil, fmt.Errorf("secret: open: unknown format version %d", ciphertext[0])
	}
	if len(ciphertext) < 1+nonceSize+b.aead.Overhead() {
		return nil, fmt.Errorf("secret: open: value is %d bytes, too short to be sealed", len(ciphertext))
	}
	nonce := ciphertext[1 : 1+nonceSize]
	plaintext, err := b.aead.Open(nil, nonce, ciphertext[1+nonceSize:], b.authenticated(additionalData))
	if err != nil {
		return nil, errors.New("secret: open: authentication failed: wrong master key, altered value, or value stored under another name")
	}
	return plaintext, nil
}

// authenticated prefixes the additional data with the format version, so
// the version byte itself cannot be changed without detection.
func (b *Box) authenticated(additionalData []byte) []byte {
	ad := make([]byte, 0, 1+len(additionalData))
	ad = append(ad, boxVersion)
	return append(ad, additionalData...)
}
