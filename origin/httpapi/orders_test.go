package httpapi_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"livecommerce/origin/origintest"
)

func TestReadOrder(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	e.SetUpLive("L1", "", origintest.Product{SKU: "A1", Stock: 10, PerBuyerLimit: 10, Price: 1200, Currency: "JPY"})
	began := time.Now().Add(-time.Second)
	rc := wantCreated(t, buyQty(t, e, "alice", "k1", "A1", 3))
	auth := func(buyer string) []string { return []string{"Authorization", "Bearer " + token(t, buyer)} }

	t.Run("own order", func(t *testing.T) {
		r := do(t, e, "GET", "/v1/orders/"+rc.OrderID, nil, auth("alice")...)
		if r.Status != 200 {
			t.Fatalf("got %d %s, want 200", r.Status, r.Body)
		}
		var o struct {
			OrderID   string    `json:"order_id"`
			SKU       string    `json:"sku"`
			LiveID    string    `json:"live_id"`
			Quantity  int       `json:"quantity"`
			UnitPrice int64     `json:"unit_price"`
			Currency  string    `json:"currency"`
			Status    string    `json:"status"`
			CreatedAt time.Time `json:"created_at"`
		}
		if err := json.Unmarshal(r.Body, &o); err != nil {
			t.Fatalf("body %s: %v", r.Body, err)
		}
		if o.OrderID != rc.OrderID || o.SKU != "A1" || o.LiveID != "L1" || o.Quantity != 3 ||
			o.UnitPrice != 1200 || o.Currency != "JPY" || o.Status != "confirmed" {
			t.Errorf("order: got %+v, want %s: 3 x A1 of L1 at 1200 JPY, confirmed", o, rc.OrderID)
		}
		if o.CreatedAt.Before(began) || o.CreatedAt.After(time.Now().Add(time.Second)) || o.CreatedAt.Location() != time.UTC {
			t.Errorf("created_at: got %v, want a UTC time around now", o.CreatedAt)
		}
		if cc := r.Header.Get("Cache-Control"); strings.Contains(cc, "public") || !strings.Contains(cc, "no-store") {
			t.Errorf("Cache-Control of an order: got %q, want it private and not stored", cc)
		}
	})

	t.Run("another buyer's order does not exist for them", func(t *testing.T) {
		other := do(t, e, "GET", "/v1/orders/"+rc.OrderID, nil, auth("bob")...)
		wantError(t, other, 404, "not_found")
		if strings.Contains(string(other.Body), rc.OrderID) || strings.Contains(string(other.Body), "alice") {
			t.Errorf("404 body %s gives the order away", other.Body)
		}
		missing := do(t, e, "GET", "/v1/orders/01ARZ3NDEKTSV4RRFFQ69G5FAV", nil, auth("bob")...)
		wantError(t, missing, 404, "not_found")
		if !bytes.Equal(other.Body, missing.Body) {
			t.Errorf("another buyer's order %s and a missing one %s: want the same answer", other.Body, missing.Body)
		}
	})

	t.Run("malformed ids", func(t *testing.T) {
		for _, id := range []string{
			"abc",
			strings.ToLower(rc.OrderID),
			rc.OrderID + "0",
			rc.OrderID[:25],
			"0000000000000000000000000U",
			"%2E%2E%2Fadmin",
			"..%2F..%2Fetc",
			"a%00b",
			"' OR '1'='1",
			strings.Repeat("Z", 300),
		} {
			r := do(t, e, "GET", "/v1/orders/"+strings.ReplaceAll(id, " ", "%20"), nil, auth("alice")...)
			wantError(t, r, 404, "not_found")
		}
	})

	t.Run("no token", func(t *testing.T) {
		r := do(t, e, "GET", "/v1/orders/"+rc.OrderID, nil)
		wantError(t, r, 401, "unauthorized")
		if strings.Contains(string(r.Body), rc.OrderID) {
			t.Errorf("401 body %s gives the order away", r.Body)
		}
	})
}
