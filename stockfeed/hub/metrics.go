package hub

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the feed's own counters. Label values come from fixed sets
// in this package, never from a live id or a client, so the number of
// series stays bounded whatever the traffic.
type Metrics struct {
	clients   prometheus.Gauge
	lives     prometheus.Gauge
	eventsIn  *prometheus.CounterVec
	eventsOut prometheus.Counter
	coalesced prometheus.Counter
	dropped   *prometheus.CounterVec
	lag       prometheus.Histogram
}

// Results of an incoming event (label "result" of stockfeed_events_in_total).
const (
	resultApplied   = "applied"
	resultStale     = "stale"
	resultMalformed = "malformed"
)

// NewMetrics creates the collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		clients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "stockfeed_clients", Help: "Event-stream clients connected now.",
		}),
		lives: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "stockfeed_lives_followed", Help: "Lives this instance follows on NATS now (one ordered consumer each).",
		}),
		eventsIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stockfeed_events_in_total", Help: "Stock events read from NATS: applied, stale (an older version than already known, ignored) or malformed (rejected).",
		}, []string{"result"}),
		eventsOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stockfeed_events_out_total", Help: "Server-sent events written to clients (snapshots count one each).",
		}),
		coalesced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stockfeed_events_coalesced_total", Help: "Stock events replaced by a newer version of the same sku before they were sent.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stockfeed_clients_dropped_total", Help: "Clients disconnected by the feed, by reason.",
		}, []string{"reason"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "stockfeed_delivery_lag_seconds",
			Help:    "Time from a stock change's commit (its updated_at) to the feed having written it to a client.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5},
		}),
	}
	for _, r := range []string{resultApplied, resultStale, resultMalformed} {
		m.eventsIn.WithLabelValues(r)
	}
	for _, r := range []string{ReasonSlow, ReasonShutdown, ReasonResync} {
		m.dropped.WithLabelValues(r)
	}
	reg.MustRegister(m.clients, m.lives, m.eventsIn, m.eventsOut, m.coalesced, m.dropped, m.lag)
	return m
}

// Caught records a viewer's first frame: counted, but kept out of the lag
// histogram, where a resumed viewer's old changes would read as a slow feed.
func (m *Metrics) Caught(f *Frame) { m.eventsOut.Add(float64(f.Events)) }

// Delivered records a frame written to a viewer at time at.
func (m *Metrics) Delivered(f *Frame, at time.Time) {
	m.eventsOut.Add(float64(f.Events))
	for _, t := range f.Changed {
		m.lag.Observe(at.Sub(t).Seconds())
	}
}
