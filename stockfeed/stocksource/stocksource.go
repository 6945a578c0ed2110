// Package stocksource reads one live's stock events from the STOCK
// JetStream stream for the hub: first everything the stream still holds
// for the live (the last few changes of each sku), then each new change as
// it is stored.
//
// It uses an ordered consumer: ephemeral, kept in the server's memory, and
// recreated by the client from the last sequence it delivered whenever
// NATS restarts or a message goes missing, so the hub sees the stream in
// order with no gap and no repeat.
package stocksource

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"livecommerce/internal/stock"
	"livecommerce/internal/stockstream"
	"livecommerce/stockfeed/hub"
)

// Source follows lives on one JetStream context.
type Source struct {
	js  jetstream.JetStream
	log *slog.Logger
	// lastWarn throttles consumer error logs: a NATS outage reports an
	// error per live per heartbeat.
	lastWarn atomic.Int64
}

// New returns a Source on js.
func New(js jetstream.JetStream, log *slog.Logger) *Source {
	return &Source{js: js, log: log}
}

// Follow implements hub.Source.
func (s *Source) Follow(ctx context.Context, liveID string, sink hub.Sink) error {
	if !stock.ValidID(liveID) {
		return fmt.Errorf("stocksource: invalid live id %q", liveID)
	}
	cons, err := s.js.OrderedConsumer(ctx, stockstream.Name, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{stock.LiveSubject(liveID)},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		// The server drops the consumer soon after this instance stops
		// asking, should it die without deleting it.
		InactiveThreshold: 30 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("stocksource: follow live %s: %w", liveID, err)
	}
	// Messages stored when the consumer was made are the history; the
	// hub shows nothing to viewers until it has them all.
	stored := cons.CachedInfo().NumPending
	var caughtUp atomic.Bool
	if stored == 0 {
		caughtUp.Store(true)
		sink.CaughtUp()
	}
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		md, err := msg.Metadata()
		if err != nil {
			return
		}
		sink.Apply(md.Sequence.Stream, msg.Subject(), msg.Data())
		if !caughtUp.Load() && (md.NumPending == 0 || md.Sequence.Consumer >= stored) {
			caughtUp.Store(true)
			sink.CaughtUp()
		}
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		now := time.Now().UnixNano()
		last := s.lastWarn.Load()
		if now-last > int64(10*time.Second) && s.lastWarn.CompareAndSwap(last, now) {
			s.log.Warn("stock event consumer", slog.String("live_id", liveID), slog.Any("error", err))
		}
	}))
	if err != nil {
		return fmt.Errorf("stocksource: consume live %s: %w", liveID, err)
	}
	select {
	case <-ctx.Done():
		// The server would drop the consumer after InactiveThreshold
		// anyway; deleting it now keeps lives that come and go (made-up
		// ones included) from piling consumers up on NATS meanwhile.
		info := cons.CachedInfo()
		cc.Stop()
		if info != nil && s.js.Conn().IsConnected() {
			dctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = s.js.DeleteConsumer(dctx, stockstream.Name, info.Name)
			cancel()
		}
		return nil
	case <-cc.Closed():
		// The client gave up recreating the consumer; the hub's owner
		// starts over, and the hub skips what it has already seen.
		return fmt.Errorf("stocksource: consumer of live %s stopped", liveID)
	}
}
