// Package stockevents publishes committed stock changes on NATS, one
// subject per live and sku, into the STOCK JetStream stream (see
// internal/stockstream) that the stockfeed reads. A change that may have
// changed the sku's status (every change but a sale or give-back known not
// to cross a threshold) is also published on the sku's status subject,
// which is all the edge invalidator reads.
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
	// retryDelay, times the attempts made, is the pause before an event
	// is sent again.
	retryDelay = 500 * time.Millisecond
	// closeWait bounds how long Close waits for outstanding confirmations.
	closeWait     = 3 * time.Second
	attemptHeader = "Lc-Attempt"
	versionHeader = "Lc-Version"
	// maxTracked bounds the per-subject record of the newest version sent.
	maxTracked = 1 << 17
)

// warnEvery throttles the drop warning: an outage at 1,000 purchases/s
// must not become 1,000 log lines/s.
const warnEvery = 10 * time.Second

// Publisher sends stock events.
type Publisher struct {
	js    jetstream.JetStream
	log   *slog.Logger
	queue chan queued
	// retry holds events the stream did not confirm; the sender sends them
	// again before new ones.
	retry chan *nats.Msg
	done  chan struct{}
	// mu guards closed: a late caller after Close (a handler that outlived
	// the shutdown deadline) must get a drop, not a send on a closed
	// channel.
	mu         sync.RWMutex
	closed     bool
	sent       prometheus.Counter
	retried    prometheus.Counter
	superseded prometheus.Counter
	dropped    prometheus.Counter

	// newest is the highest version sent per subject. The stream keeps the
	// last few messages of a subject in arrival order, so a retry that
	// lands after a newer version could push the newest out of it; such a
	// retry is skipped instead.
	newestMu sync.Mutex
	newest   map[string]int64

	// outstanding holds each event sent and not yet confirmed or failed,
	// with the moment to give up on it. The client reports most failures
	// itself, but an event sent while it resets its pending acknowledgements
	// on a reconnect can fall through unreported; watch catches those.
	outMu       sync.Mutex
	outstanding map[*nats.Msg]time.Time

	lastWarn atomic.Int64
}

// New starts a Publisher on nc; Close stops it. Its counters are
// registered with reg.
func New(nc *nats.Conn, reg prometheus.Registerer, log *slog.Logger) (*Publisher, error) {
	p := &Publisher{
		log:   log,
		queue: make(chan queued, queueSize),
		retry: make(chan *nats.Msg, queueSize),
		done:  make(chan struct{}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stock_events_published_total", Help: "Stock events the STOCK stream confirmed.",
		}),
		retried: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stock_events_retried_total", Help: "Stock events sent again because the stream did not confirm them in time.",
		}),
		superseded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stock_events_superseded_total", Help: "Unconfirmed stock events not sent again because a newer version of the sku had been sent.",
		}),
		newest:      map[string]int64{},
		outstanding: map[*nats.Msg]time.Time{},
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stock_events_dropped_total", Help: "Stock events given up on (still unconfirmed after every attempt, or a full queue).",
		}),
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(queueSize),
		jetstream.WithPublishAsyncTimeout(ackTimeout),
		jetstream.WithPublishAsyncErrHandler(p.unconfirmed),
		jetstream.WithPublishAsyncAckHandler(p.confirmed))
	if err != nil {
		return nil, fmt.Errorf("stockevents: %w", err)
	}
	p.js = js
	reg.MustRegister(p.sent, p.retried, p.superseded, p.dropped)
	go p.send()
	go p.watch()
	return p, nil
}

// queued is an event waiting for the sender.
type queued struct {
	level stock.Level
	// again marks a deliberate repeat of a change (origin publish-stock):
	// it must be stored even though the stream may remember its first
	// copy's id.
	again bool
}

// Publish queues one level as an event. It never blocks: the purchase
// path calls it.
func (p *Publisher) Publish(l stock.Level) { p.enqueue(queued{level: l}) }

// Republish queues a level that may have been published before, for a
// stream that lost it: the stream stores it again rather than take it for
// a duplicate of the first copy.
func (p *Publisher) Republish(l stock.Level) { p.enqueue(queued{level: l, again: true}) }

func (p *Publisher) enqueue(q queued) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		p.drop(stock.Subject(q.level.LiveID, q.level.SKU), "publisher closed")
		return
	}
	select {
	case p.queue <- q:
	default:
		p.drop(stock.Subject(q.level.LiveID, q.level.SKU), "queue full")
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
			p.resend(m)
			continue
		default:
		}
		select {
		case m := <-p.retry:
			p.resend(m)
		case q, ok := <-p.queue:
			if !ok {
				select {
				case <-p.js.PublishAsyncComplete():
				case <-time.After(closeWait):
				}
				return
			}
			l := q.level
			body, err := json.Marshal(stock.NewEvent(l))
			if err != nil {
				p.drop(stock.Subject(l.LiveID, l.SKU), err.Error())
				continue
			}
			// The stream keeps one copy of a change however often it is
			// sent (within its two-minute duplicate window); a deliberate
			// repeat gets an id of its own.
			id := l.LiveID + "." + l.SKU + "." + strconv.FormatInt(l.Version, 10)
			if q.again {
				id += ".again." + strconv.FormatInt(time.Now().UnixNano(), 36)
			}
			p.sendNew(stock.Subject(l.LiveID, l.SKU), id, l.Version, body)
			if !l.SameStatus {
				// The edge invalidator reads only these.
				p.sendNew(stock.StatusSubject(l.LiveID, l.SKU), "status."+id, l.Version, body)
			}
		}
	}
}

// sendNew publishes an event for the first time.
func (p *Publisher) sendNew(subject, id string, version int64, body []byte) {
	m := nats.NewMsg(subject)
	m.Data = body
	m.Header.Set(jetstream.MsgIDHeader, id)
	m.Header.Set(versionHeader, strconv.FormatInt(version, 10))
	m.Header.Set(attemptHeader, "1")
	p.sending(m.Subject, version)
	p.publish(m)
}

func (p *Publisher) publish(m *nats.Msg) {
	p.outMu.Lock()
	p.outstanding[m] = time.Now().Add(ackTimeout + time.Second)
	p.outMu.Unlock()
	if _, err := p.js.PublishMsgAsync(m, jetstream.WithStallWait(time.Second)); err != nil {
		p.unconfirmed(p.js, m, err)
	}
}

// settle takes m off the outstanding list; false when it was not on it
// (already settled another way).
func (p *Publisher) settle(m *nats.Msg) bool {
	p.outMu.Lock()
	defer p.outMu.Unlock()
	_, ok := p.outstanding[m]
	delete(p.outstanding, m)
	return ok
}

func (p *Publisher) confirmed(_ jetstream.JetStream, m *nats.Msg, _ *jetstream.PubAck) {
	if p.settle(m) {
		p.sent.Inc()
	}
}

// watch gives up on events neither confirmed nor reported failed in time,
// until the publisher is closed.
func (p *Publisher) watch() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-p.done:
			return
		case now := <-tick.C:
			var late []*nats.Msg
			p.outMu.Lock()
			for m, deadline := range p.outstanding {
				if now.After(deadline) {
					late = append(late, m)
				}
			}
			p.outMu.Unlock()
			for _, m := range late {
				p.unconfirmed(p.js, m, jetstream.ErrAsyncPublishTimeout)
			}
		}
	}
}

// resend sends an unconfirmed event again unless a newer version of its
// sku has gone out meanwhile.
func (p *Publisher) resend(m *nats.Msg) {
	if p.stale(m) {
		p.superseded.Inc()
		return
	}
	p.publish(m)
}

// sending records that version of subject is being sent.
func (p *Publisher) sending(subject string, version int64) {
	p.newestMu.Lock()
	defer p.newestMu.Unlock()
	if len(p.newest) >= maxTracked {
		// Only retries in flight need the record; forgetting them all
		// at once now and then costs at most a stale retry.
		clear(p.newest)
	}
	if version > p.newest[subject] {
		p.newest[subject] = version
	}
}

// stale reports whether a newer version than the message's has been sent
// on its subject.
func (p *Publisher) stale(m *nats.Msg) bool {
	v, err := strconv.ParseInt(m.Header.Get(versionHeader), 10, 64)
	if err != nil {
		return false
	}
	p.newestMu.Lock()
	defer p.newestMu.Unlock()
	return p.newest[m.Subject] > v
}

// unconfirmed sends an event again, unless it has had its attempts. It
// runs on NATS's goroutines too, so it never blocks, and it only reads m:
// the client may report m while still writing it out.
func (p *Publisher) unconfirmed(_ jetstream.JetStream, m *nats.Msg, err error) {
	if !p.settle(m) {
		return // already confirmed, or already handled
	}
	if p.stale(m) {
		p.superseded.Inc()
		return
	}
	n, _ := strconv.Atoi(m.Header.Get(attemptHeader))
	if n >= maxAttempts {
		p.drop(m.Subject, err.Error())
		return
	}
	again := nats.NewMsg(m.Subject)
	again.Data = m.Data
	again.Header.Set(jetstream.MsgIDHeader, m.Header.Get(jetstream.MsgIDHeader))
	again.Header.Set(versionHeader, m.Header.Get(versionHeader))
	again.Header.Set(attemptHeader, strconv.Itoa(n+1))
	p.retried.Inc()
	// Not at once: the failure may be a reconnect still in progress, and
	// the attempts would all be spent in microseconds.
	time.AfterFunc(time.Duration(n)*retryDelay, func() {
		select {
		case p.retry <- again:
		default:
			p.drop(m.Subject, "retry queue full: "+err.Error())
		}
	})
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
