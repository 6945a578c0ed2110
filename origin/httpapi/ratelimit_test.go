package httpapi_test

import (
	"strconv"
	"testing"
	"time"

	"livecommerce/origin/app"
	"livecommerce/origin/origintest"
)

// setUpFrom creates a live with one product, its admin requests coming
// (through the trusted local proxy) from ip, so they use up no one else's
// rate limit.
func setUpFrom(t *testing.T, e *origintest.Env, ip, live string, p row) {
	t.Helper()
	auth := []string{"Authorization", "Bearer " + e.Key, "X-Forwarded-For", ip}
	if r := do(t, e, "PUT", "/admin/v1/lives/"+live, []byte(`{"title":"Rate limited"}`), auth...); r.Status != 201 {
		t.Fatalf("put live: got %d %s, want 201", r.Status, r.Body)
	}
	body := []byte(`[` + mustJSON(t, p) + `]`)
	if r := do(t, e, "PUT", "/admin/v1/lives/"+live+"/products", body, auth...); r.Status != 200 {
		t.Fatalf("put products: got %d %s, want 200", r.Status, r.Body)
	}
}

func buyFrom(t *testing.T, e *origintest.Env, ip, buyer, sku string) origintest.Response {
	t.Helper()
	return do(t, e, "POST", "/v1/purchases", []byte(`{"sku":"`+sku+`","quantity":1}`),
		"Authorization", "Bearer "+token(t, buyer), "Idempotency-Key", uniqueID("k"),
		"Content-Type", "application/json", "X-Forwarded-For", ip)
}

// wantRateLimited checks a 429 and returns its Retry-After in seconds.
func wantRateLimited(t *testing.T, r origintest.Response) int {
	t.Helper()
	wantError(t, r, 429, "rate_limited")
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || secs < 1 {
		t.Errorf("Retry-After: got %q, want whole seconds >= 1", r.Header.Get("Retry-After"))
	}
	return secs
}

func TestRateLimitPerIP(t *testing.T) {
	t.Parallel()
	e := start(t, func(c *app.Config) { c.IPRate, c.IPBurst = 1, 2 })
	setUpFrom(t, e, "198.51.100.1", "L1", goodRow("A1").with("stock", 100, "per_buyer_limit", 100))

	const ip = "203.0.113.7"
	wantCreated(t, buyFrom(t, e, ip, "b1", "A1"))
	wantCreated(t, buyFrom(t, e, ip, "b2", "A1"))
	before := snapshot(t, e, "A1")
	secs := wantRateLimited(t, buyFrom(t, e, ip, "b3", "A1"))
	wantUnchanged(t, e, before)
	// Order reads share the budget.
	wantRateLimited(t, do(t, e, "GET", "/v1/orders/01ARZ3NDEKTSV4RRFFQ69G5FAV", nil,
		"Authorization", "Bearer "+token(t, "b1"), "X-Forwarded-For", ip))

	// Another client is not affected.
	wantCreated(t, buyFrom(t, e, "203.0.113.8", "b3", "A1"))
	// Stock reads are for the edge to absorb: not limited.
	for range 5 {
		if r := do(t, e, "GET", "/v1/products/A1/stock", nil, "X-Forwarded-For", ip); r.Status != 200 {
			t.Errorf("stock read from a limited client: got %d, want 200", r.Status)
		}
	}

	if secs >= 1 && secs <= 2 {
		time.Sleep(time.Duration(secs) * time.Second)
		wantCreated(t, buyFrom(t, e, ip, "b3", "A1"))
	}
}

func TestRateLimitPerBuyer(t *testing.T) {
	t.Parallel()
	e := start(t, func(c *app.Config) { c.BuyerRate, c.BuyerBurst = 1, 2 })
	e.SetUpLive("L1", "", origintest.Product{SKU: "A1", Stock: 100, PerBuyerLimit: 100})

	// Different addresses: only the buyer limit can apply.
	wantCreated(t, buyFrom(t, e, "203.0.113.1", "greedy", "A1"))
	wantCreated(t, buyFrom(t, e, "203.0.113.2", "greedy", "A1"))
	before := snapshot(t, e, "A1")
	secs := wantRateLimited(t, buyFrom(t, e, "203.0.113.3", "greedy", "A1"))
	wantUnchanged(t, e, before)
	wantCreated(t, buyFrom(t, e, "203.0.113.3", "patient", "A1"))

	if secs >= 1 && secs <= 2 {
		time.Sleep(time.Duration(secs) * time.Second)
		wantCreated(t, buyFrom(t, e, "203.0.113.4", "greedy", "A1"))
	}
}
