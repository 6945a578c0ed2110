package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// startStaticServer serves staticApp on a port of its own and returns its
// base URL.
func startStaticServer(t *testing.T) string {
	t.Helper()
	app := staticApp()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	t.Cleanup(func() {
		if err := app.ShutdownWithTimeout(5 * time.Second); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// staticStock is the part of a stock body the tests read.
type staticStock struct {
	SKU     string `json:"sku"`
	Version int64  `json:"version"`
	Error   struct {
		Code string `json:"code"`
	} `json:"error"`
}

func getStock(t *testing.T, client *http.Client, url string) (*http.Response, staticStock) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var s staticStock
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("GET %s: body %q is not JSON: %v", url, b, err)
	}
	return resp, s
}

func TestStaticAppAnswersStock(t *testing.T) {
	base := startStaticServer(t)
	for _, sku := range []string{"A1", "b-Z_9", strings.Repeat("s", 64)} {
		resp, s := getStock(t, http.DefaultClient, base+"/v1/products/"+sku+"/stock")
		if resp.StatusCode != http.StatusOK || s.SKU != sku || s.Version != 1 {
			t.Errorf("sku %q: got %d %+v, want 200 with the sku at version 1", sku, resp.StatusCode, s)
		}
		for name, want := range map[string]string{
			"Content-Type":      "application/json",
			"Cache-Control":     "public, max-age=1, stale-while-revalidate=5, stale-if-error=60",
			"CDN-Cache-Control": "public, max-age=1, stale-while-revalidate=5, stale-if-error=60",
			"ETag":              `"static-1"`,
		} {
			if got := resp.Header.Get(name); got != want {
				t.Errorf("sku %q: %s: got %q, want %q", sku, name, got, want)
			}
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: got %d, want 200", path, resp.StatusCode)
		}
	}
}

func TestStaticAppRefusesHostileSKUs(t *testing.T) {
	base := startStaticServer(t)
	for _, sku := range []string{
		strings.Repeat("s", 65),
		"..",
		"..%2F..%2Fetc%2Fpasswd",
		"%00",
		"a%00b",
		"caf%C3%A9",
		"%E2%80%AE",
		"a%20b",
		"a.b",
		"%41",
	} {
		resp, s := getStock(t, http.DefaultClient, base+"/v1/products/"+sku+"/stock")
		if resp.StatusCode != http.StatusBadRequest || s.Error.Code != "invalid_request" || s.SKU != "" {
			t.Errorf("sku %q: got %d %+v, want 400 invalid_request", sku, resp.StatusCode, s)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("sku %q: Content-Type %q, want JSON", sku, ct)
		}
	}
}

// TestStaticAppConcurrentSKUs is a regression test: the sku taken from
// Fiber's params pointed into a request buffer that later requests
// reused, so the body cache handed out other skus' bodies under load.
func TestStaticAppConcurrentSKUs(t *testing.T) {
	base := startStaticServer(t)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	const workers, each = 32, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			// Two rounds: the first fills the cache, the second reads it.
			for round := range 2 {
				for i := range each {
					sku := fmt.Sprintf("w%02d-sku-%03d-%s", w, i, strings.Repeat("x", (w+i)%20))
					resp, err := client.Get(base + "/v1/products/" + sku + "/stock")
					if err != nil {
						errs <- err
						return
					}
					var s staticStock
					err = json.NewDecoder(resp.Body).Decode(&s)
					resp.Body.Close()
					if err != nil || resp.StatusCode != http.StatusOK || s.SKU != sku {
						errs <- fmt.Errorf("round %d, sku %q: got %d %+v (%v), want its own body", round, sku, resp.StatusCode, s, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestBodyCacheIsBounded(t *testing.T) {
	bc := newBodyCache(2)
	for _, sku := range []string{"a", "b", "c", "d"} {
		var s staticStock
		if err := json.Unmarshal(bc.get(sku), &s); err != nil || s.SKU != sku {
			t.Errorf("get(%q): got %+v (%v), want its body", sku, s, err)
		}
	}
	if n := len(bc.bodies); n != 2 {
		t.Errorf("cached bodies: got %d, want 2", n)
	}
	// Past the bound, a body is still right, just not kept.
	var s staticStock
	if err := json.Unmarshal(bc.get("d"), &s); err != nil || s.SKU != "d" {
		t.Errorf("get(d) again: got %+v (%v)", s, err)
	}

	shared := newBodyCache(10)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 50 {
				shared.get(fmt.Sprintf("s%d-%d", w, i))
			}
		})
	}
	wg.Wait()
	if n := len(shared.bodies); n != 10 {
		t.Errorf("cached bodies after concurrent gets: got %d, want 10", n)
	}
}

func TestCheckLoopbackAddr(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:18090", true},
		{"127.0.0.1:0", true},
		{"127.9.9.9:80", true},
		{"[::1]:8080", true},
		{"localhost:1", true},
		{"0.0.0.0:18090", false},
		{":18090", false},
		{"10.0.0.1:80", false},
		{"[::]:80", false},
		{"example.com:80", false},
		{"localhost.example.com:80", false},
		{"127.0.0.1", false},
		{"127.0.0.1:99999", false},
		{"127.0.0.1:-1", false},
		{"127.0.0.1:http", false},
		{"", false},
		{"127.0.0.1:80\n", false},
	}
	for _, tc := range tests {
		err := checkLoopbackAddr("TEST_ADDR", tc.addr)
		if (err == nil) != tc.ok {
			t.Errorf("checkLoopbackAddr(%q): got %v, want ok %v", tc.addr, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "TEST_ADDR") {
			t.Errorf("checkLoopbackAddr(%q): error %q does not name the setting", tc.addr, err)
		}
	}
}

// serverEnv is a getenv over valid settings of the two servers, with kv
// (name, value pairs) replacing some.
func serverEnv(kv ...string) func(string) string {
	env := map[string]string{
		"NAIVE_ADDR":       "127.0.0.1:0",
		"STATIC_ADDR":      "127.0.0.1:0",
		"MYSQL_DSN":        "root@tcp(127.0.0.1:3306)/lc_bench_servers_test",
		"BUYER_JWT_SECRET": "servers-test-secret-0123456789abcdef",
		"LOG_LEVEL":        "info",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return func(k string) string { return env[k] }
}

// refuses runs serve and checks that it returned a usage error naming
// every setting in names, before starting: a server that started would
// return only when ctx ends.
func refuses(t *testing.T, serve func(context.Context, []string, func(string) string) error, getenv func(string) string, names ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	err := serve(ctx, nil, getenv)
	if ctx.Err() != nil {
		t.Fatalf("the server started and ran until its context ended (%v)", err)
	}
	var u usageError
	if !errors.As(err, &u) {
		t.Fatalf("got %v, want a usage error", err)
	}
	for _, name := range names {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

func TestServeNaiveRefusesBadSettings(t *testing.T) {
	tests := []struct{ env, value string }{
		{"NAIVE_ADDR", "0.0.0.0:18090"},
		{"NAIVE_ADDR", "10.0.0.1:18090"},
		{"NAIVE_ADDR", "127.0.0.1"},
		{"BUYER_JWT_SECRET", "short"},
		{"BUYER_JWT_SECRET", "0123456789abcdef"},
		{"BUYER_JWT_SECRET", "0123456789abcdef0123456789abcde"},
		{"MYSQL_DSN", "not a dsn"},
		{"MYSQL_DSN", "root@tcp(127.0.0.1:3306)/lc_bench?charset=gbk"},
		{"MYSQL_DSN", "root@tcp(127.0.0.1:3306)/lc_bench?charset=utf8mb4,sjis"},
		{"MYSQL_DSN", "root@tcp(127.0.0.1:3306)/lc_bench?collation=big5_chinese_ci"},
		{"MYSQL_DSN", "root@tcp(127.0.0.1:3306)/lc_bench?character_set_client=cp932"},
		{"MYSQL_DSN", "root@tcp(127.0.0.1:3306)/"},
		{"LOG_LEVEL", "verbose"},
		{"MYSQL_MAX_CONNS", "0"},
		{"MYSQL_MAX_CONNS", "many"},
	}
	for _, tc := range tests {
		t.Run(tc.env+"="+tc.value, func(t *testing.T) {
			refuses(t, serveNaive, serverEnv(tc.env, tc.value), tc.env)
		})
	}
	t.Run("all at once", func(t *testing.T) {
		refuses(t, serveNaive, serverEnv("NAIVE_ADDR", "0.0.0.0:1", "BUYER_JWT_SECRET", "x", "LOG_LEVEL", "loud"),
			"NAIVE_ADDR", "BUYER_JWT_SECRET", "LOG_LEVEL")
	})
}

func TestServeStaticRefusesBadSettings(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:18091", "example.com:80", "127.0.0.1:http", "[::]:1"} {
		t.Run(addr, func(t *testing.T) {
			refuses(t, serveStatic, serverEnv("STATIC_ADDR", addr), "STATIC_ADDR")
		})
	}
}
