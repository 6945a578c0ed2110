package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"livecommerce/origin/origintest"
)

func TestIdempotency(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	e.SetUpLive("L1", "", origintest.Product{SKU: "A1", Stock: 100, PerBuyerLimit: 50},
		origintest.Product{SKU: "B1", Stock: 100, PerBuyerLimit: 50})

	t.Run("replay returns the first answer and sells nothing more", func(t *testing.T) {
		first := buyQty(t, e, "alice", "replay-1", "A1", 2)
		rc := wantCreated(t, first)
		if got := first.Header.Get("Idempotent-Replayed"); got != "" {
			t.Errorf("first answer: got Idempotent-Replayed %q, want none", got)
		}
		before := snapshot(t, e, "A1", "B1")
		for i := range 3 {
			again := buyQty(t, e, "alice", "replay-1", "A1", 2)
			got := wantCreated(t, again)
			if got.OrderID != rc.OrderID {
				t.Errorf("replay %d: got order_id %q, want %q", i, got.OrderID, rc.OrderID)
			}
			if h := again.Header.Get("Idempotent-Replayed"); h != "true" {
				t.Errorf("replay %d: got Idempotent-Replayed %q, want true", i, h)
			}
			if !bytes.Equal(again.Body, first.Body) {
				t.Errorf("replay %d: got body %s, want the first answer %s", i, again.Body, first.Body)
			}
		}
		wantUnchanged(t, e, before)
	})

	t.Run("same key with another body", func(t *testing.T) {
		rc := wantCreated(t, buyQty(t, e, "bob", "reuse-1", "A1", 1))
		before := snapshot(t, e, "A1", "B1")
		for _, body := range []string{
			`{"sku":"A1","quantity":2}`,
			`{"sku":"B1","quantity":1}`,
		} {
			wantError(t, buy(t, e, "bob", "reuse-1", body), 422, "idempotency_key_reused")
			wantUnchanged(t, e, before)
		}
		// The first answer still stands.
		if got := wantCreated(t, buyQty(t, e, "bob", "reuse-1", "A1", 1)); got.OrderID != rc.OrderID {
			t.Errorf("replay after a reuse: got order_id %q, want %q", got.OrderID, rc.OrderID)
		}
	})

	t.Run("same key from another buyer is another purchase", func(t *testing.T) {
		a := wantCreated(t, buyQty(t, e, "carol", "shared-key", "A1", 1))
		before := snapshot(t, e, "A1")
		r := buyQty(t, e, "dave", "shared-key", "A1", 1)
		b := wantCreated(t, r)
		if b.OrderID == a.OrderID {
			t.Errorf("second buyer: got the first buyer's order %q, want a new order", b.OrderID)
		}
		if h := r.Header.Get("Idempotent-Replayed"); h != "" {
			t.Errorf("second buyer: got Idempotent-Replayed %q, want none", h)
		}
		after := snapshot(t, e, "A1")
		if got, want := after.SKUs["A1"].DBSold, before.SKUs["A1"].DBSold+1; got != want {
			t.Errorf("sold after the second buyer: got %d, want %d", got, want)
		}
		if got, want := after.Orders, before.Orders+1; got != want {
			t.Errorf("order rows after the second buyer: got %d, want %d", got, want)
		}
	})

	t.Run("a refused purchase does not use up its key", func(t *testing.T) {
		before := snapshot(t, e, "A1")
		wantError(t, buyQty(t, e, "erin", "too-many", "A1", 1000), 409, "insufficient_stock")
		wantUnchanged(t, e, before)
		// Nothing was recorded under the key, so it may carry another body.
		wantCreated(t, buyQty(t, e, "erin", "too-many", "A1", 1))
	})

	t.Run("missing or hostile keys", func(t *testing.T) {
		body := `{"sku":"A1","quantity":1}`
		tests := []struct {
			name string
			line string // the Idempotency-Key header line, verbatim
		}{
			{"missing", ""},
			{"empty", "Idempotency-Key: \r\n"},
			{"256 chars", "Idempotency-Key: " + strings.Repeat("k", 256) + "\r\n"},
			{"1000 chars", "Idempotency-Key: " + strings.Repeat("k", 1000) + "\r\n"},
			{"tab inside", "Idempotency-Key: a\tb\r\n"},
			{"NUL inside", "Idempotency-Key: a\x00b\r\n"},
			{"escape inside", "Idempotency-Key: a\x1bb\r\n"},
			{"DEL inside", "Idempotency-Key: a\x7fb\r\n"},
			{"non-ASCII UTF-8", "Idempotency-Key: clé-ü-日本\r\n"},
			{"invalid UTF-8", "Idempotency-Key: a\xff\xfeb\r\n"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := snapshot(t, e, "A1")
				r := rawDo(t, e, rawPurchase(t, e, "frank", tt.line, body))
				wantError(t, r, 400, "invalid_request")
				wantUnchanged(t, e, before)
			})
		}
	})

	t.Run("longest and odd but valid keys", func(t *testing.T) {
		for _, key := range []string{
			strings.Repeat("k", 255),
			"x",
			`~!@#$%^&*()_+{}|:"<>?[]\;',./`,
			"key with spaces inside",
		} {
			a := wantCreated(t, buyQty(t, e, "gina", key, "B1", 1))
			b := buyQty(t, e, "gina", key, "B1", 1)
			if got := wantCreated(t, b); got.OrderID != a.OrderID || b.Header.Get("Idempotent-Replayed") != "true" {
				t.Errorf("key %.20q...: replay got order %q replayed %q, want %q true", key, got.OrderID, b.Header.Get("Idempotent-Replayed"), a.OrderID)
			}
		}
	})
}

// TestIdempotencyConcurrentDuplicates fires one key and body 20 times at
// once: exactly one order, the others replay it or are told it is in use.
func TestIdempotencyConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	e.SetUpLive("L1", "", origintest.Product{SKU: "HOT", Stock: 50, PerBuyerLimit: 50})
	before := snapshot(t, e, "HOT")
	tok := token(t, "racer")

	const n = 20
	responses := make([]origintest.Response, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-ready
			responses[i], errs[i] = e.Do("POST", "/v1/purchases", []byte(`{"sku":"HOT","quantity":3}`),
				"Authorization", "Bearer "+tok, "Idempotency-Key", "dup-key", "Content-Type", "application/json")
		})
	}
	close(ready)
	wg.Wait()

	orderIDs := map[string]int{}
	fresh := 0
	for i, r := range responses {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		switch {
		case r.Status == 201:
			var rc receipt
			if err := json.Unmarshal(r.Body, &rc); err != nil {
				t.Fatalf("request %d: body %s: %v", i, r.Body, err)
			}
			orderIDs[rc.OrderID]++
			if r.Header.Get("Idempotent-Replayed") != "true" {
				fresh++
			}
		case r.Status == 409 && r.Code() == "idempotency_key_in_use":
			wantError(t, r, 409, "idempotency_key_in_use")
		default:
			t.Errorf("request %d: got %d %s, want 201 or 409 idempotency_key_in_use", i, r.Status, r.Body)
		}
	}
	t.Logf("%d answers: %d fresh 201, %d replayed 201, %d in use", n, fresh, sumValues(orderIDs)-fresh, n-sumValues(orderIDs))
	if len(orderIDs) != 1 {
		t.Errorf("order ids in 201 answers: got %v, want exactly one", orderIDs)
	}
	if fresh != 1 {
		t.Errorf("201 answers without Idempotent-Replayed: got %d, want 1", fresh)
	}
	after := snapshot(t, e, "HOT")
	if got, want := after.Orders, before.Orders+1; got != want {
		t.Errorf("order rows: got %d, want %d", got, want)
	}
	st := after.SKUs["HOT"]
	if st.DBSold != 3 || st.OrderUnits != 3 {
		t.Errorf("database: got sold %d, order units %d; want 3 and 3", st.DBSold, st.OrderUnits)
	}
	if got := remaining(t, e, "HOT"); got != 47 {
		t.Errorf("Redis remaining: got %d, want 47", got)
	}
}

// TestIdempotencyAfterRedisLoss replays keys after Redis lost its records
// (a flush, a failover without persistence): the database of record still
// holds the orders, so the same key and body must get the first answer
// again, whatever the stock and the buyer's limit look like now.
func TestIdempotencyAfterRedisLoss(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	e.SetUpLive("L1", "",
		origintest.Product{SKU: "PLENTY", Stock: 100, PerBuyerLimit: 10},
		origintest.Product{SKU: "ATLIMIT", Stock: 100, PerBuyerLimit: 1},
		origintest.Product{SKU: "LAST", Stock: 1, PerBuyerLimit: 5})
	skus := []string{"PLENTY", "ATLIMIT", "LAST"}
	first := map[string]receipt{}
	for _, sku := range skus {
		first[sku] = wantCreated(t, buyQty(t, e, "alice", "key-"+sku, sku, 1))
	}
	if err := origintest.DeleteKeys(context.Background(), e.Redis, e.Prefix); err != nil {
		t.Fatalf("flush Redis: %v", err)
	}

	for _, sku := range skus {
		t.Run(sku, func(t *testing.T) {
			// Load the counters first, so the snapshot compares like with like.
			do(t, e, "GET", "/v1/products/"+sku+"/stock", nil)
			before := snapshot(t, e, sku)
			r := buyQty(t, e, "alice", "key-"+sku, sku, 1)
			if r.Status != 201 {
				t.Errorf("replay of %s after Redis lost the key: got %d %s, want 201 with order %s (the buyer holds that order; a retry must not be told %q)",
					sku, r.Status, r.Body, first[sku].OrderID, r.Code())
			} else {
				if got := wantCreated(t, r); got.OrderID != first[sku].OrderID {
					t.Errorf("replay of %s: got order %s, want %s", sku, got.OrderID, first[sku].OrderID)
				}
				if h := r.Header.Get("Idempotent-Replayed"); h != "true" {
					t.Errorf("replay of %s: got Idempotent-Replayed %q, want true", sku, h)
				}
			}
			after := snapshot(t, e, sku)
			b, a := before.SKUs[sku], after.SKUs[sku]
			if a.DBSold != b.DBSold || a.OrderRows != b.OrderRows || after.Orders != before.Orders {
				t.Errorf("replay of %s sold something: sold %d -> %d, orders %d -> %d", sku, b.DBSold, a.DBSold, before.Orders, after.Orders)
			}
			if got, want := remaining(t, e, sku), int64(0); sku == "LAST" && got != want {
				t.Errorf("Redis remaining of LAST: got %d, want %d", got, want)
			}
		})
	}

	t.Run("another body is still a reuse", func(t *testing.T) {
		before := snapshot(t, e, skus...)
		r := buyQty(t, e, "alice", "key-PLENTY", "PLENTY", 2)
		wantError(t, r, 422, "idempotency_key_reused")
		after := snapshot(t, e, skus...)
		if after.Orders != before.Orders || after.SKUs["PLENTY"].DBSold != before.SKUs["PLENTY"].DBSold {
			t.Errorf("reuse after Redis loss sold something: orders %d -> %d", before.Orders, after.Orders)
		}
	})
}

func sumValues(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
