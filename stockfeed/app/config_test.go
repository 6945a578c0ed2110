package app_test

import (
	"strings"
	"testing"
	"time"

	"livecommerce/stockfeed/app"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// TestLoadDefaults: with nothing set, the feed starts with settings that
// work on a developer machine.
func TestLoadDefaults(t *testing.T) {
	got, err := app.Load(nil, envOf(nil))
	if err != nil {
		t.Fatalf("Load with no settings: %v", err)
	}
	want := app.Config{
		Addr:              ":8081",
		OpsAddr:           "127.0.0.1:9103",
		NATSURL:           "nats://127.0.0.1:4222",
		StreamReplicas:    1,
		StreamCheck:       10 * time.Second,
		CORSOrigins:       "*",
		TrustedProxies:    "127.0.0.1,::1",
		MaxConns:          20000,
		MaxConnsPerIP:     100,
		MaxLives:          1000,
		NewLivesPerSecond: 100,
		NewLivesPerClient: 2,
		Window:            50 * time.Millisecond,
		QueueLen:          64,
		Heartbeat:         10 * time.Second,
		WriteTimeout:      10 * time.Second,
		Retry:             time.Second,
		RetryJitter:       2 * time.Second,
		Linger:            30 * time.Second,
		JoinTimeout:       5 * time.Second,
		DrainWindow:       5 * time.Second,
		ShutdownAfter:     15 * time.Second,
		LogLevel:          "info",
	}
	if got != want {
		t.Errorf("defaults\ngot  %+v\nwant %+v", got, want)
	}
	if got.Heartbeat > 15*time.Second {
		t.Errorf("default heartbeat %s breaks the contract's 15s", got.Heartbeat)
	}
}

func TestLoadFromEnv(t *testing.T) {
	got, err := app.Load(nil, envOf(map[string]string{
		"STOCKFEED_ADDR":                 "127.0.0.1:9999",
		"OPS_ADDR":                       "127.0.0.1:9998",
		"NATS_URL":                       "tls://nats.example:4222",
		"STOCK_STREAM_REPLICAS":          "3",
		"STOCKFEED_STREAM_CHECK":         "2s",
		"CORS_ORIGINS":                   "https://a.example, http://localhost:3000",
		"TRUSTED_PROXIES":                "10.0.0.0/8",
		"STOCKFEED_MAX_CONNS":            "500",
		"STOCKFEED_MAX_CONNS_PER_IP":     "5",
		"STOCKFEED_MAX_LIVES":            "7",
		"STOCKFEED_NEW_LIVES_PER_SECOND": "0.5",
		"STOCKFEED_NEW_LIVES_PER_CLIENT": "0.25",
		"STOCKFEED_COALESCE_WINDOW":      "10ms",
		"STOCKFEED_CLIENT_QUEUE":         "4",
		"STOCKFEED_HEARTBEAT":            "15s",
		"STOCKFEED_WRITE_TIMEOUT":        "100ms",
		"STOCKFEED_RETRY":                "1m",
		"STOCKFEED_RETRY_JITTER":         "0s",
		"STOCKFEED_LIVE_LINGER":          "0s",
		"STOCKFEED_JOIN_TIMEOUT":         "1m",
		"STOCKFEED_DRAIN_WINDOW":         "10m",
		"SHUTDOWN_TIMEOUT":               "1s",
		"LOG_LEVEL":                      "debug",
	}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := app.Config{
		Addr: "127.0.0.1:9999", OpsAddr: "127.0.0.1:9998", NATSURL: "tls://nats.example:4222", StreamReplicas: 3, StreamCheck: 2 * time.Second,
		CORSOrigins: "https://a.example, http://localhost:3000", TrustedProxies: "10.0.0.0/8",
		MaxConns: 500, MaxConnsPerIP: 5, MaxLives: 7, NewLivesPerSecond: 0.5, NewLivesPerClient: 0.25,
		Window: 10 * time.Millisecond, QueueLen: 4, Heartbeat: 15 * time.Second,
		WriteTimeout: 100 * time.Millisecond, Retry: time.Minute, RetryJitter: 0, Linger: 0,
		JoinTimeout: time.Minute, DrainWindow: 10 * time.Minute, ShutdownAfter: time.Second, LogLevel: "debug",
	}
	if got != want {
		t.Errorf("from env\ngot  %+v\nwant %+v", got, want)
	}
}

// TestLoadRejects: every bad value stops the feed with a message that
// names the setting.
func TestLoadRejects(t *testing.T) {
	tests := []struct {
		env, value string
	}{
		{"OPS_ADDR", ":8081"}, // the public listener's default
		{"NATS_URL", "127.0.0.1:4222"},
		{"NATS_URL", "http://127.0.0.1:4222"},
		{"NATS_URL", "ws://127.0.0.1:4222"},
		{"STOCK_STREAM_REPLICAS", "0"},
		{"STOCKFEED_STREAM_CHECK", "50ms"},
		{"STOCKFEED_STREAM_CHECK", "11m"},
		{"STOCKFEED_STREAM_CHECK", "soon"},
		{"STOCK_STREAM_REPLICAS", "6"},
		{"STOCK_STREAM_REPLICAS", "-1"},
		{"STOCK_STREAM_REPLICAS", "three"},
		{"STOCK_STREAM_REPLICAS", "1.0"},
		{"CORS_ORIGINS", ","},
		{"CORS_ORIGINS", "shop.example"},
		{"CORS_ORIGINS", "https://shop.example/"},
		{"CORS_ORIGINS", "https://shop.example/path"},
		{"CORS_ORIGINS", "https://shop.example?x=1"},
		{"CORS_ORIGINS", "https://shop.example?"},
		{"CORS_ORIGINS", "https://shop.example#f"},
		{"CORS_ORIGINS", "https://user@shop.example"},
		{"CORS_ORIGINS", "ftp://shop.example"},
		{"CORS_ORIGINS", "https://"},
		{"CORS_ORIGINS", "https://a.example,nope"},
		{"CORS_ORIGINS", "null"},
		{"TRUSTED_PROXIES", "localhost"},
		{"TRUSTED_PROXIES", "10.0.0.0/33"},
		{"TRUSTED_PROXIES", "127.0.0.1;::1"},
		{"STOCKFEED_MAX_CONNS", "0"},
		{"STOCKFEED_MAX_CONNS", "-5"},
		{"STOCKFEED_MAX_CONNS", "1000001"},
		{"STOCKFEED_MAX_CONNS", "many"},
		{"STOCKFEED_MAX_CONNS_PER_IP", "0"},
		{"STOCKFEED_MAX_CONNS_PER_IP", "1000001"},
		{"STOCKFEED_MAX_CONNS_PER_IP", "1e2"},
		{"STOCKFEED_MAX_LIVES", "0"},
		{"STOCKFEED_MAX_LIVES", "100001"},
		{"STOCKFEED_MAX_LIVES", "x"},
		{"STOCKFEED_NEW_LIVES_PER_SECOND", "0"},
		{"STOCKFEED_NEW_LIVES_PER_SECOND", "-1"},
		{"STOCKFEED_NEW_LIVES_PER_SECOND", "10001"},
		{"STOCKFEED_NEW_LIVES_PER_SECOND", "NaN"},
		{"STOCKFEED_NEW_LIVES_PER_SECOND", "Inf"},
		{"STOCKFEED_NEW_LIVES_PER_SECOND", "fast"},
		{"STOCKFEED_NEW_LIVES_PER_CLIENT", "0"},
		{"STOCKFEED_NEW_LIVES_PER_CLIENT", "-1"},
		{"STOCKFEED_NEW_LIVES_PER_CLIENT", "10001"},
		{"STOCKFEED_NEW_LIVES_PER_CLIENT", "NaN"},
		{"STOCKFEED_NEW_LIVES_PER_CLIENT", "Inf"},
		{"STOCKFEED_NEW_LIVES_PER_CLIENT", "-Inf"},
		{"STOCKFEED_NEW_LIVES_PER_CLIENT", "2/s"},
		{"STOCKFEED_COALESCE_WINDOW", "0s"},
		{"STOCKFEED_COALESCE_WINDOW", "999us"},
		{"STOCKFEED_COALESCE_WINDOW", "1001ms"},
		{"STOCKFEED_COALESCE_WINDOW", "50"},
		{"STOCKFEED_CLIENT_QUEUE", "3"},
		{"STOCKFEED_CLIENT_QUEUE", "4097"},
		{"STOCKFEED_CLIENT_QUEUE", "big"},
		{"STOCKFEED_HEARTBEAT", "99ms"},
		{"STOCKFEED_HEARTBEAT", "16s"},
		{"STOCKFEED_HEARTBEAT", "-1s"},
		{"STOCKFEED_HEARTBEAT", "10"},
		{"STOCKFEED_WRITE_TIMEOUT", "99ms"},
		{"STOCKFEED_WRITE_TIMEOUT", "61s"},
		{"STOCKFEED_WRITE_TIMEOUT", "soon"},
		{"STOCKFEED_RETRY", "99ms"},
		{"STOCKFEED_RETRY", "2m"},
		{"STOCKFEED_RETRY", "1"},
		{"STOCKFEED_RETRY_JITTER", "-1ms"},
		{"STOCKFEED_RETRY_JITTER", "61s"},
		{"STOCKFEED_RETRY_JITTER", "x"},
		{"STOCKFEED_LIVE_LINGER", "-1s"},
		{"STOCKFEED_LIVE_LINGER", "61m"},
		{"STOCKFEED_LIVE_LINGER", "forever"},
		{"STOCKFEED_JOIN_TIMEOUT", "99ms"},
		{"STOCKFEED_JOIN_TIMEOUT", "61s"},
		{"STOCKFEED_JOIN_TIMEOUT", "0"},
		{"STOCKFEED_DRAIN_WINDOW", "-1s"},
		{"STOCKFEED_DRAIN_WINDOW", "11m"},
		{"STOCKFEED_DRAIN_WINDOW", "5"},
		{"SHUTDOWN_TIMEOUT", "999ms"},
		{"SHUTDOWN_TIMEOUT", "11m"},
		{"SHUTDOWN_TIMEOUT", "15"},
		{"LOG_LEVEL", "verbose"},
		{"LOG_LEVEL", "INFO"},
		{"LOG_LEVEL", "warning"},
	}
	for _, tt := range tests {
		t.Run(tt.env+"="+tt.value, func(t *testing.T) {
			_, err := app.Load(nil, envOf(map[string]string{tt.env: tt.value}))
			if err == nil {
				t.Fatalf("Load with %s=%q succeeded, want an error", tt.env, tt.value)
			}
			if !strings.Contains(err.Error(), tt.env+":") {
				t.Errorf("Load with %s=%q: error %q does not name %s", tt.env, tt.value, err, tt.env)
			}
		})
	}
}

// TestLoadRejectsFlags: a bad flag stops the feed just as a bad variable.
func TestLoadRejectsFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-max-conns=0"}, "STOCKFEED_MAX_CONNS:"},
		{[]string{"-heartbeat=20s"}, "STOCKFEED_HEARTBEAT:"},
		{[]string{"-addr="}, "STOCKFEED_ADDR:"},
		{[]string{"-nats-url=localhost"}, "NATS_URL:"},
		{[]string{"-max-conns=lots"}, "max-conns"},
		{[]string{"-no-such-flag"}, "no-such-flag"},
		{[]string{"-retry", "5"}, "retry"},
		{[]string{"-new-lives-per-client=0"}, "STOCKFEED_NEW_LIVES_PER_CLIENT:"},
	}
	for _, tt := range tests {
		_, err := app.Load(tt.args, envOf(nil))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Load(%q) = %v, want an error naming %s", tt.args, err, tt.want)
		}
	}
}

func TestLoadReportsEveryBadSetting(t *testing.T) {
	_, err := app.Load(nil, envOf(map[string]string{
		"STOCKFEED_MAX_LIVES": "0", "LOG_LEVEL": "loud", "STOCKFEED_RETRY": "x",
	}))
	for _, name := range []string{"STOCKFEED_MAX_LIVES:", "LOG_LEVEL:", "STOCKFEED_RETRY:"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Load error %v does not name %s", err, name)
		}
	}
}

func TestLoadAcceptsBoundaries(t *testing.T) {
	tests := []map[string]string{
		{"STOCKFEED_MAX_CONNS": "1", "STOCKFEED_MAX_CONNS_PER_IP": "1"},
		{"STOCKFEED_MAX_CONNS": "1000000", "STOCKFEED_MAX_CONNS_PER_IP": "1000000"},
		// Lowering the instance cap alone leaves the per-address default
		// above it, which is harmless.
		{"STOCKFEED_MAX_CONNS": "50"},
		{"STOCKFEED_MAX_LIVES": "1"},
		{"STOCKFEED_MAX_LIVES": "100000"},
		{"STOCKFEED_NEW_LIVES_PER_SECOND": "10000"},
		{"STOCKFEED_NEW_LIVES_PER_CLIENT": "10000"},
		{"STOCKFEED_NEW_LIVES_PER_CLIENT": "0.01"},
		{"STOCKFEED_COALESCE_WINDOW": "1ms"},
		{"STOCKFEED_COALESCE_WINDOW": "1s"},
		{"STOCKFEED_CLIENT_QUEUE": "4096"},
		{"STOCKFEED_HEARTBEAT": "100ms"},
		{"STOCKFEED_RETRY": "100ms", "STOCKFEED_RETRY_JITTER": "1m"},
		{"STOCKFEED_LIVE_LINGER": "1h"},
		{"STOCKFEED_JOIN_TIMEOUT": "100ms"},
		{"STOCKFEED_DRAIN_WINDOW": "0s"},
		{"SHUTDOWN_TIMEOUT": "10m"},
		{"CORS_ORIGINS": "*"},
		{"CORS_ORIGINS": "http://localhost:3000"},
		{"CORS_ORIGINS": "https://a.example,https://b.example:8443"},
		{"TRUSTED_PROXIES": "::1, 10.0.0.0/8, 192.168.0.1"},
		{"LOG_LEVEL": "error"},
		{"LOG_LEVEL": "warn"},
	}
	for _, m := range tests {
		if _, err := app.Load(nil, envOf(m)); err != nil {
			t.Errorf("Load(%v) = %v, want accepted", m, err)
		}
	}
}

// TestEmptyTrustedProxies: "" trusts nobody, and is a valid choice, while
// unset variables take the default. An empty variable counts as unset, so
// only the flag can say "trust nobody".
func TestEmptyTrustedProxies(t *testing.T) {
	c, err := app.Load([]string{"-trusted-proxies="}, envOf(map[string]string{"TRUSTED_PROXIES": "10.0.0.1"}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.TrustedProxies != "" {
		t.Errorf("TrustedProxies = %q, want empty", c.TrustedProxies)
	}
}

func TestFlagsBeatEnv(t *testing.T) {
	vars := envOf(map[string]string{
		"STOCKFEED_ADDR":      "127.0.0.1:1111",
		"STOCKFEED_MAX_CONNS": "70",
		"STOCKFEED_HEARTBEAT": "3s",
		"CORS_ORIGINS":        "https://env.example",
		"LOG_LEVEL":           "error",
		"STOCKFEED_RETRY":     "not a duration", // a bad variable is still an error...
	})
	_, err := app.Load([]string{"-retry=2s"}, vars)
	if err == nil || !strings.Contains(err.Error(), "STOCKFEED_RETRY:") {
		t.Errorf("Load with a bad STOCKFEED_RETRY and a good -retry = %v, want an error naming STOCKFEED_RETRY", err)
	}

	vars = envOf(map[string]string{
		"STOCKFEED_ADDR":             "127.0.0.1:1111",
		"STOCKFEED_MAX_CONNS":        "70",
		"STOCKFEED_MAX_CONNS_PER_IP": "7",
		"STOCKFEED_HEARTBEAT":        "3s",
		"CORS_ORIGINS":               "https://env.example",
		"LOG_LEVEL":                  "error",
	})
	c, err := app.Load([]string{
		"-addr=127.0.0.1:2222", "-max-conns", "90", "-heartbeat=4s",
		"-cors-origins=https://flag.example", "-log-level=debug",
	}, vars)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Addr != "127.0.0.1:2222" || c.MaxConns != 90 || c.Heartbeat != 4*time.Second ||
		c.CORSOrigins != "https://flag.example" || c.LogLevel != "debug" {
		t.Errorf("flags did not win: %+v", c)
	}
	// Variables not overridden by a flag still apply.
	if c.MaxConnsPerIP != 7 {
		t.Errorf("MaxConnsPerIP = %d, want 7 from the environment", c.MaxConnsPerIP)
	}
}
