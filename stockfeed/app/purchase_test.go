package app_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"livecommerce/origin/origintest"
	"livecommerce/stockfeed/feedtest"
)

// TestPurchaseReachesViewer is the whole path on the machine's servers: a
// purchase through the real origin (Redis, MariaDB, NATS) shows up on a
// viewer of the real stockfeed, and selling out shows as sold_out.
func TestPurchaseReachesViewer(t *testing.T) {
	natsURL := feedtest.MachineNATSURL()
	e := origintest.Start(t, origintest.Options{})
	live := fmt.Sprintf("E2E-%d", time.Now().UnixNano())
	sku := fmt.Sprintf("e2e-%d", time.Now().UnixNano())
	e.SetUpLive(live, "", origintest.Product{SKU: sku, Stock: 3, PerBuyerLimit: 3, LowStockThreshold: 1})

	feed := feedtest.Start(t, natsURL, nil)
	var s *feedtest.Stream
	waitFor(t, 10*time.Second, "the live's stock on the feed", func() bool {
		var err error
		s, err = feedtest.Open(t, feed.URL, live, "", nil)
		if err == nil && s.Resp.StatusCode == http.StatusOK {
			return true
		}
		if s != nil {
			s.Close()
		}
		return false
	})
	b, err := s.NextEvent(10 * time.Second)
	if err != nil || b.Type != "snapshot" {
		t.Fatalf("got %+v, %v; want a snapshot", b, err)
	}
	snap := decodeSnapshot(t, b.Data)
	if len(snap.Products) != 1 || snap.Products[0].Remaining != 3 {
		t.Fatalf("snapshot = %+v, want %s with 3 remaining", snap, sku)
	}

	for i, want := range []struct {
		remaining int64
		status    string
	}{{2, "in_stock"}, {1, "low_stock"}, {0, "sold_out"}} {
		r, err := e.Purchase("buyer-1", fmt.Sprintf("key-%d", i), sku, 1)
		if err != nil || r.Status != http.StatusCreated {
			t.Fatalf("purchase %d: %v %d %s", i, err, r.Status, r.Body)
		}
		answered := time.Now()
		b, err := s.NextEvent(5 * time.Second)
		if err != nil || b.Type != "stock" {
			t.Fatalf("after purchase %d: %+v, %v; want a stock event", i, b, err)
		}
		l := decodeLevel(t, b.Data)
		if l.SKU != sku || l.Remaining != want.remaining || string(l.Status) != want.status {
			t.Fatalf("after purchase %d: %+v, want %d remaining, %s", i, l, want.remaining, want.status)
		}
		if b.LastEventID != fmt.Sprintf("%s:%d", sku, l.Version) {
			t.Errorf("event id %q, want %s:%d", b.LastEventID, sku, l.Version)
		}
		t.Logf("purchase %d: on the stream %v after the 201, %v after the commit", i,
			time.Since(answered).Round(time.Millisecond), time.Since(l.UpdatedAt).Round(time.Millisecond))
	}
}
