// Package stockevents publishes committed stock changes on NATS, one
// subject per live and sku. Publishing never blocks and never fails the
// change it reports: events go through a bounded queue to one sender, the
// NATS client buffers while the server is away, and past that an event is
// counted as dropped (the edge's short TTL and the next change cover the
// gap).
package stockevents

import (
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"livecommerce/internal/stock"
)

// queueSize bounds the events waiting for the sender: a few seconds of a
// very busy origin.
const queueSize = 8192

// warnEvery throttles the drop warning: an outage at 1,000 purchases/s
// must not become 1,000 log lines/s.
const warnEvery = 10 * time.Second

// Publisher sends stock events.
type Publisher struct {
	nc    *nats.Conn
	log   *slog.Logger
	queue chan stock.Level
	done  chan struct{}
	// mu guards closed: a late caller after Close (a handler that outlived
	// the shutdown deadline) must get a drop, not a send on a closed
	// channel.
	mu      sync.RWMutex
	closed  bool
	sent    prometheus.Counter
	dropped prometheus.Counter

	lastWarn atomic.Int64
}

// New starts a Publisher on nc; Close stops it. Its counters are
// registered with reg.
func New(nc *nats.Conn, reg prometheus.Registerer, log *slog.Logger) *Publisher {
	p := &Publisher{
		nc:    nc,
		log:   log,
		queue: make(chan stock.Level, queueSize),
		done:  make(chan struct{}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stock_events_published_total", Help: "Stock events handed to NATS.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stock_events_dropped_total", Help: "Stock events NATS could not take (outage past the reconnect buffer, or a full queue).",
		}),
	}
	reg.MustRegister(p.sent, p.dropped)
	go p.send()
	return p
}

// Publish queues one level as an event. It never blocks: the purchase
// path calls it.
func (p *Publisher) Publish(l stock.Level) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		p.drop(l, "publisher closed")
		return
	}
	select {
	case p.queue <- l:
	default:
		p.drop(l, "queue full")
	}
}

// Close sends what is queued and stops the sender; later events are
// dropped.
func (p *Publisher) Close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.queue)
	}
	p.mu.Unlock()
	<-p.done
}

// send runs alone, so a NATS client that blocks while flushing a full
// buffer holds up only this goroutine, never a purchase.
func (p *Publisher) send() {
	defer close(p.done)
	for l := range p.queue {
		body, err := json.Marshal(stock.NewEvent(l))
		if err == nil {
			err = p.nc.Publish(stock.Subject(l.LiveID, l.SKU), body)
		}
		if err != nil {
			p.drop(l, err.Error())
			continue
		}
		p.sent.Inc()
	}
}

func (p *Publisher) drop(l stock.Level, reason string) {
	p.dropped.Inc()
	now := time.Now().UnixNano()
	last := p.lastWarn.Load()
	if now-last < int64(warnEvery) || !p.lastWarn.CompareAndSwap(last, now) {
		return
	}
	p.log.Warn("stock event not published", slog.String("sku", l.SKU), slog.Int64("version", l.Version),
		slog.String("reason", reason),
		slog.String("note", "further drops are counted in stock_events_dropped_total, logged at most every 10s"))
}
