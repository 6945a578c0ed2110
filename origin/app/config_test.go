package app_test

import (
	"strings"
	"testing"
	"time"

	"livecommerce/origin/app"
)

const validSecret = "0123456789abcdef" // exactly 16 bytes

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
		{"LOG_LEVEL", c.LogLevel, "info"},
		{"MICROCACHE_TTL", c.MicroCacheTTL, 200 * time.Millisecond},
		{"ORDER_SHARDS", c.BatchShards, 4},
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
		{"short secret", map[string]string{"BUYER_JWT_SECRET": validSecret[:15]}, nil, "BUYER_JWT_SECRET"},
		{"short secret by flag", nil, []string{"-jwt-secret", "short"}, "BUYER_JWT_SECRET"},
		{"duration without unit", map[string]string{"PURCHASE_TIMEOUT": "2"}, nil, "PURCHASE_TIMEOUT"},
		{"duration in words", map[string]string{"SHUTDOWN_TIMEOUT": "ten seconds"}, nil, "SHUTDOWN_TIMEOUT"},
		{"negative batch window", map[string]string{"ORDER_BATCH_WINDOW": "-1ms"}, nil, "ORDER_BATCH_WINDOW"},
		{"bad batch window", map[string]string{"ORDER_BATCH_WINDOW": "soon"}, nil, "ORDER_BATCH_WINDOW"},
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
