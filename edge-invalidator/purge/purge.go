// Package purge turns stock events into CDN purges: it reads the STOCK
// stream with a durable consumer, keeps the status last seen per sku,
// queues the cache tags (sku-{sku}, live-{live_id}) of every status change,
// and sends them in deduplicated batches, paced by a token bucket, through
// a circuit breaker, to a Backend.
//
// An event is acked only once the call carrying all its tags was accepted
// (or refused for good), so a crash or a restart loses no purge: the
// stream delivers the event again, and a process that has not seen the
// sku yet treats it as a change.
package purge

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Config tunes an Invalidator. Zero values take the defaults noted.
type Config struct {
	Sender SenderConfig
	// Consumer names the durable consumer (default ConsumerName). Every
	// invalidator of one edge shares it; another edge needs its own.
	Consumer string
	// AckWait is how long JetStream waits for an ack before redelivering
	// (default 30s); waiting messages are marked in progress every third of
	// it, so a purge held back by the rate limit is not redelivered.
	AckWait time.Duration
	// MaxAckPending caps the events waiting for a purge (default 1000).
	MaxAckPending int
	// MaxSKUs bounds the status memory (default 100,000).
	MaxSKUs int
	// DrainTimeout bounds the sending of what is still waiting at shutdown
	// (default 5s); what is left is handed back to the stream.
	DrainTimeout time.Duration
}

func (c *Config) defaults() {
	if c.Consumer == "" {
		c.Consumer = ConsumerName
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.MaxAckPending <= 0 {
		c.MaxAckPending = 1000
	}
	if c.MaxSKUs <= 0 {
		c.MaxSKUs = 100_000
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 5 * time.Second
	}
}

// Invalidator is the whole pipeline.
type Invalidator struct {
	cfg    Config
	q      *Queue
	cons   *consumer
	sender *Sender
	log    *slog.Logger
}

// New wires an invalidator; m comes from NewMetrics with the same queue
// (use NewQueue) or nil for unregistered metrics.
func New(cfg Config, js jetstream.JetStream, backend Backend, q *Queue, m *Metrics, log *slog.Logger) *Invalidator {
	cfg.defaults()
	if m == nil {
		m = NewMetrics(nil, nil)
	}
	return &Invalidator{
		cfg: cfg, q: q, log: log,
		cons: &consumer{
			js: js, cfg: ConsumerConfig(cfg.Consumer, cfg.AckWait, cfg.MaxAckPending),
			tracker: NewTracker(cfg.MaxSKUs), q: q, m: m, log: log,
		},
		sender: NewSender(cfg.Sender, backend, q, m, log),
	}
}

// Ready reports whether events are being read and the CDN breaker is not
// open.
func (inv *Invalidator) Ready() bool { return inv.cons.ready.Load() && !inv.sender.Open() }

// Run purges until ctx ends, then shuts down in order: stop reading
// events, send what is waiting (within DrainTimeout), and hand every event
// whose purge was not accepted back to the stream, unacked.
func (inv *Invalidator) Run(ctx context.Context) {
	readCtx, stopReading := context.WithCancel(context.WithoutCancel(ctx))
	read := make(chan struct{})
	go func() {
		defer close(read)
		inv.cons.run(readCtx)
	}()

	sendCtx, abandon := context.WithCancel(context.WithoutCancel(ctx))
	defer abandon()
	stopSending := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		inv.sender.Run(sendCtx, stopSending)
	}()

	touch := time.NewTicker(inv.cfg.AckWait / 3)
	defer touch.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-touch.C:
			inv.q.Touch()
		}
	}

	stopReading()
	<-read
	close(stopSending)
	drain := time.NewTimer(inv.cfg.DrainTimeout)
	defer drain.Stop()
	select {
	case <-sent:
	case <-drain.C:
		abandon()
		<-sent
	}
	if n := inv.q.NakAll(); n > 0 {
		inv.log.Warn("events handed back to the stream with their purge unsent", slog.Int("events", n))
	}
}
