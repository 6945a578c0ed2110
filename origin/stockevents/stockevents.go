// Package stockevents publishes committed stock changes on NATS, one
// subject per live and sku. Publishing never blocks and never fails the
// change it reports: while NATS is away the client buffers, and past that
// the event is counted as dropped (the edge's short TTL and the next change
// cover the gap).
package stockevents

import (
	"encoding/json"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"livecommerce/internal/stock"
)

// Publisher sends stock events.
type Publisher struct {
	nc      *nats.Conn
	log     *slog.Logger
	sent    prometheus.Counter
	dropped prometheus.Counter
	// lastWarn throttles the drop warning to one per interval: an outage
	// at 1,000 purchases/s must not become 1,000 log lines/s.
	lastWarn atomic.Int64
}

const warnEvery = 10 * time.Second

// New returns a Publisher on nc. Its counters are registered with reg.
func New(nc *nats.Conn, reg prometheus.Registerer, log *slog.Logger) *Publisher {
	p := &Publisher{
		nc:  nc,
		log: log,
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stock_events_published_total", Help: "Stock events handed to NATS.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stock_events_dropped_total", Help: "Stock events NATS could not take (outage past the reconnect buffer).",
		}),
	}
	reg.MustRegister(p.sent, p.dropped)
	return p
}

// Publish sends one level as an event.
func (p *Publisher) Publish(l stock.Level) {
	body, err := json.Marshal(stock.NewEvent(l))
	if err == nil {
		err = p.nc.Publish(stock.Subject(l.LiveID, l.SKU), body)
	}
	if err != nil {
		p.dropped.Inc()
		now := time.Now().UnixNano()
		last := p.lastWarn.Load()
		if now-last < int64(warnEvery) || !p.lastWarn.CompareAndSwap(last, now) {
			return
		}
		p.log.Warn("stock event not published", slog.String("sku", l.SKU), slog.Int64("version", l.Version), slog.Any("error", err),
			slog.String("note", "further drops are counted in stock_events_dropped_total, logged at most every 10s"))
		return
	}
	p.sent.Inc()
}
