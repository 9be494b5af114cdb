package metrics

import (
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ottr-go/ottr/internal/ratelimit"
)

// ObserveScan records one scheduler scan that ran for took and queued
// enqueued rotations, or failed with err.
func (m *Metrics) ObserveScan(took time.Duration, enqueued int, err error) {
	m.scanDurations.Observe(took.Seconds())
	m.scanEnqueued.Add(float64(enqueued))
	if err != nil {
		m.scans.WithLabelValues("failed").Inc()
		return
	}
	m.scans.WithLabelValues("succeeded").Inc()
	m.scanLastSuccess.WithLabelValues().Set(unixSeconds(m.now()))
}

var (
	ordersLeftDesc = prometheus.NewDesc(namespace+"_ratelimit_new_orders_left",
		"New orders the CA profile's account could place now without waiting, after those already booked (this process's rate-limit budget).", []string{"ca"}, nil)
	ordersLimitDesc = prometheus.NewDesc(namespace+"_ratelimit_new_orders_limit",
		"The CA profile's new-orders-per-account limit the budget counts against.", []string{"ca"}, nil)
	heldUntilDesc = prometheus.NewDesc(namespace+"_ratelimit_held_until_timestamp_seconds",
		"Until when the CA's Retry-After holds every order to it back, in Unix seconds; absent when it does not.", []string{"ca"}, nil)
)

// AddBudget registers the rate-limit headroom of the CA profiles cas, as
// budget books orders, with the metrics `ottr serve` serves. CAs without
// a new-order limit have no series.
func (m *Metrics) AddBudget(budget *ratelimit.Budget, cas []string) {
	m.fleet.MustRegister(&budgetCollector{budget: budget, cas: slices.Sorted(slices.Values(cas))})
}

type budgetCollector struct {
	budget *ratelimit.Budget
	cas    []string
}

func (c *budgetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- ordersLeftDesc
	ch <- ordersLimitDesc
	ch <- heldUntilDesc
}

func (c *budgetCollector) Collect(ch chan<- prometheus.Metric) {
	for _, ca := range c.cas {
		h, ok := c.budget.Headroom(ca)
		if !ok {
			continue
		}
		ch <- prometheus.MustNewConstMetric(ordersLeftDesc, prometheus.GaugeValue, float64(h.NewOrders), ca)
		ch <- prometheus.MustNewConstMetric(ordersLimitDesc, prometheus.GaugeValue, float64(h.Limit), ca)
		if !h.HeldUntil.IsZero() {
			ch <- prometheus.MustNewConstMetric(heldUntilDesc, prometheus.GaugeValue, unixSeconds(h.HeldUntil), ca)
		}
	}
}
