package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"livecommerce/origin/origintest"
)

func TestOperations(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	e.SetUpLive("L1", "", origintest.Product{SKU: "A1", Stock: 10, PerBuyerLimit: 10})

	t.Run("healthz", func(t *testing.T) {
		if r := do(t, e, "GET", "/healthz", nil); r.Status != 200 {
			t.Errorf("got %d %s, want 200", r.Status, r.Body)
		}
	})

	t.Run("readyz", func(t *testing.T) {
		r := do(t, e, "GET", "/readyz", nil)
		if r.Status != 200 {
			t.Fatalf("got %d %s, want 200", r.Status, r.Body)
		}
		var b struct {
			Checks map[string]string `json:"checks"`
		}
		if err := json.Unmarshal(r.Body, &b); err != nil {
			t.Fatalf("body %s: %v", r.Body, err)
		}
		for _, dep := range []string{"redis", "mysql"} {
			if b.Checks[dep] != "ok" {
				t.Errorf("check %s: got %q in %s, want ok", dep, b.Checks[dep], r.Body)
			}
		}
	})

	t.Run("metrics", func(t *testing.T) {
		wantCreated(t, buyQty(t, e, "alice", uniqueID("k"), "A1", 1))
		do(t, e, "GET", "/v1/products/A1/stock", nil)
		do(t, e, "GET", "/no/such/route/"+uniqueID("x"), nil)
		r := do(t, e, "GET", "/metrics", nil)
		if r.Status != 200 {
			t.Fatalf("got %d, want 200", r.Status)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("Content-Type: got %q, want the Prometheus text format", ct)
		}
		body := string(r.Body)
		var purchase, read bool
		for _, line := range strings.Split(body, "\n") {
			if !strings.HasPrefix(line, "http_request_duration_seconds_bucket{") {
				continue
			}
			if strings.Contains(line, `route="/v1/purchases"`) && strings.Contains(line, `code="201"`) {
				purchase = true
			}
			if strings.Contains(line, `route="/v1/products/:sku/stock"`) {
				read = true
			}
			if strings.Contains(line, "/no/such/route") {
				t.Errorf("metrics label a raw path: %s", line)
			}
		}
		if !purchase {
			t.Errorf("metrics: no http_request_duration_seconds histogram with route=\"/v1/purchases\" code=\"201\"")
		}
		if !read {
			t.Errorf("metrics: no http_request_duration_seconds histogram with the stock read's route pattern")
		}
	})

	t.Run("framework errors are the contract's JSON too", func(t *testing.T) {
		tests := []struct {
			method, path string
			status       int
			code         string
		}{
			{"GET", "/no/such/route", 404, "not_found"},
			{"GET", "/v1/products/A1", 404, "not_found"},
			{"GET", "/v1/purchases", 405, "invalid_request"},
			{"DELETE", "/v1/products/A1/stock", 405, "invalid_request"},
		}
		for _, tt := range tests {
			r := do(t, e, tt.method, tt.path, nil)
			if r.Status != tt.status {
				t.Errorf("%s %s: got %d, want %d", tt.method, tt.path, r.Status, tt.status)
			}
			wantError(t, r, tt.status, tt.code)
		}
	})
}
