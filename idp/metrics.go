package idp

import (
	"maps"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/qrlogin/qrlogin/grants"
	"github.com/qrlogin/qrlogin/storage"
)

// metrics are the provider's Prometheus series, on a registry of its own
// (several servers in one test binary must not collide). Every label has a
// bounded set of values: client ids are registered by an administrator,
// routes are the mux's patterns, operations the store's methods.
type metrics struct {
	registry *prometheus.Registry
	// QR login steps by client, counted where grants commits them.
	qr             *prometheus.CounterVec
	timeToScan     prometheus.Histogram
	timeToConfirm  prometheus.Histogram
	confirmRedeem  prometheus.Histogram
	answers        *prometheus.CounterVec // token endpoint answers for the QR grant, by outcome
	waiters        prometheus.GaugeFunc
	requests       *prometheus.HistogramVec // per route and status
	storeCalls     *prometheus.HistogramVec // per store operation
	storeErrors    *prometheus.CounterVec   // per store operation and kind
	limited        *prometheus.CounterVec   // requests refused by a rate limit, per limit
	securityEvents *prometheus.CounterVec   // security events, as logged
	waitersFunc    atomic.Pointer[func() float64]

	// The series the hot path updates, by label values (see children).
	requestSeries children[requestLabels, prometheus.Observer]
	storeSeries   children[string, prometheus.Observer]
	stepSeries    children[stepLabels, prometheus.Counter]
}

type requestLabels struct {
	route  string
	status int
}

type stepLabels struct {
	step     grants.Step
	clientID string
}

// children caches the series of a metric vector by their label values:
// WithLabelValues hashes the values and locks the vector on every call,
// and a request updates a few series. Reads take no lock: the map is
// replaced, never changed, when a series is first used. Label values are
// bounded (see metrics), and so is the map.
type children[K comparable, V any] struct {
	mu sync.Mutex
	m  atomic.Pointer[map[K]V]
}

// get is the series for k, made by mk the first time.
func (c *children[K, V]) get(k K, mk func() V) V {
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old != nil {
		if v, ok := (*old)[k]; ok {
			return v
		}
	}
	m := make(map[K]V, 1)
	if old != nil {
		maps.Copy(m, *old)
	}
	v := mk()
	m[k] = v
	c.m.Store(&m)
	return v
}

// setWaiters sets what qrlogin_long_polls reports.
func (m *metrics) setWaiters(f func() float64) { m.waitersFunc.Store(&f) }

// Buckets in seconds. People take seconds to scan and to confirm; a
// redeem follows the confirmation within one poll (milliseconds with a
// long-poll, up to the poll interval without).
var (
	humanBuckets  = []float64{0.5, 1, 2, 3, 5, 8, 13, 20, 30, 45, 60, 90, 120, 180}
	redeemBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30}
	// Requests: long-polls are held up to 30 s, so the top buckets matter.
	requestBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
	// Store calls: up to PostgreSQL's statement_timeout (5 s by default),
	// which cancels a statement blocked behind a lock or an overloaded
	// server: an incident's slow calls land in finite buckets.
	storeBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
)

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		qr: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qrlogin_qr_events_total",
			Help: "QR login steps committed by this instance, by client: started, scanned, rescanned, confirmed, denied, redeemed; whichever path (phone app, phone browser, typed code, hosted page) caused them.",
		}, []string{"event", "client_id"}),
		timeToScan: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "qrlogin_qr_time_to_scan_seconds", Help: "From a QR login's start to its first scan.", Buckets: humanBuckets,
		}),
		timeToConfirm: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "qrlogin_qr_time_to_confirm_seconds", Help: "From the (last) scan of a QR login to its confirmation on the phone.", Buckets: humanBuckets,
		}),
		confirmRedeem: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "qrlogin_qr_confirm_to_redeem_seconds", Help: "From a QR login's confirmation to the tokens handed out (or the hosted page continuing).", Buckets: redeemBuckets,
		}),
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qrlogin_qr_token_answers_total", Help: "Answers of the token endpoint to QR grant polls, by outcome.",
		}, []string{"outcome"}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "qrlogin_http_request_duration_seconds", Help: "Public listener requests by route pattern and status, held long-polls included.", Buckets: requestBuckets,
		}, []string{"route", "code"}),
		storeCalls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "qrlogin_store_call_duration_seconds", Help: "Store calls by operation.", Buckets: storeBuckets,
		}, []string{"op"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qrlogin_store_errors_total", Help: "Store calls that failed, by operation and kind (unavailable, other); not found and conflict are answers, not errors.",
		}, []string{"op", "kind"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qrlogin_rate_limited_total", Help: "Requests refused by a rate limit, by limit.",
		}, []string{"limit"}),
		securityEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qrlogin_security_events_total", Help: "Security events logged at WARN, by event.",
		}, []string{"event"}),
	}
	m.waiters = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "qrlogin_long_polls", Help: "Long-polls and page status requests currently held.",
	}, func() float64 {
		if f := m.waitersFunc.Load(); f != nil {
			return (*f)()
		}
		return 0
	})
	// Known label values start at 0, so rate() sees the first increase.
	for _, l := range []string{limitAuthorizeAddress, limitQRClient, limitQRAddress, limitQRPage,
		limitScanAccount, limitLoginAddress, limitPasswordAccount, limitPasswordHashing, limitInput, limitDeviceGuesses} {
		m.limited.WithLabelValues(l)
	}
	for _, e := range []string{eventSigninFailed, eventLockout, eventTokenReuse, eventQRDenied, eventSessionRevokedByUser} {
		m.securityEvents.WithLabelValues(e)
	}
	m.registry.MustRegister(m.qr, m.timeToScan, m.timeToConfirm, m.confirmRedeem, m.answers, m.waiters,
		m.requests, m.storeCalls, m.storeErrors, m.limited, m.securityEvents,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// refused counts a request refused by the named limit (the names in
// ratelimit.go); Server.refused calls it for every limit.
func (m *metrics) refused(limit string) { m.limited.WithLabelValues(limit).Inc() }

// step counts a committed QR login step and times the funnel, from the
// login's own timestamps (the store's clock, so every instance agrees).
func (m *metrics) step(step grants.Step, l *storage.QRLogin) {
	m.stepSeries.get(stepLabels{step, l.ClientID}, func() prometheus.Counter {
		return m.qr.WithLabelValues(string(step), l.ClientID)
	}).Inc()
	switch step {
	case grants.StepScanned:
		observeSince(m.timeToScan, l.CreatedAt, l.ScannedAt)
	case grants.StepConfirmed:
		observeSince(m.timeToConfirm, l.ScannedAt, l.DecidedAt)
	case grants.StepRedeemed:
		observeSince(m.confirmRedeem, l.DecidedAt, l.RedeemedAt)
	}
}

func observeSince(h prometheus.Histogram, from, to time.Time) {
	if from.IsZero() || to.IsZero() || to.Before(from) {
		return
	}
	h.Observe(to.Sub(from).Seconds())
}

func (m *metrics) request(route string, status int, took time.Duration) {
	m.requestSeries.get(requestLabels{route, status}, func() prometheus.Observer {
		return m.requests.WithLabelValues(route, strconv.Itoa(status))
	}).Observe(took.Seconds())
}

// storeCall is the duration series of store operation op. An operation's
// error series start at 0 once it is used, so rate() sees the first error
// (and a dashboard finds the series).
func (m *metrics) storeCall(op string) prometheus.Observer {
	return m.storeSeries.get(op, func() prometheus.Observer {
		m.storeErrors.WithLabelValues(op, "unavailable")
		m.storeErrors.WithLabelValues(op, "other")
		return m.storeCalls.WithLabelValues(op)
	})
}

// Metrics is the handler for GET /metrics on the admin listener.
func (s *Server) Metrics() http.Handler {
	return promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{})
}
