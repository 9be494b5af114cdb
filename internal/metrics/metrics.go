// Package metrics is ottr's Prometheus instrumentation, named after
// cert-manager's: per-asset certificate gauges read from the store at
// scrape time, counters and histograms of rotations, steps, ACME requests,
// DNS updates, scans and notifications, the job queue's depth, the CAs'
// rate-limit headroom, and the build. It keeps registries of its own (never
// the process-wide default), so every App serves its own numbers, and no
// label ever carries a secret: asset names, CA profiles, platforms, data
// centers, queues, channels and fixed words only.
package metrics

import (
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// namespace prefixes every metric of ottr's own.
const namespace = "ottr"

// maxScrapesInFlight bounds concurrent scrapes: each reads the whole
// inventory, so a burst of them would only compete for the database.
const maxScrapesInFlight = 4

// Options tune New.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives what went wrong while gathering; nil discards.
	Logger *slog.Logger
}

// Metrics holds ottr's metrics. Its methods are safe for concurrent use.
//
// Two registries split what a process serves. work holds what this
// process did (rotations, steps, ACME requests, DNS updates,
// notifications), which every process serves. fleet holds what is read
// from the shared database or kept by the scheduling process (assets,
// queue, rate-limit headroom, scans): `ottr serve` serves it, workers do
// not, so a cluster of many workers does not export the inventory many
// times over.
type Metrics struct {
	work  *prometheus.Registry
	fleet *prometheus.Registry
	now   func() time.Time
	log   *slog.Logger

	rotations     *prometheus.CounterVec
	steps         *prometheus.HistogramVec
	acmeRequests  *prometheus.CounterVec
	acmeDurations *prometheus.HistogramVec
	dnsUpdates    *prometheus.CounterVec
	dnsDurations  *prometheus.HistogramVec
	notifications *prometheus.CounterVec
	scans         *prometheus.CounterVec
	scanDurations prometheus.Histogram
	scanEnqueued  prometheus.Counter
	// scanLastSuccess has no labels; it is a vector so the series is
	// absent until a scan has succeeded, rather than 0 (1970).
	scanLastSuccess *prometheus.GaugeVec

	// inventory, when set, is the store the per-asset gauges are read
	// from (AddInventory).
	inventory *Inventory

	// drivers remembers the driver of each rotation in flight, so the
	// route is looked up once per rotation rather than once per step.
	driversMu sync.Mutex
	drivers   map[int64]string
}

// New returns ottr's metrics with the build information and the Go
// runtime's and process's metrics registered.
func New(o Options) *Metrics {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{
		work:    prometheus.NewRegistry(),
		fleet:   prometheus.NewRegistry(),
		now:     o.Now,
		log:     o.Logger,
		drivers: map[int64]string{},
	}
	m.rotations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "rotations_total",
		Help: "Rotations that ended, by the driver of the asset's route and the final state (succeeded, failed, rolled_back).",
	}, []string{"driver", "result"})
	m.steps = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "rotation_step_duration_seconds",
		Help:    "Time each rotation step took, by driver, step and result (succeeded, failed).",
		Buckets: []float64{0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
	}, []string{"driver", "step", "result"})
	m.acmeRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "acme_requests_total",
		Help: "HTTP requests to ACME CAs, by CA profile, ACME endpoint and HTTP status (\"error\" when no answer came).",
	}, []string{"ca", "endpoint", "status"})
	m.acmeDurations = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "acme_request_duration_seconds",
		Help:    "Time ACME requests took until the answer's headers, by CA profile and endpoint.",
		Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	}, []string{"ca", "endpoint"})
	m.dnsUpdates = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "dns_updates_total",
		Help: "DNS-01 challenge records written (present) and removed (cleanup), by delegate zone and result (succeeded, failed).",
	}, []string{"zone", "operation", "result"})
	m.dnsDurations = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "dns_update_duration_seconds",
		Help:    "Time DNS-01 challenge record updates took, by operation.",
		Buckets: []float64{0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
	}, []string{"operation"})
	m.notifications = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "notifications_total",
		Help: "Notification deliveries, by channel, event kind and result (sent; retried: failed and tried again later; failed: given up).",
	}, []string{"channel", "event", "result"})
	m.scans = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "scans_total",
		Help: "Scheduler scans for due assets run by this process, by result (succeeded, failed).",
	}, []string{"result"})
	m.scanDurations = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Name: "scan_duration_seconds",
		Help:    "Time scheduler scans took.",
		Buckets: []float64{0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
	})
	m.scanEnqueued = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "scan_enqueued_rotations_total",
		Help: "Rotations the scheduler's scans queued.",
	})
	m.scanLastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "scan_last_success_timestamp_seconds",
		Help: "When this process's last successful scan ended, in Unix seconds; absent until one has.",
	}, nil)
	for _, s := range []string{"succeeded", "failed"} {
		m.scans.WithLabelValues(s)
	}

	m.work.MustRegister(
		buildInfo(),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.rotations, m.steps, m.acmeRequests, m.acmeDurations, m.dnsUpdates, m.dnsDurations, m.notifications,
	)
	m.fleet.MustRegister(m.scans, m.scanDurations, m.scanEnqueued, m.scanLastSuccess)
	return m
}

// Handler serves every metric in the Prometheus text exposition format:
// `ottr serve`'s /metrics.
func (m *Metrics) Handler() http.Handler {
	return &exposition{m: m, gatherer: prometheus.Gatherers{m.work, m.fleet}, inventory: true,
		inFlight: make(chan struct{}, maxScrapesInFlight)}
}

// WorkerHandler serves the metrics of this process's own work only, not
// those read from the shared database: a worker's /metrics.
func (m *Metrics) WorkerHandler() http.Handler {
	return &exposition{m: m, gatherer: m.work, inFlight: make(chan struct{}, maxScrapesInFlight)}
}

// Gatherer gathers what Handler serves, as client_golang metrics (for
// tests and tools; Handler writes the per-asset families faster itself).
func (m *Metrics) Gatherer() prometheus.Gatherer {
	g := prometheus.Gatherers{m.work, m.fleet}
	if m.inventory != nil {
		inv := prometheus.NewRegistry()
		inv.MustRegister(&inventoryCollector{inv: m.inventory, now: m.now})
		g = append(g, inv)
	}
	return g
}

// buildInfo is ottr_build_info: the version and VCS revision the binary
// was built from, and the Go version that built it.
func buildInfo() prometheus.Collector {
	version, revision, goVersion := "unknown", "unknown", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		if v := bi.Main.Version; v != "" {
			version = v
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				revision = s.Value
			}
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help:        "Always 1; its labels say which ottr this is: version, VCS revision and the Go version that built it.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": goVersion},
	})
	g.Set(1)
	return g
}
