package httpapi_test

import (
	"encoding/json"
	"io"
	"strings"
	"testing"

	"livecommerce/origin/origintest"
)

func TestOperations(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	e.SetUpLive("L1", "", origintest.Product{SKU: "A1", Stock: 10, PerBuyerLimit: 10})

	t.Run("healthz", func(t *testing.T) {
		if r := opsGet(t, e, "/healthz"); r.Status != 200 {
			t.Errorf("got %d %s, want 200", r.Status, r.Body)
		}
	})

	t.Run("readyz", func(t *testing.T) {
		r := opsGet(t, e, "/readyz")
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

	t.Run("the public listener has only a bare readiness probe", func(t *testing.T) {
		r := do(t, e, "GET", "/readyz", nil)
		if r.Status != 200 || string(r.Body) != `{"status":"ok"}` {
			t.Errorf("public /readyz: got %d %s, want 200 and the status alone", r.Status, r.Body)
		}
		for _, path := range []string{"/metrics", "/healthz", "/METRICS", "/Metrics", "/metrics/", "/healthz/", "/READYZ", "/readyz/", "/debug/pprof/"} {
			r := do(t, e, "GET", path, nil)
			if r.Status != 404 || strings.Contains(string(r.Body), "go_goroutines") || strings.Contains(string(r.Body), "mysql") {
				t.Errorf("public %s: got %d %.80s, want 404 and nothing of the origin's insides", path, r.Status, r.Body)
			}
		}
	})

	t.Run("metrics", func(t *testing.T) {
		wantCreated(t, buyQty(t, e, "alice", uniqueID("k"), "A1", 1))
		do(t, e, "GET", "/v1/products/A1/stock", nil)
		do(t, e, "GET", "/no/such/route/"+uniqueID("x"), nil)
		r := opsGet(t, e, "/metrics")
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

// opsGet reads a route of the origin's ops listener.
func opsGet(t testing.TB, e *origintest.Env, path string) origintest.Response {
	t.Helper()
	res, err := e.Client.Get(e.OpsURL + path)
	if err != nil {
		t.Fatalf("GET %s on the ops listener: %v", path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s on the ops listener: %v", path, err)
	}
	return origintest.Response{Status: res.StatusCode, Header: res.Header, Body: body}
}
