package ratelimit

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/testenv"
)

var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newLE(t *testing.T) (*Budget, *testenv.Clock) {
	t.Helper()
	c := testenv.NewClock(start)
	return New(map[string]Limits{"le": Defaults(KindLetsEncrypt)}, c.Now), c
}

// booked is one order and the time it was given.
type booked struct {
	at    time.Time
	order Order
}

// checkNoBucketOverflows replays booked orders the way the CA counts them
// and fails if any bucket would have refused one. Two independent checks:
// a sliding window over every stretch of several lengths (a bucket of
// capacity C refilled every I can give at most C + ceil(W/I) - 1 in any
// window of length W), and a token-bucket replay (fitsGCRA).
func checkNoBucketOverflows(t *testing.T, l Limits, orders []booked) {
	t.Helper()
	spends := map[string][]int64{}
	add := func(key string, at time.Time) { spends[key] = append(spends[key], int64(at.Sub(start))) }
	for _, o := range orders {
		add("account", o.at)
		for _, d := range registeredDomains(o.order.Names) {
			add("domain "+d, o.at)
		}
		add("set "+exactSet(o.order.Names), o.at)
	}
	rateOf := func(key string) Rate {
		switch key[:3] {
		case "acc":
			return l.NewOrdersPerAccount
		case "dom":
			return l.CertificatesPerRegisteredDomain
		default:
			return l.CertificatesPerExactSet
		}
	}
	for key, times := range spends {
		r := rateOf(key)
		c, iv := int64(r.Count), int64(r.interval())
		slices.Sort(times)
		for _, w := range []time.Duration{r.interval(), r.Period / 10, r.Period, 2 * r.Period} {
			limit := c + (int64(w)+iv-1)/iv - 1
			j := 0
			for i := range times {
				for j < len(times) && times[j] < times[i]+int64(w) {
					j++
				}
				if n := int64(j - i); n > limit {
					t.Fatalf("%s: %d orders in the %s from %s; the bucket (%s) gives at most %d",
						key, n, w, start.Add(time.Duration(times[i])), r, limit)
				}
			}
		}
		if !fitsGCRA(times, c, iv) {
			t.Fatalf("%s: the booked times do not fit the token bucket %s", key, r)
		}
	}
}

// wave returns n orders of one name each, spread over domains registered
// domains under .com.
func wave(n, domains int) []Order {
	out := make([]Order, n)
	for i := range out {
		out[i] = Order{Names: []string{fmt.Sprintf("dev%05d.site%03d.com", i, i%domains)}}
	}
	return out
}

func TestWaveUnderLetsEncryptDefaults(t *testing.T) {
	b, _ := newLE(t)
	l := Defaults(KindLetsEncrypt)
	orders := wave(10000, 500) // 20 per registered domain: the account bucket binds
	var got []booked
	for i, o := range orders {
		at, _ := b.Reserve("le", o.Names)
		got = append(got, booked{at, o})
		// As tight as the limits allow: 300 at once, then one per 36 s.
		want := start.Add(time.Duration(max(0, i-299)) * 36 * time.Second)
		if !at.Equal(want) {
			t.Fatalf("order %d booked at %s, want %s", i, at, want)
		}
	}
	checkNoBucketOverflows(t, l, got)
	if last := got[len(got)-1].at.Sub(start); last != 9700*36*time.Second {
		t.Errorf("the wave of 10,000 ends after %s, want 97h0m0s", last)
	}
}

func TestWaveWithOneCrowdedDomain(t *testing.T) {
	b, _ := newLE(t)
	l := Defaults(KindLetsEncrypt)
	var got []booked
	crowded := 0
	for i := range 400 {
		o := Order{Names: []string{fmt.Sprintf("dev%03d.other%03d.com", i, i)}}
		if i%4 == 0 { // every fourth order is for one registered domain
			o = Order{Names: []string{fmt.Sprintf("dev%03d.corp.example.co.uk", i), fmt.Sprintf("alt%03d.corp.example.co.uk", i)}}
		}
		at, _ := b.Reserve("le", o.Names)
		got = append(got, booked{at, o})
		if i%4 != 0 {
			continue
		}
		// example.co.uk gives 50 at once, then one per 201.6 minutes.
		want := start.Add(time.Duration(max(0, crowded-49)) * 12096 * time.Second)
		if !at.Equal(want) {
			t.Fatalf("order %d of example.co.uk booked at %s, want %s", crowded, at, want)
		}
		crowded++
	}
	checkNoBucketOverflows(t, l, got)

	t.Run("the crowded domain's backlog does not hold the others back", func(t *testing.T) {
		// 350 orders for other domains and 50 for example.co.uk fit the
		// account's 300 + refills; none of the others waits a day.
		for i, g := range got {
			if i%4 != 0 && g.at.Sub(start) > 2*time.Hour {
				t.Errorf("order %d (%s) booked at %s", i, g.order.Names[0], g.at)
			}
		}
	})
}

func TestReserve(t *testing.T) {
	tests := []struct {
		name  string
		setup func(b *Budget, c *testenv.Clock)
		ca    string
		order Order
		want  time.Duration // after start
	}{
		{
			name:  "an order for a CA without limits goes out at once",
			setup: func(b *Budget, c *testenv.Clock) { reserveN(b, "unknown", 1000, "a.example.com") },
			ca:    "unknown", order: Order{Names: []string{"a.example.com"}},
			want: 0,
		},
		{
			name:  "the sixth certificate for the same names waits for the exact-set bucket",
			setup: func(b *Budget, c *testenv.Clock) { reserveN(b, "le", 5, "www.example.com", "example.com") },
			ca:    "le", order: Order{Names: []string{"EXAMPLE.com.", "www.example.com"}},
			want: 7 * 24 * time.Hour / 5,
		},
		{
			name:  "the 301st new order waits 36 seconds",
			setup: func(b *Budget, c *testenv.Clock) { reserveWave(b, "le", 300) },
			ca:    "le", order: Order{Names: []string{"late.example.net"}},
			want: 36 * time.Second,
		},
		{
			name:  "a renewal of the same names is exempt from the new-orders bucket",
			setup: func(b *Budget, c *testenv.Clock) { reserveWave(b, "le", 300) },
			ca:    "le", order: Order{Names: []string{"late.example.net"}, Renewal: SameNames},
			want: 0,
		},
		{
			name:  "a renewal of the same names still counts against the exact-set bucket",
			setup: func(b *Budget, c *testenv.Clock) { reserveN(b, "le", 5, "a.example.com") },
			ca:    "le", order: Order{Names: []string{"a.example.com"}, Renewal: SameNames},
			want: 7 * 24 * time.Hour / 5,
		},
		{
			name: "an ARI renewal is exempt from every bucket",
			setup: func(b *Budget, c *testenv.Clock) {
				reserveN(b, "le", 5, "a.example.com")
				reserveWave(b, "le", 300)
			},
			ca: "le", order: Order{Names: []string{"a.example.com"}, Renewal: ARI},
			want: 0,
		},
		{
			name:  "an order is not booked before it is due",
			setup: func(b *Budget, c *testenv.Clock) {},
			ca:    "le", order: Order{Names: []string{"a.example.com"}, NotBefore: start.Add(time.Hour)},
			want: time.Hour,
		},
		{
			name: "a name that failed validation five times waits for a failure token",
			setup: func(b *Budget, c *testenv.Clock) {
				for range 5 {
					b.RecordAuthorizationFailure("le", []string{"*.flaky.example.com"})
				}
			},
			ca: "le", order: Order{Names: []string{"flaky.example.com", "ok.example.com"}},
			want: 12 * time.Minute,
		},
		{
			name: "four failures leave the name orderable",
			setup: func(b *Budget, c *testenv.Clock) {
				for range 4 {
					b.RecordAuthorizationFailure("le", []string{"flaky.example.com"})
				}
			},
			ca: "le", order: Order{Names: []string{"flaky.example.com"}},
			want: 0,
		},
		{
			name: "the failures of one name do not hold back another",
			setup: func(b *Budget, c *testenv.Clock) {
				for range 10 {
					b.RecordAuthorizationFailure("le", []string{"flaky.example.com"})
				}
			},
			ca: "le", order: Order{Names: []string{"fine.example.com"}},
			want: 0,
		},
		{
			name: "tokens spent long ago have come back",
			setup: func(b *Budget, c *testenv.Clock) {
				reserveWave(b, "le", 300)
				c.Add(3 * time.Hour)
			},
			ca: "le", order: Order{Names: []string{"later.example.net"}},
			want: 3 * time.Hour,
		},
		{
			name: "a penalty holds the CA back until Retry-After",
			setup: func(b *Budget, c *testenv.Clock) {
				b.Penalize("le", start.Add(90*time.Minute))
				b.Penalize("le", start.Add(time.Minute)) // earlier: does not shorten
			},
			ca: "le", order: Order{Names: []string{"a.example.com"}},
			want: 90 * time.Minute,
		},
		{
			name:  "a penalty of one CA does not hold back another",
			setup: func(b *Budget, c *testenv.Clock) { b.Penalize("other", start.Add(time.Hour)) },
			ca:    "le", order: Order{Names: []string{"a.example.com"}},
			want: 0,
		},
		{
			name:  "a penalty applies to a CA without limits too",
			setup: func(b *Budget, c *testenv.Clock) { b.Penalize("unknown", start.Add(time.Hour)) },
			ca:    "unknown", order: Order{Names: []string{"a.example.com"}},
			want: time.Hour,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, c := newLE(t)
			tt.setup(b, c)
			r := b.ReserveOrder(tt.ca, tt.order)
			if got := r.At.Sub(start); got != tt.want {
				t.Errorf("booked %s after start, want %s", got, tt.want)
			}
		})
	}
}

func reserveN(b *Budget, ca string, n int, names ...string) {
	for range n {
		b.Reserve(ca, names)
	}
}

// reserveWave books n orders for distinct names in distinct domains.
func reserveWave(b *Budget, ca string, n int) {
	for _, o := range wave(n, n) {
		b.Reserve(ca, o.Names)
	}
}

func TestCancelGivesTokensBack(t *testing.T) {
	b, _ := newLE(t)
	var reservations []*Reservation
	for _, o := range wave(300, 300) {
		_, r := b.Reserve("le", o.Names)
		reservations = append(reservations, r)
	}
	b.Cancel(reservations[7])
	b.Cancel(reservations[7]) // twice: gives back one token only
	b.Cancel(nil)
	if at, _ := b.Reserve("le", []string{"x.example.org"}); !at.Equal(start) {
		t.Errorf("after a cancel the next order is booked at %s, want %s", at, start)
	}
	if at, _ := b.Reserve("le", []string{"y.example.org"}); !at.Equal(start.Add(36 * time.Second)) {
		t.Errorf("a cancelled reservation gave back more than its token: next order at %s", at)
	}

	t.Run("a cancelled duplicate frees the exact-set bucket", func(t *testing.T) {
		b, _ := newLE(t)
		var last *Reservation
		for range 5 {
			_, last = b.Reserve("le", []string{"a.example.com"})
		}
		b.Cancel(last)
		if at, _ := b.Reserve("le", []string{"a.example.com"}); !at.Equal(start) {
			t.Errorf("booked at %s, want %s", at, start)
		}
	})
}

func TestPlanDoesNotSpend(t *testing.T) {
	b, _ := newLE(t)
	reserveWave(b, "le", 250)
	orders := wave(100, 100)
	planned := b.Plan("le", orders)
	for i, at := range planned {
		want := start.Add(time.Duration(max(0, 250+i-299)) * 36 * time.Second)
		if !at.Equal(want) {
			t.Fatalf("planned order %d at %s, want %s", i, at, want)
		}
	}
	// The plan spent nothing: reserving gives the same times again.
	for i, o := range orders {
		if at := b.ReserveOrder("le", o).At; !at.Equal(planned[i]) {
			t.Fatalf("reserved order %d at %s, but the plan said %s", i, at, planned[i])
		}
	}
}

func TestPenalizedUntil(t *testing.T) {
	b, c := newLE(t)
	if got := b.PenalizedUntil("le"); !got.IsZero() {
		t.Fatalf("PenalizedUntil before any penalty = %s, want zero", got)
	}
	b.Penalize("le", start.Add(time.Hour))
	if got := b.PenalizedUntil("le"); !got.Equal(start.Add(time.Hour)) {
		t.Errorf("PenalizedUntil = %s, want %s", got, start.Add(time.Hour))
	}
	c.Add(2 * time.Hour)
	if got := b.PenalizedUntil("le"); !got.IsZero() {
		t.Errorf("PenalizedUntil after the penalty ran out = %s, want zero", got)
	}
}

func TestOldBucketsAreSwept(t *testing.T) {
	b, c := newLE(t)
	for _, o := range wave(100, 100) {
		b.Reserve("le", o.Names)
	}
	b.RecordAuthorizationFailure("le", []string{"flaky.example.com"})
	c.Add(8 * 24 * time.Hour)
	b.Reserve("le", []string{"trigger.example.com"})
	b.mu.Lock()
	n := len(b.buckets)
	b.mu.Unlock()
	// Left: the new order's account, domain and exact-set buckets.
	if n != 3 {
		t.Errorf("%d buckets kept after every old one filled up again, want 3", n)
	}
}

func TestReserveIsSafeForConcurrentUse(t *testing.T) {
	b, _ := newLE(t)
	orders := wave(600, 600)
	got := make([]booked, len(orders))
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < len(orders); i += 4 {
				at, _ := b.Reserve("le", orders[i].Names)
				got[i] = booked{at, orders[i]}
			}
		})
	}
	wg.Wait()
	checkNoBucketOverflows(t, Defaults(KindLetsEncrypt), got)
	latest := slices.MaxFunc(got, func(a, b booked) int { return a.at.Compare(b.at) })
	if want := start.Add(300 * 36 * time.Second); !latest.at.Equal(want) {
		t.Errorf("600 orders end at %s, want %s", latest.at, want)
	}
}

func TestLimits(t *testing.T) {
	t.Run("Let's Encrypt's directories have its limits, others none", func(t *testing.T) {
		for url, want := range map[string]string{
			"https://acme-v02.api.letsencrypt.org/directory":         KindLetsEncrypt,
			"https://acme-staging-v02.api.letsencrypt.org/directory": KindLetsEncryptStaging,
			"https://acme.example.com/directory":                     "",
			"::not a url":                                            "",
		} {
			if got := KindOf(url); got != want {
				t.Errorf("KindOf(%q) = %q, want %q", url, got, want)
			}
		}
		if got := Defaults("digicert"); got.NewOrdersPerAccount.limited() || got.exemptsRenewals() {
			t.Errorf("Defaults of an unknown CA = %+v, want no limits", got)
		}
		if got := Defaults(KindLetsEncryptStaging).NewOrdersPerAccount; got != (Rate{1500, 3 * time.Hour}) {
			t.Errorf("staging new orders = %s", got)
		}
	})
	t.Run("a configured limit replaces only its default", func(t *testing.T) {
		got := Limits{NewOrdersPerAccount: Rate{Count: 100, Period: time.Hour}, CertificatesPerExactSet: Rate{Count: -1}}.
			WithDefaults(Defaults(KindLetsEncrypt))
		if got.NewOrdersPerAccount != (Rate{100, time.Hour}) {
			t.Errorf("new orders = %s, want the configured 100 per 1h", got.NewOrdersPerAccount)
		}
		if got.CertificatesPerRegisteredDomain != Defaults(KindLetsEncrypt).CertificatesPerRegisteredDomain {
			t.Errorf("registered domain = %s, want the default", got.CertificatesPerRegisteredDomain)
		}
		if got.CertificatesPerExactSet.limited() {
			t.Errorf("exact set = %s, want unlimited as configured", got.CertificatesPerExactSet)
		}
		if !got.exemptsRenewals() {
			t.Errorf("renewal exemptions lost")
		}
	})
	t.Run("a count without a period is refused", func(t *testing.T) {
		if err := (Limits{NewOrdersPerAccount: Rate{Count: 5}}).Validate(); err == nil {
			t.Errorf("Validate accepted 5 per no period")
		}
		if err := Defaults(KindLetsEncrypt).Validate(); err != nil {
			t.Errorf("Validate refused the defaults: %v", err)
		}
	})
}
