package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"livecommerce/internal/natstest"
	"livecommerce/internal/program"
	"livecommerce/internal/stock"
	"livecommerce/internal/stockstream"
	"livecommerce/origin/app"
	"livecommerce/origin/origintest"
)

// TestPublishStock: after a live's events are lost from the STOCK stream,
// `origin publish-stock --live L` fills it again with one event per
// product of L at its current remaining (after a purchase), so a stockfeed
// can rebuild the live from the stream. The events are purged within the
// stream's two-minute duplicate window: the republished ones, at the same
// versions, must still be stored, not taken for duplicates of the first.
func TestPublishStock(t *testing.T) {
	n := natstest.Start(t)
	e := origintest.Start(t, origintest.Options{Tweak: func(c *app.Config) { c.NATSURL = n.URL }})
	id := time.Now().UnixNano()
	live := fmt.Sprintf("PS-%d", id)
	want := map[string]int64{ // sku: remaining after the purchase below
		fmt.Sprintf("ps-a-%d", id): 8,
		fmt.Sprintf("ps-b-%d", id): 4,
		fmt.Sprintf("ps-c-%d", id): 1,
	}
	var products []origintest.Product
	for sku, remaining := range want {
		total := remaining
		if strings.HasPrefix(sku, "ps-a-") {
			total += 2 // bought below
		}
		products = append(products, origintest.Product{SKU: sku, Stock: total, PerBuyerLimit: 5, LowStockThreshold: 1})
	}
	e.SetUpLive(live, "", products...)
	bought := fmt.Sprintf("ps-a-%d", id)
	if r, err := e.Purchase("buyer-ps", "key-ps", bought, 2); err != nil || r.Status != http.StatusCreated {
		t.Fatalf("purchase: %v %d %s", err, r.Status, r.Body)
	}

	nc, err := nats.Connect(n.URL)
	if err != nil {
		t.Fatalf("nats: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, stockstream.Name)
	if err != nil {
		t.Fatalf("stream %s: %v", stockstream.Name, err)
	}
	// The purchase's event is the origin's last: once it is stored, every
	// event of the live is, and the purge removes them all.
	waitUntil(t, "the purchase's event stored", func() bool {
		l, ok := lastLevel(t, stream, live, bought)
		return ok && l.Remaining == want[bought]
	})
	if err := stream.Purge(ctx, jetstream.WithPurgeSubject(stock.LiveSubject(live))); err != nil {
		t.Fatalf("purge: %v", err)
	}
	if n := storedEvents(t, stream, live); n != 0 {
		t.Fatalf("%d events of %s left after the purge", n, live)
	}

	var out bytes.Buffer
	if err := run(ctx, []string{"publish-stock", "--live", live}, &out, envFor(e, n.URL)); err != nil {
		t.Fatalf("publish-stock: %v (output %q)", err, out.String())
	}
	if !strings.Contains(out.String(), "3 products of 1 lives") {
		t.Errorf("publish-stock output %q, want 3 products of 1 lives", out.String())
	}
	waitUntil(t, "an event per product", func() bool { return storedEvents(t, stream, live) >= len(want) })
	if n := storedEvents(t, stream, live); n != len(want) {
		t.Errorf("stream holds %d events of %s, want %d (one per product)", n, live, len(want))
	}
	for sku, remaining := range want {
		l, ok := lastLevel(t, stream, live, sku)
		if !ok {
			t.Errorf("no event of %s", sku)
			continue
		}
		if l.Remaining != remaining || l.LiveID != live || l.Version < 1 {
			t.Errorf("event of %s = %+v, want live %s with %d remaining", sku, l, live, remaining)
		}
	}
}

// TestPublishStockRejectsBadLive: a --live value that is no live id stops
// the command before it connects to anything, naming the flag.
func TestPublishStockRejectsBadLive(t *testing.T) {
	unreachable := func(k string) string {
		switch k {
		case "MYSQL_DSN":
			return "nobody@tcp(127.0.0.1:1)/none"
		case "REDIS_ADDR":
			return "127.0.0.1:1"
		case "NATS_URL":
			return "nats://127.0.0.1:1"
		}
		return ""
	}
	for _, live := range []string{"a.b", "L1,stock.>", "*", "L 1", strings.Repeat("L", 65), "é"} {
		var out bytes.Buffer
		err := run(context.Background(), []string{"publish-stock", "--live", live}, &out, unreachable)
		if err == nil || !strings.Contains(err.Error(), "--live") {
			t.Errorf("publish-stock --live %q = %v, want an error naming --live", live, err)
		}
	}
}

// envFor is the environment of an operator command run against e's
// database and Redis prefix, and the NATS server at natsURL.
func envFor(e *origintest.Env, natsURL string) func(string) string {
	return func(k string) string {
		switch k {
		case "MYSQL_DSN":
			return e.Config.MySQLDSN
		case "REDIS_ADDR":
			return origintest.RedisAddr()
		case "REDIS_PREFIX":
			return e.Prefix
		case "NATS_URL":
			return natsURL
		case "LOG_LEVEL":
			return "error"
		}
		return ""
	}
}

// storedEvents counts the events the stream holds for live.
func storedEvents(t *testing.T, s jetstream.Stream, live string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(stock.LiveSubject(live)))
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	n := 0
	for _, c := range info.State.Subjects {
		n += int(c)
	}
	return n
}

// lastLevel is the newest event the stream holds for live's sku.
func lastLevel(t *testing.T, s jetstream.Stream, live, sku string) (stock.Level, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := s.GetLastMsgForSubject(ctx, stock.Subject(live, sku))
	if err != nil {
		return stock.Level{}, false
	}
	ev, err := stock.DecodeEvent(m.Data)
	if err != nil {
		t.Fatalf("event of %s: %v", sku, err)
	}
	return ev.Level, true
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestExitCodes: 2 for a mistake in the command line or settings, found
// before anything is done; 1 for work that failed; 0 for help.
func TestExitCodes(t *testing.T) {
	env := func(k string) string {
		switch k {
		case "MYSQL_DSN":
			// Nothing listens on port 1 of loopback.
			return "root@tcp(127.0.0.1:1)/lc_nowhere?timeout=1s"
		case "BUYER_JWT_SECRET":
			return strings.Repeat("s", 32)
		}
		return ""
	}
	tests := []struct {
		args []string
		want int
	}{
		{nil, 2},
		{[]string{"nope"}, 2},
		{[]string{"serve", "-no-such-flag"}, 2},
		{[]string{"serve", "-ops-addr", ""}, 2},
		{[]string{"merchant", "create"}, 2},
		{[]string{"merchant", "rotate", "--merchant", "lck_0123"}, 2},
		{[]string{"token", "--buyer", "alice", "--ttl", "1000h"}, 2},
		{[]string{"publish-stock", "--live", "bad id"}, 2},
		{[]string{"merchant", "create", "--name", "Shop"}, 1},
		{[]string{"migrate"}, 1},
		{[]string{"help"}, 0},
		{[]string{"serve", "-h"}, 0},
	}
	for _, tt := range tests {
		err := run(context.Background(), tt.args, io.Discard, env)
		if got := program.Code(err); got != tt.want {
			t.Errorf("origin %q: exit %d (%v), want %d", tt.args, got, err, tt.want)
		}
	}
}
