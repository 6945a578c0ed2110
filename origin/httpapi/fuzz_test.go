package httpapi_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"livecommerce/origin/origintest"
)

// FuzzPurchaseBody posts arbitrary bodies to a running origin: whatever the
// body, the answer is one of the contract's, errors are its JSON, nothing is
// ever a 5xx, and nothing is sold unless the answer is 201.
func FuzzPurchaseBody(f *testing.F) {
	for _, c := range malformedPurchaseBodies {
		f.Add([]byte(c.body))
	}
	for _, s := range []string{
		`{"sku":"A1","quantity":1}`,
		`{"sku":"B2","quantity":1}`,
		`{"sku":"B2","quantity":5}`,
		`{"sku":"NOPE","quantity":1}`,
		`{"sku":"A1","quantity":10000}`,
		`{"sku":"A1","quantity":1,"price":1,"buyer_id":"mallory","status":"refunded"}`,
		`{"sku":"A1","quantity":1,"sku":"B2"}`,
		`{"SKU":"A1","Quantity":1}`,
		`{"sku":"A1","quantity":1,"pad":"` + strings.Repeat("x", 4<<10) + `"}`,
		"\x00\x01\x02",
		"{\"sku\":\"A1\xff\",\"quantity\":1}",
		`{"sku":"A1","quantity":1}` + strings.Repeat(" ", 5000),
		strings.Repeat("[", 10000),
	} {
		f.Add([]byte(s))
	}

	e := origintest.Start(f, origintest.Options{})
	e.SetUpLive("FZ", "",
		origintest.Product{SKU: "A1", Stock: 100_000_000, PerBuyerLimit: 10_000},
		origintest.Product{SKU: "B2", Stock: 3, PerBuyerLimit: 1})
	skus := []string{"A1", "B2"}
	allowed := map[int][]string{
		201: {""},
		400: {"invalid_request"},
		404: {"not_found"},
		409: {"sold_out", "insufficient_stock", "purchase_limit_exceeded"},
		413: {"payload_too_large"},
	}
	var n atomic.Int64

	f.Fuzz(func(t *testing.T, body []byte) {
		i := n.Add(1)
		before := snapshot(t, e, skus...)
		r, err := e.Do("POST", "/v1/purchases", body,
			"Authorization", "Bearer "+token(t, fmt.Sprintf("fuzz-%d", i)),
			"Idempotency-Key", fmt.Sprintf("fuzz-key-%d", i), "Content-Type", "application/json")
		if err != nil {
			t.Fatalf("body %q: %v", abbreviate(body), err)
		}
		codes, ok := allowed[r.Status]
		if !ok || !slices.Contains(codes, r.Code()) {
			t.Fatalf("body %q: got %d %q (%s), want one of the contract's answers %v", abbreviate(body), r.Status, r.Code(), abbreviate(r.Body), allowed)
		}
		if r.Status != 201 {
			wantError(t, r, r.Status, r.Code())
			wantUnchanged(t, e, before)
			return
		}
		var rc receipt
		if err := json.Unmarshal(r.Body, &rc); err != nil {
			t.Fatalf("body %q: 201 with %s: %v", abbreviate(body), r.Body, err)
		}
		after := snapshot(t, e, skus...)
		for _, sku := range skus {
			want := before.SKUs[sku].DBSold
			if sku == rc.SKU {
				want += int64(rc.Quantity)
			}
			if got := after.SKUs[sku].DBSold; got != want {
				t.Errorf("body %q: sold of %s got %d, want %d (receipt %s)", abbreviate(body), sku, got, want, r.Body)
			}
		}
		if after.Orders != before.Orders+1 {
			t.Errorf("body %q: order rows got %d, want %d", abbreviate(body), after.Orders, before.Orders+1)
		}
	})
}
