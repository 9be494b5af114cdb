// Package secret keeps ottr's credentials and keys safe at rest and resolves
// the secret references of ottr.yaml.
//
// Values in the database are sealed with AES-256-GCM under a 32-byte master
// key that lives outside the database (a 0600 file or an environment
// variable), so a copy of the database alone reveals nothing. Each sealed
// value is bound to its name, so values cannot be swapped between names by
// someone who can write to the database but does not hold the key.
//
// The key is made only when the first value is sealed, and never while
// values sealed under another key exist (OpenVault); RotateKey seals every
// value again under a new key.
//
// Nothing in this package puts a secret or a key into an error message.
package secret
