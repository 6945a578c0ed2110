package naiveorigin

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/gofiber/fiber/v2"

	"livecommerce/internal/buyertoken"
	"livecommerce/origin/origintest"
)

const testSecret = "naiveorigin-test-secret-0123456789abcdef"

// env is a baseline serving on 127.0.0.1:0 over a database of its own.
type env struct {
	t      *testing.T
	db     *sql.DB
	app    *fiber.App
	url    string
	client *http.Client
}

func newEnv(t *testing.T, products ...Product) *env {
	t.Helper()
	return newEnvWith(t, nil, products...)
}

// newEnvWith adds params (session variables) to the DSN of the app's pool.
func newEnvWith(t *testing.T, params map[string]string, products ...Product) *env {
	t.Helper()
	cfg, err := mysql.ParseDSN(origintest.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range params {
		if cfg.Params == nil {
			cfg.Params = map[string]string{}
		}
		cfg.Params[k] = v
	}
	db := openDB(t, cfg.FormatDSN())
	ctx := context.Background()
	if err := CreateSchema(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := Seed(ctx, db, products); err != nil {
		t.Fatal(err)
	}
	app, err := NewApp(db, []byte(testSecret), testLogger())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := app.ShutdownWithContext(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	e := &env{
		t: t, db: db, app: app, url: "http://" + ln.Addr().String(),
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}},
	}
	t.Cleanup(e.client.CloseIdleConnections)
	if r := e.get("/healthz"); r.status != 200 {
		t.Fatalf("healthz: got %d %s, want 200", r.status, r.body)
	}
	return e
}

func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	// Below MariaDB's default max_connections, so a race of 200 buyers
	// queues for the pool instead of being refused by the server.
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	t.Cleanup(func() { db.Close() })
	return db
}

func testLogger() *slog.Logger {
	w := io.Discard
	if testing.Verbose() {
		w = os.Stderr
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func token(t testing.TB, buyer string) string {
	t.Helper()
	tok, err := buyertoken.Issue([]byte(testSecret), buyer, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// response is a finished exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

// code is the contract error code of the body, "" for none.
func (r response) code() string {
	var b struct {
		Error struct{ Code, Message string }
	}
	json.Unmarshal(r.body, &b)
	return b.Error.Code
}

func (r response) receipt(t testing.TB) receipt {
	t.Helper()
	var rc receipt
	if err := json.Unmarshal(r.body, &rc); err != nil {
		t.Fatalf("201 body %s: %v", r.body, err)
	}
	return rc
}

// send may run on any goroutine: a transport error is reported with
// Errorf and answered with a zero response.
func (e *env) send(req *http.Request) response {
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Errorf("%s %s: %v", req.Method, req.URL.Path, err)
		return response{}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Errorf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func (e *env) get(path string) response {
	req, err := http.NewRequest(http.MethodGet, e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.send(req)
}

// post sends a purchase with headers (name, value pairs); an empty value
// leaves the header out.
func (e *env) post(body string, headers ...string) response {
	req, err := http.NewRequest(http.MethodPost, e.url+"/v1/purchases", strings.NewReader(body))
	if err != nil {
		e.t.Errorf("new request: %v", err)
		return response{}
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] != "" {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	return e.send(req)
}

// buy purchases as buyer with a fresh valid token.
func (e *env) buy(buyer, key, sku string, qty int) response {
	tok, err := buyertoken.Issue([]byte(testSecret), buyer, time.Hour, time.Now())
	if err != nil {
		e.t.Errorf("token: %v", err)
		return response{}
	}
	return e.post(fmt.Sprintf(`{"sku":%q,"quantity":%d}`, sku, qty),
		"Authorization", "Bearer "+tok, "Idempotency-Key", key)
}

// state is every product's level and the orders' totals, to compare before
// and after a request that must change nothing.
func (e *env) state() string {
	e.t.Helper()
	var b strings.Builder
	rows, err := e.db.Query("SELECT sku, stock, version FROM naive_products ORDER BY sku")
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var sku string
		var stock, version int64
		if err := rows.Scan(&sku, &stock, &version); err != nil {
			e.t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s stock=%d version=%d\n", sku, stock, version)
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	var n, units int64
	if err := e.db.QueryRow("SELECT COUNT(*), COALESCE(SUM(quantity), 0) FROM naive_orders").Scan(&n, &units); err != nil {
		e.t.Fatal(err)
	}
	fmt.Fprintf(&b, "orders=%d units=%d", n, units)
	return b.String()
}

// sold returns initial - remaining and the units in orders of sku.
func (e *env) sold(sku string) (counter, orders int64) {
	e.t.Helper()
	if err := e.db.QueryRow("SELECT initial_stock - stock FROM naive_products WHERE sku = ?", sku).Scan(&counter); err != nil {
		e.t.Fatalf("sold of %s: %v", sku, err)
	}
	if err := e.db.QueryRow("SELECT COALESCE(SUM(quantity), 0) FROM naive_orders WHERE sku = ?", sku).Scan(&orders); err != nil {
		e.t.Fatalf("orders of %s: %v", sku, err)
	}
	return counter, orders
}

// mustCheck fails the test unless every invariant holds for skus.
func (e *env) mustCheck(skus ...string) {
	e.t.Helper()
	findings, err := Check(context.Background(), e.db, skus)
	if err != nil {
		e.t.Fatalf("check: %v", err)
	}
	if findings != nil {
		e.t.Errorf("check: got findings %v, want nil", findings)
	}
}

// product is a JPY product of live L1.
func product(sku string, stock, limit int) Product {
	return Product{SKU: sku, LiveID: "L1", Stock: stock, PerBuyerLimit: limit, Price: 1999, Currency: "JPY"}
}
