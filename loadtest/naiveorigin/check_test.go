package naiveorigin

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
)

// plantOrder writes an order row behind the app's back.
func plantOrder(t *testing.T, db *sql.DB, buyer, sku string, qty int) {
	t.Helper()
	_, err := db.Exec(`INSERT INTO naive_orders (id, buyer_id, idempotency_key, sku, quantity, unit_price, currency, created_at)
VALUES (?, ?, ?, ?, ?, 1999, 'JPY', ?)`, ulid.Make().String(), buyer, ulid.Make().String(), sku, qty, time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
}

func TestCheckFindsViolations(t *testing.T) {
	tests := []struct {
		name  string
		plant func(t *testing.T, db *sql.DB)
		skus  []string // checked
		want  []string // one substring per expected finding, in order
	}{
		{
			name:  "stray order",
			plant: func(t *testing.T, db *sql.DB) { plantOrder(t, db, "ghost", "A1", 1) },
			skus:  []string{"A1"},
			want:  []string{"2 units sold (initial 10 - remaining 8) but orders hold 3"},
		},
		{
			name: "buyer over the limit",
			plant: func(t *testing.T, db *sql.DB) {
				for range 3 {
					plantOrder(t, db, "greedy", "A1", 2)
				}
				if _, err := db.Exec("UPDATE naive_products SET stock = stock - 6 WHERE sku = 'A1'"); err != nil {
					t.Fatal(err)
				}
			},
			skus: []string{"A1"},
			want: []string{"buyer greedy holds 6 units, over the limit of 5"},
		},
		{
			name: "oversold",
			plant: func(t *testing.T, db *sql.DB) {
				for _, b := range []string{"x1", "x2", "x3", "x4"} {
					plantOrder(t, db, b, "A1", 3)
				}
				if _, err := db.Exec("UPDATE naive_products SET stock = 0 WHERE sku = 'A1'"); err != nil {
					t.Fatal(err)
				}
			},
			skus: []string{"A1"},
			want: []string{"10 units sold (initial 10 - remaining 0) but orders hold 14", "oversold: orders hold 14 units of the 10 on sale"},
		},
		{
			name:  "unknown sku",
			plant: func(t *testing.T, db *sql.DB) {},
			skus:  []string{"A1", "NOPE"},
			want:  []string{"sku NOPE: no such product"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, product("A1", 10, 5))
			for _, key := range []string{"k1", "k2"} {
				if r := e.buy("alice", key, "A1", 1); r.status != 201 {
					t.Fatalf("buy: got %d %s, want 201", r.status, r.body)
				}
			}
			e.mustCheck("A1")
			tc.plant(t, e.db)

			findings, err := Check(context.Background(), e.db, tc.skus)
			if err != nil {
				t.Fatal(err)
			}
			if len(findings) != len(tc.want) {
				t.Fatalf("got findings %v, want %d: %q", findings, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(findings[i].String(), w) {
					t.Errorf("finding %d: got %q, want it to contain %q", i, findings[i], w)
				}
			}
		})
	}
}
