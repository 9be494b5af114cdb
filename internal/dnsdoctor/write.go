package dnsdoctor

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/ottr-go/ottr/internal/dnsdelegate"
)

// probeLabel starts the name of the test record in a delegate zone. The
// name is random, so the test never touches a challenge ottr is answering
// at the same moment: lego replaces the whole TXT set at the name it writes.
const probeLabel = "ottr-doctor-"

// checkWrite proves that Writer can write to zone: it writes a TXT record
// at a fresh name in it, waits until the resolvers answer with it,
// deletes it and waits until they no longer do.
func (d *Doctor) checkWrite(ctx context.Context, res *resolver, zone string) Finding {
	f := Finding{Check: CheckWrite, Name: zone}
	if d.Writer == nil {
		f.Status = StatusSkipped
		f.Problem = "the write check was skipped (--no-write): write access to " + zone + " was not tested"
		return f
	}
	domain := probeLabel + randomHex(6) + "." + strings.TrimSuffix(zone, ".")
	f.Record = dns.Fqdn(dnsdelegate.ChallengeLabel + "." + domain)
	token, keyAuth := randomHex(16), randomHex(32)
	value := challengeValue(keyAuth)

	if err := d.Writer.Present(ctx, domain, token, keyAuth); err != nil {
		f.Status = StatusWriteFailed
		f.Problem = "could not write a TXT record in " + zone + ": " + d.redact(err.Error())
		f.Fix = d.writeHint(zone, err)
		return f
	}
	seen, waitErr := d.waitFor(ctx, res, f.Record, value, true)
	cleanupErr := d.Writer.CleanUp(ctx, domain, token, keyAuth)
	switch {
	case !seen:
		f.Status = StatusWriteFailed
		f.Problem = fmt.Sprintf("wrote a TXT record at %s, but the resolvers did not answer with it: %s",
			f.Record, d.redact(waitErr.Error()))
		f.Fix = "send updates (dns.rfc2136.nameserver) to the primary server of " + zone +
			", and check that the resolvers (dns.resolvers) reach the servers the zone is delegated to"
		if cleanupErr != nil {
			f.Problem += "; deleting it failed too: " + d.redact(cleanupErr.Error())
		}
		return f
	case cleanupErr != nil:
		f.Status = StatusCleanupFailed
		f.Problem = "wrote a TXT record but could not delete it: " + d.redact(cleanupErr.Error())
		f.Fix = fmt.Sprintf("delete it by hand: %s IN TXT %q; and allow the key to delete TXT records in %s", f.Record, value, zone)
		return f
	}
	if gone, err := d.waitFor(ctx, res, f.Record, value, false); !gone {
		f.Status = StatusCleanupFailed
		f.Problem = fmt.Sprintf("deleted the TXT record at %s, but the resolvers still answer with it: %s",
			f.Record, d.redact(err.Error()))
		f.Fix = "lower the negative and record TTLs of " + zone + ", or point dns.resolvers at servers that do not cache it"
		return f
	}
	f.Status = StatusOK
	return f
}

// waitFor polls the resolvers until value is (present) or is no longer
// (!present) among the TXT records at name. It reports whether that
// happened, and if not, why, within PropagationTimeout.
func (d *Doctor) waitFor(ctx context.Context, res *resolver, name, value string, present bool) (bool, error) {
	timeout := d.PropagationTimeout
	if timeout <= 0 {
		timeout = DefaultPropagationTimeout
	}
	interval := d.PollingInterval
	if interval <= 0 {
		interval = DefaultPollingInterval
	}
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var lastErr error
	for {
		txts, err := res.txt(waitCtx, name)
		if err == nil && slices.Contains(txts, value) == present {
			return true, nil
		}
		lastErr = err
		select {
		case <-waitCtx.Done():
			if err := ctx.Err(); err != nil {
				return false, err
			}
			if lastErr == nil || errors.Is(lastErr, context.DeadlineExceeded) {
				verb := "appear"
				if !present {
					verb = "go away"
				}
				lastErr = fmt.Errorf("it did not %s within %s", verb, timeout)
			}
			return false, lastErr
		case <-time.After(interval):
		}
	}
}

// writeHint says what to change when the DNS server refused a write, as
// well as the error text tells.
func (d *Doctor) writeHint(zone string, err error) string {
	key := d.KeyName
	if key == "" {
		key = "<key>"
	}
	policy := fmt.Sprintf("in BIND: update-policy { grant %s subdomain %s TXT; };", dns.Fqdn(key), zone)
	msg := err.Error()
	switch {
	case unreachable(err):
		return "the DNS server that takes the updates could not be reached: check that dns.rfc2136.nameserver (or the zone's entry in dns.providers) " +
			"names the primary server of " + zone + " with its port, that the server listens there, " +
			"and that no firewall between this machine and it drops DNS (UDP and TCP)"
	case strings.Contains(msg, "NOTAUTH"), strings.Contains(msg, "BADKEY"), strings.Contains(msg, "BADSIG"),
		errors.Is(err, dns.ErrAuth), strings.Contains(msg, dns.ErrAuth.Error()):
		return "the server did not accept the TSIG key: check dns.rfc2136.tsig_key, tsig_secret and tsig_algorithm " +
			"against the server's key, and that the key may update " + zone + " (" + policy + ")"
	case strings.Contains(msg, "REFUSED"):
		return "the server refused updates to " + zone + " with this key: allow them (" + policy + ")"
	case strings.Contains(msg, "NOTZONE"), strings.Contains(msg, "zone for"):
		return "the server is not authoritative for " + zone + ": send updates (dns.rfc2136.nameserver) to its primary server"
	}
	return "give the credentials in dns.rfc2136 write access to TXT records in " + zone + " (" + policy + ")"
}

// challengeValue is the TXT value DNS-01 publishes for keyAuth (RFC 8555
// §8.4): the unpadded base64url SHA-256 digest.
func challengeValue(keyAuth string) string {
	sum := sha256.Sum256([]byte(keyAuth))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// unreachable reports whether err says the server was never reached or
// never answered: a network error, not the server's verdict on the
// update. Providers that flatten the error to text are recognised by it.
func unreachable(err error) bool {
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"connection refused", "i/o timeout", "no route to host", "network is unreachable", "connection reset", "no such host"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
