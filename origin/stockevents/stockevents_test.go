package stockevents_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"livecommerce/internal/faultproxy"
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

// retryWindow covers the publisher's pauses before sending an unconfirmed
// event again.
const retryWindow = 3 * time.Second

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
	// Each of the 4 changes is also copied to the status subject (none is
	// marked SameStatus): 8 confirmations in all.
	waitUntil(t, "every publish confirmed", func() bool { return counter(t, reg, "stock_events_published_total") >= 8 })
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
// publisher's retries, and it is the last one stored for its sku: an
// older event that failed meanwhile is not sent again after it.
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
			if got := stored(t, stream, "B1"); contains(got, 2) {
				// Version 1 may be stored before it or skipped, never
				// after it: the stream keeps a sku's last few in arrival
				// order, and the newest must stay among them.
				deadline := time.Now().Add(retryWindow)
				for time.Now().Before(deadline) {
					got = stored(t, stream, "B1")
					if got[len(got)-1] != 2 {
						t.Fatalf("stored versions %v: an older version landed after the newest", got)
					}
					time.Sleep(100 * time.Millisecond)
				}
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

// TestUnconfirmedSuperseded: an event the stream did not confirm is not
// sent again once a newer version of its sku has been sent: the retry
// could land after the newer one and push it out of the stream's history.
// An event with nothing newer is retried as usual.
//
// The publisher reaches NATS through a proxy held shut while versions 1
// and 2 are written, so version 1's failure is certainly seen after
// version 2 went out; no stream captures the subject, so the server
// answers each one with "no responders" (after the client's own two
// quick retries, so this takes a couple of seconds).
func TestUnconfirmedSuperseded(t *testing.T) {
	n := natstest.Start(t)
	proxy, err := faultproxy.Start(strings.TrimPrefix(n.URL, "nats://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	nc, err := nats.Connect("nats://"+proxy.Addr(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("nats: %v", err)
	}
	t.Cleanup(nc.Close)
	reg := prometheus.NewRegistry()
	p, err := stockevents.New(nc, reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)

	proxy.Blackhole()
	sent := nc.Stats().OutMsgs
	// Sales that kept the status: one message each, on the stock subject.
	sale := func(v int64) stock.Level {
		l := level("S1", v)
		l.SameStatus = true
		return l
	}
	p.Publish(sale(1))
	p.Publish(sale(2))
	waitUntil(t, "both versions written", func() bool { return nc.Stats().OutMsgs >= sent+2 })
	proxy.Restore()

	// Version 2 has every attempt and is then dropped; version 1 none
	// beyond its first.
	waitUntil(t, "version 2 given up and version 1 superseded", func() bool {
		return counter(t, reg, "stock_events_dropped_total") == 1 && counter(t, reg, "stock_events_superseded_total") == 1
	})
	for name, want := range map[string]float64{
		"stock_events_superseded_total": 1,
		"stock_events_retried_total":    4, // version 2's attempts 2 to 5
		"stock_events_dropped_total":    1,
		"stock_events_published_total":  0,
	} {
		if got := counter(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// waitUntil polls cond for up to 10s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStatusSubjectCarriesOnlyPossibleStatusChanges: a change known to keep
// the status (a sale or give-back that crossed no threshold) goes to the
// stock subject only; any other change to the status subject as well, with
// the same body. The edge invalidator reads only the status subjects.
func TestStatusSubjectCarriesOnlyPossibleStatusChanges(t *testing.T) {
	_, nc, stream, p, reg := setup(t)
	all, err := nc.SubscribeSync(stock.LiveSubject("EVLIVE"))
	if err != nil {
		t.Fatal(err)
	}
	statuses, err := nc.SubscribeSync(stock.StatusSubjectPrefix + ".EVLIVE.*")
	if err != nil {
		t.Fatal(err)
	}
	for v := int64(1); v <= 4; v++ {
		l := level("S2", v)
		l.SameStatus = v%2 == 1 // versions 1 and 3 kept the status
		p.Publish(l)
	}
	for v := int64(1); v <= 4; v++ {
		msg, err := all.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("stock event %d: %v", v, err)
		}
		if e, err := stock.DecodeEvent(msg.Data); err != nil || e.Version != v {
			t.Errorf("stock event = %+v, %v; want version %d", e, err, v)
		}
	}
	for _, v := range []int64{2, 4} {
		msg, err := statuses.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("status event %d: %v", v, err)
		}
		e, err := stock.DecodeEvent(msg.Data)
		if err != nil || e.Version != v || msg.Subject != stock.StatusSubject("EVLIVE", "S2") {
			t.Errorf("status event on %s = %+v, %v; want version %d on %s", msg.Subject, e, err, v, stock.StatusSubject("EVLIVE", "S2"))
		}
	}
	if msg, err := statuses.NextMsg(300 * time.Millisecond); err == nil {
		t.Errorf("unexpected status event on %s: %s", msg.Subject, msg.Data)
	}
	deadline := time.Now().Add(5 * time.Second)
	for counter(t, reg, "stock_events_published_total") < 6 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	info, err := stream.Info(context.Background(), jetstream.WithSubjectFilter(stock.StatusSubject("EVLIVE", "S2")))
	if err != nil {
		t.Fatal(err)
	}
	if got := info.State.Subjects[stock.StatusSubject("EVLIVE", "S2")]; got != 2 {
		t.Errorf("stream holds %d status events of S2, want 2", got)
	}
}
