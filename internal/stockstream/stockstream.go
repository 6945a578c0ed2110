// Package stockstream defines the JetStream stream that keeps stock events:
// the latest few changes of every sku, in one order that every reader sees
// alike. The origin publishes on plain NATS subjects; the stream captures
// them, so a stockfeed that starts later (or restarts) can rebuild a live's
// current state, and its stream sequence numbers mean the same thing on
// every stockfeed instance.
//
// Every service that touches the stream calls Ensure at start with the same
// definition, so the order in which services start does not matter.
package stockstream

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"livecommerce/internal/stock"
)

// Name is the stream's name.
const Name = "STOCK"

// HistoryPerSKU is how many changes of one sku the stream keeps. One would
// do if events always arrived in version order, but two origin instances
// can publish one sku's consecutive versions in either order; a reader
// that takes the highest version of the last few gets the true latest.
const HistoryPerSKU = 8

// Config is the stream's definition.
func Config(replicas int) jetstream.StreamConfig {
	if replicas < 1 {
		replicas = 1
	}
	return jetstream.StreamConfig{
		Name:              Name,
		Description:       "Latest stock changes per sku (subject stock.{live}.{sku}) for the stockfeed, and those that may change a status (stockstatus.{live}.{sku}) for the edge invalidator.",
		Subjects:          []string{stock.SubjectPrefix + ".>", stock.StatusSubjectPrefix + ".>"},
		Retention:         jetstream.LimitsPolicy,
		Storage:           jetstream.FileStorage,
		MaxMsgsPerSubject: HistoryPerSKU,
		// A safety cap, far above HistoryPerSKU times any real catalogue
		// (events are about 200 bytes): it only bites if something
		// publishes on unbounded subjects.
		MaxBytes:   1 << 30,
		MaxMsgSize: 4096,
		Discard:    jetstream.DiscardOld,
		Replicas:   replicas,
	}
}

// Ensure creates the stream, or brings an existing one to Config.
func Ensure(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.Stream, error) {
	s, err := js.CreateOrUpdateStream(ctx, Config(replicas))
	if err != nil {
		return nil, fmt.Errorf("stockstream: ensure stream %s: %w", Name, err)
	}
	return s, nil
}

// Maintain keeps the stream in place until ctx ends: it calls Ensure,
// backing off while NATS is away (a service starts whether or not NATS is
// up), and then again every interval, so a stream deleted by hand or lost
// with a NATS store comes back without restarting the services. It calls
// ready, if not nil, after the first success.
func Maintain(ctx context.Context, js jetstream.JetStream, replicas int, interval time.Duration, log *slog.Logger, ready func()) {
	wait := 250 * time.Millisecond
	ok := false
	for {
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := Ensure(tctx, js, replicas)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			if !ok && ready != nil {
				ready()
			}
			ok, wait = true, interval
		case ok:
			log.Warn("the stock event stream could not be checked; retrying", slog.Any("error", err))
			ok, wait = false, 250*time.Millisecond
		default:
			log.Warn("cannot ensure the stock event stream yet; retrying", slog.Duration("in", wait), slog.Any("error", err))
			wait = min(2*wait, 10*time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
