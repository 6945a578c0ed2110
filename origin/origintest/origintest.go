// Package origintest boots the real origin for tests: a database of its
// own on the real MySQL server (migrated, dropped afterwards), a Redis key
// prefix of its own (deleted afterwards), and the real NATS server. Nothing
// is faked. Addresses come from REDIS_ADDR, MYSQL_DSN and NATS_URL with the
// development defaults.
package origintest

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"livecommerce/internal/buyertoken"
	"livecommerce/internal/stock"
	"livecommerce/internal/stockstream"
	"livecommerce/origin/app"
	"livecommerce/origin/migrate"
	"livecommerce/origin/redisstock"
	"livecommerce/sql/migrations"
)

// Secret signs the buyer tokens of test servers.
const Secret = "origintest-secret-0123456789abcdef0123"

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// RedisAddr, NATSURL: the servers tests use.
func RedisAddr() string { return env("REDIS_ADDR", "127.0.0.1:6379") }
func NATSURL() string   { return env("NATS_URL", "nats://127.0.0.1:4222") }

func randomName(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Database creates a migrated database of its own and returns its DSN. It
// is dropped when the test ends.
func Database(t testing.TB) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(env("MYSQL_DSN", "root@tcp(127.0.0.1:3306)/"))
	if err != nil {
		t.Fatalf("MYSQL_DSN: %v", err)
	}
	cfg.DBName = "lc_test_" + randomName(6)
	cfg.ParseTime = true
	dsn := cfg.FormatDSN()
	ctx := context.Background()
	if err := migrate.EnsureDatabase(ctx, dsn); err != nil {
		t.Fatalf("create test database (is MariaDB running? scripts/deps.sh starts it): %v", err)
	}
	t.Cleanup(func() {
		c := *cfg
		c.DBName = ""
		db, err := sql.Open("mysql", c.FormatDSN())
		if err == nil {
			db.Exec("DROP DATABASE IF EXISTS `" + cfg.DBName + "`")
			db.Close()
		}
	})
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ms, err := migrate.Load(migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.Apply(ctx, db, ms); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return dsn
}

// RedisPrefix returns a fresh key prefix whose keys are deleted when the
// test ends.
func RedisPrefix(t testing.TB) string {
	t.Helper()
	prefix := "lctest:" + randomName(6) + ":"
	rdb := redis.NewClient(&redis.Options{Addr: RedisAddr()})
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		rdb.Close()
		t.Fatalf("redis at %s (scripts/deps.sh starts it): %v", RedisAddr(), err)
	}
	t.Cleanup(func() {
		DeleteKeys(context.Background(), rdb, prefix)
		rdb.Close()
	})
	return prefix
}

// DeleteKeys removes every key under prefix: what a flushed Redis looks
// like to the origin that owns the prefix.
func DeleteKeys(ctx context.Context, rdb *redis.Client, prefix string) error {
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == 1000 {
			if err := rdb.Del(ctx, keys...).Err(); err != nil {
				return err
			}
			keys = keys[:0]
		}
	}
	if len(keys) > 0 {
		if err := rdb.Del(ctx, keys...).Err(); err != nil {
			return err
		}
	}
	return iter.Err()
}

// Env is a running origin and handles on what it talks to.
type Env struct {
	T        testing.TB
	Server   *app.Server
	Config   app.Config
	URL      string
	OpsURL   string // /healthz, /readyz, /metrics
	DB       *sql.DB
	Redis    *redis.Client
	Prefix   string
	Keys     redisstock.Keys // the Redis key layout under Prefix
	Client   *http.Client
	Key      string // a merchant API key
	Merchant string
}

// Options adjust the server; Tweak may change any setting.
type Options struct {
	Tweak     func(*app.Config)
	MySQLDSN  string // default: a fresh database
	LogOutput io.Writer
}

// Start boots an origin on 127.0.0.1:0 and stops it when the test ends.
func Start(t testing.TB, o Options) *Env {
	t.Helper()
	dsn := o.MySQLDSN
	if dsn == "" {
		dsn = Database(t)
	}
	prefix := RedisPrefix(t)
	cfg, err := app.LoadServe(nil, func(k string) string {
		switch k {
		case "ORIGIN_ADDR", "OPS_ADDR":
			return "127.0.0.1:0"
		case "MYSQL_DSN":
			return dsn
		case "REDIS_ADDR":
			return RedisAddr()
		case "REDIS_PREFIX":
			return prefix
		case "NATS_URL":
			return NATSURL()
		case "BUYER_JWT_SECRET":
			return Secret
		case "RATE_LIMIT_IP", "RATE_LIMIT_BUYER", "RATE_LIMIT_READ_MISS":
			return "0"
		}
		return ""
	})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if o.Tweak != nil {
		o.Tweak(&cfg)
	}
	w := o.LogOutput
	if w == nil {
		w = io.Discard
		if testing.Verbose() {
			w = os.Stderr
		}
	}
	log := slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := app.Start(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("start origin: %v", err)
	}
	e := &Env{
		T: t, Server: srv, Config: cfg, URL: "http://" + srv.Addr(), OpsURL: "http://" + srv.OpsAddr(), DB: srv.Deps().DB.DB(),
		Redis: srv.Deps().Redis, Prefix: prefix, Keys: redisstock.NewKeys(prefix),
		Client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512}},
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	e.Merchant, e.Key, err = srv.Deps().DB.CreateMerchant(context.Background(), "Test Shop", time.Now().UTC())
	if err != nil {
		t.Fatalf("create merchant: %v", err)
	}
	return e
}

// Token returns a valid buyer token.
func (e *Env) Token(buyer string) string {
	e.T.Helper()
	tok, err := buyertoken.Issue([]byte(Secret), buyer, time.Hour, time.Now(), e.Config.BuyerTokenOptions()...)
	if err != nil {
		e.T.Fatalf("token: %v", err)
	}
	return tok
}

// Response is a finished HTTP exchange.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Code is the contract error code of the body, "" for none.
func (r Response) Code() string {
	var b struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal(r.Body, &b)
	return b.Error.Code
}

// Do sends a request with optional headers (name, value pairs).
func (e *Env) Do(method, path string, body []byte, headers ...string) (Response, error) {
	req, err := http.NewRequest(method, e.URL+path, bytes.NewReader(body))
	if err != nil {
		return Response{}, err
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := e.Client.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return Response{Status: res.StatusCode, Header: res.Header, Body: b}, err
}

// MustDo is Do that fails the test on transport errors.
func (e *Env) MustDo(method, path string, body []byte, headers ...string) Response {
	e.T.Helper()
	r, err := e.Do(method, path, body, headers...)
	if err != nil {
		e.T.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// Purchase buys as buyer.
func (e *Env) Purchase(buyer, key, sku string, qty int) (Response, error) {
	return e.Do("POST", "/v1/purchases", []byte(fmt.Sprintf(`{"sku":%q,"quantity":%d}`, sku, qty)),
		"Authorization", "Bearer "+e.Token(buyer), "Idempotency-Key", key, "Content-Type", "application/json")
}

// purgeEventsAtEnd removes the live's stock events from the machine's
// STOCK stream when the test ends, before the origin shuts down.
func (e *Env) purgeEventsAtEnd(liveID string) {
	e.T.Cleanup(func() {
		js, err := jetstream.New(e.Server.Deps().NATS)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if s, err := js.Stream(ctx, stockstream.Name); err == nil {
			s.Purge(ctx, jetstream.WithPurgeSubject(stock.LiveSubject(liveID)))
		}
	})
}

// Product is a row for SetUpLive.
type Product struct {
	SKU               string `json:"sku"`
	Name              string `json:"name"`
	Price             int64  `json:"price"`
	Currency          string `json:"currency"`
	Stock             int64  `json:"stock"`
	PerBuyerLimit     int64  `json:"per_buyer_limit"`
	LowStockThreshold int64  `json:"low_stock_threshold"`
}

// SetUpLive creates a live through the admin API with its products; live
// may carry a sale window as JSON fields.
func (e *Env) SetUpLive(liveID string, liveJSON string, products ...Product) {
	e.T.Helper()
	if liveJSON == "" {
		liveJSON = `{"title":"Test live"}`
	}
	e.purgeEventsAtEnd(liveID)
	auth := []string{"Authorization", "Bearer " + e.Key}
	if r := e.MustDo("PUT", "/admin/v1/lives/"+liveID, []byte(liveJSON), auth...); r.Status/100 != 2 {
		e.T.Fatalf("put live: %d %s", r.Status, r.Body)
	}
	if len(products) == 0 {
		return
	}
	for i := range products {
		p := &products[i]
		if p.Name == "" {
			p.Name = "Product " + p.SKU
		}
		if p.Currency == "" {
			p.Currency = "JPY"
		}
		if p.Price == 0 {
			p.Price = 1999
		}
	}
	body, _ := json.Marshal(products)
	if r := e.MustDo("PUT", "/admin/v1/lives/"+liveID+"/products", body, auth...); r.Status != 200 {
		e.T.Fatalf("put products: %d %s", r.Status, r.Body)
	}
}

// SoldInDB returns products.sold and the sum of order quantities of a sku.
func (e *Env) SoldInDB(sku string) (counter, orders int64) {
	e.T.Helper()
	if err := e.DB.QueryRow("SELECT sold FROM products WHERE sku = ?", sku).Scan(&counter); err != nil {
		e.T.Fatalf("sold of %s: %v", sku, err)
	}
	if err := e.DB.QueryRow("SELECT COALESCE(SUM(quantity), 0) FROM orders WHERE sku = ?", sku).Scan(&orders); err != nil {
		e.T.Fatalf("orders of %s: %v", sku, err)
	}
	return counter, orders
}

// RedisRemaining reads total - sold from the counters; ok is false when
// the sku is not loaded.
func (e *Env) RedisRemaining(sku string) (remaining int64, ok bool) {
	e.T.Helper()
	v, err := e.Redis.HMGet(context.Background(), e.Keys.SKU(sku), "total", "sold").Result()
	if err != nil {
		e.T.Fatalf("redis: %v", err)
	}
	if v[0] == nil {
		return 0, false
	}
	var total, sold int64
	fmt.Sscan(v[0].(string), &total)
	fmt.Sscan(v[1].(string), &sold)
	return total - sold, true
}

// MaxHeldPerBuyer returns the most units one buyer holds of sku in the
// database.
func (e *Env) MaxHeldPerBuyer(sku string) int64 {
	e.T.Helper()
	var n sql.NullInt64
	err := e.DB.QueryRow("SELECT MAX(s) FROM (SELECT SUM(quantity) s FROM orders WHERE sku = ? GROUP BY buyer_id) t", sku).Scan(&n)
	if err != nil {
		e.T.Fatalf("held: %v", err)
	}
	return n.Int64
}
