package httpapi_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"livecommerce/internal/buyertoken"
	"livecommerce/origin/app"
	"livecommerce/origin/origintest"
)

// These tests boot the real origin (origintest) against the real Redis,
// MariaDB and NATS, and check it against the public contract in API.md.
// Every helper takes the calling test's t: origintest's own helpers fail
// through the top-level test, which must not happen from a subtest.

// start boots an origin; tweak may change settings.
func start(t *testing.T, tweak func(*app.Config)) *origintest.Env {
	t.Helper()
	return origintest.Start(t, origintest.Options{Tweak: tweak})
}

// uniqueID returns an id no other test (or concurrent test run sharing the
// NATS server) uses.
func uniqueID(prefix string) string {
	b := make([]byte, 5)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// token is a valid buyer token for buyer.
func token(t testing.TB, buyer string) string {
	t.Helper()
	tok, err := buyertoken.Issue([]byte(origintest.Secret), buyer, time.Hour, time.Now())
	if err != nil {
		t.Fatalf("issue token for %q: %v", buyer, err)
	}
	return tok
}

// do sends a request and fails the test on transport errors.
func do(t testing.TB, e *origintest.Env, method, path string, body []byte, headers ...string) origintest.Response {
	t.Helper()
	r, err := e.Do(method, path, body, headers...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// buy posts body to /v1/purchases as buyer with an Idempotency-Key.
func buy(t testing.TB, e *origintest.Env, buyer, key, body string) origintest.Response {
	t.Helper()
	return do(t, e, "POST", "/v1/purchases", []byte(body),
		"Authorization", "Bearer "+token(t, buyer), "Idempotency-Key", key, "Content-Type", "application/json")
}

// buyQty buys qty units of sku with a well-formed body.
func buyQty(t testing.TB, e *origintest.Env, buyer, key, sku string, qty int) origintest.Response {
	t.Helper()
	return buy(t, e, buyer, key, fmt.Sprintf(`{"sku":%q,"quantity":%d}`, sku, qty))
}

// admin sends a merchant request with key.
func admin(t testing.TB, e *origintest.Env, key, method, path string, body []byte) origintest.Response {
	t.Helper()
	return do(t, e, method, path, body, "Authorization", "Bearer "+key, "Content-Type", "application/json")
}

// putProducts uploads rows (marshalled to JSON) to live as the env's merchant.
func putProducts(t testing.TB, e *origintest.Env, live string, rows any) origintest.Response {
	t.Helper()
	body, err := json.Marshal(rows)
	if err != nil {
		t.Fatalf("marshal rows: %v", err)
	}
	return admin(t, e, e.Key, "PUT", "/admin/v1/lives/"+live+"/products", body)
}

// receipt is the body of a 201 purchase.
type receipt struct {
	OrderID   string `json:"order_id"`
	SKU       string `json:"sku"`
	Quantity  int    `json:"quantity"`
	Remaining int64  `json:"remaining"`
	Version   int64  `json:"version"`
	Status    string `json:"status"`
}

// wantCreated checks a 201 purchase and returns its receipt.
func wantCreated(t testing.TB, r origintest.Response) receipt {
	t.Helper()
	if r.Status != 201 {
		t.Fatalf("purchase: got %d %s, want 201", r.Status, r.Body)
	}
	var rc receipt
	if err := json.Unmarshal(r.Body, &rc); err != nil {
		t.Fatalf("purchase body %s: %v", r.Body, err)
	}
	if rc.OrderID == "" || rc.Status != "confirmed" {
		t.Errorf("receipt %s: got order_id %q status %q, want an id and confirmed", r.Body, rc.OrderID, rc.Status)
	}
	return rc
}

// errorBody is the contract's error shape.
type errorBody struct {
	Error struct {
		Code    string          `json:"code"`
		Message string          `json:"message"`
		Details json.RawMessage `json:"details"`
	} `json:"error"`
}

// wantError checks status, the contract code and that the body is the
// contract's JSON error.
func wantError(t testing.TB, r origintest.Response, status int, code string) errorBody {
	t.Helper()
	if r.Status != status || r.Code() != code {
		t.Errorf("got %d %q (%s), want %d %q", r.Status, r.Code(), abbreviate(r.Body), status, code)
	}
	var b errorBody
	if r.Status < 400 {
		return b // not an error at all: reported above
	}
	if err := json.Unmarshal(r.Body, &b); err != nil {
		t.Errorf("error body %s: not JSON: %v", abbreviate(r.Body), err)
		return b
	}
	if b.Error.Message == "" {
		t.Errorf("error body %s: got no message, want a human readable one", abbreviate(r.Body))
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error Content-Type: got %q, want application/json", ct)
	}
	if retry := r.Header.Get("Retry-After"); (status == 429 || status == 503) && retry == "" {
		t.Errorf("%d response: got no Retry-After, want one", status)
	}
	return b
}

func abbreviate[S ~string | ~[]byte](b S) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// skuState is everything a purchase could change about one sku.
type skuState struct {
	DBStock, DBSold, DBVersion int64
	OrderRows, OrderUnits      int64
	Counters                   map[string]string // the Redis sku hash
	Held                       map[string]string // the Redis per-buyer holdings
}

// state is a snapshot of the database of record and Redis.
type state struct {
	Orders   int64 // rows in orders
	IdemKeys int   // idempotency records in Redis
	SKUs     map[string]skuState
}

// snapshot reads the state of skus (which must exist in the database).
func snapshot(t testing.TB, e *origintest.Env, skus ...string) state {
	t.Helper()
	ctx := context.Background()
	s := state{SKUs: map[string]skuState{}}
	if err := e.DB.QueryRow("SELECT COUNT(*) FROM orders").Scan(&s.Orders); err != nil {
		t.Fatalf("count orders: %v", err)
	}
	iter := e.Redis.Scan(ctx, 0, e.Keys.IdempotencyPrefix()+"*", 1000).Iterator()
	for iter.Next(ctx) {
		s.IdemKeys++
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("scan idempotency keys: %v", err)
	}
	for _, sku := range skus {
		var st skuState
		err := e.DB.QueryRow("SELECT stock, sold, version FROM products WHERE sku = ?", sku).Scan(&st.DBStock, &st.DBSold, &st.DBVersion)
		if err != nil {
			t.Fatalf("product %s: %v", sku, err)
		}
		err = e.DB.QueryRow("SELECT COUNT(*), COALESCE(SUM(quantity), 0) FROM orders WHERE sku = ?", sku).Scan(&st.OrderRows, &st.OrderUnits)
		if err != nil {
			t.Fatalf("orders of %s: %v", sku, err)
		}
		if st.Counters, err = e.Redis.HGetAll(ctx, e.Keys.SKU(sku)).Result(); err != nil {
			t.Fatalf("redis counters of %s: %v", sku, err)
		}
		if st.Held, err = e.Redis.HGetAll(ctx, e.Keys.Held(sku)).Result(); err != nil {
			t.Fatalf("redis holdings of %s: %v", sku, err)
		}
		s.SKUs[sku] = st
	}
	return s
}

// wantUnchanged fails unless the database and Redis look as in before:
// "a request that fails changes nothing".
func wantUnchanged(t testing.TB, e *origintest.Env, before state) {
	t.Helper()
	after := snapshot(t, e, slices.Collect(maps.Keys(before.SKUs))...)
	if after.Orders != before.Orders {
		t.Errorf("order rows: got %d, want %d (unchanged)", after.Orders, before.Orders)
	}
	if after.IdemKeys != before.IdemKeys {
		t.Errorf("idempotency records in Redis: got %d, want %d (unchanged)", after.IdemKeys, before.IdemKeys)
	}
	for sku, b := range before.SKUs {
		a := after.SKUs[sku]
		if a.DBStock != b.DBStock || a.DBSold != b.DBSold || a.DBVersion != b.DBVersion {
			t.Errorf("%s in database: got stock %d sold %d version %d, want %d %d %d (unchanged)",
				sku, a.DBStock, a.DBSold, a.DBVersion, b.DBStock, b.DBSold, b.DBVersion)
		}
		if a.OrderRows != b.OrderRows || a.OrderUnits != b.OrderUnits {
			t.Errorf("%s orders: got %d rows / %d units, want %d / %d (unchanged)", sku, a.OrderRows, a.OrderUnits, b.OrderRows, b.OrderUnits)
		}
		if !maps.Equal(a.Counters, b.Counters) {
			t.Errorf("%s Redis counters: got %v, want %v (unchanged)", sku, a.Counters, b.Counters)
		}
		if !maps.Equal(a.Held, b.Held) {
			t.Errorf("%s Redis holdings: got %v, want %v (unchanged)", sku, a.Held, b.Held)
		}
	}
}

// remaining is what Redis says is left of sku (total - sold).
func remaining(t testing.TB, e *origintest.Env, sku string) int64 {
	t.Helper()
	st := snapshot(t, e, sku).SKUs[sku]
	var total, sold int64
	fmt.Sscan(st.Counters["total"], &total)
	fmt.Sscan(st.Counters["sold"], &sold)
	return total - sold
}

// rawDo sends request bytes as they are, for what net/http refuses to send
// (control characters in headers), and reads one response.
func rawDo(t testing.TB, e *origintest.Env, request string) origintest.Response {
	t.Helper()
	conn, err := net.DialTimeout("tcp", e.Server.Addr(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(request)); err != nil {
		t.Fatalf("write request: %v", err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return origintest.Response{Status: res.StatusCode, Header: res.Header, Body: body}
}

// rawPurchase builds a purchase request with headers written verbatim.
func rawPurchase(t testing.TB, e *origintest.Env, buyer, idemHeaderLine, body string) string {
	t.Helper()
	return "POST /v1/purchases HTTP/1.1\r\nHost: " + e.Server.Addr() + "\r\n" +
		"Authorization: Bearer " + token(t, buyer) + "\r\n" +
		idemHeaderLine +
		"Content-Type: application/json\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n", len(body)) +
		"Connection: close\r\n\r\n" + body
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %v: %v", v, err)
	}
	return string(b)
}
