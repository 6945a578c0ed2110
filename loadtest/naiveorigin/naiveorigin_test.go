package naiveorigin

import (
	"context"
	"errors"
	"strings"
	"testing"

	"livecommerce/internal/stock"
)

func TestSeedRejectsBadProducts(t *testing.T) {
	e := newEnv(t, product("KEEP", 5, 1))
	before := e.state()
	tests := []struct {
		name string
		p    Product
	}{
		{"empty sku", Product{LiveID: "L1", Stock: 1, PerBuyerLimit: 1, Currency: "JPY"}},
		{"sku injection", Product{SKU: "A1'; DROP TABLE naive_products; --", LiveID: "L1", Stock: 1, PerBuyerLimit: 1, Currency: "JPY"}},
		{"sku too long", Product{SKU: strings.Repeat("A", 65), LiveID: "L1", Stock: 1, PerBuyerLimit: 1, Currency: "JPY"}},
		{"bad live id", Product{SKU: "A1", LiveID: "L 1", Stock: 1, PerBuyerLimit: 1, Currency: "JPY"}},
		{"negative stock", Product{SKU: "A1", LiveID: "L1", Stock: -1, PerBuyerLimit: 1, Currency: "JPY"}},
		{"stock over INT", Product{SKU: "A1", LiveID: "L1", Stock: 1 << 31, PerBuyerLimit: 1, Currency: "JPY"}},
		{"zero limit", Product{SKU: "A1", LiveID: "L1", Stock: 1, PerBuyerLimit: 0, Currency: "JPY"}},
		{"negative price", Product{SKU: "A1", LiveID: "L1", Stock: 1, PerBuyerLimit: 1, Price: -1, Currency: "JPY"}},
		{"other currency", Product{SKU: "A1", LiveID: "L1", Stock: 1, PerBuyerLimit: 1, Currency: "EUR"}},
		{"lower-case currency", Product{SKU: "A1", LiveID: "L1", Stock: 1, PerBuyerLimit: 1, Currency: "jpy"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A good product first: nothing of the batch may be written.
			if err := Seed(context.Background(), e.db, []Product{product("GOOD", 1, 1), tc.p}); err == nil {
				t.Error("got nil error, want one")
			}
			if got := e.state(); got != before {
				t.Errorf("database changed:\ngot  %s\nwant %s", got, before)
			}
		})
	}
	t.Run("duplicate sku", func(t *testing.T) {
		if err := Seed(context.Background(), e.db, []Product{product("A1", 1, 1), product("A1", 2, 1)}); err == nil {
			t.Error("got nil error, want one")
		}
	})
}

func TestSeedReplacesProductsAndTheirOrders(t *testing.T) {
	e := newEnv(t, product("A1", 10, 5), product("B2", 10, 5))
	for _, sku := range []string{"A1", "B2"} {
		if r := e.buy("alice", "k-"+sku, sku, 2); r.status != 201 {
			t.Fatalf("buy %s: got %d %s, want 201", sku, r.status, r.body)
		}
	}
	if err := Seed(context.Background(), e.db, []Product{product("A1", 7, 1)}); err != nil {
		t.Fatal(err)
	}
	if counter, orders := e.sold("A1"); counter != 0 || orders != 0 {
		t.Errorf("A1 after reseed: got sold %d, orders %d, want 0 and 0", counter, orders)
	}
	if counter, orders := e.sold("B2"); counter != 2 || orders != 2 {
		t.Errorf("B2 after reseeding A1: got sold %d, orders %d, want 2 and 2", counter, orders)
	}
	// The old order's key is free again: its order is gone.
	r := e.buy("alice", "k-A1", "A1", 1)
	if r.status != 201 || r.header.Get("Idempotent-Replayed") != "" || r.receipt(t).Remaining != 6 {
		t.Errorf("buy after reseed: got %d %s, want a first 201 with remaining 6", r.status, r.body)
	}
	e.mustCheck("A1", "B2")
}

func TestCreateSchemaTwice(t *testing.T) {
	e := newEnv(t)
	if err := CreateSchema(context.Background(), e.db); err != nil {
		t.Errorf("second CreateSchema: %v", err)
	}
}

func TestTransient(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{context.DeadlineExceeded, true},
		{errors.New("syntax error"), false},
		{stock.ErrSoldOut, false},
	}
	for _, tc := range tests {
		if got := transient(tc.err); got != tc.want {
			t.Errorf("transient(%v): got %v, want %v", tc.err, got, tc.want)
		}
	}
}
