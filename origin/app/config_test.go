package app_test

import (
	"strings"
	"testing"
	"time"

	"livecommerce/internal/buyertoken"
	"livecommerce/origin/app"
)

const validSecret = "0123456789abcdef0123456789abcdef" // exactly 32 bytes

// getenv serves vars, with a valid buyer secret unless vars sets one.
func getenv(vars map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		if k == "BUYER_JWT_SECRET" {
			return validSecret
		}
		return ""
	}
}

func TestLoadServeDefaults(t *testing.T) {
	c, err := app.LoadServe(nil, getenv(nil))
	if err != nil {
		t.Fatalf("LoadServe with only BUYER_JWT_SECRET = %v, want the defaults to load", err)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"ORIGIN_ADDR", c.Addr, ":8080"},
		{"REDIS_ADDR", c.RedisAddr, "127.0.0.1:6379"},
		{"MYSQL_DSN", c.MySQLDSN, "root@tcp(127.0.0.1:3306)/livecommerce?parseTime=true"},
		{"NATS_URL", c.NATSURL, "nats://127.0.0.1:4222"},
		{"BUYER_JWT_SECRET", c.JWTSecret, validSecret},
		{"BUYER_JWT_ISSUER", c.JWTIssuer, ""},
		{"BUYER_JWT_AUDIENCE", c.JWTAudience, ""},
		{"BUYER_JWT_MAX_TTL", c.JWTMaxTTL, 24 * time.Hour},
		{"LOG_LEVEL", c.LogLevel, "info"},
		{"MICROCACHE_TTL", c.MicroCacheTTL, 200 * time.Millisecond},
		{"ORDER_SHARDS", c.BatchShards, 1},
		{"ORDER_BATCH_WINDOW", c.BatchWindow, 20 * time.Millisecond},
		{"ORDER_BATCH_BUSY_RATE", c.BatchBusyRate, 200.0},
		{"OPS_ADDR", c.OpsAddr, "127.0.0.1:9101"},
		{"RATE_LIMIT_READ_MISS", c.ReadMissRate, 10.0},
		{"RATE_LIMIT_READ_MISS_BURST", c.ReadMissBurst, 50},
		{"UNKNOWN_ID_TTL", c.UnknownTTL, 10 * time.Second},
		{"UPLOAD_MAX_ROWS", c.UploadMaxRows, 5000},
		{"MAX_PRODUCTS_PER_LIVE", c.ProductsPerLive, 2000},
		{"MAX_LIVES_LISTED", c.LivesListed, 1000},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestLoadServeFlagsAndEnv(t *testing.T) {
	c, err := app.LoadServe(
		[]string{"-addr", "127.0.0.1:9999", "-order-shards", "8"},
		getenv(map[string]string{"ORIGIN_ADDR": "127.0.0.1:1111", "MICROCACHE_TTL": "250ms", "LOG_LEVEL": "debug"}),
	)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:9999" {
		t.Errorf("Addr = %q, want the flag's 127.0.0.1:9999", c.Addr)
	}
	if c.BatchShards != 8 || c.MicroCacheTTL != 250*time.Millisecond || c.LogLevel != "debug" {
		t.Errorf("got shards %d, ttl %v, log %q; want 8, 250ms, debug", c.BatchShards, c.MicroCacheTTL, c.LogLevel)
	}
}

func TestLoadServeRejects(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string // the setting the error must name
	}{
		{"missing secret", map[string]string{"BUYER_JWT_SECRET": ""}, nil, "BUYER_JWT_SECRET"},
		{"short secret", map[string]string{"BUYER_JWT_SECRET": validSecret[:31]}, nil, "at least 32 bytes"},
		{"16-byte secret", map[string]string{"BUYER_JWT_SECRET": validSecret[:16]}, nil, "at least 32 bytes"},
		{"max ttl below 1m", map[string]string{"BUYER_JWT_MAX_TTL": "59s"}, nil, "BUYER_JWT_MAX_TTL"},
		{"max ttl zero", map[string]string{"BUYER_JWT_MAX_TTL": "0s"}, nil, "BUYER_JWT_MAX_TTL"},
		{"max ttl negative", map[string]string{"BUYER_JWT_MAX_TTL": "-1h"}, nil, "BUYER_JWT_MAX_TTL"},
		{"max ttl above 720h", nil, []string{"-jwt-max-ttl", "721h"}, "BUYER_JWT_MAX_TTL"},
		{"max ttl a century", map[string]string{"BUYER_JWT_MAX_TTL": "876000h"}, nil, "BUYER_JWT_MAX_TTL"},
		{"max ttl without unit", map[string]string{"BUYER_JWT_MAX_TTL": "3600"}, nil, "BUYER_JWT_MAX_TTL"},
		{"issuer with space", map[string]string{"BUYER_JWT_ISSUER": "my shop"}, nil, "BUYER_JWT_ISSUER"},
		{"issuer with newline", nil, []string{"-jwt-issuer", "shop\nlevel=admin"}, "BUYER_JWT_ISSUER"},
		{"issuer oversized", map[string]string{"BUYER_JWT_ISSUER": strings.Repeat("i", 257)}, nil, "BUYER_JWT_ISSUER"},
		{"audience unicode", map[string]string{"BUYER_JWT_AUDIENCE": "orígin"}, nil, "BUYER_JWT_AUDIENCE"},
		{"audience with NUL", map[string]string{"BUYER_JWT_AUDIENCE": "origin\x00"}, nil, "BUYER_JWT_AUDIENCE"},
		{"dsn charset gbk", map[string]string{"MYSQL_DSN": "root@tcp(127.0.0.1:3306)/livecommerce?parseTime=true&charset=gbk"}, nil, "MYSQL_DSN: charset"},
		{"dsn charset sjis after utf8mb4", map[string]string{"MYSQL_DSN": "root@tcp(127.0.0.1:3306)/livecommerce?charset=utf8mb4,sjis"}, nil, "MYSQL_DSN: charset"},
		{"dsn collation big5", map[string]string{"MYSQL_DSN": "root@tcp(127.0.0.1:3306)/livecommerce?collation=big5_chinese_ci"}, nil, "MYSQL_DSN: collation"},
		{"dsn client charset variable", map[string]string{"MYSQL_DSN": "root@tcp(127.0.0.1:3306)/livecommerce?character_set_client=cp932"}, nil, "MYSQL_DSN: system variables"},
		{"short secret by flag", nil, []string{"-jwt-secret", "short"}, "BUYER_JWT_SECRET"},
		{"duration without unit", map[string]string{"PURCHASE_TIMEOUT": "2"}, nil, "PURCHASE_TIMEOUT"},
		{"duration in words", map[string]string{"SHUTDOWN_TIMEOUT": "ten seconds"}, nil, "SHUTDOWN_TIMEOUT"},
		{"negative batch window", map[string]string{"ORDER_BATCH_WINDOW": "-1ms"}, nil, "ORDER_BATCH_WINDOW"},
		{"bad batch window", map[string]string{"ORDER_BATCH_WINDOW": "soon"}, nil, "ORDER_BATCH_WINDOW"},
		{"negative busy rate", map[string]string{"ORDER_BATCH_BUSY_RATE": "-1"}, nil, "ORDER_BATCH_BUSY_RATE"},
		{"busy rate not a number", map[string]string{"ORDER_BATCH_BUSY_RATE": "NaN"}, nil, "ORDER_BATCH_BUSY_RATE"},
		{"infinite busy rate", map[string]string{"ORDER_BATCH_BUSY_RATE": "+Inf"}, nil, "ORDER_BATCH_BUSY_RATE"},
		{"busy rate with a unit", map[string]string{"ORDER_BATCH_BUSY_RATE": "200/s"}, nil, "ORDER_BATCH_BUSY_RATE"},
		{"microcache above 250ms", map[string]string{"MICROCACHE_TTL": "300ms"}, nil, "MICROCACHE_TTL"},
		{"microcache zero", map[string]string{"MICROCACHE_TTL": "0s"}, nil, "MICROCACHE_TTL"},
		{"zero shards", map[string]string{"ORDER_SHARDS": "0"}, nil, "ORDER_SHARDS"},
		{"too many shards", map[string]string{"ORDER_SHARDS": "65"}, nil, "ORDER_SHARDS"},
		{"shards not a number", map[string]string{"ORDER_SHARDS": "four"}, nil, "ORDER_SHARDS"},
		{"dsn without database", map[string]string{"MYSQL_DSN": "root@tcp(127.0.0.1:3306)/"}, nil, "MYSQL_DSN"},
		{"dsn without database, with params", map[string]string{"MYSQL_DSN": "root@tcp(127.0.0.1:3306)/?parseTime=true"}, nil, "MYSQL_DSN"},
		{"dsn unparsable", map[string]string{"MYSQL_DSN": "mysql://root@localhost/db"}, nil, "MYSQL_DSN"},
		{"nats without scheme", map[string]string{"NATS_URL": "127.0.0.1:4222"}, nil, "NATS_URL"},
		{"nats http", map[string]string{"NATS_URL": "http://127.0.0.1:4222"}, nil, "NATS_URL"},
		{"log level verbose", map[string]string{"LOG_LEVEL": "verbose"}, nil, "LOG_LEVEL"},
		{"log level upper case", map[string]string{"LOG_LEVEL": "INFO"}, nil, "LOG_LEVEL"},
		{"pool too small", map[string]string{"MYSQL_MAX_CONNS": "1"}, nil, "MYSQL_MAX_CONNS"},
		{"rate not a number", map[string]string{"RATE_LIMIT_IP": "lots"}, nil, "RATE_LIMIT_IP"},
		{"negative rate", map[string]string{"RATE_LIMIT_BUYER": "-1"}, nil, "RATE_LIMIT_"},
		{"empty listen address", nil, []string{"-addr", ""}, "ORIGIN_ADDR"},
		{"empty redis address", nil, []string{"-redis-addr", ""}, "REDIS_ADDR"},
		{"unknown flag", nil, []string{"-no-such-setting"}, "no-such-setting"},
		{"ops on the public address", map[string]string{"OPS_ADDR": ":8080"}, nil, "OPS_ADDR"},
		{"empty ops address", nil, []string{"-ops-addr", ""}, "OPS_ADDR"},
		{"negative read-miss rate", map[string]string{"RATE_LIMIT_READ_MISS": "-1"}, nil, "RATE_LIMIT_READ_MISS"},
		{"read-miss burst zero", map[string]string{"RATE_LIMIT_READ_MISS_BURST": "0"}, nil, "RATE_LIMIT_READ_MISS"},
		{"read-miss rate in words", map[string]string{"RATE_LIMIT_READ_MISS": "plenty"}, nil, "RATE_LIMIT_READ_MISS"},
		{"unknown-id ttl zero", map[string]string{"UNKNOWN_ID_TTL": "0s"}, nil, "UNKNOWN_ID_TTL"},
		{"unknown-id ttl a day", map[string]string{"UNKNOWN_ID_TTL": "24h"}, nil, "UNKNOWN_ID_TTL"},
		{"upload rows zero", map[string]string{"UPLOAD_MAX_ROWS": "0"}, nil, "UPLOAD_MAX_ROWS"},
		{"upload rows past the cap", map[string]string{"UPLOAD_MAX_ROWS": "5001"}, nil, "UPLOAD_MAX_ROWS"},
		{"upload rows huge", map[string]string{"UPLOAD_MAX_ROWS": "99999999999999999999"}, nil, "UPLOAD_MAX_ROWS"},
		{"products per live zero", map[string]string{"MAX_PRODUCTS_PER_LIVE": "0"}, nil, "MAX_PRODUCTS_PER_LIVE"},
		{"products per live a million", map[string]string{"MAX_PRODUCTS_PER_LIVE": "1000000"}, nil, "MAX_PRODUCTS_PER_LIVE"},
		{"lives listed negative", map[string]string{"MAX_LIVES_LISTED": "-1"}, nil, "MAX_LIVES_LISTED"},
		{"lives listed too many", map[string]string{"MAX_LIVES_LISTED": "10001"}, nil, "MAX_LIVES_LISTED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := app.LoadServe(tt.args, getenv(tt.env))
			if err == nil {
				t.Fatalf("LoadServe(%q, %v) = nil, want an error naming %s", tt.args, tt.env, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadServe error %q does not name %s", err, tt.want)
			}
		})
	}
}

func TestLoadServeReportsEverySetting(t *testing.T) {
	_, err := app.LoadServe(nil, getenv(map[string]string{
		"BUYER_JWT_SECRET": "", "MICROCACHE_TTL": "300ms", "ORDER_SHARDS": "0", "NATS_URL": "localhost", "LOG_LEVEL": "verbose",
	}))
	if err == nil {
		t.Fatal("LoadServe = nil, want an error")
	}
	for _, want := range []string{"BUYER_JWT_SECRET", "MICROCACHE_TTL", "ORDER_SHARDS", "NATS_URL", "LOG_LEVEL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

// TestLoadServeBuyerTokenSettings: the issuer, audience and maximum
// lifetime load from flags and environment and reach the options the
// verifier is built with.
func TestLoadServeBuyerTokenSettings(t *testing.T) {
	c, err := app.LoadServe([]string{"-jwt-audience", "origin"}, getenv(map[string]string{
		"BUYER_JWT_ISSUER": "https://shop.example", "BUYER_JWT_AUDIENCE": "ignored-for-the-flag", "BUYER_JWT_MAX_TTL": "2h",
	}))
	if err != nil {
		t.Fatalf("LoadServe: %v", err)
	}
	if c.JWTIssuer != "https://shop.example" || c.JWTAudience != "origin" || c.JWTMaxTTL != 2*time.Hour {
		t.Errorf("got issuer %q, audience %q, max ttl %s; want https://shop.example, origin, 2h", c.JWTIssuer, c.JWTAudience, c.JWTMaxTTL)
	}
	now := time.Now()
	tok, err := buyertoken.Issue([]byte(c.JWTSecret), "b1", 2*time.Hour, now, c.BuyerTokenOptions()...)
	if err != nil {
		t.Fatalf("Issue with the loaded options: %v", err)
	}
	v, err := buyertoken.NewVerifier([]byte(c.JWTSecret), c.BuyerTokenOptions()...)
	if err != nil {
		t.Fatalf("NewVerifier with the loaded options: %v", err)
	}
	if got, err := v.Verify(tok); err != nil || got != "b1" {
		t.Errorf("Verify: got (%q, %v), want (b1, nil)", got, err)
	}
	plain, err := buyertoken.Issue([]byte(c.JWTSecret), "b1", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(plain); err == nil {
		t.Error("Verify of a token without iss and aud: got success, want refused")
	}
	if _, err := buyertoken.Issue([]byte(c.JWTSecret), "b1", 3*time.Hour, now, c.BuyerTokenOptions()...); err == nil {
		t.Error("Issue for 3h with a 2h maximum: got a token, want refused")
	}
}

// TestMySQLDSNErrorsQuoteNoPassword: a refused DSN is named, never
// repeated, since it may carry the database password.
func TestMySQLDSNErrorsQuoteNoPassword(t *testing.T) {
	const pw = "hunter2-db-password"
	for _, dsn := range []string{
		"root:" + pw + "@tcp(127.0.0.1:3306)/livecommerce?charset=gbk",
		"root:" + pw + "@tcp(127.0.0.1:3306)/livecommerce?collation=sjis_bin",
		"root:" + pw + "@tcp(127.0.0.1:3306)/livecommerce?x=1%2C%20NAMES%20gbk",
	} {
		_, err := app.LoadCommon("origin migrate", nil, func(k string) string {
			if k == "MYSQL_DSN" {
				return dsn
			}
			return ""
		}, nil)
		if err == nil || !strings.Contains(err.Error(), "MYSQL_DSN") {
			t.Errorf("LoadCommon: got %v, want an error naming MYSQL_DSN", err)
			continue
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("LoadCommon: got %q, want the password left out", err)
		}
	}
}

func TestLoadCommon(t *testing.T) {
	// Operator commands need no buyer secret.
	c, err := app.LoadCommon("origin migrate", nil, func(string) string { return "" }, nil)
	if err != nil {
		t.Fatalf("LoadCommon with defaults = %v", err)
	}
	if c.MySQLDSN != app.DefaultMySQLDSN {
		t.Errorf("MySQLDSN = %q, want %q", c.MySQLDSN, app.DefaultMySQLDSN)
	}
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"MYSQL_DSN": "root@tcp(127.0.0.1:3306)/"}, "MYSQL_DSN"},
		{map[string]string{"NATS_URL": "127.0.0.1:4222"}, "NATS_URL"},
		{map[string]string{"LOG_LEVEL": "verbose"}, "LOG_LEVEL"},
	}
	for _, tt := range tests {
		_, err := app.LoadCommon("origin migrate", nil, func(k string) string { return tt.env[k] }, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("LoadCommon(%v) = %v, want an error naming %s", tt.env, err, tt.want)
		}
	}
}
