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
	// check is how often the stream's identity is read; current holds the
	// latest reading, which every followed live compares with the one it
	// started on (one request per interval, however many lives).
	check   time.Duration
	current atomic.Value // string
	// lastWarn throttles consumer error logs: a NATS outage reports an
	// error per live per heartbeat.
	lastWarn atomic.Int64
}

// New returns a Source on js. Until ctx ends it reads the stream's
// identity every check (10s if zero), so lives notice a stream that was
// deleted and made again.
func New(ctx context.Context, js jetstream.JetStream, check time.Duration, log *slog.Logger) *Source {
	if check <= 0 {
		check = 10 * time.Second
	}
	s := &Source{js: js, check: check, log: log}
	s.current.Store("")
	go s.watch(ctx)
	return s
}

func (s *Source) watch(ctx context.Context) {
	tick := time.NewTicker(s.check)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			// NATS away or the stream briefly gone: keep the last reading.
			if e, err := s.epoch(ctx); err == nil {
				s.current.Store(e)
			}
		}
	}
}

// epoch identifies the stream: its creation time, which changes when it is
// deleted and made again (and its sequence numbers start over).
func (s *Source) epoch(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := s.js.Stream(ctx, stockstream.Name)
	if err != nil {
		return "", fmt.Errorf("stocksource: stream %s: %w", stockstream.Name, err)
	}
	return st.CachedInfo().Created.UTC().Format(time.RFC3339Nano), nil
}

// Follow implements hub.Source.
func (s *Source) Follow(ctx context.Context, liveID string, sink hub.Sink) error {
	if !stock.ValidID(liveID) {
		return fmt.Errorf("stocksource: invalid live id %q", liveID)
	}
	epoch, err := s.epoch(ctx)
	if err != nil {
		return err
	}
	sink.Begin(epoch)
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
	tick := time.NewTicker(s.check)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if now := s.current.Load().(string); now == "" || now == epoch {
				continue
			}
			cc.Stop()
			return fmt.Errorf("stocksource: stream %s was made again; following live %s anew", stockstream.Name, liveID)
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
}
