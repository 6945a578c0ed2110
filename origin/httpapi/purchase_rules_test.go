package httpapi_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"livecommerce/origin/origintest"
)

func liveJSON(title string, start, end *time.Time) string {
	s := fmt.Sprintf(`{"title":%q`, title)
	if start != nil {
		s += fmt.Sprintf(`,"sale_starts_at":%q`, start.UTC().Format(time.RFC3339))
	}
	if end != nil {
		s += fmt.Sprintf(`,"sale_ends_at":%q`, end.UTC().Format(time.RFC3339))
	}
	return s + "}"
}

func TestSaleWindow(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	now := time.Now()
	hourAgo, twoHoursAgo, inAnHour := now.Add(-time.Hour), now.Add(-2*time.Hour), now.Add(time.Hour)
	e.SetUpLive("SOON", liveJSON("Opens later", &inAnHour, nil), origintest.Product{SKU: "S1", Stock: 10, PerBuyerLimit: 5})
	e.SetUpLive("OVER", liveJSON("Already over", &twoHoursAgo, &hourAgo), origintest.Product{SKU: "O1", Stock: 10, PerBuyerLimit: 5})
	e.SetUpLive("OPEN", liveJSON("Open", &hourAgo, &inAnHour), origintest.Product{SKU: "P1", Stock: 10, PerBuyerLimit: 5})
	skus := []string{"S1", "O1", "P1"}

	refused := func(t *testing.T, sku string) {
		t.Helper()
		before := snapshot(t, e, skus...)
		wantError(t, buyQty(t, e, "viewer", uniqueID("k"), sku, 1), 409, "sale_not_open")
		wantUnchanged(t, e, before)
	}

	t.Run("starts in the future", func(t *testing.T) { refused(t, "S1") })
	t.Run("ended in the past", func(t *testing.T) { refused(t, "O1") })
	t.Run("inside the window", func(t *testing.T) { wantCreated(t, buyQty(t, e, "viewer", uniqueID("k"), "P1", 1)) })

	// The skus are loaded in Redis by now; a new window must reach them.
	t.Run("opening the window applies to loaded skus", func(t *testing.T) {
		for _, live := range []string{"SOON", "OVER"} {
			r := admin(t, e, e.Key, "PUT", "/admin/v1/lives/"+live, []byte(liveJSON("Now open", &hourAgo, nil)))
			if r.Status != 200 {
				t.Fatalf("put live %s: got %d %s, want 200", live, r.Status, r.Body)
			}
		}
		for _, sku := range []string{"S1", "O1"} {
			if r := buyQty(t, e, "viewer", uniqueID("k"), sku, 1); r.Status != 201 {
				t.Errorf("purchase of loaded sku %s after PUT live opened its window: got %d %s, want 201 (the new window did not reach the Redis counters)",
					sku, r.Status, r.Body)
			}
		}
	})

	t.Run("closing the window applies to loaded skus", func(t *testing.T) {
		r := admin(t, e, e.Key, "PUT", "/admin/v1/lives/OPEN", []byte(liveJSON("Closed", &twoHoursAgo, &hourAgo)))
		if r.Status != 200 {
			t.Fatalf("put live: got %d %s, want 200", r.Status, r.Body)
		}
		before := snapshot(t, e, skus...)
		r = buyQty(t, e, "viewer", uniqueID("k"), "P1", 1)
		if r.Status != 409 {
			t.Errorf("purchase of loaded sku P1 after PUT live closed its window: got %d, want 409 sale_not_open (the new window did not reach the Redis counters: units sold after the sale ended)", r.Status)
		}
		wantError(t, r, 409, "sale_not_open")
		wantUnchanged(t, e, before)
	})

	t.Run("window survives a Redis rebuild", func(t *testing.T) {
		if err := origintest.DeleteKeys(context.Background(), e.Redis, e.Prefix); err != nil {
			t.Fatalf("flush: %v", err)
		}
		// The first purchase rebuilds P1 from the database, whose window
		// is closed.
		wantError(t, buyQty(t, e, "viewer", uniqueID("k"), "P1", 1), 409, "sale_not_open")
		refused(t, "P1")
		wantCreated(t, buyQty(t, e, "viewer", uniqueID("k"), "S1", 1))
	})

	t.Run("removing the window opens the sale", func(t *testing.T) {
		r := admin(t, e, e.Key, "PUT", "/admin/v1/lives/OPEN", []byte(`{"title":"No window"}`))
		if r.Status != 200 {
			t.Fatalf("put live: got %d %s, want 200", r.Status, r.Body)
		}
		if r := buyQty(t, e, "viewer", uniqueID("k"), "P1", 1); r.Status != 201 {
			t.Errorf("purchase of loaded sku P1 after PUT live removed its window: got %d %s, want 201 (the new window did not reach the Redis counters)",
				r.Status, r.Body)
		}
	})
}

func TestPurchaseLimits(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	e.SetUpLive("L1", "",
		origintest.Product{SKU: "LIM", Stock: 100, PerBuyerLimit: 3},
		origintest.Product{SKU: "FEW", Stock: 5, PerBuyerLimit: 10},
		origintest.Product{SKU: "NONE", Stock: 0, PerBuyerLimit: 10})
	skus := []string{"LIM", "FEW", "NONE"}

	steps := []struct {
		name       string
		buyer, sku string
		qty        int
		wantStatus int
		wantCode   string // "" for a 201
	}{
		{"first order within the limit", "alice", "LIM", 2, 201, ""},
		{"second order crosses the limit", "alice", "LIM", 2, 409, "purchase_limit_exceeded"},
		{"second order up to the limit", "alice", "LIM", 1, 201, ""},
		{"third order over the limit", "alice", "LIM", 1, 409, "purchase_limit_exceeded"},
		{"one order over the limit", "bob", "LIM", 4, 409, "purchase_limit_exceeded"},
		{"another buyer has their own limit", "bob", "LIM", 3, 201, ""},
		{"part of the stock", "carol", "FEW", 3, 201, ""},
		{"more than remains", "dave", "FEW", 3, 409, "insufficient_stock"},
		{"far more than remains", "dave", "FEW", 10, 409, "insufficient_stock"},
		{"the rest", "dave", "FEW", 2, 201, ""},
		{"sold out", "erin", "FEW", 1, 409, "sold_out"},
		{"sold out, several units", "erin", "FEW", 4, 409, "sold_out"},
		{"never had stock", "erin", "NONE", 1, 409, "sold_out"},
		{"unknown sku", "erin", "NOPE", 1, 404, "not_found"},
		{"unknown sku that looks like one", "erin", "LIM2", 1, 404, "not_found"},
		{"sku differs only in case", "erin", "lim", 1, 404, "not_found"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			before := snapshot(t, e, skus...)
			r := buyQty(t, e, s.buyer, uniqueID("k"), s.sku, s.qty)
			if s.wantStatus == 201 {
				rc := wantCreated(t, r)
				if rc.SKU != s.sku || rc.Quantity != s.qty {
					t.Errorf("receipt: got %s x%d, want %s x%d", rc.SKU, rc.Quantity, s.sku, s.qty)
				}
				after := snapshot(t, e, skus...)
				if got, want := after.SKUs[s.sku].DBSold, before.SKUs[s.sku].DBSold+int64(s.qty); got != want {
					t.Errorf("sold of %s: got %d, want %d", s.sku, got, want)
				}
				return
			}
			wantError(t, r, s.wantStatus, s.wantCode)
			wantUnchanged(t, e, before)
			if s.wantStatus == 404 {
				if n, err := e.Redis.Exists(context.Background(), e.Keys.SKU(s.sku)).Result(); err != nil || n != 0 {
					t.Errorf("Redis after an unknown sku: got %d keys for it (%v), want none", n, err)
				}
			}
		})
	}

	if m := e.MaxHeldPerBuyer("LIM"); m != 3 {
		t.Errorf("most units one buyer holds of LIM: got %d, want 3", m)
	}
	for sku, want := range map[string]int64{"LIM": 94, "FEW": 0, "NONE": 0} {
		counter, orders := e.SoldInDB(sku)
		if counter != orders {
			t.Errorf("%s: sold counter %d, order units %d; want them equal", sku, counter, orders)
		}
		if got := remaining(t, e, sku); got != want {
			t.Errorf("%s: Redis remaining %d, want %d", sku, got, want)
		}
	}
}
