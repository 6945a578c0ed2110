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

// TestStockChangedWhileBuyersPurchase: 200 buyers buy one sku while its
// merchant lowers and raises its stock through the admin API. Nothing is
// oversold at any point the database records, every refused lowering
// changes nothing, and at the end the database, Redis and the report agree.
func TestStockChangedWhileBuyersPurchase(t *testing.T) {
	e := origintest.Start(t, origintest.Options{})
	const sku, limit = "MOVING", 3
	e.SetUpLive("ADJRACE", "", origintest.Product{SKU: sku, Stock: 150, PerBuyerLimit: limit, LowStockThreshold: 10})

	var sold atomic.Int64 // units in 201 answers
	stop := make(chan struct{})
	var buyers sync.WaitGroup
	for b := range 200 {
		buyers.Add(1)
		go func() {
			defer buyers.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// A 503 or "in use" may hide a purchase that committed: the
				// buyer asks again with the same key until the answer is
				// definite, as the contract tells it to.
				var r origintest.Response
				for attempt := 0; ; attempt++ {
					var err error
					r, err = e.Purchase(fmt.Sprintf("adj-buyer-%d", b), fmt.Sprintf("adj-%d-%d", b, i), sku, 1+i%2)
					if err != nil {
						t.Errorf("buyer %d: %v", b, err)
						return
					}
					if (r.Status != 503 && r.Code() != "idempotency_key_in_use") || attempt == 100 {
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
				switch {
				case r.Status == 201:
					var c struct{ Quantity int64 }
					json.Unmarshal(r.Body, &c)
					sold.Add(c.Quantity)
				case r.Status == 409:
					// sold out or over the limit: try again a little later
					time.Sleep(20 * time.Millisecond)
				default:
					t.Errorf("buyer %d: unexpected %d %s", b, r.Status, r.Body)
					return
				}
			}
		}()
	}

	// The merchant, meanwhile: lower, restock, lower below what is sold.
	auth := []string{"Authorization", "Bearer " + e.Key, "Content-Type", "application/json"}
	var accepted, refused int
	var wantStock int64 = 150
	for i, delta := range []int64{-40, 60, -500, 80, -30, 100, -1000, 50} {
		time.Sleep(150 * time.Millisecond)
		r := e.MustDo("POST", "/admin/v1/products/"+sku+"/stock-adjustments",
			[]byte(fmt.Sprintf(`{"delta":%d,"reason":"change %d"}`, delta, i)), auth...)
		switch r.Status {
		case 201:
			accepted++
			wantStock += delta
		case 400:
			refused++ // below what is already sold: nothing changed
		default:
			t.Fatalf("adjustment %d (%+d): %d %s", i, delta, r.Status, r.Body)
		}
		var stockNow, soldNow int64
		if err := e.DB.QueryRow("SELECT stock, sold FROM products WHERE sku = ?", sku).Scan(&stockNow, &soldNow); err != nil {
			t.Fatal(err)
		}
		if stockNow != wantStock || soldNow > stockNow {
			t.Fatalf("after adjustment %d: stock %d sold %d, want stock %d and sold within it", i, stockNow, soldNow, wantStock)
		}
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	buyers.Wait()
	if refused == 0 || accepted == 0 {
		t.Errorf("%d adjustments accepted, %d refused: want both kinds exercised", accepted, refused)
	}

	counter, orders := e.SoldInDB(sku)
	if counter != orders || counter != sold.Load() {
		t.Errorf("sold: products.sold %d, order rows %d, 201 answers %d; want all equal", counter, orders, sold.Load())
	}
	if counter > wantStock {
		t.Errorf("oversold: %d sold of %d", counter, wantStock)
	}
	if m := e.MaxHeldPerBuyer(sku); m > limit {
		t.Errorf("a buyer holds %d, limit %d", m, limit)
	}
	var recorded int
	e.DB.QueryRow("SELECT COUNT(*) FROM stock_adjustments WHERE sku = ? AND reason LIKE 'change %'", sku).Scan(&recorded)
	if recorded != accepted {
		t.Errorf("%d adjustments recorded, want the %d accepted", recorded, accepted)
	}
	// Redis converges on the database (a refused sale lowers it at once; a
	// reconcile repairs what remains).
	deadline := time.Now().Add(15 * time.Second)
	for {
		rem, ok := e.RedisRemaining(sku)
		if ok && rem == wantStock-counter {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Redis remaining %d (loaded %v), want %d - %d", rem, ok, wantStock, counter)
		}
		time.Sleep(100 * time.Millisecond)
	}
	r := e.MustDo("GET", "/admin/v1/lives/ADJRACE/report", nil, auth...)
	var rep struct {
		Products []struct {
			SKU       string `json:"sku"`
			Stock     int64  `json:"stock"`
			UnitsSold int64  `json:"units_sold"`
			Remaining int64  `json:"remaining"`
		}
	}
	if err := json.Unmarshal(r.Body, &rep); err != nil || len(rep.Products) != 1 {
		t.Fatalf("report: %d %s %v", r.Status, r.Body, err)
	}
	if p := rep.Products[0]; p.Stock != wantStock || p.UnitsSold != counter || p.Remaining != wantStock-counter {
		t.Errorf("report %+v, want stock %d, sold %d, remaining %d", p, wantStock, counter, wantStock-counter)
	}
	t.Logf("%d units sold of %d; %d adjustments accepted, %d refused", counter, wantStock, accepted, refused)
}
