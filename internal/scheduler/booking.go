package scheduler

import (
	"slices"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/ratelimit"
)

// Bookings gives the due rotations of a dry run (`ottr plan`, the web
// UI's plan) the times the scheduler would run them if it booked them now:
// CA by CA, in the order a scan books them (earliest renewal time first),
// against the CA's rate-limit budget, spending nothing. The zero value is
// ready to use.
type Bookings struct {
	byCA map[string][]booking
}

type booking struct {
	key         int
	renewalTime *time.Time
	name        string
	order       ratelimit.Order
}

// Add books a, an asset that is due and has a route; key is what Times
// reports its time under.
func (b *Bookings) Add(key int, a asset.Asset, now time.Time) {
	if b.byCA == nil {
		b.byCA = map[string][]booking{}
	}
	b.byCA[a.CertificateAuthority] = append(b.byCA[a.CertificateAuthority],
		booking{key: key, renewalTime: a.RenewalTime, name: a.SystemName, order: Order(a, now)})
}

// Times calls set with the key and run time (UTC) of every booking, and
// returns the latest time of all (zero when nothing is booked).
func (b *Bookings) Times(budget *ratelimit.Budget, set func(key int, at time.Time)) time.Time {
	var last time.Time
	for ca, booked := range b.byCA {
		slices.SortStableFunc(booked, func(x, y booking) int {
			switch {
			case x.renewalTime == nil && y.renewalTime != nil:
				return -1
			case x.renewalTime != nil && y.renewalTime == nil:
				return 1
			case x.renewalTime != nil:
				if c := x.renewalTime.Compare(*y.renewalTime); c != 0 {
					return c
				}
			}
			return strings.Compare(x.name, y.name)
		})
		orders := make([]ratelimit.Order, len(booked))
		for i, bk := range booked {
			orders[i] = bk.order
		}
		for i, at := range budget.Plan(ca, orders) {
			at = at.UTC()
			if at.After(last) {
				last = at
			}
			set(booked[i].key, at)
		}
	}
	return last
}
