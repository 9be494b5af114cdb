// Package dnsdoctor diagnoses and repairs the DNS that DNS-01 through a
// delegated zone needs: `ottr dns doctor` and `ottr dns apply`.
//
// For every certificate name N, _acme-challenge.N must be a CNAME straight
// to _acme-challenge.<N relative to its zone>.<delegate zone> (package
// dnsdelegate says which), and ottr's DNS credentials must be able to
// write TXT records in the delegate zone. The Doctor follows the live
// CNAME chain of each name through the resolvers, proves write access with
// a real TXT write and delete, and says for each problem which record
// fixes it, as a zone-file line. Apply creates the missing CNAMEs through
// an Applier that may write the managed zones, and never overwrites.
package dnsdoctor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-acme/lego/v5/challenge"
	"github.com/miekg/dns"

	"github.com/ottr-go/ottr/internal/dnsdelegate"
)

// Defaults of the Doctor's settings.
const (
	DefaultMaxHops            = 8
	DefaultPropagationTimeout = time.Minute
	DefaultPollingInterval    = time.Second
)

// checkConcurrency bounds how many names are looked up at once: enough to
// hide latency, few enough not to flood a resolver.
const checkConcurrency = 8

// Check names what a Finding is about.
type Check string

const (
	// CheckDelegation is the _acme-challenge CNAME of one certificate name.
	CheckDelegation Check = "delegation"
	// CheckWrite is write access to one delegate zone.
	CheckWrite Check = "write"
	// CheckAnswer is the answer one resolver gives to a CA's question,
	// the TXT records at an _acme-challenge name.
	CheckAnswer Check = "answer"
)

// Status is the verdict of one Finding.
type Status string

const (
	StatusOK Status = "ok"
	// StatusMissing: there is no CNAME (NXDOMAIN or no CNAME record).
	StatusMissing Status = "missing"
	// StatusWrongTarget: the CNAME leads somewhere other than the delegate name.
	StatusWrongTarget Status = "wrong-target"
	// StatusExtraHop: the chain reaches the delegate name through another
	// CNAME, or the delegate name is itself a CNAME.
	StatusExtraHop Status = "extra-hop"
	// StatusLoop: the chain comes back to a name it has passed.
	StatusLoop Status = "loop"
	// StatusTooLong: the chain is longer than Doctor.MaxHops.
	StatusTooLong Status = "too-long"
	// StatusUnmanaged: the name is under none of the managed zones, or
	// DNS-01 cannot validate it at all (an IP address).
	StatusUnmanaged Status = "unmanaged"
	// StatusLookupFailed: no resolver answered, so nothing is known.
	StatusLookupFailed Status = "lookup-failed"
	// StatusWriteFailed: the test TXT record could not be written, or the
	// resolvers never saw it.
	StatusWriteFailed Status = "write-failed"
	// StatusCleanupFailed: the test TXT record was written but could not
	// be deleted, or the resolvers still see it.
	StatusCleanupFailed Status = "cleanup-failed"
	// StatusSkipped: the check was not run.
	StatusSkipped Status = "skipped"
	// StatusCNAMENotFollowed: a resolver answered a TXT question with the
	// CNAME alone, not the delegate zone's answer. It is a warning: ottr
	// issues through such a resolver, but a CA that asks it and does not
	// chase CNAMEs fails.
	StatusCNAMENotFollowed Status = "cname-not-followed"
)

// Finding is the doctor's verdict on one name or delegate zone. Problem
// and Fix are written for the operator; they never hold a secret.
type Finding struct {
	Check Check `json:"check"`
	// Name is the certificate name (delegation) or delegate zone (write).
	Name string `json:"name"`
	// Record is the name looked at: the _acme-challenge name, or the test
	// record written in the delegate zone.
	Record string `json:"record,omitempty"`
	// Want is the target the CNAME must have.
	Want string `json:"want,omitempty"`
	// Chain is the live CNAME chain from Record, one target per hop.
	Chain  []string `json:"chain,omitempty"`
	Status Status   `json:"status"`
	// Problem says what is wrong; empty when Status is ok.
	Problem string `json:"problem,omitempty"`
	// Remove is what must go first, as zone-file lines (one per line).
	Remove string `json:"remove,omitempty"`
	// Fix is the zone-file line to add, or for a write problem what to
	// change in the DNS server's configuration.
	Fix string `json:"fix,omitempty"`
}

// OK reports whether nothing needs fixing for ottr to issue; a warning
// (StatusCNAMENotFollowed) is OK.
func (f Finding) OK() bool {
	return f.Status == StatusOK || f.Status == StatusSkipped || f.Status == StatusCNAMENotFollowed
}

// Report is the result of one Doctor run: one Finding per distinct
// _acme-challenge name, sorted by name, then one per resolver that
// answered a CA's question with a CNAME alone, then one per delegate zone
// for write access.
type Report struct {
	Findings []Finding `json:"findings"`
}

// OK reports whether every finding is OK.
func (r Report) OK() bool {
	for _, f := range r.Findings {
		if !f.OK() {
			return false
		}
	}
	return true
}

// Missing returns the CNAMEs that do not exist at all, which Apply may
// create. Wrong records are not among them: they must be fixed by hand.
func (r Report) Missing() []dnsdelegate.Record {
	var out []dnsdelegate.Record
	for _, f := range r.Findings {
		if f.Check == CheckDelegation && f.Status == StatusMissing && f.Remove == "" {
			out = append(out, dnsdelegate.Record{Name: f.Record, Target: f.Want})
		}
	}
	return out
}

// Doctor checks the DNS delegation of certificate names. Only Delegations
// is required.
type Doctor struct {
	// Delegations maps managed zones to their delegate zones (dns.zones).
	Delegations *dnsdelegate.Delegations
	// Resolvers are "host:port" recursive resolvers, tried in order until
	// one answers. Empty: the system's (/etc/resolv.conf).
	Resolvers []string
	// Timeout bounds one query to one resolver. Default dnsdelegate.DefaultTimeout.
	Timeout time.Duration
	// MaxHops is the longest CNAME chain followed. Default DefaultMaxHops.
	MaxHops int

	// Writer writes challenge TXT records as ottr does when it issues
	// (dns.rfc2136 through lego's dnsupdate provider). nil: write access
	// is not checked.
	Writer challenge.Provider
	// KeyName is the TSIG key Writer signs with, for the fix hint of a
	// refused write. Optional.
	KeyName string
	// Secrets are removed from every message a Finding carries, in case a
	// provider's error ever quotes one. The TSIG secret belongs here.
	Secrets []string
	// PropagationTimeout bounds the wait for the test record to appear at,
	// and disappear from, the resolvers. Default DefaultPropagationTimeout.
	PropagationTimeout time.Duration
	// PollingInterval is the pause between those checks. Default DefaultPollingInterval.
	PollingInterval time.Duration
	// Logger gets one line per finding at debug level. Default: discard.
	Logger *slog.Logger
}

// Run checks the delegation of every name (certificate CNs and SANs;
// duplicates and a wildcard beside its base name are checked once) and
// then write access to every delegate zone they lead to. Problems found
// are in the Report; the error is for a Doctor that cannot run at all.
func (d *Doctor) Run(ctx context.Context, names []string) (Report, error) {
	if d.Delegations == nil {
		return Report{}, errors.New("dnsdoctor: no delegated zones configured (dns.zones)")
	}
	res, err := d.resolver()
	if err != nil {
		return Report{}, err
	}
	type job struct {
		name   string
		record dnsdelegate.Record
		err    error
	}
	var jobs []job
	seen := make(map[string]bool)
	// Sorted with each base name before its wildcard, so a finding shared
	// by both is named after the base name.
	sorted := slices.Clone(names)
	slices.SortFunc(sorted, func(a, b string) int {
		if c := strings.Compare(strings.TrimPrefix(a, "*."), strings.TrimPrefix(b, "*.")); c != 0 {
			return c
		}
		return strings.Compare(b, a) // "x" before "*.x"
	})
	for _, n := range sorted {
		r, err := d.Delegations.Record(n)
		key := r.Name
		if err != nil {
			key = "invalid:" + n
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		jobs = append(jobs, job{name: n, record: r, err: err})
	}

	findings := make([]Finding, len(jobs))
	unanswered := make([]*unfollowed, len(jobs))
	sem := make(chan struct{}, checkConcurrency)
	var wg sync.WaitGroup
	for i, j := range jobs {
		if j.err != nil {
			findings[i] = Finding{Check: CheckDelegation, Name: j.name, Status: StatusUnmanaged,
				Problem: strings.TrimPrefix(j.err.Error(), "dnsdelegate: ")}
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			findings[i] = d.checkDelegation(ctx, res, j.name, j.record)
			if findings[i].Status == StatusOK {
				if u, ok := checkAnswer(ctx, res, j.record); ok {
					unanswered[i] = &u
				}
			}
		})
	}
	wg.Wait()
	// By record name; names under no managed zone, which have none, last.
	slices.SortStableFunc(findings, func(a, b Finding) int {
		if (a.Record == "") != (b.Record == "") {
			if a.Record == "" {
				return 1
			}
			return -1
		}
		return strings.Compare(a.Record, b.Record)
	})

	var notFollowed []unfollowed
	for _, u := range unanswered {
		if u != nil {
			notFollowed = append(notFollowed, *u)
		}
	}
	findings = append(findings, answerFindings(notFollowed)...)

	var zones []string
	for _, j := range jobs {
		if j.err == nil {
			if z := d.delegateZone(j.record); z != "" && !slices.Contains(zones, z) {
				zones = append(zones, z)
			}
		}
	}
	slices.Sort(zones)
	for _, z := range zones {
		findings = append(findings, d.checkWrite(ctx, res, z))
	}
	log := d.logger()
	for _, f := range findings {
		log.Debug("dnsdoctor: finding", "check", string(f.Check), "name", f.Name, "status", string(f.Status))
	}
	return Report{Findings: findings}, nil
}

// delegateZone returns the delegate zone of a record: that of the most
// specific managed zone its name falls under.
func (d *Doctor) delegateZone(r dnsdelegate.Record) string {
	name := strings.TrimPrefix(r.Name, dnsdelegate.ChallengeLabel+".")
	best := ""
	for _, z := range d.Delegations.Zones() {
		if (name == z || strings.HasSuffix(name, "."+z)) && len(z) > len(best) {
			best = z
		}
	}
	dz, _ := d.Delegations.Delegate(best)
	return dz
}

func (d *Doctor) resolver() (*resolver, error) {
	addrs := d.Resolvers
	if len(addrs) == 0 {
		var err error
		if addrs, err = dnsdelegate.SystemResolvers("/etc/resolv.conf"); err != nil {
			return nil, fmt.Errorf("dnsdoctor: %w", err)
		}
	}
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = dnsdelegate.DefaultTimeout
	}
	return newResolver(addrs, timeout), nil
}

func (d *Doctor) maxHops() int {
	if d.MaxHops > 0 {
		return d.MaxHops
	}
	return DefaultMaxHops
}

func (d *Doctor) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// redact removes every configured secret from s.
func (d *Doctor) redact(s string) string {
	for _, secret := range d.Secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

// cnameLine is a CNAME as a zone-file line without TTL, for records found
// live, whose TTL the doctor does not care about.
func cnameLine(name, target string) string {
	return dns.Fqdn(name) + " IN CNAME " + dns.Fqdn(target)
}
