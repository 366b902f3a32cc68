// Package metrics defines the Prometheus metrics that modmirror exports at
// /metrics. One Metrics value is created per process and handed to the
// packages that count things; a nil *Metrics counts nothing, so tests and
// library users need not set one up.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds every collector modmirror exports.
type Metrics struct {
	registry *prometheus.Registry

	requests       *prometheus.CounterVec
	requestSeconds *prometheus.HistogramVec
	lookups        *prometheus.CounterVec
	fetches        *prometheus.CounterVec
	fetchSeconds   *prometheus.HistogramVec
	fetchBytes     *prometheus.CounterVec
	verifyFailures *prometheus.CounterVec
	policy         *prometheus.CounterVec
	fillAhead      prometheus.Counter
}

// New returns Metrics registered in a new registry, with the Go runtime and
// process collectors.
func New() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "modmirror_http_requests_total",
			Help: "HTTP requests served, by endpoint and status code.",
		}, []string{"endpoint", "code"}),
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "modmirror_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by endpoint.",
			Buckets: []float64{.0005, .001, .005, .01, .05, .1, .5, 1, 5, 30, 120},
		}, []string{"endpoint"}),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "modmirror_store_lookups_total",
			Help: "Lookups of module files in the store, by file kind and result (hit, miss).",
		}, []string{"kind", "result"}),
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "modmirror_upstream_fetches_total",
			Help: "Requests to upstreams, by upstream, file kind and result (ok, notfound, error).",
		}, []string{"upstream", "kind", "result"}),
		fetchSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "modmirror_upstream_fetch_duration_seconds",
			Help:    "Time of upstream requests, until the body is read, by upstream and file kind.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 9),
		}, []string{"upstream", "kind"}),
		fetchBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "modmirror_upstream_fetch_bytes_total",
			Help: "Bytes read from upstreams, by upstream and file kind.",
		}, []string{"upstream", "kind"}),
		verifyFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "modmirror_verification_failures_total",
			Help: "Module files refused because they failed verification, by file kind and reason.",
		}, []string{"kind", "reason"}),
		policy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "modmirror_policy_matches_total",
			Help: "Requests for a module version's .info or .zip that a policy rule matched, by rule and action (block, report).",
		}, []string{"rule", "action"}),
		fillAhead: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "modmirror_fill_ahead_total",
			Help: "Zips filled before a client asked for them, because their version's .info was missed and its go.mod stored or asked for (--fill-ahead).",
		}),
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.requestSeconds, m.lookups, m.fetches, m.fetchSeconds, m.fetchBytes, m.verifyFailures, m.policy, m.fillAhead,
	)
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Registry returns the registry, for registering further collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Request counts one served HTTP request.
func (m *Metrics) Request(endpoint string, code int, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(endpoint, codeLabel(code)).Inc()
	m.requestSeconds.WithLabelValues(endpoint).Observe(d.Seconds())
}

// Lookup counts a store lookup of a file kind ("info", "mod", "zip", ...).
func (m *Metrics) Lookup(kind string, hit bool) {
	if m == nil {
		return
	}
	result := "miss"
	if hit {
		result = "hit"
	}
	m.lookups.WithLabelValues(kind, result).Inc()
}

// FillAhead counts a zip fill started ahead of a request for it.
func (m *Metrics) FillAhead() {
	if m == nil {
		return
	}
	m.fillAhead.Inc()
}

// Fetch counts one upstream request: result is "ok", "notfound" or "error".
func (m *Metrics) Fetch(upstream, kind, result string, d time.Duration, bytes int64) {
	if m == nil {
		return
	}
	m.fetches.WithLabelValues(upstream, kind, result).Inc()
	m.fetchSeconds.WithLabelValues(upstream, kind).Observe(d.Seconds())
	if bytes > 0 {
		m.fetchBytes.WithLabelValues(upstream, kind).Add(float64(bytes))
	}
}

// VerifyFailure counts a file refused by verification; reason is a short
// word such as "checksum", "changed" or "zip".
func (m *Metrics) VerifyFailure(kind, reason string) {
	if m == nil {
		return
	}
	m.verifyFailures.WithLabelValues(kind, reason).Inc()
}

// codeLabel avoids allocating for the common codes.
func codeLabel(code int) string {
	switch code {
	case 200:
		return "200"
	case 206:
		return "206"
	case 304:
		return "304"
	case 400:
		return "400"
	case 404:
		return "404"
	case 410:
		return "410"
	case 500:
		return "500"
	case 502:
		return "502"
	}
	return http.StatusText(code)
}

// PolicyMatch counts a request a policy rule matched; action is block or
// report.
func (m *Metrics) PolicyMatch(rule, action string) {
	if m == nil {
		return
	}
	m.policy.WithLabelValues(rule, action).Inc()
}
