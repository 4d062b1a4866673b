package idp

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the provider's Prometheus series, on a registry of its own
// (several servers in one test binary must not collide).
type metrics struct {
	registry *prometheus.Registry
	qr       *prometheus.CounterVec // QR login events: started, scanned, confirmed, denied, redeemed
	answers  *prometheus.CounterVec // token endpoint answers for the QR grant, by outcome
	waiters  prometheus.GaugeFunc
}

func newMetrics(waiters func() float64) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		qr: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qrlogin_qr_events_total", Help: "QR login events handled by this instance.",
		}, []string{"event"}),
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qrlogin_qr_token_answers_total", Help: "Answers of the token endpoint to QR grant polls, by outcome.",
		}, []string{"outcome"}),
	}
	m.waiters = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "qrlogin_long_polls", Help: "Long-polls and page status requests currently held.",
	}, waiters)
	m.registry.MustRegister(m.qr, m.answers, m.waiters,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Metrics is the handler for GET /metrics on the admin listener.
func (s *Server) Metrics() http.Handler {
	return promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{})
}
