package purchase_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"livecommerce/origin/origintest"
	"livecommerce/origin/reconcile"
)

// TestRedisDrift corrupts the Redis counters behind the origin's back and
// checks that the database of record still bounds every sale, and that
// reconcile repairs the counters.
func TestRedisDrift(t *testing.T) {
	t.Run("redis believes more remain", func(t *testing.T) {
		const sku, units, before = "DRIFT1", 40, 10
		e := origintest.Start(t, origintest.Options{})
		e.SetUpLive("DRIFT", "", origintest.Product{SKU: sku, Stock: units, PerBuyerLimit: 100, LowStockThreshold: 5})
		for i := 0; i < before; i++ {
			if a := buy(e, fmt.Sprintf("first-%d", i), "k", sku, 1); a.Status != 201 {
				t.Fatalf("purchase before the drift: got %s, want 201", a)
			}
		}
		// Lost writes: Redis forgets every sale so far.
		if err := e.Redis.HSet(context.Background(), e.Keys.SKU(sku), "sold", 0).Err(); err != nil {
			t.Fatalf("corrupt counters: %v", err)
		}

		// Buyers ask for all 40 units Redis believes remain, and more.
		var l ledger
		var wg sync.WaitGroup
		deadline := time.Now().Add(10 * time.Second)
		for b := 0; b < 20; b++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buyer := fmt.Sprintf("buyer-%d", b)
				for i := 0; i < 3; i++ {
					key := fmt.Sprintf("k-%d", i)
					a := settle(deadline, func() answer { return buy(e, buyer, key, sku, 1) }, l.see)
					l.settled(sale{Buyer: buyer, Key: key, Qty: 1, Final: a})
					switch a.Code {
					case "", "sold_out", "insufficient_stock":
					default:
						t.Errorf("purchase with drifted counters: got %s, want 201 or 409 sold_out/insufficient_stock", a)
					}
				}
			}()
		}
		wg.Wait()
		l.report(t)
		if got := l.sold(); got != units-before {
			t.Errorf("units in 201 answers: got %d, want the %d the database still had", got, units-before)
		}
		counter, orders := e.SoldInDB(sku)
		if counter != units || orders != units {
			t.Errorf("database: sold %d, order rows %d; want %d and %d (nothing oversold)", counter, orders, units, units)
		}
		// The first refusals already brought Redis down to what the
		// database has left, without waiting for reconcile.
		if rem, _ := e.RedisRemaining(sku); rem != 0 {
			t.Errorf("redis remaining after the database's refusals: got %d, want 0 (realigned at once)", rem)
		}

		repairAndCompare(t, e, sku)
		waitForRead(t, e, sku, 0, "sold_out")
		if a := buy(e, "late", "k", sku, 1); a.Code != "sold_out" {
			t.Errorf("purchase after reconcile: got %s, want 409 sold_out straight from Redis", a)
		}
		rerun(t, e)
	})

	t.Run("redis believes fewer remain", func(t *testing.T) {
		const sku, units = "DRIFT2", 20
		e := origintest.Start(t, origintest.Options{})
		e.SetUpLive("DRIFT2", "", origintest.Product{SKU: sku, Stock: units, PerBuyerLimit: 100, LowStockThreshold: 5})
		if a := buy(e, "first", "k", sku, 5); a.Status != 201 {
			t.Fatalf("purchase before the drift: got %s, want 201", a)
		}
		// Units stuck as reserved: Redis shows the sku sold out.
		if err := e.Redis.HSet(context.Background(), e.Keys.SKU(sku), "sold", units).Err(); err != nil {
			t.Fatalf("corrupt counters: %v", err)
		}
		if a := buy(e, "b", "k1", sku, 1); a.Code != "sold_out" {
			t.Fatalf("purchase with drifted counters: got %s, want 409 sold_out (Redis refuses first)", a)
		}

		rep := repairAndCompare(t, e, sku)
		checkRepaired(t, rep, sku)
		waitForRead(t, e, sku, units-5, "in_stock")
		if a := buy(e, "b", "k2", sku, 3); a.Status != 201 || a.Receipt.Remaining != units-8 {
			t.Errorf("purchase after reconcile: got %s remaining %d, want 201 remaining %d", a, a.Receipt.Remaining, units-8)
		}
		if counter, orders := e.SoldInDB(sku); counter != 8 || orders != 8 {
			t.Errorf("database: sold %d, order rows %d; want 8 and 8", counter, orders)
		}
		rerun(t, e)
	})
}

func checkRepaired(t *testing.T, rep reconcile.Report, sku string) {
	t.Helper()
	for _, f := range rep.Findings {
		if f.SKU == sku {
			if !f.Repaired {
				t.Errorf("reconcile found %s but did not repair it: %s", sku, f)
			}
			return
		}
	}
	t.Errorf("reconcile found no drift on %s; findings %v", sku, rep.Findings)
}

// rerun checks that a second reconcile finds nothing left to repair.
func rerun(t *testing.T, e *origintest.Env) {
	t.Helper()
	if rep := runReconcile(t, e); len(rep.Findings) != 0 {
		t.Errorf("second reconcile: got findings %v, want none", rep.Findings)
	}
}

// waitForRead polls the public stock read (it is micro-cached) until it
// shows remaining and status, for at most 2 s.
func waitForRead(t *testing.T, e *origintest.Env, sku string, remaining int64, status string) {
	t.Helper()
	want := fmt.Sprintf(`"remaining":%d,"status":%q`, remaining, status)
	var last string
	if !waitFor(2*time.Second, func() bool {
		r, err := e.Do("GET", "/v1/products/"+sku+"/stock", nil)
		if err != nil {
			last = err.Error()
			return false
		}
		last = fmt.Sprintf("%d %s", r.Status, r.Body)
		return r.Status == 200 && strings.Contains(string(r.Body), want)
	}) {
		t.Errorf("stock read of %s: got %s, want 200 with %s", sku, last, want)
	}
}
