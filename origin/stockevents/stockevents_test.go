package stockevents_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"livecommerce/internal/stock"
	"livecommerce/origin/origintest"
	"livecommerce/origin/stockevents"
)

func level(sku string, v int64) stock.Level {
	return stock.Level{SKU: sku, LiveID: "EVLIVE", Remaining: 3, Status: stock.InStock, Version: v, UpdatedAt: time.Now().UTC()}
}

// TestPublishReachesSubscribers sends through the real NATS server and
// reads the events back with the shared decoder.
func TestPublishReachesSubscribers(t *testing.T) {
	nc, err := nats.Connect(origintest.NATSURL())
	if err != nil {
		t.Fatalf("nats: %v", err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync(stock.LiveSubject("EVLIVE"))
	if err != nil {
		t.Fatal(err)
	}
	p := stockevents.New(nc, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	for v := int64(1); v <= 3; v++ {
		p.Publish(level("A1", v))
	}
	p.Close()
	for v := int64(1); v <= 3; v++ {
		msg, err := sub.NextMsg(2 * time.Second)
		if err != nil {
			t.Fatalf("event %d: %v", v, err)
		}
		e, err := stock.DecodeEvent(msg.Data)
		if err != nil || e.Version != v || msg.Subject != stock.Subject("EVLIVE", "A1") {
			t.Errorf("event on %s = %+v, %v; want version %d on %s", msg.Subject, e, err, v, stock.Subject("EVLIVE", "A1"))
		}
	}
}

// TestPublishAfterCloseDrops: a handler that outlives the shutdown deadline
// may still publish; that must be a counted drop, not a panic.
func TestPublishAfterCloseDrops(t *testing.T) {
	nc, err := nats.Connect(origintest.NATSURL())
	if err != nil {
		t.Fatalf("nats: %v", err)
	}
	defer nc.Close()
	reg := prometheus.NewRegistry()
	p := stockevents.New(nc, reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	p.Close()
	p.Close() // idempotent
	p.Publish(level("A1", 1))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "stock_events_dropped_total" {
			if got := f.GetMetric()[0].GetCounter().GetValue(); got != 1 {
				t.Errorf("dropped after close: got %v, want 1", got)
			}
			return
		}
	}
	t.Errorf("stock_events_dropped_total not registered")
}
