package naiveorigin

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"livecommerce/internal/buyertoken"
)

// tally counts answers as "201" or the error code.
func tally(rs []response) map[string]int {
	m := map[string]int{}
	for _, r := range rs {
		if r.status == http.StatusCreated {
			m["201"]++
		} else {
			m[fmt.Sprintf("%d %s", r.status, r.code())]++
		}
	}
	return m
}

func sameTally(got, want map[string]int) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func TestRaceForLastUnits(t *testing.T) {
	e := newEnv(t, product("HOT", 50, 1))
	const buyers = 200
	rs := make([]response, buyers)
	var wg sync.WaitGroup
	for i := range buyers {
		wg.Go(func() { rs[i] = e.buy(fmt.Sprintf("buyer-%d", i), "k1", "HOT", 1) })
	}
	wg.Wait()

	want := map[string]int{"201": 50, "409 sold_out": 150}
	if got := tally(rs); !sameTally(got, want) {
		t.Errorf("answers: got %v, want %v", got, want)
	}
	ids := map[string]bool{}
	for _, r := range rs {
		if r.status == http.StatusCreated {
			ids[r.receipt(t).OrderID] = true
		}
	}
	if len(ids) != 50 {
		t.Errorf("distinct order ids: got %d, want 50", len(ids))
	}
	counter, orders := e.sold("HOT")
	if counter != 50 || orders != 50 {
		t.Errorf("sold: got counter %d, orders %d, want 50 and 50", counter, orders)
	}
	e.mustCheck("HOT")
}

func TestPerBuyerLimitUnderConcurrency(t *testing.T) {
	e := newEnv(t, product("LIM", 100, 3))
	const tries = 20
	rs := make([]response, tries)
	var wg sync.WaitGroup
	for i := range tries {
		wg.Go(func() { rs[i] = e.buy("greedy", fmt.Sprintf("k%d", i), "LIM", 1) })
	}
	wg.Wait()

	want := map[string]int{"201": 3, "409 purchase_limit_exceeded": 17}
	if got := tally(rs); !sameTally(got, want) {
		t.Errorf("answers: got %v, want %v", got, want)
	}
	if counter, orders := e.sold("LIM"); counter != 3 || orders != 3 {
		t.Errorf("sold: got counter %d, orders %d, want 3 and 3", counter, orders)
	}
	e.mustCheck("LIM")
}

func TestConcurrentDuplicatesGetOneOrder(t *testing.T) {
	for _, limit := range []int{1, 5} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			e := newEnv(t, product("DUP", 10, limit))
			const tries = 10
			rs := make([]response, tries)
			var wg sync.WaitGroup
			for i := range tries {
				wg.Go(func() { rs[i] = e.buy("twitchy", "same-key", "DUP", 1) })
			}
			wg.Wait()

			if got, want := tally(rs), map[string]int{"201": tries}; !sameTally(got, want) {
				t.Fatalf("answers: got %v, want %v", got, want)
			}
			ids := map[string]bool{}
			replayed := 0
			for _, r := range rs {
				ids[r.receipt(t).OrderID] = true
				if r.header.Get("Idempotent-Replayed") == "true" {
					replayed++
				}
			}
			if len(ids) != 1 || replayed != tries-1 {
				t.Errorf("got %d order ids and %d replays, want 1 and %d", len(ids), replayed, tries-1)
			}
			if counter, orders := e.sold("DUP"); counter != 1 || orders != 1 {
				t.Errorf("sold: got counter %d, orders %d, want 1 and 1", counter, orders)
			}
			e.mustCheck("DUP")
		})
	}
}

func TestPurchaseAndReplay(t *testing.T) {
	e := newEnv(t, product("A1", 10, 5), product("B2", 10, 5))

	first := e.buy("alice", "key-1", "A1", 2)
	if first.status != http.StatusCreated {
		t.Fatalf("first: got %d %s, want 201", first.status, first.body)
	}
	if first.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("first: got Idempotent-Replayed %q, want none", first.header.Get("Idempotent-Replayed"))
	}
	r := first.receipt(t)
	if r.SKU != "A1" || r.Quantity != 2 || r.Remaining != 8 || r.Version != 1 || r.Status != "confirmed" || len(r.OrderID) != 26 {
		t.Errorf("first: got %+v, want A1 x2, remaining 8, version 1, confirmed, a ULID", r)
	}
	after := e.state()

	again := e.buy("alice", "key-1", "A1", 2)
	if again.status != http.StatusCreated || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: got %d %s (Idempotent-Replayed %q), want 201 replayed", again.status, again.body, again.header.Get("Idempotent-Replayed"))
	}
	if got := again.receipt(t); got.OrderID != r.OrderID || got.Quantity != 2 || got.SKU != "A1" {
		t.Errorf("replay: got %+v, want order %s of A1 x2", got, r.OrderID)
	}
	if got := e.state(); got != after {
		t.Errorf("replay changed the database:\ngot  %s\nwant %s", got, after)
	}

	for _, tc := range []struct {
		name string
		sku  string
		qty  int
	}{
		{"other quantity", "A1", 1},
		{"other sku", "B2", 2},
	} {
		res := e.buy("alice", "key-1", tc.sku, tc.qty)
		if res.status != 422 || res.code() != "idempotency_key_reused" {
			t.Errorf("%s: got %d %s, want 422 idempotency_key_reused", tc.name, res.status, res.body)
		}
	}
	if got := e.state(); got != after {
		t.Errorf("reused key changed the database:\ngot  %s\nwant %s", got, after)
	}

	// Keys belong to a buyer: another buyer's same key is a new order.
	bob := e.buy("bob", "key-1", "A1", 2)
	if bob.status != http.StatusCreated || bob.receipt(t).OrderID == r.OrderID {
		t.Errorf("other buyer: got %d %s, want 201 with a new order", bob.status, bob.body)
	}
	e.mustCheck("A1", "B2")
}

func TestIgnoresFieldsTheBuyerMayNotSet(t *testing.T) {
	e := newEnv(t, product("A1", 10, 5))
	res := e.post(`{"sku":"A1","quantity":1,"price":1,"currency":"USD","buyer_id":"mallory","status":"refunded"}`,
		"Authorization", "Bearer "+token(t, "alice"), "Idempotency-Key", "k")
	if res.status != http.StatusCreated {
		t.Fatalf("got %d %s, want 201", res.status, res.body)
	}
	var buyer, currency string
	var price int64
	err := e.db.QueryRow("SELECT buyer_id, unit_price, currency FROM naive_orders WHERE id = ?", res.receipt(t).OrderID).
		Scan(&buyer, &price, &currency)
	if err != nil {
		t.Fatal(err)
	}
	if buyer != "alice" || price != 1999 || currency != "JPY" {
		t.Errorf("order: got buyer %s, %d %s, want alice, 1999 JPY", buyer, price, currency)
	}
}

// noneToken is an unsigned token (alg none) for alice.
func noneToken() string {
	enc := base64.RawURLEncoding.EncodeToString
	claims := fmt.Sprintf(`{"sub":"alice","exp":%d}`, time.Now().Add(time.Hour).Unix())
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc([]byte(claims)) + "."
}

func TestRejectsBadRequestsAndChangesNothing(t *testing.T) {
	e := newEnv(t, product("A1", 10, 100), product("GONE", 0, 1), product("LIM", 10, 2))
	valid := "Bearer " + token(t, "alice")
	otherSecret, err := buyertoken.Issue([]byte("another-secret-0123456789abcdef0123"), "alice", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	expired, err := buyertoken.Issue([]byte(testSecret), "alice", time.Minute, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	const body = `{"sku":"A1","quantity":1}`
	tests := []struct {
		name       string
		auth       string
		key        string
		body       string
		wantStatus int
		wantCode   string
	}{
		{"no token", "", "k", body, 401, "unauthorized"},
		{"basic auth", "Basic YWxpY2U6eA==", "k", body, 401, "unauthorized"},
		{"empty bearer", "Bearer ", "k", body, 401, "unauthorized"},
		{"garbage token", "Bearer abc.def.ghi", "k", body, 401, "unauthorized"},
		{"other secret", "Bearer " + otherSecret, "k", body, 401, "unauthorized"},
		{"expired", "Bearer " + expired, "k", body, 401, "unauthorized"},
		{"alg none", "Bearer " + noneToken(), "k", body, 401, "unauthorized"},
		{"missing key", valid, "", body, 400, "invalid_request"},
		{"300-char key", valid, strings.Repeat("k", 300), body, 400, "invalid_request"},
		{"tab in key", valid, "k\tk", body, 400, "invalid_request"},
		{"non-ASCII key", valid, "clé", body, 400, "invalid_request"},
		{"malformed JSON", valid, "k", `{"sku":`, 400, "invalid_request"},
		{"empty body", valid, "k", ``, 400, "invalid_request"},
		{"null", valid, "k", `null`, 400, "invalid_request"},
		{"array", valid, "k", `[{"sku":"A1","quantity":1}]`, 400, "invalid_request"},
		{"stray bracket", valid, "k", body + `]`, 400, "invalid_request"},
		{"two values", valid, "k", body + `{}`, 400, "invalid_request"},
		{"huge quantity", valid, "k", `{"sku":"A1","quantity":1000000}`, 400, "invalid_request"},
		{"beyond int64", valid, "k", `{"sku":"A1","quantity":99999999999999999999999}`, 400, "invalid_request"},
		{"negative", valid, "k", `{"sku":"A1","quantity":-1}`, 400, "invalid_request"},
		{"zero", valid, "k", `{"sku":"A1","quantity":0}`, 400, "invalid_request"},
		{"fraction", valid, "k", `{"sku":"A1","quantity":1.5}`, 400, "invalid_request"},
		{"exponent", valid, "k", `{"sku":"A1","quantity":1e1}`, 400, "invalid_request"},
		{"quantity as string", valid, "k", `{"sku":"A1","quantity":"1"}`, 400, "invalid_request"},
		{"no quantity", valid, "k", `{"sku":"A1"}`, 400, "invalid_request"},
		{"no sku", valid, "k", `{"quantity":1}`, 400, "invalid_request"},
		{"sku as number", valid, "k", `{"sku":1,"quantity":1}`, 400, "invalid_request"},
		{"sku injection", valid, "k", `{"sku":"A1'; DROP TABLE naive_products; --","quantity":1}`, 400, "invalid_request"},
		{"sku too long", valid, "k", `{"sku":"` + strings.Repeat("A", 65) + `","quantity":1}`, 400, "invalid_request"},
		{"unknown sku", valid, "k", `{"sku":"NOPE","quantity":1}`, 404, "not_found"},
		{"sold out", valid, "k", `{"sku":"GONE","quantity":1}`, 409, "sold_out"},
		{"more than remain", valid, "k", `{"sku":"A1","quantity":11}`, 409, "insufficient_stock"},
		{"over the limit", valid, "k", `{"sku":"LIM","quantity":3}`, 409, "purchase_limit_exceeded"},
	}
	before := e.state()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := e.post(tc.body, "Authorization", tc.auth, "Idempotency-Key", tc.key)
			if res.status != tc.wantStatus || res.code() != tc.wantCode {
				t.Errorf("got %d %s, want %d %s", res.status, res.body, tc.wantStatus, tc.wantCode)
			}
			if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type: got %q, want application/json", ct)
			}
			if tc.wantStatus == 401 && res.header.Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("WWW-Authenticate: got %q, want Bearer", res.header.Get("WWW-Authenticate"))
			}
			if got := e.state(); got != before {
				t.Errorf("database changed:\ngot  %s\nwant %s", got, before)
			}
		})
	}

	// The refused key was never used: the same key now buys.
	if res := e.buy("alice", "k", "A1", 1); res.status != http.StatusCreated {
		t.Errorf("after refusals: got %d %s, want 201", res.status, res.body)
	}
	e.mustCheck("A1", "GONE", "LIM")
}

func TestRejectsHugeBody(t *testing.T) {
	e := newEnv(t, product("A1", 10, 5))
	before := e.state()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Only the head is sent: the server refuses on Content-Length alone,
	// and a body it never reads would make its close reset the connection,
	// which can swallow the answer before the client reads it.
	head := "POST /v1/purchases HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer " + token(t, "alice") +
		"\r\nIdempotency-Key: k\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(1<<20) + "\r\n\r\n"
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	got := response{status: res.StatusCode, header: res.Header, body: b}
	if got.status != 413 || got.code() != "payload_too_large" {
		t.Errorf("got %d %s, want 413 payload_too_large", got.status, got.body)
	}
	if s := e.state(); s != before {
		t.Errorf("database changed:\ngot  %s\nwant %s", s, before)
	}
}

func TestUnknownRoute(t *testing.T) {
	e := newEnv(t)
	if r := e.get("/v1/nope"); r.status != 404 || r.code() != "not_found" {
		t.Errorf("got %d %s, want 404 not_found", r.status, r.body)
	}
}

func TestLockWaitTimeoutIsUnavailable(t *testing.T) {
	// The app's sessions give up on a row lock after 1 s (error 1205),
	// before the purchase's own deadline.
	e := newEnvWith(t, map[string]string{"innodb_lock_wait_timeout": "1"}, product("A1", 10, 5))
	ctx := context.Background()
	holder, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	if _, err := holder.ExecContext(ctx, "UPDATE naive_products SET updated_at = updated_at WHERE sku = 'A1'"); err != nil {
		t.Fatal(err)
	}
	res := e.buy("alice", "k", "A1", 1)
	if res.status != 503 || res.code() != "unavailable" || res.header.Get("Retry-After") != "1" {
		t.Errorf("locked: got %d %s (Retry-After %q), want 503 unavailable with Retry-After 1",
			res.status, res.body, res.header.Get("Retry-After"))
	}
	if err := holder.Rollback(); err != nil {
		t.Fatal(err)
	}
	if res := e.buy("alice", "k", "A1", 1); res.status != http.StatusCreated || res.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("unlocked: got %d %s, want a first 201", res.status, res.body)
	}
	if counter, orders := e.sold("A1"); counter != 1 || orders != 1 {
		t.Errorf("sold: got counter %d, orders %d, want 1 and 1", counter, orders)
	}
}

func TestDeadDatabaseIsUnavailable(t *testing.T) {
	// Nothing listens on port 1: every connection is refused.
	db := openDB(t, "root@tcp(127.0.0.1:1)/none?timeout=1s")
	app, err := NewApp(db, []byte(testSecret), testLogger())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		req  func() *http.Request
	}{
		{"readyz", func() *http.Request { return httpRequest(t, http.MethodGet, "/readyz", "") }},
		{"purchase", func() *http.Request {
			req := httpRequest(t, http.MethodPost, "/v1/purchases", `{"sku":"A1","quantity":1}`)
			req.Header.Set("Authorization", "Bearer "+token(t, "alice"))
			req.Header.Set("Idempotency-Key", "k")
			return req
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := app.Test(tc.req(), -1)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			got := response{status: res.StatusCode, header: res.Header, body: b}
			if got.status != 503 || got.code() != "unavailable" || got.header.Get("Retry-After") != "1" {
				t.Errorf("got %d %s (Retry-After %q), want 503 unavailable with Retry-After 1",
					got.status, got.body, got.header.Get("Retry-After"))
			}
		})
	}
}

func TestReadyz(t *testing.T) {
	e := newEnv(t)
	if r := e.get("/readyz"); r.status != 200 {
		t.Errorf("got %d %s, want 200", r.status, r.body)
	}
}

func httpRequest(t *testing.T, method, path, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return req
}

func TestNewAppRejectsShortSecret(t *testing.T) {
	db := openDB(t, "root@tcp(127.0.0.1:1)/none")
	if _, err := NewApp(db, []byte("short"), nil); err == nil {
		t.Error("got nil error for a 5-byte secret, want one")
	}
}
