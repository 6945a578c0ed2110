package httpapi_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"livecommerce/origin/origintest"
)

// malformedPurchaseBodies must each be refused with 400 invalid_request.
var malformedPurchaseBodies = []struct{ name, body string }{
	{"empty", ``},
	{"whitespace", "  \n "},
	{"not JSON", `sku=A1&quantity=1`},
	{"JSON array", `[{"sku":"A1","quantity":1}]`},
	{"JSON string", `"A1"`},
	{"JSON number", `1`},
	{"JSON null", `null`},
	{"JSON true", `true`},
	{"truncated", `{"sku":"A1","quantity":1`},
	{"trailing garbage", `{"sku":"A1","quantity":1}xyz`},
	{"trailing comma", `{"sku":"A1","quantity":1},`},
	{"trailing closing brace", `{"sku":"A1","quantity":1}}`},
	{"trailing closing bracket", `{"sku":"A1","quantity":1}]`},
	{"two objects", `{"sku":"A1","quantity":1}{"sku":"A1","quantity":1}`},
	{"two objects on two lines", "{\"sku\":\"A1\",\"quantity\":1}\n{\"sku\":\"A1\",\"quantity\":1}"},
	{"byte order mark", "\xef\xbb\xbf{\"sku\":\"A1\",\"quantity\":1}"},
	{"single quotes", `{'sku':'A1','quantity':1}`},
	{"missing sku", `{"quantity":1}`},
	{"sku null", `{"sku":null,"quantity":1}`},
	{"sku empty", `{"sku":"","quantity":1}`},
	{"sku path traversal", `{"sku":"../x","quantity":1}`},
	{"sku slash", `{"sku":"A1/../../admin","quantity":1}`},
	{"sku 65 chars", fmt.Sprintf(`{"sku":%q,"quantity":1}`, strings.Repeat("A", 65))},
	{"sku 1000 chars", fmt.Sprintf(`{"sku":%q,"quantity":1}`, strings.Repeat("A", 1000))},
	{"sku unicode", `{"sku":"Ａ1","quantity":1}`},
	{"sku accented", `{"sku":"é1","quantity":1}`},
	{"sku with space", `{"sku":"A 1","quantity":1}`},
	{"sku with NUL", `{"sku":"A1\u0000","quantity":1}`},
	{"sku with newline", `{"sku":"A1\n","quantity":1}`},
	{"sku redis glob", `{"sku":"A*","quantity":1}`},
	{"sku number", `{"sku":1,"quantity":1}`},
	{"sku array", `{"sku":["A1"],"quantity":1}`},
	{"sku object", `{"sku":{"id":"A1"},"quantity":1}`},
	{"quantity missing", `{"sku":"A1"}`},
	{"quantity null", `{"sku":"A1","quantity":null}`},
	{"quantity 0", `{"sku":"A1","quantity":0}`},
	{"quantity -0", `{"sku":"A1","quantity":-0}`},
	{"quantity -1", `{"sku":"A1","quantity":-1}`},
	{"quantity 1.5", `{"sku":"A1","quantity":1.5}`},
	{"quantity 1.0", `{"sku":"A1","quantity":1.0}`},
	{"quantity string", `{"sku":"A1","quantity":"1"}`},
	{"quantity 1e3", `{"sku":"A1","quantity":1e3}`},
	{"quantity 1E0", `{"sku":"A1","quantity":1E0}`},
	{"quantity 10001", `{"sku":"A1","quantity":10001}`},
	{"quantity 2^31", `{"sku":"A1","quantity":2147483648}`},
	{"quantity 2^63", `{"sku":"A1","quantity":9223372036854775808}`},
	{"quantity -2^63", `{"sku":"A1","quantity":-9223372036854775808}`},
	{"quantity huge", `{"sku":"A1","quantity":1` + strings.Repeat("0", 400) + `}`},
	{"quantity true", `{"sku":"A1","quantity":true}`},
	{"quantity array", `{"sku":"A1","quantity":[1]}`},
	{"quantity object", `{"sku":"A1","quantity":{"n":1}}`},
	{"quantity leading zero", `{"sku":"A1","quantity":01}`},
	{"quantity hex", `{"sku":"A1","quantity":0x1}`},
	{"quantity NaN", `{"sku":"A1","quantity":NaN}`},
}

func TestMalformedPurchaseBodies(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	e.SetUpLive("L1", "", origintest.Product{SKU: "A1", Stock: 100, PerBuyerLimit: 100})

	for _, tt := range malformedPurchaseBodies {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, e, "A1")
			r := buy(t, e, "alice", uniqueID("k"), tt.body)
			wantError(t, r, 400, "invalid_request")
			if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("400 Cache-Control: got %q, want no-store", cc)
			}
			wantUnchanged(t, e, before)
		})
	}

	t.Run("well-formed variants are accepted", func(t *testing.T) {
		for _, body := range []string{
			`{"sku":"A1","quantity":1}`,
			" \n{ \"quantity\" : 2 , \"sku\" : \"A1\" }\n ",
			`{"sku":"A1","quantity":10000}`, // the cap per purchase; the stock refuses it, the parser must not
		} {
			r := buy(t, e, "bob", uniqueID("k"), body)
			if r.Status == 400 {
				t.Errorf("body %q: got 400 %s, want it parsed", body, r.Body)
			}
		}
	})
}

func TestPurchaseIgnoresFieldsTheBuyerMayNotSet(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	e.SetUpLive("L1", "", origintest.Product{SKU: "A1", Stock: 10, PerBuyerLimit: 5, Price: 2500, Currency: "USD"})

	body := `{"sku":"A1","quantity":2,"price":1,"unit_price":1,"currency":"JPY","buyer_id":"mallory",` +
		`"status":"refunded","order_id":"01ARZ3NDEKTSV4RRFFQ69G5FAV","remaining":999,"version":1,"live_id":"OTHER"}`
	rc := wantCreated(t, buy(t, e, "alice", "extra-fields", body))
	if rc.Quantity != 2 || rc.SKU != "A1" || rc.OrderID == "01ARZ3NDEKTSV4RRFFQ69G5FAV" || rc.Remaining != 8 {
		t.Errorf("receipt: got %+v, want 2 x A1 under a new order id with 8 remaining", rc)
	}

	r := do(t, e, "GET", "/v1/orders/"+rc.OrderID, nil, "Authorization", "Bearer "+token(t, "alice"))
	if r.Status != 200 {
		t.Fatalf("read order: got %d %s, want 200", r.Status, r.Body)
	}
	var o struct {
		UnitPrice int64  `json:"unit_price"`
		Currency  string `json:"currency"`
		Status    string `json:"status"`
		LiveID    string `json:"live_id"`
	}
	if err := json.Unmarshal(r.Body, &o); err != nil {
		t.Fatalf("order body %s: %v", r.Body, err)
	}
	if o.UnitPrice != 2500 || o.Currency != "USD" || o.Status != "confirmed" || o.LiveID != "L1" {
		t.Errorf("order: got price %d %s status %q live %q, want 2500 USD confirmed L1", o.UnitPrice, o.Currency, o.Status, o.LiveID)
	}
	var buyer string
	var price int64
	if err := e.DB.QueryRow("SELECT buyer_id, unit_price FROM orders WHERE id = ?", rc.OrderID).Scan(&buyer, &price); err != nil {
		t.Fatal(err)
	}
	if buyer != "alice" || price != 2500 {
		t.Errorf("order row: got buyer %q price %d, want alice 2500", buyer, price)
	}
	if r := do(t, e, "GET", "/v1/orders/"+rc.OrderID, nil, "Authorization", "Bearer "+token(t, "mallory")); r.Status != 404 {
		t.Errorf("order read by the buyer_id sent in the body: got %d, want 404", r.Status)
	}
}

func TestOversizedBodies(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	e.SetUpLive("L1", "", origintest.Product{SKU: "A1", Stock: 10, PerBuyerLimit: 10})

	// padded is a valid purchase of exactly n bytes.
	padded := func(n int) string {
		head, tail := `{"sku":"A1","quantity":1,"pad":"`, `"}`
		return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
	}

	t.Run("purchase of exactly 4 KiB is accepted", func(t *testing.T) {
		wantCreated(t, buy(t, e, "alice", uniqueID("k"), padded(4<<10)))
	})
	for _, n := range []int{4<<10 + 1, 64 << 10} {
		t.Run(fmt.Sprintf("purchase of %d bytes", n), func(t *testing.T) {
			before := snapshot(t, e, "A1")
			r := buy(t, e, "alice", uniqueID("k"), padded(n))
			wantError(t, r, 413, "payload_too_large")
			wantUnchanged(t, e, before)
		})
	}

	// Bodies over the server-wide 4 MiB limit are refused on their
	// Content-Length, before they are read. The server then closes the
	// connection without reading the rest, so a client still writing may
	// see a reset instead of the answer; these requests therefore announce
	// the size and send only the start of the body.
	bigRequest := func(method, path, auth string, size int) string {
		return method + " " + path + " HTTP/1.1\r\nHost: " + e.Server.Addr() + "\r\n" +
			"Authorization: Bearer " + auth + "\r\n" +
			"Idempotency-Key: " + uniqueID("k") + "\r\n" +
			"Content-Type: application/json\r\n" +
			fmt.Sprintf("Content-Length: %d\r\n", size) +
			"Connection: close\r\n\r\n" + `[{"sku":"A1","name":"x","price":1,"currency":"JPY","stock":0,"per_buyer_limit":1}`
	}
	for _, tt := range []struct{ name, method, path, auth string }{
		{"purchase over 4 MiB", "POST", "/v1/purchases", token(t, "alice")},
		{"admin upload over 4 MiB", "PUT", "/admin/v1/lives/L1/products", e.Key},
		{"admin live over 4 MiB", "PUT", "/admin/v1/lives/BIG", e.Key},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, e, "A1")
			r := rawDo(t, e, bigRequest(tt.method, tt.path, tt.auth, 4<<20+1))
			wantError(t, r, 413, "payload_too_large")
			wantUnchanged(t, e, before)
			var n int
			if err := e.DB.QueryRow("SELECT COUNT(*) FROM lives WHERE id = 'BIG'").Scan(&n); err != nil || n != 0 {
				t.Errorf("live BIG: got %d rows (%v), want none", n, err)
			}
		})
	}

	t.Run("admin upload just under 4 MiB is read", func(t *testing.T) {
		row := `{"sku":"A1","name":"` + strings.Repeat("n", 150) + `","price":1,"currency":"JPY","stock":10,"per_buyer_limit":10},`
		body := "[" + strings.Repeat(row, (4<<20-100)/len(row))
		body = strings.TrimSuffix(body, ",") + "]"
		r := do(t, e, "PUT", "/admin/v1/lives/L1/products", []byte(body), "Authorization", "Bearer "+e.Key)
		// Read and judged on its rows (duplicates), not refused for size.
		wantError(t, r, 400, "invalid_request")
	})
}
