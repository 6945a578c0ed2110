package purge

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the invalidator's series.
type Metrics struct {
	Events    *prometheus.CounterVec // by result
	Requested prometheus.Counter
	Calls     prometheus.Counter
	BatchTags prometheus.Histogram
	Failures  *prometheus.CounterVec // by reason
	Lag       prometheus.Histogram
	Breaker   prometheus.Gauge
	Waiting   prometheus.GaugeFunc
}

// NewMetrics registers the series on reg (nothing when reg is nil). q may
// be nil; then no waiting gauge is registered.
func NewMetrics(reg prometheus.Registerer, q *Queue) *Metrics {
	m := &Metrics{
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_invalidator_events_total",
			Help: "Stock events read, by result: transition (purge queued), unchanged (same status or older, acked), redelivered (already waiting), malformed (terminated).",
		}, []string{"result"}),
		Requested: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edge_invalidator_purge_tags_requested_total",
			Help: "Cache tags asked to be purged by status transitions, before deduplication.",
		}),
		Calls: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edge_invalidator_purge_calls_total",
			Help: "Purge calls the CDN accepted.",
		}),
		BatchTags: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "edge_invalidator_purge_batch_tags",
			Help:    "Distinct tags per accepted purge call.",
			Buckets: []float64{1, 2, 5, 10, 25, 50, 75, 100},
		}),
		Failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_invalidator_purge_failures_total",
			Help: "Failed purge attempts, by reason: throttled (429), error (5xx, network, auth; retried), breaker_open (not sent), rejected (other 4xx; batch dropped).",
		}, []string{"reason"}),
		Lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "edge_invalidator_purge_lag_seconds",
			Help:    "Time from a stock event's updated_at to the end of the purge call that covered it.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300},
		}),
		Breaker: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edge_invalidator_breaker_open",
			Help: "1 while the CDN circuit breaker is open or half-open.",
		}),
	}
	for _, r := range []string{"transition", "unchanged", "redelivered", "malformed"} {
		m.Events.WithLabelValues(r)
	}
	for _, r := range []string{"throttled", "error", "breaker_open", "rejected"} {
		m.Failures.WithLabelValues(r)
	}
	if reg == nil {
		return m
	}
	reg.MustRegister(m.Events, m.Requested, m.Calls, m.BatchTags, m.Failures, m.Lag, m.Breaker)
	if q != nil {
		m.Waiting = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "edge_invalidator_tags_waiting",
			Help: "Distinct tags waiting to be purged.",
		}, func() float64 { return float64(q.Len()) })
		reg.MustRegister(m.Waiting)
	}
	return m
}
