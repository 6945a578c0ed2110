package purchase_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"livecommerce/origin/origintest"
)

// TestRaceForLastUnits: 500 buyers, 100 units, at most 2 per buyer. Every
// buyer tries three times at once, with 1 or 2 units, so the limit and the
// stock are both contended.
func TestRaceForLastUnits(t *testing.T) {
	e := origintest.Start(t, origintest.Options{})
	e.SetUpLive("RACE", "", origintest.Product{SKU: "HOT", Stock: 100, PerBuyerLimit: 2, LowStockThreshold: 10})

	const buyers, tries = 500, 3
	var soldByResponses atomic.Int64
	codes := sync.Map{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for b := 0; b < buyers; b++ {
		for i := 0; i < tries; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				qty := 1 + (b+i)%2
				// A buyer whose outcome is pending retries the same key,
				// as the contract tells it to.
				var r origintest.Response
				for attempt := 0; ; attempt++ {
					var err error
					r, err = e.Purchase(fmt.Sprintf("buyer-%d", b), fmt.Sprintf("k-%d-%d", b, i), "HOT", qty)
					if err != nil {
						t.Errorf("buyer %d: %v", b, err)
						return
					}
					if (r.Status != 503 && r.Code() != "idempotency_key_in_use") || attempt == 50 {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				key := fmt.Sprint(r.Status, " ", r.Code())
				n, _ := codes.LoadOrStore(key, new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
				if r.Status == 201 {
					var rc struct{ Quantity int64 }
					json.Unmarshal(r.Body, &rc)
					soldByResponses.Add(rc.Quantity)
				}
			}()
		}
	}
	began := time.Now()
	close(start)
	wg.Wait()
	t.Logf("%d purchases in %v", buyers*tries, time.Since(began))

	codes.Range(func(k, v any) bool {
		t.Logf("%s: %d", k, v.(*atomic.Int64).Load())
		switch k {
		case "201 ", "409 sold_out", "409 insufficient_stock", "409 purchase_limit_exceeded":
		default:
			t.Errorf("unexpected answer %q", k)
		}
		return true
	})
	if got := soldByResponses.Load(); got != 100 {
		t.Errorf("units in 201 answers: got %d, want 100", got)
	}
	counter, orders := e.SoldInDB("HOT")
	if counter != 100 || orders != 100 {
		t.Errorf("database: sold counter %d, order rows sum %d; want 100 and 100", counter, orders)
	}
	if rem, ok := e.RedisRemaining("HOT"); !ok || rem != 0 {
		t.Errorf("redis remaining: got %d (loaded %v), want 0", rem, ok)
	}
	if m := e.MaxHeldPerBuyer("HOT"); m > 2 {
		t.Errorf("a buyer holds %d units, limit is 2", m)
	}
}
