package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"livecommerce/origin/app"
	"livecommerce/origin/origintest"
)

// These tests replay what a hostile review of the running system tried:
// bodies, ids and headers meant to make the origin do or hold too much.

// TestUploadCapIsAppliedBeforeDecoding sends a 1 MB upload of 500,000 tiny
// rows. Before the cap was applied while reading, every row was decoded and
// reported: a 38 MB answer, and the origin grew by some 200 MB.
func TestUploadCapIsAppliedBeforeDecoding(t *testing.T) {
	e := start(t, nil)
	live := uniqueID("L")
	e.SetUpLive(live, "")
	body := []byte("[" + strings.Repeat("1,", 500_000-1) + "1]")

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := admin(t, e, e.Key, "PUT", "/admin/v1/lives/"+live+"/products", body)
	runtime.ReadMemStats(&after)

	b := wantError(t, r, 400, "invalid_request")
	if !strings.Contains(b.Error.Message, "at most 5000 products per request") {
		t.Errorf("message %q, want the row cap named", b.Error.Message)
	}
	if len(r.Body) > 2<<10 {
		t.Errorf("answer is %d bytes, want under 2 KiB", len(r.Body))
	}
	// Everything the process allocated while answering, the body itself
	// and its copies included; tests of other packages run in other
	// processes.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 32<<20 {
		t.Errorf("answering allocated %d MiB, want under 32 MiB", grew>>20)
	}
	if n := countProducts(t, e, live); n != 0 {
		t.Errorf("live holds %d products after the refused upload, want 0", n)
	}
}

// TestRowProblemsAreListedUpToACap: a full request of bad rows is answered
// with the count of rows and the first 100 problems, not every one.
func TestRowProblemsAreListedUpToACap(t *testing.T) {
	t.Parallel()
	e := start(t, func(c *app.Config) { c.UploadMaxRows = 3000 })
	live := uniqueID("L")
	e.SetUpLive(live, "")
	rows := make([]map[string]any, 3000)
	for i := range rows {
		rows[i] = map[string]any{"sku": "", "name": "", "price": -1, "currency": "x", "stock": -1, "per_buyer_limit": 0}
	}
	r := putProducts(t, e, live, rows)
	b := wantError(t, r, 400, "invalid_request")
	var details []json.RawMessage
	if err := json.Unmarshal(b.Error.Details, &details); err != nil {
		t.Fatalf("details %s: %v", abbreviate(b.Error.Details), err)
	}
	if len(details) != 100 {
		t.Errorf("details list %d problems, want the first 100", len(details))
	}
	if !strings.HasPrefix(b.Error.Message, "3000 rows rejected") || !strings.Contains(b.Error.Message, "the first 100 of 18000 problems") {
		t.Errorf("message %q, want every row counted and the listing's cut said", b.Error.Message)
	}
	if len(r.Body) > 16<<10 {
		t.Errorf("answer is %d bytes, want under 16 KiB", len(r.Body))
	}

	// UPLOAD_MAX_ROWS is the cap.
	ok := make([]origintest.Product, 3001)
	for i := range ok {
		ok[i] = origintest.Product{SKU: fmt.Sprintf("%s-%d", live, i), Name: "n", Price: 1, Currency: "JPY", Stock: 1, PerBuyerLimit: 1}
	}
	r = putProducts(t, e, live, ok)
	b = wantError(t, r, 400, "invalid_request")
	if !strings.Contains(b.Error.Message, "at most 3000 products per request") {
		t.Errorf("3001 valid rows: message %q, want the cap of 3000", b.Error.Message)
	}
}

// TestProductsPerLiveCap: a live holds at most MAX_PRODUCTS_PER_LIVE
// products; updating the ones it has is always allowed.
func TestProductsPerLiveCap(t *testing.T) {
	t.Parallel()
	e := start(t, func(c *app.Config) { c.ProductsPerLive = 3 })
	live := uniqueID("L")
	e.SetUpLive(live, "")
	row := func(sku string, stock int64) origintest.Product {
		return origintest.Product{SKU: live + sku, Name: "n", Price: 1, Currency: "JPY", Stock: stock, PerBuyerLimit: 1}
	}
	if r := putProducts(t, e, live, []origintest.Product{row("A", 1), row("B", 1)}); r.Status != 200 {
		t.Fatalf("2 products: got %d %s, want 200", r.Status, r.Body)
	}
	r := putProducts(t, e, live, []origintest.Product{row("C", 1), row("D", 1)})
	b := wantError(t, r, 400, "invalid_request")
	if !strings.Contains(b.Error.Message, "at most 3 products; it has 2 and this request adds 2") {
		t.Errorf("message %q, want the cap, the count and the additions", b.Error.Message)
	}
	if n := countProducts(t, e, live); n != 2 {
		t.Errorf("after the refusal the live holds %d products, want 2 (nothing applied)", n)
	}
	if r := putProducts(t, e, live, []origintest.Product{row("A", 5), row("B", 5), row("C", 1)}); r.Status != 200 {
		t.Errorf("2 updates and 1 new product up to the cap: got %d %s, want 200", r.Status, r.Body)
	}
	if r := putProducts(t, e, live, []origintest.Product{row("A", 6)}); r.Status != 200 {
		t.Errorf("an update of a full live: got %d %s, want 200", r.Status, r.Body)
	}
}

// TestLivesListingIsBounded: a merchant's listing shows its newest
// MAX_LIVES_LISTED lives.
func TestLivesListingIsBounded(t *testing.T) {
	t.Parallel()
	e := start(t, func(c *app.Config) { c.LivesListed = 2 })
	ids := []string{uniqueID("L"), uniqueID("L"), uniqueID("L")}
	for _, id := range ids {
		e.SetUpLive(id, "")
		time.Sleep(1100 * time.Millisecond) // created_at has whole seconds
	}
	r := admin(t, e, e.Key, "GET", "/admin/v1/lives", nil)
	var b struct {
		Lives []struct {
			LiveID string `json:"live_id"`
		} `json:"lives"`
	}
	if err := json.Unmarshal(r.Body, &b); err != nil || r.Status != 200 {
		t.Fatalf("got %d %s (%v)", r.Status, r.Body, err)
	}
	if len(b.Lives) != 2 || b.Lives[0].LiveID != ids[2] || b.Lives[1].LiveID != ids[1] {
		t.Errorf("listing %s, want the newest two: %s then %s", r.Body, ids[2], ids[1])
	}
}

func countProducts(t testing.TB, e *origintest.Env, live string) int {
	t.Helper()
	var n int
	if err := e.DB.QueryRow("SELECT COUNT(*) FROM products WHERE live_id = ?", live).Scan(&n); err != nil {
		t.Fatalf("count products: %v", err)
	}
	return n
}

// TestFormulaTextIsRefused: text that a spreadsheet would run as a formula
// is refused by the API itself, not only by the CLI.
func TestFormulaTextIsRefused(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	live := uniqueID("L")
	e.SetUpLive(live, "")
	for _, tt := range []struct{ field, value string }{
		{"name", `=HYPERLINK("http://x.example","click")`},
		{"name", "+1+1"},
		{"name", "-2+3"},
		{"name", "@SUM(A1)"},
		{"sku", "-" + live},
	} {
		p := map[string]any{"sku": live + "F", "name": "ok", "price": 1, "currency": "JPY", "stock": 1, "per_buyer_limit": 1}
		p[tt.field] = tt.value
		r := putProducts(t, e, live, []any{p})
		b := wantError(t, r, 400, "invalid_request")
		if !strings.Contains(string(b.Error.Details), `"field":"`+tt.field+`"`) || !strings.Contains(string(b.Error.Details), "formula") {
			t.Errorf("%s %q: details %s, want the field refused as a formula", tt.field, tt.value, b.Error.Details)
		}
	}
	r := admin(t, e, e.Key, "PUT", "/admin/v1/lives/"+uniqueID("L"), []byte(`{"title":"=1+1"}`))
	if b := wantError(t, r, 400, "invalid_request"); !strings.Contains(b.Error.Message, "formula") {
		t.Errorf("title =1+1: message %q, want it refused as a formula", b.Error.Message)
	}
	ok := map[string]any{"sku": live + "F", "name": "Lip tint = joy, +1 free", "price": 1, "currency": "JPY", "stock": 1, "per_buyer_limit": 1}
	if r := putProducts(t, e, live, []any{ok}); r.Status != 200 {
		t.Errorf("signs inside a name: got %d %s, want 200", r.Status, r.Body)
	}
}

// TestUnknownLivesAreRemembered: a live the database does not know is
// remembered in Redis, so the same made-up id does not reach the database
// again, and creating the live ends that at once.
func TestUnknownLivesAreRemembered(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	live := uniqueID("L")
	wantError(t, do(t, e, "GET", "/v1/lives/"+live+"/stock", nil), 404, "not_found")
	ttl, err := e.Redis.PTTL(context.Background(), e.Keys.AbsentLive(live)).Result()
	if err != nil || ttl <= 0 || ttl > e.Config.UnknownTTL {
		t.Fatalf("absence mark TTL %v (%v), want up to UNKNOWN_ID_TTL (%v)", ttl, err, e.Config.UnknownTTL)
	}
	e.SetUpLive(live, "")
	if n, _ := e.Redis.Exists(context.Background(), e.Keys.AbsentLive(live)).Result(); n != 0 {
		t.Errorf("the absence mark outlived the live's creation")
	}
	time.Sleep(e.Config.MicroCacheTTL + 50*time.Millisecond)
	if r := do(t, e, "GET", "/v1/lives/"+live+"/stock", nil); r.Status != 200 {
		t.Errorf("the new live: got %d %s, want 200", r.Status, r.Body)
	}
}

// TestReadMissLimit: a client that asks for many unknown ids is answered
// from the micro-cache only until its budget refills; others are not.
func TestReadMissLimit(t *testing.T) {
	t.Parallel()
	e := start(t, func(c *app.Config) { c.ReadMissRate, c.ReadMissBurst = 0.5, 5 })
	live := uniqueID("L")
	e.SetUpLive(live, "", origintest.Product{SKU: live + "K", Stock: 5, PerBuyerLimit: 1})
	from := func(addr string) []string { return []string{"X-Forwarded-For", addr} }
	var notFound, limited int
	for i := range 20 {
		path := fmt.Sprintf("/v1/products/%sX%d/stock", live, i)
		if i%2 == 1 {
			path = fmt.Sprintf("/v1/lives/%sX%d/stock", live, i)
		}
		r := do(t, e, "GET", path, nil, from("203.0.113.7")...)
		switch r.Status {
		case 404:
			notFound++
		case 429:
			limited++
			wantError(t, r, 429, "rate_limited")
		default:
			t.Fatalf("unknown id %d: got %d %s", i, r.Status, r.Body)
		}
	}
	if notFound != 5 || limited != 15 {
		t.Errorf("20 unknown ids from one address: %d not found and %d limited, want 5 and 15", notFound, limited)
	}
	// Another address has its own budget, and ids that Redis holds are
	// served to the limited one: its budget is for database reads only.
	if r := do(t, e, "GET", "/v1/products/"+live+"Y/stock", nil, from("198.51.100.9")...); r.Status != 404 {
		t.Errorf("another address: got %d, want 404", r.Status)
	}
	// (The live's listing is loaded into Redis by its first read.)
	if r := do(t, e, "GET", "/v1/lives/"+live+"/stock", nil, from("198.51.100.9")...); r.Status != 200 {
		t.Fatalf("known live: got %d %s, want 200", r.Status, r.Body)
	}
	for range 3 {
		if r := do(t, e, "GET", "/v1/products/"+live+"K/stock", nil, from("203.0.113.7")...); r.Status != 200 {
			t.Errorf("known sku, limited address: got %d %s, want 200", r.Status, r.Body)
		}
		if r := do(t, e, "GET", "/v1/lives/"+live+"/stock", nil, from("203.0.113.7")...); r.Status != 200 {
			t.Errorf("known live, limited address: got %d %s, want 200", r.Status, r.Body)
		}
		time.Sleep(e.Config.MicroCacheTTL + 10*time.Millisecond)
	}
	// A made-up id already looked up is remembered: it costs no database
	// read, so it is not charged and answers 404 even now.
	if r := do(t, e, "GET", fmt.Sprintf("/v1/products/%sX0/stock", live), nil, from("203.0.113.7")...); r.Status != 404 {
		t.Errorf("an unknown id already remembered, limited address: got %d, want 404", r.Status)
	}
	// An IPv6 /64 is one client.
	var v6limited int
	for i := range 8 {
		r := do(t, e, "GET", fmt.Sprintf("/v1/products/%sV%d/stock", live, i), nil, from(fmt.Sprintf("2001:db8:1:2::%x", i+1))...)
		if r.Status == 429 {
			v6limited++
		}
	}
	if v6limited != 3 {
		t.Errorf("8 unknown ids from 8 addresses of one /64: %d limited, want 3", v6limited)
	}
}

// TestReadMissLimitHoldsUnderConcurrency: made-up ids sent all at once
// from one address are charged before their database reads, not after.
func TestReadMissLimitHoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	e := start(t, func(c *app.Config) { c.ReadMissRate, c.ReadMissBurst = 0.1, 5 })
	live := uniqueID("L")
	statuses := make(chan int, 64)
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := e.Do("GET", fmt.Sprintf("/v1/lives/%sC%d/stock", live, i), nil, "X-Forwarded-For", "203.0.113.8")
			if err != nil {
				t.Error(err)
				return
			}
			statuses <- r.Status
		}()
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[404] > 5 || count[404]+count[429] != 64 {
		t.Errorf("64 concurrent made-up ids from one address: %v, want at most the burst of 5 answered 404, the rest 429", count)
	}
}

// TestPurchasesNeverWaitOnTheReadPath: with the read path's breaker open
// and a sku's counters lost from Redis, viewers polling the sku fail fast
// while purchases of it rebuild it on their own and go through.
func TestPurchasesNeverWaitOnTheReadPath(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	live := uniqueID("L")
	sku := live + "A"
	e.SetUpLive(live, "", origintest.Product{SKU: sku, Stock: 50, PerBuyerLimit: 50})
	openReadBreaker(t, e)
	ctx := context.Background()
	if err := e.Redis.Del(ctx, e.Keys.SKU(sku), e.Keys.Held(sku)).Err(); err != nil {
		t.Fatal(err)
	}
	// The sku is now one the read path would have to load: it fails fast.
	wantError(t, do(t, e, "GET", "/v1/products/"+sku+"/stock", nil), 503, "unavailable")
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 8 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				e.Do("GET", "/v1/products/"+sku+"/stock", nil)
			}
		}()
	}
	for i := range 5 {
		wantCreated(t, buyQty(t, e, fmt.Sprintf("buyer%d", i), uniqueID("k"), sku, 1))
	}
	close(stop)
	readers.Wait()
	if e.Server.Deps().DB.Guard().Open() {
		t.Error("the purchase path's breaker is open")
	}
}

// openReadBreaker opens the read path's breaker with failing database
// reads, and checks that a stock read that needs the database is then
// refused at once.
func openReadBreaker(t *testing.T, e *origintest.Env) {
	t.Helper()
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	for range 10 {
		e.Server.Deps().DB.LiveSKUs(expired, "L1")
	}
	wantError(t, do(t, e, "GET", "/v1/lives/"+uniqueID("L")+"/stock", nil), 503, "unavailable")
}

// TestReadPathFailuresNeverRefusePurchases opens the read path's breaker
// with failing reads: purchases go on.
func TestReadPathFailuresNeverRefusePurchases(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	live := uniqueID("L")
	e.SetUpLive(live, "", origintest.Product{SKU: live + "A", Stock: 10, PerBuyerLimit: 5})
	openReadBreaker(t, e)
	if e.Server.Deps().DB.Guard().Open() {
		t.Fatal("the purchase path's breaker opened on read failures")
	}
	wantCreated(t, buyQty(t, e, "alice", uniqueID("k"), live+"A", 1))
}

// TestPurchaseBodyIsNotReadPastItsLimit: a purchase announcing a 4 MiB
// body is refused after its 4 KiB, without waiting for the rest.
func TestPurchaseBodyIsNotReadPastItsLimit(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	for _, tt := range []struct {
		name, framing string
		first         string
	}{
		{"Content-Length", "Content-Length: 4194304\r\n", strings.Repeat("x", 8<<10)},
		{"chunked", "Transfer-Encoding: chunked\r\n", strconv.FormatInt(8<<10, 16) + "\r\n" + strings.Repeat("x", 8<<10) + "\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", e.Server.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// Well before the server's 10 s read timeout: an answer only
			// after the whole body would come too late.
			conn.SetDeadline(time.Now().Add(3 * time.Second))
			fmt.Fprintf(conn, "POST /v1/purchases HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nIdempotency-Key: k\r\nContent-Type: application/json\r\n%s\r\n%s",
				token(t, "alice"), tt.framing, tt.first)
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer while the rest of the body is pending: %v", err)
			}
			res.Body.Close()
			if res.StatusCode != 413 {
				t.Errorf("got %d, want 413", res.StatusCode)
			}
		})
	}
}

// TestRoutesHaveOneSpelling: the edge and the CDN rules match paths as
// written, so another case or a trailing slash reaches no route.
func TestRoutesHaveOneSpelling(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	live := uniqueID("L")
	e.SetUpLive(live, "", origintest.Product{SKU: live + "A", Stock: 10, PerBuyerLimit: 5})
	if r := do(t, e, "GET", "/v1/products/"+live+"A/stock", nil); r.Status != 200 {
		t.Fatalf("the route as written: got %d %s, want 200", r.Status, r.Body)
	}
	for _, path := range []string{
		"/V1/products/" + live + "A/stock", "/v1/Products/" + live + "A/stock", "/v1/products/" + live + "A/STOCK",
		"/v1/products/" + live + "A/stock/", "/v1/lives/" + live + "/stock/", "/ADMIN/v1/lives",
	} {
		if r := do(t, e, "GET", path, nil, "Authorization", "Bearer "+e.Key); r.Status != 404 {
			t.Errorf("GET %s: got %d, want 404", path, r.Status)
		}
	}
}

// TestRequestIDs: a client's X-Request-Id is kept only when it is short
// and plain; anything else is replaced before it is echoed or logged.
func TestRequestIDs(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	plain := regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)
	if r := do(t, e, "GET", "/readyz", nil, "X-Request-Id", "abc-123.x:y_z"); r.Header.Get("X-Request-Id") != "abc-123.x:y_z" {
		t.Errorf("a plain id: echoed %q, want it kept", r.Header.Get("X-Request-Id"))
	}
	for _, id := range []string{"a\x01b", "x\x1b[31mred", strings.Repeat("a", 65), "spa ce", "new\tline", `{"json":1}`, "ünï"} {
		r := rawDo(t, e, "GET /readyz HTTP/1.1\r\nHost: x\r\nX-Request-Id: "+id+"\r\nConnection: close\r\n\r\n")
		got := r.Header.Get("X-Request-Id")
		if got == id || !plain.MatchString(got) {
			t.Errorf("id %q: echoed %q, want a fresh plain id", id, got)
		}
	}
	if got := do(t, e, "GET", "/readyz", nil).Header.Get("X-Request-Id"); !plain.MatchString(got) {
		t.Errorf("no id: got %q, want a fresh plain id", got)
	}
}

// TestIPLimitCountsAnIPv6SlashSixtyFourOnce: one subscriber's /64 cannot
// be a million clients.
func TestIPLimitCountsAnIPv6SlashSixtyFourOnce(t *testing.T) {
	t.Parallel()
	e := start(t, func(c *app.Config) { c.IPRate, c.IPBurst = 0.1, 2 })
	get := func(addr string) int {
		return do(t, e, "GET", "/v1/orders/"+strings.Repeat("0", 26), nil, "X-Forwarded-For", addr).Status
	}
	got := []int{get("2001:db8:1:2::1"), get("2001:db8:1:2::2"), get("2001:db8:1:2:ffff::3"), get("2001:db8:1:3::1")}
	if want := []int{401, 401, 429, 401}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("statuses %v, want %v (the third shares the first two's /64)", got, want)
	}
}

// TestAdminBodiesAreBoundedBeforeAuthentication: only a product upsert
// that carries a credential may send a large body; anything else is
// refused after 4 KiB, signed in or not, in any request-target form.
func TestAdminBodiesAreBoundedBeforeAuthentication(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	live := uniqueID("L")
	e.SetUpLive(live, "")
	big := strings.Repeat(" ", 8<<10) + "[]"
	for _, tt := range []struct {
		name, method, target, auth string
		want                       int
	}{
		{"no credential", "POST", "/admin/nothing", "", 413},
		{"no credential, products", "PUT", "/admin/v1/lives/" + live + "/products", "", 413},
		{"a live", "PUT", "/admin/v1/lives/" + live, e.Key, 413},
		{"a stock adjustment", "POST", "/admin/v1/products/X/stock-adjustments", e.Key, 413},
		{"products", "PUT", "/admin/v1/lives/" + live + "/products", e.Key, 200},
		{"products, absolute form", "PUT", "http://" + e.Server.Addr() + "/admin/v1/lives/" + live + "/products", e.Key, 200},
	} {
		auth := ""
		if tt.auth != "" {
			auth = "Authorization: Bearer " + tt.auth + "\r\n"
		}
		r := rawDo(t, e, fmt.Sprintf("%s %s HTTP/1.1\r\nHost: x\r\n%sContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
			tt.method, tt.target, auth, len(big), big))
		if r.Status != tt.want {
			t.Errorf("%s: got %d %s, want %d", tt.name, r.Status, abbreviate(r.Body), tt.want)
		}
	}
}
