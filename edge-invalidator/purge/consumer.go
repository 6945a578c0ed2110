package purge

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"livecommerce/internal/stock"
	"livecommerce/internal/stockstream"
)

// ConsumerName is the durable consumer's default name on the STOCK stream.
const ConsumerName = "edge-invalidator"

// ConsumerConfig is the durable consumer's definition.
//
// DeliverNew applies only when the consumer is first created: events from
// before the invalidator ever ran describe states whose cached copies
// expired long ago (1-second TTL), and purging every sku at first start
// would spend a Free plan's allowance for nothing. After that the durable
// consumer resumes where it stopped. Nothing is acked before its purge is
// accepted, so MaxAckPending is how many events may wait on a slow or
// absent CDN before JetStream stops sending more (backpressure, not loss),
// and MaxDeliver is unlimited because a purge is never given up.
func ConsumerConfig(name string, ackWait time.Duration, maxAckPending int) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:     name,
		Description: "Purges the CDN by cache tag when a sku's status changes.",
		// Only the events that may change a status: the origins copy
		// those to the status subjects, so the invalidator is not sent
		// every sale of every sku.
		FilterSubject: stock.StatusSubjectPrefix + ".>",
		DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    -1,
		MaxAckPending: maxAckPending,
	}
}

// consumer reads stock events and queues the tags of status changes.
type consumer struct {
	js      jetstream.JetStream
	cfg     jetstream.ConsumerConfig
	tracker *Tracker
	q       *Queue
	m       *Metrics
	log     *slog.Logger
	ready   atomic.Bool
}

// run reads until ctx ends, setting the consumer up again after any error
// (NATS away, the stream or the consumer deleted).
func (c *consumer) run(ctx context.Context) {
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := c.readOnce(ctx)
		c.ready.Store(false)
		if ctx.Err() != nil {
			return
		}
		c.log.Warn("stock event consumer stopped; starting again", slog.Duration("in", wait), slog.Any("error", err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

func (c *consumer) readOnce(ctx context.Context) error {
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	cons, err := c.ensure(tctx)
	cancel()
	if err != nil {
		return err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(min(256, max(1, c.cfg.MaxAckPending))))
	if err != nil {
		return err
	}
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
		case <-stopped:
		}
		it.Stop()
	}()
	c.ready.Store(true)
	for {
		msg, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) && ctx.Err() != nil {
				return nil
			}
			return err
		}
		c.handle(msg)
	}
}

// ensure creates the durable consumer or brings it to c.cfg. A consumer
// left by an older invalidator that read every event has another filter,
// which NATS before 2.10 cannot change in place: it is replaced, and the
// new one starts with new events (what was missed meanwhile is older than
// the edge's TTL).
func (c *consumer) ensure(ctx context.Context) (jetstream.Consumer, error) {
	cons, err := c.js.CreateOrUpdateConsumer(ctx, stockstream.Name, c.cfg)
	if err == nil {
		return cons, nil
	}
	old, ierr := c.js.Consumer(ctx, stockstream.Name, c.cfg.Durable)
	if ierr != nil || old.CachedInfo().Config.FilterSubject == c.cfg.FilterSubject {
		return nil, err
	}
	c.log.Warn("replacing the durable consumer: its filter subject is an older invalidator's",
		slog.String("consumer", c.cfg.Durable), slog.String("filter", old.CachedInfo().Config.FilterSubject))
	if derr := c.js.DeleteConsumer(ctx, stockstream.Name, c.cfg.Durable); derr != nil {
		return nil, errors.Join(err, derr)
	}
	return c.js.CreateOrUpdateConsumer(ctx, stockstream.Name, c.cfg)
}

func (c *consumer) handle(msg jetstream.Msg) {
	md, err := msg.Metadata()
	if err != nil {
		_ = msg.Term()
		c.m.Events.WithLabelValues("malformed").Inc()
		return
	}
	ev, err := stock.DecodeEvent(msg.Data())
	if err == nil && msg.Subject() != stock.StatusSubject(ev.LiveID, ev.SKU) {
		err = errors.New("stock event: subject does not match live_id and sku")
	}
	if err != nil {
		// Redelivering it would fail the same way.
		_ = msg.Term()
		c.m.Events.WithLabelValues("malformed").Inc()
		c.log.Warn("malformed stock event dropped", slog.Uint64("stream_seq", md.Sequence.Stream), slog.Any("error", err))
		return
	}
	if c.q.Pending(md.Sequence.Stream) {
		c.m.Events.WithLabelValues("redelivered").Inc()
		return
	}
	if !c.tracker.Changed(ev) {
		_ = msg.Ack()
		c.m.Events.WithLabelValues("unchanged").Inc()
		return
	}
	c.m.Events.WithLabelValues("transition").Inc()
	tags := []string{stock.SKUTag(ev.SKU), stock.LiveTag(ev.LiveID)}
	c.m.Requested.Add(float64(len(tags)))
	c.q.Add(md.Sequence.Stream, msg, tags, ev.UpdatedAt, time.Now())
}
