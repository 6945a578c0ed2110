package stockevents_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"livecommerce/internal/natstest"
	"livecommerce/internal/stock"
	"livecommerce/internal/stockstream"
	"livecommerce/origin/stockevents"
)

func level(sku string, v int64) stock.Level {
	return stock.Level{SKU: sku, LiveID: "EVLIVE", Remaining: 3, Status: stock.InStock, Version: v, UpdatedAt: time.Now().UTC()}
}

// setup starts a NATS server with the STOCK stream and a publisher on it.
func setup(t *testing.T) (*natstest.Server, *nats.Conn, jetstream.Stream, *stockevents.Publisher, *prometheus.Registry) {
	t.Helper()
	n := natstest.Start(t)
	nc, err := nats.Connect(n.URL, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("nats: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := stockstream.Ensure(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	p, err := stockevents.New(nc, reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return n, nc, stream, p, reg
}

func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("%s not registered", name)
	return 0
}

// stored lists the versions the stream holds for sku, in stream order.
func stored(t *testing.T, s jetstream.Stream, sku string) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{stock.Subject("EVLIVE", sku)}})
	if err != nil {
		return nil
	}
	batch, err := c.FetchNoWait(100)
	if err != nil {
		return nil
	}
	var out []int64
	for m := range batch.Messages() {
		e, err := stock.DecodeEvent(m.Data())
		if err != nil {
			t.Fatalf("stored event: %v", err)
		}
		out = append(out, e.Version)
	}
	return out
}

func contains(vs []int64, v int64) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

// TestPublishIsStoredOnce sends through the real NATS server into the
// STOCK stream, reads the events back with the shared decoder, and sends
// one change twice: the stream keeps it once.
func TestPublishIsStoredOnce(t *testing.T) {
	_, nc, stream, p, reg := setup(t)
	sub, err := nc.SubscribeSync(stock.LiveSubject("EVLIVE"))
	if err != nil {
		t.Fatal(err)
	}
	for v := int64(1); v <= 3; v++ {
		p.Publish(level("A1", v))
	}
	p.Publish(level("A1", 3))
	for v := int64(1); v <= 3; v++ {
		msg, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("event %d: %v", v, err)
		}
		e, err := stock.DecodeEvent(msg.Data)
		if err != nil || e.Version != v || msg.Subject != stock.Subject("EVLIVE", "A1") {
			t.Errorf("event on %s = %+v, %v; want version %d on %s", msg.Subject, e, err, v, stock.Subject("EVLIVE", "A1"))
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for counter(t, reg, "stock_events_published_total") < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	info, err := stream.Info(context.Background(), jetstream.WithSubjectFilter(stock.Subject("EVLIVE", "A1")))
	if err != nil {
		t.Fatal(err)
	}
	if got := info.State.Subjects[stock.Subject("EVLIVE", "A1")]; got != 3 {
		t.Errorf("stream holds %d events of A1, want 3 (the repeated version once)", got)
	}
	if got := stored(t, stream, "A1"); len(got) != 3 || got[2] != 3 {
		t.Errorf("stored versions = %v, want [1 2 3]", got)
	}
}

// TestPublishSurvivesNATSRestart: an event published while NATS is down is
// stored once NATS is back, through the client's buffer and the
// publisher's retries.
func TestPublishSurvivesNATSRestart(t *testing.T) {
	n, nc, _, p, reg := setup(t)
	p.Publish(level("B1", 1))
	n.Stop()
	p.Publish(level("B1", 2))
	time.Sleep(200 * time.Millisecond)
	n.Start()

	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		stream, err := js.Stream(ctx, stockstream.Name)
		cancel()
		if err == nil {
			// Both versions, in either order: a retried event can land
			// after a newer one, and readers keep the highest version.
			if got := stored(t, stream, "B1"); contains(got, 1) && contains(got, 2) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("version 2 not stored 30s after NATS came back (published %v, retried %v, dropped %v)",
				counter(t, reg, "stock_events_published_total"), counter(t, reg, "stock_events_retried_total"),
				counter(t, reg, "stock_events_dropped_total"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := counter(t, reg, "stock_events_dropped_total"); got != 0 {
		t.Errorf("dropped = %v, want 0", got)
	}
}

// TestPublishAfterCloseDrops: a handler that outlives the shutdown deadline
// may still publish; that must be a counted drop, not a panic.
func TestPublishAfterCloseDrops(t *testing.T) {
	_, _, _, p, reg := setup(t)
	p.Close()
	p.Close() // idempotent
	p.Publish(level("A1", 1))
	if got := counter(t, reg, "stock_events_dropped_total"); got != 1 {
		t.Errorf("dropped after close: got %v, want 1", got)
	}
}
