package stockstream_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"livecommerce/internal/natstest"
	"livecommerce/internal/stock"
	"livecommerce/internal/stockstream"
)

func connect(t *testing.T, url string, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func checkConfig(t *testing.T, got jetstream.StreamConfig) {
	t.Helper()
	if got.Name != "STOCK" {
		t.Errorf("name = %q, want STOCK", got.Name)
	}
	if !slices.Equal(got.Subjects, []string{"stock.>", "stockstatus.>"}) {
		t.Errorf("subjects = %v, want [stock.> stockstatus.>]", got.Subjects)
	}
	if got.MaxMsgsPerSubject != 8 {
		t.Errorf("max msgs per subject = %d, want 8", got.MaxMsgsPerSubject)
	}
	if got.Storage != jetstream.FileStorage {
		t.Errorf("storage = %v, want file", got.Storage)
	}
	if got.Retention != jetstream.LimitsPolicy || got.Discard != jetstream.DiscardOld {
		t.Errorf("retention %v, discard %v; want limits, old", got.Retention, got.Discard)
	}
	if got.MaxMsgSize != 4096 {
		t.Errorf("max msg size = %d, want 4096 (the largest event DecodeEvent accepts)", got.MaxMsgSize)
	}
	if got.Replicas != 1 {
		t.Errorf("replicas = %d, want 1", got.Replicas)
	}
}

func TestEnsure(t *testing.T) {
	nc, js := connect(t, natstest.Start(t).URL)
	ctx := ctxFor(t)

	s, err := stockstream.Ensure(ctx, js, 1)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkConfig(t, info.Config)

	// Every service calls Ensure at start: a second call is fine and
	// keeps what is stored.
	if err := nc.Publish(stock.Subject("L1", "A1"), []byte("kept")); err != nil {
		t.Fatal(err)
	}
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	waitMsgs(t, s, 1)
	s2, err := stockstream.Ensure(ctx, js, 1)
	if err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	info, err = s2.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkConfig(t, info.Config)
	if info.State.Msgs != 1 {
		t.Errorf("after a second Ensure the stream holds %d messages, want 1", info.State.Msgs)
	}
}

func TestEnsureRestoresConfig(t *testing.T) {
	_, js := connect(t, natstest.Start(t).URL)
	ctx := ctxFor(t)
	drifted := stockstream.Config(1)
	drifted.MaxMsgsPerSubject = 2
	drifted.MaxMsgSize = 100
	if _, err := js.CreateStream(ctx, drifted); err != nil {
		t.Fatal(err)
	}
	s, err := stockstream.Ensure(ctx, js, 1)
	if err != nil {
		t.Fatalf("Ensure over a drifted stream: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkConfig(t, info.Config)
}

func TestConfigReplicas(t *testing.T) {
	for _, tt := range []struct{ in, want int }{{-1, 1}, {0, 1}, {1, 1}, {3, 3}} {
		if got := stockstream.Config(tt.in).Replicas; got != tt.want {
			t.Errorf("Config(%d).Replicas = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func waitMsgs(t *testing.T, s jetstream.Stream, want uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := s.Info(context.Background())
		if err == nil && info.State.Msgs == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream holds %+v (err %v), want %d messages", info.State, err, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCapturesPlainPublishes: the origin publishes on plain NATS; the
// stream keeps the latest HistoryPerSKU of each sku, and nothing else.
func TestCapturesPlainPublishes(t *testing.T) {
	nc, js := connect(t, natstest.Start(t).URL)
	ctx := ctxFor(t)
	s, err := stockstream.Ensure(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	for v := 1; v <= 10; v++ {
		if err := nc.Publish("stock.L.S", fmt.Appendf(nil, "v%d", v)); err != nil {
			t.Fatal(err)
		}
	}
	nc.Publish("stock.L.T", []byte("t1"))
	nc.Publish("stockx.L.S", []byte("not captured"))
	nc.Publish("other.L.S", []byte("not captured"))
	nc.Publish("stock.L.U", make([]byte, 5<<10)) // over MaxMsgSize
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	waitMsgs(t, s, 9)

	last, err := s.GetLastMsgForSubject(ctx, "stock.L.S")
	if err != nil {
		t.Fatalf("last message of stock.L.S: %v", err)
	}
	if string(last.Data) != "v10" || last.Subject != "stock.L.S" {
		t.Errorf("last message of stock.L.S = %s %q, want v10", last.Subject, last.Data)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter("stock.>"))
	if err != nil {
		t.Fatal(err)
	}
	if got := info.State.Subjects["stock.L.S"]; got != stockstream.HistoryPerSKU {
		t.Errorf("stock.L.S keeps %d messages, want %d", got, stockstream.HistoryPerSKU)
	}
	if got := info.State.Subjects["stock.L.T"]; got != 1 {
		t.Errorf("stock.L.T keeps %d messages, want 1", got)
	}
	if _, ok := info.State.Subjects["stock.L.U"]; ok {
		t.Errorf("a 5 KB message was stored; want it refused")
	}
	// The oldest kept version of stock.L.S is v3: v1 and v2 made room.
	first, err := s.GetMsg(ctx, info.State.FirstSeq)
	if err != nil {
		t.Fatal(err)
	}
	if string(first.Data) != "v3" {
		t.Errorf("oldest message = %q, want v3", first.Data)
	}
}

// TestMaintainWaitsForNATS: a service may start before NATS; the stream is
// there as soon as NATS is, and comes back when someone deletes it.
func TestMaintainWaitsForNATS(t *testing.T) {
	n := natstest.Start(t)
	n.Stop()
	_, js := connect(t, n.URL, nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		stockstream.Maintain(ctx, js, 1, 100*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)), func() { close(ready) })
	}()
	select {
	case <-ready:
		t.Fatal("Maintain reported the stream ready while NATS was down")
	case <-time.After(300 * time.Millisecond):
	}
	n.Start()
	select {
	case <-ready:
	case <-time.After(15 * time.Second):
		t.Fatal("the stream not ensured within 15s of NATS starting")
	}
	info, err := js.Stream(ctx, stockstream.Name)
	if err != nil {
		t.Fatalf("stream after Maintain: %v", err)
	}
	checkConfig(t, info.CachedInfo().Config)

	if err := js.DeleteStream(ctx, stockstream.Name); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := js.Stream(ctx, stockstream.Name); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a deleted stream not recreated within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Maintain did not return after its context ended")
	}
}

func TestMaintainStopsWithContext(t *testing.T) {
	_, js := connect(t, "nats://127.0.0.1:1", nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		stockstream.Maintain(ctx, js, 1, time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Maintain did not return after its context ended")
	}
}
