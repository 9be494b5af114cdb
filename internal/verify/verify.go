// Package verify proves from the network that a device serves the
// certificate ottr just installed: the handshake's leaf is the issued leaf,
// its chain verifies to the CA profile's roots, it covers every name, comes
// from an expected issuer and has a fresh lifetime. What it observes on the
// wire, not what the device reports, is what ottr records.
package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Names of the checks, as found in MismatchError.Check.
const (
	// CheckSerial: the served leaf is not the issued one (typically the
	// device still serves its previous certificate).
	CheckSerial = "serial"
	// CheckPublicKey: the served leaf has the issued serial but another key.
	CheckPublicKey = "public key"
	// CheckValidity: the served leaf is expired or not yet valid.
	CheckValidity = "validity"
	// CheckChain: the served chain does not verify to the roots for TLS
	// server authentication.
	CheckChain = "chain"
	// CheckNames: the served leaf does not cover every name.
	CheckNames = "names"
	// CheckIssuer: the leaf's issuer is not one of the expected issuers.
	CheckIssuer = "issuer"
	// CheckLifetime: the leaf's lifetime is shorter than the minimum.
	CheckLifetime = "lifetime"
)

// Expectation is what a device should serve after an installation.
type Expectation struct {
	// Address is where the device serves TLS: "ip:port", an IPv6 address
	// in brackets ("[2001:db8::1]:443").
	Address string
	// ServerName is sent as SNI; normally the asset's common_name.
	ServerName string
	// Names must all be covered by the served leaf: the common name and
	// every SAN. A wildcard name is covered only by the same wildcard.
	Names []string
	// Issued is the chain the CA issued, leaf first.
	Issued []*x509.Certificate
	// Roots are the CA profile's roots the served chain must verify to.
	// Nil means the system's roots.
	Roots *x509.CertPool
	// ExpectedIssuers are accepted issuers: the leaf's issuer organisation
	// or common name must contain one of them, ignoring case. Empty
	// accepts any issuer the roots vouch for.
	ExpectedIssuers []string
	// MinLifetime is the least NotAfter - NotBefore of the served leaf.
	// Zero skips the check.
	MinLifetime time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Dialer connects to Address; nil means a default net.Dialer.
	Dialer *net.Dialer
	// Timeout bounds the connection and handshake; zero means DefaultTimeout.
	Timeout time.Duration
}

// Result is what the device served.
type Result struct {
	// Leaf is the served leaf certificate.
	Leaf *x509.Certificate
	// Chain is every certificate served, leaf first.
	Chain []*x509.Certificate
	// NotAfter is the served leaf's expiry: the expiry ottr records.
	NotAfter time.Time
	// Serial is the served leaf's serial in lower-case hex, without colons.
	Serial string
	// Issuer is the served leaf's issuer distinguished name.
	Issuer string
}

// MismatchError reports a check the served certificate failed, with what
// was expected and what was seen.
type MismatchError struct {
	// Check is one of the Check… constants.
	Check string
	Want  string
	Got   string
}

func (e *MismatchError) Error() string {
	msg := fmt.Sprintf("verify: %s check failed: want %s; served %s", e.Check, e.Want, e.Got)
	if hint := mismatchHint(e.Check); hint != "" {
		msg += " (" + hint + ")"
	}
	return msg
}

// mismatchHint tells an operator what a failed check usually means.
func mismatchHint(check string) string {
	switch check {
	case CheckSerial:
		return "the device still serves another certificate than the one issued: is the new one bound to the service?"
	case CheckPublicKey:
		return "the served certificate has the issued serial but another key"
	case CheckChain:
		return "clients will not trust what the device serves"
	case CheckLifetime:
		return "the served certificate is not a fresh one"
	}
	return ""
}

// Check connects to e.Address, captures the chain the device serves, and
// checks it against e, in this order: same serial and public key as the
// issued leaf, valid now, chain to e.Roots for server authentication, every
// name covered, expected issuer, lifetime. The first failure is returned as
// a *MismatchError; the Result still describes what was served, so the
// caller can record it. A connection failure is an error naming the address
// and a zero Result.
func Check(ctx context.Context, e Expectation) (Result, error) {
	if len(e.Issued) == 0 || e.Issued[0] == nil {
		return Result{}, errors.New("verify: no issued certificate to compare with")
	}
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	served, err := fetch(ctx, e.Address, e.ServerName, e.Dialer, e.Timeout)
	if err != nil {
		return Result{}, err
	}
	leaf := served[0]
	res := Result{
		Leaf:     leaf,
		Chain:    served,
		NotAfter: leaf.NotAfter,
		Serial:   SerialHex(leaf),
		Issuer:   leaf.Issuer.String(),
	}
	at := now()
	for _, check := range []func() *MismatchError{
		func() *MismatchError { return checkIdentity(leaf, e.Issued[0]) },
		func() *MismatchError { return checkValidity(leaf, at) },
		func() *MismatchError { return checkChain(served, e.Issued, e.Roots, at) },
		func() *MismatchError { return checkNames(leaf, e.Names) },
		func() *MismatchError { return checkIssuer(leaf, e.ExpectedIssuers) },
		func() *MismatchError { return checkLifetime(leaf, e.MinLifetime) },
	} {
		if m := check(); m != nil {
			return res, m
		}
	}
	return res, nil
}

// SerialHex returns a certificate's serial number as ottr records it:
// lower-case hex without colons or leading zeros.
func SerialHex(c *x509.Certificate) string {
	return c.SerialNumber.Text(16)
}

// checkIdentity compares the served leaf with the issued one. Serial first:
// it is the one an operator can compare with the CA's records.
func checkIdentity(served, issued *x509.Certificate) *MismatchError {
	if served.SerialNumber.Cmp(issued.SerialNumber) != 0 {
		return &MismatchError{Check: CheckSerial, Want: SerialHex(issued), Got: SerialHex(served)}
	}
	if !bytes.Equal(served.RawSubjectPublicKeyInfo, issued.RawSubjectPublicKeyInfo) {
		return &MismatchError{Check: CheckPublicKey, Want: keyFingerprint(issued), Got: keyFingerprint(served)}
	}
	return nil
}

func checkValidity(leaf *x509.Certificate, at time.Time) *MismatchError {
	want := "a certificate valid at " + at.UTC().Format(time.RFC3339)
	switch {
	case at.Before(leaf.NotBefore):
		return &MismatchError{Check: CheckValidity, Want: want, Got: "one not valid before " + leaf.NotBefore.UTC().Format(time.RFC3339)}
	case !at.Before(leaf.NotAfter):
		return &MismatchError{Check: CheckValidity, Want: want, Got: "one that expired at " + leaf.NotAfter.UTC().Format(time.RFC3339)}
	}
	return nil
}

// checkChain verifies the served chain, with only the intermediates the
// device served: a device that leaves out the intermediates fails clients
// that do not fetch them, which is worth reporting even though the issued
// chain is fine.
func checkChain(served, issued []*x509.Certificate, roots *x509.CertPool, at time.Time) *MismatchError {
	opts := x509.VerifyOptions{
		Roots:         roots,
		Intermediates: pool(served[1:]),
		CurrentTime:   at,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	_, err := served[0].Verify(opts)
	if err == nil {
		return nil
	}
	got := fmt.Sprintf("a chain that does not verify (%v)", err)
	opts.Intermediates = pool(append(served[1:len(served):len(served)], issued[1:]...))
	if _, err2 := served[0].Verify(opts); err2 == nil {
		got = fmt.Sprintf("%s that lacks the intermediates the CA issued (%v)", certificates(len(served)), err)
	}
	return &MismatchError{Check: CheckChain, Want: "a chain to the CA profile's roots for TLS server authentication", Got: got}
}

func checkNames(leaf *x509.Certificate, names []string) *MismatchError {
	var missing []string
	for _, n := range names {
		if leaf.VerifyHostname(n) != nil {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	covered := append([]string(nil), leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		covered = append(covered, ip.String())
	}
	got := "a certificate for " + strings.Join(covered, ", ")
	if len(covered) == 0 {
		got = "a certificate with no subject alternative names"
	}
	return &MismatchError{Check: CheckNames, Want: "a certificate covering " + strings.Join(missing, ", "), Got: got}
}

func checkIssuer(leaf *x509.Certificate, expected []string) *MismatchError {
	if len(expected) == 0 {
		return nil
	}
	candidates := append([]string{leaf.Issuer.CommonName}, leaf.Issuer.Organization...)
	for _, want := range expected {
		w := strings.ToLower(want)
		for _, c := range candidates {
			if w != "" && strings.Contains(strings.ToLower(c), w) {
				return nil
			}
		}
	}
	return &MismatchError{Check: CheckIssuer, Want: "an issuer matching " + strings.Join(expected, " or "), Got: leaf.Issuer.String()}
}

func checkLifetime(leaf *x509.Certificate, minLifetime time.Duration) *MismatchError {
	lifetime := leaf.NotAfter.Sub(leaf.NotBefore)
	if minLifetime <= 0 || lifetime >= minLifetime {
		return nil
	}
	return &MismatchError{Check: CheckLifetime, Want: "a lifetime of at least " + formatDuration(minLifetime), Got: formatDuration(lifetime)}
}

// certificates says "1 certificate" or "N certificates".
func certificates(n int) string {
	if n == 1 {
		return "1 certificate"
	}
	return fmt.Sprintf("%d certificates", n)
}

func pool(certs []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// keyFingerprint names a public key by the SHA-256 of its SubjectPublicKeyInfo.
func keyFingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return "key sha256:" + hex.EncodeToString(sum[:])
}

// formatDuration prints certificate lifetimes in days, which is how CAs
// state them, and shorter spans as Go durations.
func formatDuration(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d == day:
		return "1 day"
	case d%day == 0:
		return fmt.Sprintf("%d days", d/day)
	case d > day:
		return fmt.Sprintf("%.1f days", d.Hours()/24)
	default:
		return d.String()
	}
}
