package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"livecommerce/origin/app"
	"livecommerce/origin/httpapi"
	"livecommerce/origin/origintest"
	feedapp "livecommerce/stockfeed/app"
	"livecommerce/stockfeed/feedtest"
)

// TestContractDocument holds a real origin to docs/openapi.yaml: a scripted
// run of requests reaches every operation the document gives the origin,
// each answer's status must be documented for its operation, with the
// required headers and a body that matches the schema; every route the
// origin registers must be in the document, and every origin operation of
// the document must be registered.
func TestContractDocument(t *testing.T) {
	t.Parallel()
	spec := loadContractSpec(t)
	// Low limits, so that one address can reach each 429 in a few
	// requests; every other request comes from an address of its own
	// (SetUpLive's four come from 127.0.0.1, within its budget).
	const ipBurst = 10
	e := start(t, func(c *app.Config) {
		c.IPRate, c.IPBurst = 0.001, ipBurst
		c.ReadMissRate, c.ReadMissBurst = 0.001, 1
	})
	c := &contractClient{spec: spec, client: e.Client, base: map[string]string{"origin": e.URL, "origin-ops": e.OpsURL}}

	live, window := uniqueID("CL"), uniqueID("CW")
	skuA, skuB, skuC, skuW := live+"A", live+"B", live+"C", window+"W"
	e.SetUpLive(live, "",
		origintest.Product{SKU: skuA, Stock: 100, PerBuyerLimit: 5, LowStockThreshold: 10},
		origintest.Product{SKU: skuB, Stock: 1, PerBuyerLimit: 1},
		origintest.Product{SKU: skuC, Stock: 3, PerBuyerLimit: 10})
	e.SetUpLive(window, `{"title":"Later","sale_starts_at":"2099-01-01T00:00:00Z"}`,
		origintest.Product{SKU: skuW, Stock: 10, PerBuyerLimit: 10})
	_, otherKey, err := e.Server.Deps().DB.CreateMerchant(context.Background(), "Other Shop", time.Now().UTC())
	if err != nil {
		t.Fatalf("create a second merchant: %v", err)
	}
	merchant := func(key string) []string { return []string{"Authorization", "Bearer " + key} }
	buyer := func(name string) []string { return []string{"Authorization", "Bearer " + token(t, name)} }
	from := func(addr string) []string { return []string{"X-Forwarded-For", addr} }
	// untilLimited sends ipBurst requests from one address, which its
	// budget admits (401 for want of credentials), and one more, which
	// must be 429.
	untilLimited := func(t *testing.T, method, path, addr string) {
		t.Helper()
		for range ipBurst {
			c.send(t, 401, "origin", method, path, nil, from(addr)...)
		}
		wantCode(t, c.send(t, 429, "origin", method, path, nil, from(addr)...), "rate_limited")
	}

	t.Run("stock reads", func(t *testing.T) {
		for _, path := range []string{"/v1/products/" + skuA + "/stock", "/v1/lives/" + live + "/stock"} {
			r := c.send(t, 200, "origin", "GET", path, nil)
			c.send(t, 304, "origin", "GET", path, nil, "If-None-Match", r.Header.Get("ETag"))
			c.send(t, 304, "origin", "GET", path, nil, "If-None-Match", `"0000000000000000", W/`+r.Header.Get("ETag"))
			c.send(t, 200, "origin", "GET", path, nil, "If-None-Match", `"0000000000000000"`)
		}
		c.send(t, 400, "origin", "GET", "/v1/products/bad.sku/stock", nil)
		c.send(t, 400, "origin", "GET", "/v1/lives/bad.live/stock", nil)
		c.send(t, 404, "origin", "GET", "/v1/products/"+uniqueID("none")+"/stock", nil)
		c.send(t, 404, "origin", "GET", "/v1/lives/"+uniqueID("none")+"/stock", nil)
		// One unknown id uses up this address's budget of database reads;
		// its reads that need the database are then refused.
		c.send(t, 404, "origin", "GET", "/v1/products/"+uniqueID("none")+"/stock", nil, from("203.0.113.5")...)
		c.send(t, 429, "origin", "GET", "/v1/products/"+uniqueID("none")+"/stock", nil, from("203.0.113.5")...)
		c.send(t, 429, "origin", "GET", "/v1/lives/"+uniqueID("none")+"/stock", nil, from("203.0.113.5")...)
	})

	var order string
	t.Run("purchases", func(t *testing.T) {
		body := func(sku string, qty int) []byte { return fmt.Appendf(nil, `{"sku":%q,"quantity":%d}`, sku, qty) }
		key := func(k string) []string { return []string{"Idempotency-Key", k} }
		buy := func(t *testing.T, want int, who, k string, b []byte) origintest.Response {
			t.Helper()
			return c.send(t, want, "origin", "POST", "/v1/purchases", b, append(buyer(who), key(k)...)...)
		}

		first := buy(t, 201, "alice", "k1", body(skuA, 1))
		var rc receipt
		json.Unmarshal(first.Body, &rc)
		order = rc.OrderID
		if first.Header.Get("Idempotent-Replayed") != "" {
			t.Errorf("first answer: got Idempotent-Replayed %q, want none", first.Header.Get("Idempotent-Replayed"))
		}
		replay := buy(t, 201, "alice", "k1", body(skuA, 1))
		if replay.Header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(replay.Body, first.Body) {
			t.Errorf("replay: got Idempotent-Replayed %q and %s, want true and the first answer %s",
				replay.Header.Get("Idempotent-Replayed"), replay.Body, first.Body)
		}
		wantCode(t, buy(t, 422, "alice", "k1", body(skuA, 2)), "idempotency_key_reused")

		wantCode(t, c.send(t, 400, "origin", "POST", "/v1/purchases", body(skuA, 1), buyer("alice")...), "invalid_request")
		wantCode(t, buy(t, 400, "alice", "k2", []byte(`{"sku":"`+skuA+`","quantity":"1"}`)), "invalid_request")
		c.send(t, 401, "origin", "POST", "/v1/purchases", body(skuA, 1), key("k3")...)
		c.send(t, 401, "origin", "POST", "/v1/purchases", body(skuA, 1), "Authorization", "Bearer not-a-token", "Idempotency-Key", "k3")
		buy(t, 404, "alice", "k4", body(uniqueID("none"), 1))

		buy(t, 201, "bob", "k1", body(skuB, 1))
		wantCode(t, buy(t, 409, "carol", "k1", body(skuB, 1)), "sold_out")
		wantCode(t, buy(t, 409, "dave", "k1", body(skuC, 4)), "insufficient_stock")
		buy(t, 201, "erin", "k1", body(skuA, 5))
		wantCode(t, buy(t, 409, "erin", "k2", body(skuA, 1)), "purchase_limit_exceeded")
		wantCode(t, buy(t, 409, "frank", "k1", body(skuW, 1)), "sale_not_open")

		padded := fmt.Appendf(nil, `{"sku":%q,"quantity":1,"note":%q}`, skuA, strings.Repeat("x", httpapi.MaxPurchaseBody))
		wantCode(t, buy(t, 413, "alice", "k5", padded), "payload_too_large")
		untilLimited(t, "POST", "/v1/purchases", "203.0.113.7")
	})

	t.Run("orders", func(t *testing.T) {
		if order == "" {
			t.Fatal("no order to read: the purchase failed")
		}
		var o struct {
			OrderID string `json:"order_id"`
		}
		json.Unmarshal(c.send(t, 200, "origin", "GET", "/v1/orders/"+order, nil, buyer("alice")...).Body, &o)
		if o.OrderID != order {
			t.Errorf("order: got id %q, want %q", o.OrderID, order)
		}
		c.send(t, 404, "origin", "GET", "/v1/orders/"+order, nil, buyer("bob")...)
		c.send(t, 404, "origin", "GET", "/v1/orders/not-an-order-id", nil, buyer("alice")...)
		c.send(t, 401, "origin", "GET", "/v1/orders/"+order, nil)
		untilLimited(t, "GET", "/v1/orders/"+order, "203.0.113.8")
	})

	t.Run("admin", func(t *testing.T) {
		lives := c.send(t, 200, "origin", "GET", "/admin/v1/lives", nil, merchant(e.Key)...)
		for _, id := range []string{live, window} {
			if !bytes.Contains(lives.Body, []byte(`"`+id+`"`)) {
				t.Errorf("lives listing %s: want %s in it", abbreviate(lives.Body), id)
			}
		}
		c.send(t, 401, "origin", "GET", "/admin/v1/lives", nil)
		c.send(t, 401, "origin", "GET", "/admin/v1/lives", nil, buyer("alice")...)
		untilLimited(t, "GET", "/admin/v1/lives", "203.0.113.9")

		livePath := "/admin/v1/lives/" + live
		c.send(t, 201, "origin", "PUT", "/admin/v1/lives/"+uniqueID("CN"), []byte(`{"title":"No products yet"}`), merchant(e.Key)...)
		c.send(t, 200, "origin", "PUT", livePath, []byte(`{"title":"Main live","sale_starts_at":"2020-01-01T00:00:00Z","sale_ends_at":null}`), merchant(e.Key)...)
		c.send(t, 200, "origin", "PUT", livePath, []byte(`{"title":"Main live"}`), merchant(e.Key)...)
		c.send(t, 400, "origin", "PUT", livePath, []byte(`{"title":"=HYPERLINK(\"x\")"}`), merchant(e.Key)...)
		c.send(t, 400, "origin", "PUT", livePath, []byte(`{"title":"Main live","colour":"red"}`), merchant(e.Key)...)
		c.send(t, 400, "origin", "PUT", "/admin/v1/lives/bad.live", []byte(`{"title":"Main live"}`), merchant(e.Key)...)
		c.send(t, 404, "origin", "PUT", livePath, []byte(`{"title":"Not mine"}`), merchant(otherKey)...)
		c.send(t, 401, "origin", "PUT", livePath, []byte(`{"title":"Main live"}`))
		wantCode(t, c.sendOversized(t, "PUT", livePath, httpapi.MaxAdminBody+1, merchant(e.Key)...), "payload_too_large")

		productsPath := livePath + "/products"
		row := fmt.Sprintf(`{"sku":%q,"name":"Lip tint","price":1999,"currency":"JPY","stock":100,"per_buyer_limit":5,"low_stock_threshold":10}`, skuA)
		applied := c.send(t, 200, "origin", "PUT", productsPath, []byte(`[`+row+`]`), merchant(e.Key)...)
		if !bytes.Contains(applied.Body, []byte(skuA)) {
			t.Errorf("upsert answer %s: want %s in it", applied.Body, skuA)
		}
		// Rows that are not product objects are reported on their own;
		// rows of the right shape are then checked value by value.
		for _, tt := range []struct {
			rows     string
			problems []string
		}{
			{fmt.Sprintf(`[%s,{"sku":%q,"colour":"red"},"not a row"]`, row, live+"Y"), []string{`"row":2,"field":"colour"`, `"row":3,"field":""`}},
			{fmt.Sprintf(`[%s,{"sku":%q,"name":"Bad","price":-1,"currency":"yen","stock":1,"per_buyer_limit":1}]`, row, live+"X"), []string{`"row":2,"field":"price"`, `"row":2,"field":"currency"`}},
		} {
			var rejected errorBody
			json.Unmarshal(c.send(t, 400, "origin", "PUT", productsPath, []byte(tt.rows), merchant(e.Key)...).Body, &rejected)
			for _, p := range tt.problems {
				if !bytes.Contains(rejected.Error.Details, []byte(p)) {
					t.Errorf("row problems %s: want %s among them", rejected.Error.Details, p)
				}
			}
		}
		c.send(t, 400, "origin", "PUT", productsPath, []byte(`{"sku":"not an array"}`), merchant(e.Key)...)
		c.send(t, 404, "origin", "PUT", productsPath, []byte(`[`+row+`]`), merchant(otherKey)...)
		c.send(t, 401, "origin", "PUT", productsPath, []byte(`[`+row+`]`))
		c.sendOversized(t, "PUT", productsPath, httpapi.MaxAdminBody+1, merchant(e.Key)...)

		adjust := func(sku string) string { return "/admin/v1/products/" + sku + "/stock-adjustments" }
		c.send(t, 201, "origin", "POST", adjust(skuA), []byte(`{"delta":5,"reason":"restock"}`), merchant(e.Key)...)
		c.send(t, 400, "origin", "POST", adjust(skuA), []byte(`{"delta":0,"reason":"nothing"}`), merchant(e.Key)...)
		c.send(t, 400, "origin", "POST", adjust(skuB), []byte(`{"delta":-1,"reason":"below what is sold"}`), merchant(e.Key)...)
		c.send(t, 404, "origin", "POST", adjust(uniqueID("none")), []byte(`{"delta":1,"reason":"restock"}`), merchant(e.Key)...)
		c.send(t, 404, "origin", "POST", adjust(skuA), []byte(`{"delta":1,"reason":"restock"}`), merchant(otherKey)...)
		c.send(t, 401, "origin", "POST", adjust(skuA), []byte(`{"delta":1,"reason":"restock"}`))
		c.sendOversized(t, "POST", adjust(skuA), httpapi.MaxAdminBody+1, merchant(e.Key)...)

		report := c.send(t, 200, "origin", "GET", livePath+"/report", nil, merchant(e.Key)...)
		var rep struct {
			Products []struct {
				SKU       string `json:"sku"`
				UnitsSold int64  `json:"units_sold"`
			} `json:"products"`
		}
		json.Unmarshal(report.Body, &rep)
		sold := map[string]int64{}
		for _, p := range rep.Products {
			sold[p.SKU] = p.UnitsSold
		}
		if sold[skuA] != 6 || sold[skuB] != 1 || sold[skuC] != 0 {
			t.Errorf("units sold: got %v, want 6 of %s, 1 of %s, 0 of %s", sold, skuA, skuB, skuC)
		}
		c.send(t, 400, "origin", "GET", "/admin/v1/lives/bad.live/report", nil, merchant(e.Key)...)
		c.send(t, 404, "origin", "GET", "/admin/v1/lives/"+uniqueID("none")+"/report", nil, merchant(e.Key)...)
		c.send(t, 404, "origin", "GET", livePath+"/report", nil, merchant(otherKey)...)
		c.send(t, 401, "origin", "GET", livePath+"/report", nil)
	})

	t.Run("probes and operations", func(t *testing.T) {
		public := c.send(t, 200, "origin", "GET", "/readyz", nil)
		// The document allows either shape for /readyz; the public
		// listener must give the bare one.
		spec.validateJSON(t, "public /readyz", jsonPointer("components", "schemas", "Probe"), public.Body)
		ops := c.send(t, 200, "origin-ops", "GET", "/readyz", nil)
		spec.validateJSON(t, "ops /readyz", jsonPointer("components", "schemas", "Readiness"), ops.Body)
		c.send(t, 200, "origin-ops", "GET", "/healthz", nil)
		c.send(t, 200, "origin-ops", "GET", "/metrics", nil)
		c.send(t, 405, "origin-ops", "POST", "/healthz", nil)
		c.send(t, 404, "origin-ops", "GET", "/v1/products/"+skuA+"/stock", nil)
		for _, path := range []string{"/healthz", "/metrics", "/no/such/route"} {
			c.send(t, 404, "origin", "GET", path, nil)
		}
	})

	t.Run("routes and methods", func(t *testing.T) {
		c.send(t, 404, "origin", "GET", "/v1/products/"+skuA+"/stock/", nil)
		c.send(t, 404, "origin", "GET", "/V1/products/"+skuA+"/stock", nil)
		c.send(t, 405, "origin", "DELETE", "/v1/products/"+skuA+"/stock", nil)
		c.send(t, 405, "origin", "GET", "/v1/purchases", nil)
		c.send(t, 405, "origin", "POST", "/admin/v1/lives/"+live, nil, merchant(e.Key)...)
		c.send(t, 404, "origin", "GET", "/admin/v1/no/such/route", nil, merchant(e.Key)...)
		// Under /admin/v1/ the key is checked before the route is matched,
		// as the document says: without one, any path there is 401.
		for _, method := range []string{"GET", "POST"} {
			r := do(t, e, method, "/admin/v1/no/such/route", nil, "X-Forwarded-For", "203.0.113.10")
			if r.Status != http.StatusUnauthorized {
				t.Errorf("%s /admin/v1/no/such/route without a key: got %d, want 401", method, r.Status)
			}
			spec.validateJSON(t, "unknown admin path without a key", jsonPointer("components", "responses", "Unauthorized", "content", "application/json", "schema"), r.Body)
		}
	})

	t.Run("every documented operation was reached", func(t *testing.T) {
		spec.wantExercised(t, "origin", "origin-ops")
	})
	t.Run("the document and the routes agree", func(t *testing.T) {
		wantRoutesDocumented(t, spec)
	})
}

// wantRoutesDocumented compares the routes of the origin's public listener,
// as httpapi.New registers them for app.Start, with the operations the
// document gives the origin. Registering routes uses none of the
// dependencies, so none are given.
func wantRoutesDocumented(t *testing.T, spec *contractSpec) {
	t.Helper()
	api, err := httpapi.New(httpapi.Config{}, httpapi.Deps{}, prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("httpapi.New: %v", err)
	}
	param := regexp.MustCompile(`:([A-Za-z0-9_]+)`)
	registered := map[string]bool{}
	for _, r := range api.App().GetRoutes(true) {
		method := r.Method
		if method == http.MethodHead {
			method = http.MethodGet // Fiber answers HEAD with every GET
		}
		registered[method+" "+param.ReplaceAllString(r.Path, "{$1}")] = true
	}
	var documented []string
	for _, o := range spec.ops {
		if slices.Contains(o.listeners, "origin") {
			documented = append(documented, o.key())
		}
	}
	for route := range registered {
		if !slices.Contains(documented, route) {
			t.Errorf("the origin registers %s, which %s does not give the origin", route, specPath)
		}
	}
	for _, op := range documented {
		if !registered[op] {
			t.Errorf("%s gives the origin %s, which it does not register", specPath, op)
		}
	}
}

// TestContractEventStream holds a real stockfeed (with an in-process NATS)
// to the document: the stream's headers and framing, each event's id and
// data, resuming with Last-Event-ID, heartbeats, the disconnect before a
// shutdown, the error answers and the feed's probes.
func TestContractEventStream(t *testing.T) {
	t.Parallel()
	spec := loadContractSpec(t)
	n := feedtest.StartNATS(t)
	// The shortest heartbeat the feed allows, so one comes soon.
	f := feedtest.Start(t, n.URL, func(c *feedapp.Config) { c.Heartbeat = 100 * time.Millisecond })
	pub := feedtest.NewPublisher(t, n.URL)
	pub.Level(feedtest.Level("L1", "A1", 10, 1))
	pub.Level(feedtest.Level("L1", "B1", 3, 1))
	c := &contractClient{spec: spec, client: &http.Client{Timeout: 10 * time.Second},
		base: map[string]string{"stockfeed": f.URL, "stockfeed-ops": f.OpsURL}}

	t.Run("errors and probes", func(t *testing.T) {
		c.send(t, 400, "stockfeed", "GET", "/v1/lives/bad.live/events", nil)
		c.send(t, 404, "stockfeed", "GET", "/v1/lives/"+uniqueID("none")+"/events", nil)
		c.send(t, 405, "stockfeed", "POST", "/v1/lives/L1/events", nil)
		c.send(t, 204, "stockfeed", "OPTIONS", "/v1/lives/L1/events", nil,
			"Origin", "https://shop.example", "Access-Control-Request-Method", "GET")
		c.send(t, 404, "stockfeed", "GET", "/metrics", nil)
		public := c.send(t, 200, "stockfeed", "GET", "/readyz", nil)
		spec.validateJSON(t, "public /readyz", jsonPointer("components", "schemas", "Probe"), public.Body)
		ops := c.send(t, 200, "stockfeed-ops", "GET", "/readyz", nil)
		spec.validateJSON(t, "ops /readyz", jsonPointer("components", "schemas", "Readiness"), ops.Body)
		c.send(t, 200, "stockfeed-ops", "GET", "/healthz", nil)
		c.send(t, 200, "stockfeed-ops", "GET", "/metrics", nil)
	})

	first := c.openEventStream(t, "stockfeed", "/v1/lives/L1/events", "Origin", "https://shop.example")
	wantRetry := func(t *testing.T, s *eventStream) {
		t.Helper()
		fr, _ := s.next(t)
		ms, err := strconv.Atoi(fr.fields["retry"])
		if len(fr.fields) != 1 || err != nil || ms < 1000 || ms > 3000 {
			t.Errorf("frame %v: want a retry hint alone, of 1000 to 3000 ms", fr.fields)
		}
	}
	wantRetry(t, first)
	snapshot := first.nextEvent(t)
	spec.checkEvent(t, snapshot, "snapshot")
	if !strings.Contains(snapshot.fields["data"], `"A1"`) || !strings.Contains(snapshot.fields["data"], `"B1"`) {
		t.Errorf("snapshot %s: want A1 and B1 in it", snapshot.fields["data"])
	}

	pub.Level(feedtest.Level("L1", "A1", 9, 2))
	change := first.nextEvent(t)
	spec.checkEvent(t, change, "stock")
	if change.fields["id"] != "A1:2" {
		t.Errorf("stock event id: got %q, want A1:2", change.fields["id"])
	}
	if hb, _ := first.next(t); !hb.comment || len(hb.fields) != 0 {
		t.Errorf("frame %+v on a quiet stream: want a heartbeat comment alone", hb)
	}

	// Resuming from the last id gets the changes after it, not a snapshot.
	resumed := c.openEventStream(t, "stockfeed", "/v1/lives/L1/events", "Last-Event-ID", "A1:2")
	wantRetry(t, resumed)
	pub.Level(feedtest.Level("L1", "B1", 2, 2))
	spec.checkEvent(t, resumed.nextEvent(t), "stock")

	// A draining feed says goodbye, with a retry hint, before it ends
	// the stream.
	if err := f.Server.Shutdown(context.Background()); err != nil {
		t.Errorf("shut the feed down: %v", err)
	}
	var last sseFrame
	for {
		fr, ok := first.next(t)
		if !ok {
			t.Fatal("the stream ended without a disconnect event")
		}
		if fr.fields["event"] == "disconnect" {
			spec.checkEvent(t, fr, "disconnect")
			if !strings.Contains(fr.fields["data"], `"reason":"shutdown"`) {
				t.Errorf("disconnect %s: want reason shutdown", fr.fields["data"])
			}
			if _, ok := last.fields["retry"]; !ok {
				t.Errorf("frame before the disconnect: got %v, want a retry hint", last.fields)
			}
			break
		}
		last = fr
	}
	if fr, ok := first.next(t); ok {
		t.Errorf("after the disconnect: got %v, want the end of the stream", fr.fields)
	}

	t.Run("every documented operation was reached", func(t *testing.T) {
		spec.wantExercised(t, "stockfeed", "stockfeed-ops")
	})
}
