package mysqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"livecommerce/internal/depguard"
	"livecommerce/internal/stock"
	"livecommerce/origin/mysqlstore"
	"livecommerce/origin/origintest"
	"livecommerce/origin/shop"
)

var now = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// open returns a Store on a fresh migrated database.
func open(t *testing.T) *mysqlstore.Store {
	t.Helper()
	s, err := mysqlstore.Open(context.Background(), origintest.Database(t), 8, depguard.New("mysql", depguard.Settings{}))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func merchant(t *testing.T, s *mysqlstore.Store) (id, key string) {
	t.Helper()
	id, key, err := s.CreateMerchant(context.Background(), "Shop", now)
	if err != nil {
		t.Fatalf("CreateMerchant: %v", err)
	}
	return id, key
}

func live(t *testing.T, s *mysqlstore.Store, merchantID, liveID string) {
	t.Helper()
	if _, _, _, err := s.UpsertLive(context.Background(), shop.Live{ID: liveID, MerchantID: merchantID, Title: "Live " + liveID}, now); err != nil {
		t.Fatalf("UpsertLive(%s): %v", liveID, err)
	}
}

func product(sku string, stockUnits, limit int64) shop.Product {
	return shop.Product{SKU: sku, Name: "Product " + sku, Currency: "JPY", Price: 1999, Stock: stockUnits, Limit: limit, Low: 1}
}

func upsert(t *testing.T, s *mysqlstore.Store, merchantID, liveID string, ps ...shop.Product) []shop.Applied {
	t.Helper()
	applied, err := s.UpsertProducts(context.Background(), merchantID, liveID, ps, 1000, "upload", now)
	if err != nil {
		t.Fatalf("UpsertProducts: %v", err)
	}
	return applied
}

func count(t *testing.T, s *mysqlstore.Store, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := s.DB().QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestMerchantByAPIKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t)
	id, key := merchant(t, s)
	otherID, otherKey := merchant(t, s)
	if id == otherID || key == otherKey {
		t.Fatalf("two merchants share id or key: %s %s", id, otherID)
	}
	// Only a hash is stored.
	if n := count(t, s, "SELECT COUNT(*) FROM merchant_api_keys WHERE INSTR(secret_hash, ?) > 0", key[29:]); n != 0 {
		t.Error("the plain secret is stored")
	}

	tamper := func(k string, i int) string {
		b := []byte(k)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	unknownID := "lck_000000000000000000000000_" + key[29:]
	tests := []struct {
		name    string
		key     string
		want    string
		wantErr error
	}{
		{"valid key", key, id, nil},
		{"other merchant's key", otherKey, otherID, nil},
		{"tampered secret", tamper(key, 40), "", mysqlstore.ErrBadAPIKey},
		{"tampered id", tamper(key, 10), "", mysqlstore.ErrBadAPIKey},
		{"unknown id", unknownID, "", mysqlstore.ErrBadAPIKey},
		{"one id, other secret", key[:29] + otherKey[29:], "", mysqlstore.ErrBadAPIKey},
		{"garbage", "hello", "", mysqlstore.ErrBadAPIKey},
		{"empty", "", "", mysqlstore.ErrBadAPIKey},
		{"sql", "' OR 1=1 --", "", mysqlstore.ErrBadAPIKey},
		{"10 KB", strings.Repeat("x", 10<<10), "", mysqlstore.ErrBadAPIKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.MerchantByAPIKey(ctx, tt.key)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("MerchantByAPIKey(%.40q) = %q, %v; want %q, %v", tt.key, got, err, tt.want, tt.wantErr)
			}
		})
	}

	t.Run("revoked", func(t *testing.T) {
		if _, err := s.DB().Exec("UPDATE merchant_api_keys SET revoked_at = ? WHERE id = ?", now, otherKey[4:28]); err != nil {
			t.Fatal(err)
		}
		if got, err := s.MerchantByAPIKey(ctx, otherKey); !errors.Is(err, mysqlstore.ErrBadAPIKey) {
			t.Errorf("MerchantByAPIKey(revoked) = %q, %v; want ErrBadAPIKey", got, err)
		}
	})
}

func TestUpsertLive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t)
	m1, _ := merchant(t, s)
	m2, _ := merchant(t, s)
	start := now.Add(time.Hour)

	l, created, skus, err := s.UpsertLive(ctx, shop.Live{ID: "L1", MerchantID: m1, Title: "First", SaleStart: start}, now)
	if err != nil || !created {
		t.Fatalf("create = %v, %v; want created", created, err)
	}
	if l.ID != "L1" || l.Title != "First" || !l.SaleStart.Equal(start) || !l.CreatedAt.Equal(now) || len(skus) != 0 {
		t.Errorf("created live = %+v, skus %q", l, skus)
	}
	upsert(t, s, m1, "L1", product("B", 5, 1), product("A", 5, 1))

	later := now.Add(time.Minute)
	l, created, skus, err = s.UpsertLive(ctx, shop.Live{ID: "L1", MerchantID: m1, Title: "Renamed"}, later)
	if err != nil || created {
		t.Fatalf("update = %v, %v; want not created", created, err)
	}
	if l.Title != "Renamed" || !l.SaleStart.IsZero() || !l.CreatedAt.Equal(now) || !l.UpdatedAt.Equal(later) {
		t.Errorf("updated live = %+v, want title Renamed, no start, created %v, updated %v", l, now, later)
	}
	if !reflect.DeepEqual(skus, []string{"A", "B"}) {
		t.Errorf("skus = %q, want [A B]", skus)
	}

	_, _, _, err = s.UpsertLive(ctx, shop.Live{ID: "L1", MerchantID: m2, Title: "Stolen"}, later)
	if !errors.Is(err, stock.ErrNotFound) {
		t.Errorf("update by another merchant = %v, want stock.ErrNotFound", err)
	}
	var title, owner string
	s.DB().QueryRow("SELECT title, merchant_id FROM lives WHERE id = 'L1'").Scan(&title, &owner)
	if title != "Renamed" || owner != m1 {
		t.Errorf("after another merchant's update: title %q owner %q, want Renamed, %s", title, owner, m1)
	}
}

func TestUpsertProducts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t)
	m1, _ := merchant(t, s)
	m2, _ := merchant(t, s)
	live(t, s, m1, "L1")
	live(t, s, m1, "L2")
	live(t, s, m2, "M2")

	applied := upsert(t, s, m1, "L1", product("A", 10, 2), product("B", 5, 1))
	if len(applied) != 2 || applied[0].SKU != "A" || applied[0].Version != 1 || applied[0].LiveID != "L1" {
		t.Fatalf("applied = %+v, want A and B at version 1 on L1", applied)
	}
	if n := count(t, s, "SELECT COUNT(*) FROM products WHERE live_id = 'L1'"); n != 2 {
		t.Errorf("products of L1 = %d, want 2", n)
	}

	// Update: stock up, name changed.
	a := product("A", 15, 3)
	a.Name = "Renamed"
	applied = upsert(t, s, m1, "L1", a)
	if applied[0].Version != 2 || applied[0].Stock != 15 || applied[0].Limit != 3 {
		t.Errorf("applied = %+v, want version 2, stock 15, limit 3", applied[0])
	}
	var name string
	var stockUnits, version int64
	s.DB().QueryRow("SELECT name, stock, version FROM products WHERE sku = 'A'").Scan(&name, &stockUnits, &version)
	if name != "Renamed" || stockUnits != 15 || version != 2 {
		t.Errorf("row A = %q, stock %d, version %d; want Renamed, 15, 2", name, stockUnits, version)
	}

	// Sell 4 of A, so its stock can no longer go below 4.
	commit(t, s, order("b1", "k1", "A", 3, 0), order("b2", "k1", "A", 1, 0))

	products := count(t, s, "SELECT COUNT(*) FROM products")
	adjustments := count(t, s, "SELECT COUNT(*) FROM stock_adjustments")
	var beforeStock int64
	s.DB().QueryRow("SELECT stock FROM products WHERE sku = 'B'").Scan(&beforeStock)

	tests := []struct {
		name     string
		merchant string
		live     string
		rows     []shop.Product
		wantRows []shop.RowError
	}{
		{
			name: "sku of another live",
			live: "L2", merchant: m1,
			rows:     []shop.Product{product("NEW", 1, 1), product("A", 20, 1), product("NEW2", 1, 1), product("B", 5, 1)},
			wantRows: []shop.RowError{{Row: 2, Field: "sku"}, {Row: 4, Field: "sku"}},
		},
		{
			name: "sku of another merchant",
			live: "M2", merchant: m2,
			rows:     []shop.Product{product("A", 20, 1)},
			wantRows: []shop.RowError{{Row: 1, Field: "sku"}},
		},
		{
			name: "stock below sold",
			live: "L1", merchant: m1,
			rows:     []shop.Product{product("B", 50, 1), product("NEW", 3, 1), product("A", 3, 1)},
			wantRows: []shop.RowError{{Row: 3, Field: "stock"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.UpsertProducts(ctx, tt.merchant, tt.live, tt.rows, 1000, "upload", now)
			var rejected *shop.RowsRejectedError
			if !errors.As(err, &rejected) {
				t.Fatalf("UpsertProducts = %v, want *RowsRejectedError", err)
			}
			var got []shop.RowError
			for _, r := range rejected.Rows {
				if r.Reason == "" {
					t.Errorf("row %d has no reason", r.Row)
				}
				got = append(got, shop.RowError{Row: r.Row, Field: r.Field})
			}
			if !reflect.DeepEqual(got, tt.wantRows) {
				t.Errorf("rejected rows = %+v, want %+v", got, tt.wantRows)
			}
			// All or nothing: not even the valid rows were applied.
			if n := count(t, s, "SELECT COUNT(*) FROM products"); n != products {
				t.Errorf("products = %d after a rejected upsert, want %d", n, products)
			}
			if n := count(t, s, "SELECT COUNT(*) FROM stock_adjustments"); n != adjustments {
				t.Errorf("stock_adjustments = %d after a rejected upsert, want %d", n, adjustments)
			}
			var st int64
			s.DB().QueryRow("SELECT stock FROM products WHERE sku = 'B'").Scan(&st)
			if st != beforeStock {
				t.Errorf("stock of B = %d after a rejected upsert, want %d", st, beforeStock)
			}
		})
	}

	// Exactly the sold units is allowed.
	upsert(t, s, m1, "L1", product("A", 4, 3))

	t.Run("live of another merchant", func(t *testing.T) {
		_, err := s.UpsertProducts(ctx, m2, "L1", []shop.Product{product("Z", 1, 1)}, 1000, "upload", now)
		if !errors.Is(err, stock.ErrNotFound) {
			t.Errorf("UpsertProducts into another merchant's live = %v, want stock.ErrNotFound", err)
		}
		_, err = s.UpsertProducts(ctx, m1, "NOPE", []shop.Product{product("Z", 1, 1)}, 1000, "upload", now)
		if !errors.Is(err, stock.ErrNotFound) {
			t.Errorf("UpsertProducts into a missing live = %v, want stock.ErrNotFound", err)
		}
		if n := count(t, s, "SELECT COUNT(*) FROM products WHERE sku = 'Z'"); n != 0 {
			t.Errorf("sku Z exists after refused upserts")
		}
	})
}

func TestStockAdjustments(t *testing.T) {
	t.Parallel()
	s := open(t)
	m, _ := merchant(t, s)
	live(t, s, m, "L1")
	steps := []struct {
		p      shop.Product
		reason string
	}{
		{product("A", 10, 1), "upload"},
		{product("A", 25, 1), "upload"},
		{product("A", 25, 2), "upload"}, // no stock change, no adjustment
		{product("A", 20, 2), "damaged"},
	}
	for i, st := range steps {
		at := now.Add(time.Duration(i) * time.Second)
		if _, err := s.UpsertProducts(context.Background(), m, "L1", []shop.Product{st.p}, 1000, st.reason, at); err != nil {
			t.Fatalf("step %d: %v", i+1, err)
		}
	}
	rows, err := s.DB().Query("SELECT delta, stock_after, reason, merchant_id FROM stock_adjustments WHERE sku = 'A' ORDER BY created_at")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var delta, after int64
		var reason, mid string
		if err := rows.Scan(&delta, &after, &reason, &mid); err != nil {
			t.Fatal(err)
		}
		if mid != m {
			t.Errorf("adjustment by %q, want %q", mid, m)
		}
		got = append(got, fmt.Sprintf("%+d->%d %s", delta, after, reason))
	}
	want := []string{"+10->10 upload", "+15->25 upload", "-5->20 damaged"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("adjustments = %q, want %q", got, want)
	}
}

func order(buyer, key, sku string, qty int, version int64) shop.OrderRequest {
	return shop.OrderRequest{ID: ulid.Make().String(), BuyerID: buyer, IdempotencyKey: key, SKU: sku, Quantity: qty, Version: version}
}

func commit(t *testing.T, s *mysqlstore.Store, reqs ...shop.OrderRequest) []shop.Result {
	t.Helper()
	res, err := s.CommitOrders(context.Background(), reqs, now)
	if err != nil {
		t.Fatalf("CommitOrders: %v", err)
	}
	if len(res) != len(reqs) {
		t.Fatalf("CommitOrders returned %d results for %d requests", len(res), len(reqs))
	}
	return res
}

func verdicts(res []shop.Result) []shop.Verdict {
	out := make([]shop.Verdict, len(res))
	for i, r := range res {
		out[i] = r.Verdict
	}
	return out
}

func sold(t *testing.T, s *mysqlstore.Store, sku string) (counter, orders int64) {
	t.Helper()
	counter = count(t, s, "SELECT sold FROM products WHERE sku = ?", sku)
	orders = count(t, s, "SELECT COALESCE(SUM(quantity), 0) FROM orders WHERE sku = ?", sku)
	return counter, orders
}

func TestCommitOrders(t *testing.T) {
	t.Parallel()
	const (
		C  = shop.Committed
		NF = shop.RejectedNotFound
		SO = shop.RejectedSoldOut
		IN = shop.RejectedInsufficient
		LI = shop.RejectedLimit
		IP = shop.InProgress
	)
	tests := []struct {
		name     string
		products []shop.Product
		batches  [][]shop.OrderRequest
		want     [][]shop.Verdict
		wantSold map[string]int64
	}{
		{
			name:     "a batch that fits commits all",
			products: []shop.Product{product("A", 10, 5), product("B", 10, 5)},
			batches: [][]shop.OrderRequest{{
				order("b1", "k1", "A", 2, 0), order("b2", "k1", "A", 3, 0), order("b1", "k2", "B", 1, 0),
			}},
			want:     [][]shop.Verdict{{C, C, C}},
			wantSold: map[string]int64{"A": 5, "B": 1},
		},
		{
			// Redis admitted more than there is: the database holds the
			// bound itself.
			name:     "excess of one batch is rejected, the rest commits",
			products: []shop.Product{product("A", 5, 10), product("B", 10, 10)},
			batches: [][]shop.OrderRequest{{
				order("b1", "k", "A", 2, 0), order("b2", "k", "A", 2, 0), order("b3", "k", "A", 2, 0),
				order("b4", "k", "A", 1, 0), order("b5", "k", "A", 1, 0), order("b5", "k2", "B", 4, 0),
			}},
			want:     [][]shop.Verdict{{C, C, IN, C, SO, C}},
			wantSold: map[string]int64{"A": 5, "B": 4},
		},
		{
			name:     "excess across batches",
			products: []shop.Product{product("A", 3, 10)},
			batches: [][]shop.OrderRequest{
				{order("b1", "k", "A", 2, 0)},
				{order("b2", "k", "A", 2, 0), order("b3", "k", "A", 1, 0)},
				{order("b4", "k", "A", 1, 0)},
			},
			want:     [][]shop.Verdict{{C}, {IN, C}, {SO}},
			wantSold: map[string]int64{"A": 3},
		},
		{
			name:     "per-buyer limit across batches",
			products: []shop.Product{product("A", 100, 3)},
			batches: [][]shop.OrderRequest{
				{order("b1", "k1", "A", 2, 0)},
				{order("b1", "k2", "A", 2, 0), order("b2", "k2", "A", 2, 0), order("b1", "k3", "A", 1, 0)},
				{order("b1", "k4", "A", 1, 0)},
			},
			want:     [][]shop.Verdict{{C}, {LI, C, C}, {LI}},
			wantSold: map[string]int64{"A": 5},
		},
		{
			name:     "per-buyer limit within one batch",
			products: []shop.Product{product("A", 100, 2)},
			batches:  [][]shop.OrderRequest{{order("b1", "k1", "A", 1, 0), order("b1", "k2", "A", 1, 0), order("b1", "k3", "A", 1, 0)}},
			want:     [][]shop.Verdict{{C, C, LI}},
			wantSold: map[string]int64{"A": 2},
		},
		{
			name:     "unknown sku",
			products: []shop.Product{product("A", 10, 5)},
			batches:  [][]shop.OrderRequest{{order("b1", "k1", "NOPE", 1, 0), order("b1", "k2", "A", 1, 0)}},
			want:     [][]shop.Verdict{{NF, C}},
			wantSold: map[string]int64{"A": 1},
		},
		{
			name:     "same key twice in one batch",
			products: []shop.Product{product("A", 10, 5)},
			batches:  [][]shop.OrderRequest{{order("b1", "k1", "A", 1, 0), order("b1", "k1", "A", 1, 0), order("b2", "k1", "A", 1, 0)}},
			want:     [][]shop.Verdict{{C, IP, C}},
			wantSold: map[string]int64{"A": 2},
		},
		{
			name:     "nothing fits",
			products: []shop.Product{product("A", 0, 5)},
			batches:  [][]shop.OrderRequest{{order("b1", "k1", "A", 1, 0)}},
			want:     [][]shop.Verdict{{SO}},
			wantSold: map[string]int64{"A": 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			m, _ := merchant(t, s)
			live(t, s, m, "L1")
			upsert(t, s, m, "L1", tt.products...)
			var orders int
			for i, batch := range tt.batches {
				res := commit(t, s, batch...)
				if got := verdicts(res); !reflect.DeepEqual(got, tt.want[i]) {
					t.Errorf("batch %d verdicts = %v, want %v", i+1, got, tt.want[i])
				}
				for j, r := range res {
					if r.Verdict != shop.Committed {
						continue
					}
					orders++
					o := r.Order
					if o.ID != batch[j].ID || o.SKU != batch[j].SKU || o.BuyerID != batch[j].BuyerID ||
						o.Quantity != batch[j].Quantity || o.LiveID != "L1" || o.UnitPrice != 1999 || o.Currency != "JPY" || o.Status != "confirmed" {
						t.Errorf("batch %d order %d = %+v, want it to match %+v on live L1 at 1999 JPY", i+1, j+1, o, batch[j])
					}
				}
			}
			for sku, want := range tt.wantSold {
				counter, ordered := sold(t, s, sku)
				if counter != want || ordered != want {
					t.Errorf("%s: products.sold %d, orders sum %d; want both %d", sku, counter, ordered, want)
				}
			}
			if n := count(t, s, "SELECT COUNT(*) FROM orders"); n != int64(orders) {
				t.Errorf("orders rows = %d, want %d", n, orders)
			}
		})
	}
}

func TestCommitOrdersDuplicateAcrossBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t)
	m, _ := merchant(t, s)
	live(t, s, m, "L1")
	upsert(t, s, m, "L1", product("A", 10, 5))

	first := commit(t, s, order("b1", "k1", "A", 2, 0))[0]
	if first.Verdict != shop.Committed {
		t.Fatalf("first = %v, want Committed", first.Verdict)
	}
	// Redis lost the key: the same buyer and key arrive again under a new
	// order id, next to an unrelated order.
	res := commit(t, s, order("b1", "k1", "A", 2, 0), order("b2", "k1", "A", 1, 0))
	if res[0].Verdict != shop.Duplicate {
		t.Fatalf("re-used key = %v, want Duplicate", res[0].Verdict)
	}
	if res[0].Order.ID != first.Order.ID || res[0].Order.Quantity != 2 {
		t.Errorf("duplicate points at %+v, want the first order %s", res[0].Order, first.Order.ID)
	}
	if res[1].Verdict != shop.Committed {
		t.Errorf("unrelated order next to the duplicate = %v, want Committed", res[1].Verdict)
	}
	if counter, ordered := sold(t, s, "A"); counter != 3 || ordered != 3 {
		t.Errorf("sold %d, orders %d; want 3 and 3 (the duplicate sells nothing)", counter, ordered)
	}
	o, err := s.Order(ctx, first.Order.ID)
	if err != nil {
		t.Fatal(err)
	}
	if o.IdempotencyKey != "k1" || o.BuyerID != "b1" || !o.CreatedAt.Equal(now) {
		t.Errorf("Order = %+v, want b1/k1 created %v", o, now)
	}
}

func TestCommitOrdersKeepsMaxVersion(t *testing.T) {
	t.Parallel()
	s := open(t)
	m, _ := merchant(t, s)
	live(t, s, m, "L1")
	upsert(t, s, m, "L1", product("A", 100, 100))
	steps := []struct {
		versions []int64
		want     int64
	}{
		{[]int64{7, 12, 9}, 12},
		{[]int64{5}, 12},
		{[]int64{13, 2}, 13},
	}
	for i, st := range steps {
		var batch []shop.OrderRequest
		for j, v := range st.versions {
			batch = append(batch, order(fmt.Sprintf("b%d-%d", i, j), "k", "A", 1, v))
		}
		commit(t, s, batch...)
		if got := count(t, s, "SELECT version FROM products WHERE sku = 'A'"); got != st.want {
			t.Errorf("after batch %d with versions %v: version %d, want %d", i+1, st.versions, got, st.want)
		}
	}
}

func TestProductStateAndOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t)
	m, _ := merchant(t, s)
	start, end := now.Add(-time.Hour), now.Add(time.Hour)
	if _, _, _, err := s.UpsertLive(ctx, shop.Live{ID: "L1", MerchantID: m, Title: "t", SaleStart: start, SaleEnd: end}, now); err != nil {
		t.Fatal(err)
	}
	upsert(t, s, m, "L1", product("A", 10, 5))
	res := commit(t, s, order("b1", "k1", "A", 2, 4), order("b2", "k1", "A", 1, 5), order("b1", "k2", "A", 1, 6))

	ps, err := s.ProductState(ctx, mysqlstore.ForReads, "A")
	if err != nil {
		t.Fatal(err)
	}
	if ps.SKU != "A" || ps.LiveID != "L1" || ps.MerchantID != m || ps.Stock != 10 || ps.Sold != 4 || ps.Limit != 5 || ps.Low != 1 || ps.Version != 6 {
		t.Errorf("ProductState = %+v, want A on L1, stock 10, sold 4, limit 5, low 1, version 6", ps)
	}
	if !ps.SaleStart.Equal(start) || !ps.SaleEnd.Equal(end) {
		t.Errorf("window = %v..%v, want %v..%v", ps.SaleStart, ps.SaleEnd, start, end)
	}
	if want := map[string]int64{"b1": 3, "b2": 1}; !reflect.DeepEqual(ps.Held, want) {
		t.Errorf("Held = %v, want %v", ps.Held, want)
	}

	if _, err := s.ProductState(ctx, mysqlstore.ForReads, "NOPE"); !errors.Is(err, stock.ErrNotFound) {
		t.Errorf("ProductState(NOPE) = %v, want stock.ErrNotFound", err)
	}

	o, err := s.Order(ctx, res[1].Order.ID)
	if err != nil {
		t.Fatal(err)
	}
	if o.ID != res[1].Order.ID || o.BuyerID != "b2" || o.SKU != "A" || o.LiveID != "L1" || o.Quantity != 1 || o.Status != "confirmed" {
		t.Errorf("Order = %+v, want b2's order of 1 A", o)
	}
	for _, id := range []string{ulid.Make().String(), "", "x", "' OR '1'='1"} {
		if o, err := s.Order(ctx, id); !errors.Is(err, stock.ErrNotFound) {
			t.Errorf("Order(%q) = %+v, %v; want stock.ErrNotFound", id, o, err)
		}
	}

	skus, err := s.LiveSKUs(ctx, "L1")
	if err != nil || !reflect.DeepEqual(skus, []string{"A"}) {
		t.Errorf("LiveSKUs(L1) = %q, %v; want [A]", skus, err)
	}
	if _, err := s.LiveSKUs(ctx, "NOPE"); !errors.Is(err, stock.ErrNotFound) {
		t.Errorf("LiveSKUs(NOPE) = %v, want stock.ErrNotFound", err)
	}
}

// Concurrent batches on one sku serialise on its row: never more sold than
// stock, whatever Redis admitted.
func TestCommitOrdersConcurrentBatches(t *testing.T) {
	t.Parallel()
	s := open(t)
	m, _ := merchant(t, s)
	live(t, s, m, "L1")
	upsert(t, s, m, "L1", product("HOT", 10, 1))
	const batches = 8
	var wg sync.WaitGroup
	committed := make([]int, batches)
	errs := make([]error, batches)
	for i := 0; i < batches; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var batch []shop.OrderRequest
			for j := 0; j < 3; j++ {
				batch = append(batch, order(fmt.Sprintf("b%d-%d", i, j), "k", "HOT", 1, 0))
			}
			res, err := s.CommitOrders(context.Background(), batch, now)
			errs[i] = err
			for _, r := range res {
				if r.Verdict == shop.Committed {
					committed[i]++
				}
			}
		}()
	}
	wg.Wait()
	total := 0
	for i := range committed {
		if errs[i] != nil {
			t.Errorf("batch %d: %v", i, errs[i])
		}
		total += committed[i]
	}
	if total != 10 {
		t.Errorf("committed %d orders across concurrent batches, want exactly 10", total)
	}
	if counter, ordered := sold(t, s, "HOT"); counter != 10 || ordered != 10 {
		t.Errorf("sold %d, orders %d; want 10 and 10", counter, ordered)
	}
}

// One UPDATE per sku per batch keeps a hot sku's row changes far below what
// Galera can certify. With pools of one connection, the batch session's
// Handler_update counter shows how many rows the batch updated.
func TestCommitOrdersRaisesSoldOncePerSKU(t *testing.T) {
	t.Parallel()
	s, err := mysqlstore.Open(context.Background(), origintest.Database(t), 1, depguard.New("mysql", depguard.Settings{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	m, _ := merchant(t, s)
	live(t, s, m, "L1")
	upsert(t, s, m, "L1", product("A", 10, 5), product("B", 10, 5))
	rowUpdates := func() int64 {
		t.Helper()
		var name string
		var n int64
		if err := s.BatchDB().QueryRow("SHOW SESSION STATUS LIKE 'Handler_update'").Scan(&name, &n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := rowUpdates()
	commit(t, s,
		order("b1", "k1", "A", 1, 0), order("b2", "k1", "A", 2, 0), order("b3", "k1", "A", 1, 0),
		order("b1", "k2", "B", 1, 0), order("b2", "k2", "B", 1, 0))
	if got := rowUpdates() - before; got != 2 {
		t.Errorf("a batch of 5 orders on 2 skus updated %d rows, want 2 (one per sku)", got)
	}
	if counter, _ := sold(t, s, "A"); counter != 4 {
		t.Errorf("sold of A = %d, want 4", counter)
	}
}

// TestUpsertCreatedAndUnsoldStates: an upsert says which rows it created,
// and UnsoldStates reads back only skus with nothing sold, with the
// version and sale window the catalog loads into Redis.
func TestUpsertCreatedAndUnsoldStates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t)
	m, _ := merchant(t, s)
	start := now.Add(-time.Hour) // on sale
	if _, _, _, err := s.UpsertLive(ctx, shop.Live{ID: "LU", MerchantID: m, Title: "t", SaleStart: start}, now); err != nil {
		t.Fatal(err)
	}
	applied := upsert(t, s, m, "LU", product("U1", 10, 2), product("U2", 5, 1))
	if !applied[0].Created || !applied[1].Created {
		t.Errorf("first upsert: %+v, want both created", applied)
	}
	if res := commit(t, s, order("b1", "k1", "U1", 1, 0)); res[0].Order.ID == "" {
		t.Fatalf("the sale of U1 was refused: %+v", res[0])
	}
	applied = upsert(t, s, m, "LU", product("U1", 12, 2), product("U3", 7, 1))
	if applied[0].Created || !applied[1].Created {
		t.Errorf("second upsert: %+v, want U1 updated and U3 created", applied)
	}
	states, err := s.UnsoldStates(ctx, []string{"U1", "U2", "U3", "NOPE", "' OR '1'='1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 2 {
		t.Fatalf("got %d states, want U2 and U3 (U1 has a sale, the others do not exist)", len(states))
	}
	if u3 := states["U3"]; u3.Stock != 7 || u3.Sold != 0 || u3.Version != applied[1].Version || !u3.SaleStart.Equal(start) || !u3.SaleEnd.IsZero() || u3.LiveID != "LU" {
		t.Errorf("U3 = %+v, want stock 7, version %d, the live's window", u3, applied[1].Version)
	}
}
