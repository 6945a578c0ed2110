// Package stockevents publishes committed stock changes on NATS, one
// subject per live and sku, into the STOCK JetStream stream (see
// internal/stockstream) that the stockfeed and the edge invalidator read.
//
// Publishing never blocks and never fails the change it reports: events go
// through a bounded queue to one sender. The sender publishes through
// JetStream and waits for the stream's acknowledgement asynchronously; an
// event the stream did not confirm (NATS restarting, the stream not yet
// recovered) is sent again, a few times, under a message id that makes the
// stream keep it once. Past that, or with the queue full, an event is
// counted as dropped: the next change of the sku carries the same state,
// and the edge's short TTL covers reads meanwhile.
package stockevents

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"livecommerce/internal/stock"
)

const (
	// queueSize bounds the events waiting for the sender: a few seconds of
	// a very busy origin.
	queueSize = 8192
	// maxAttempts is how often one event is sent before it is dropped.
	maxAttempts = 5
	// ackTimeout is how long the sender waits for the stream to confirm an
	// event before sending it again.
	ackTimeout = 5 * time.Second
	// closeWait bounds how long Close waits for outstanding confirmations.
	closeWait     = 3 * time.Second
	attemptHeader = "Lc-Attempt"
)

// warnEvery throttles the drop warning: an outage at 1,000 purchases/s
// must not become 1,000 log lines/s.
const warnEvery = 10 * time.Second

// Publisher sends stock events.
type Publisher struct {
	js    jetstream.JetStream
	log   *slog.Logger
	queue chan stock.Level
	// retry holds events the stream did not confirm; the sender sends them
	// again before new ones.
	retry chan *nats.Msg
	done  chan struct{}
	// mu guards closed: a late caller after Close (a handler that outlived
	// the shutdown deadline) must get a drop, not a send on a closed
	// channel.
	mu      sync.RWMutex
	closed  bool
	sent    prometheus.Counter
	retried prometheus.Counter
	dropped prometheus.Counter

	lastWarn atomic.Int64
}

// New starts a Publisher on nc; Close stops it. Its counters are
// registered with reg.
func New(nc *nats.Conn, reg prometheus.Registerer, log *slog.Logger) (*Publisher, error) {
	p := &Publisher{
		log:   log,
		queue: make(chan stock.Level, queueSize),
		retry: make(chan *nats.Msg, queueSize),
		done:  make(chan struct{}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stock_events_published_total", Help: "Stock events the STOCK stream confirmed.",
		}),
		retried: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stock_events_retried_total", Help: "Stock events sent again because the stream did not confirm them in time.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stock_events_dropped_total", Help: "Stock events given up on (still unconfirmed after every attempt, or a full queue).",
		}),
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(queueSize),
		jetstream.WithPublishAsyncTimeout(ackTimeout),
		jetstream.WithPublishAsyncErrHandler(p.unconfirmed),
		jetstream.WithPublishAsyncAckHandler(func(jetstream.JetStream, *nats.Msg, *jetstream.PubAck) { p.sent.Inc() }))
	if err != nil {
		return nil, fmt.Errorf("stockevents: %w", err)
	}
	p.js = js
	reg.MustRegister(p.sent, p.retried, p.dropped)
	go p.send()
	return p, nil
}

// Publish queues one level as an event. It never blocks: the purchase
// path calls it.
func (p *Publisher) Publish(l stock.Level) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		p.drop(stock.Subject(l.LiveID, l.SKU), "publisher closed")
		return
	}
	select {
	case p.queue <- l:
	default:
		p.drop(stock.Subject(l.LiveID, l.SKU), "queue full")
	}
}

// Close sends what is queued, waits a little for the stream to confirm it,
// and stops the sender; later events are dropped.
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
	for {
		select {
		case m := <-p.retry:
			p.publish(m)
			continue
		default:
		}
		select {
		case m := <-p.retry:
			p.publish(m)
		case l, ok := <-p.queue:
			if !ok {
				select {
				case <-p.js.PublishAsyncComplete():
				case <-time.After(closeWait):
				}
				return
			}
			body, err := json.Marshal(stock.NewEvent(l))
			if err != nil {
				p.drop(stock.Subject(l.LiveID, l.SKU), err.Error())
				continue
			}
			m := nats.NewMsg(stock.Subject(l.LiveID, l.SKU))
			m.Data = body
			// The stream keeps one copy of a change however often it is
			// sent (within its two-minute duplicate window).
			m.Header.Set(jetstream.MsgIDHeader, l.LiveID+"."+l.SKU+"."+strconv.FormatInt(l.Version, 10))
			m.Header.Set(attemptHeader, "1")
			p.publish(m)
		}
	}
}

func (p *Publisher) publish(m *nats.Msg) {
	if _, err := p.js.PublishMsgAsync(m, jetstream.WithStallWait(time.Second)); err != nil {
		p.unconfirmed(p.js, m, err)
	}
}

// unconfirmed sends an event again, unless it has had its attempts. It
// runs on NATS's goroutines too, so it never blocks, and it only reads m:
// the client may report m while still writing it out.
func (p *Publisher) unconfirmed(_ jetstream.JetStream, m *nats.Msg, err error) {
	n, _ := strconv.Atoi(m.Header.Get(attemptHeader))
	if n >= maxAttempts {
		p.drop(m.Subject, err.Error())
		return
	}
	again := nats.NewMsg(m.Subject)
	again.Data = m.Data
	again.Header.Set(jetstream.MsgIDHeader, m.Header.Get(jetstream.MsgIDHeader))
	again.Header.Set(attemptHeader, strconv.Itoa(n+1))
	select {
	case p.retry <- again:
		p.retried.Inc()
	default:
		p.drop(m.Subject, "retry queue full: "+err.Error())
	}
}

func (p *Publisher) drop(subject, reason string) {
	p.dropped.Inc()
	now := time.Now().UnixNano()
	last := p.lastWarn.Load()
	if now-last < int64(warnEvery) || !p.lastWarn.CompareAndSwap(last, now) {
		return
	}
	p.log.Warn("stock event not published", slog.String("subject", subject), slog.String("reason", reason),
		slog.String("note", "further drops are counted in stock_events_dropped_total, logged at most every 10s"))
}
