package staticjson

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"livecommerce/internal/program"
)

// startStaticServer serves NewApp on a port of its own and returns its
// base URL.
func startStaticServer(t *testing.T) string {
	t.Helper()
	app := NewApp()
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

func TestAppAnswersStock(t *testing.T) {
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

func TestAppRefusesHostileSKUs(t *testing.T) {
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

// TestAppConcurrentSKUs is a regression test: the sku taken from
// Fiber's params pointed into a request buffer that later requests
// reused, so the body cache handed out other skus' bodies under load.
func TestAppConcurrentSKUs(t *testing.T) {
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

func TestLoadRefusesBadSettings(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:18091", "example.com:80", "127.0.0.1:http", "[::]:1"} {
		_, err := Load(nil, func(k string) string { return map[string]string{"STATIC_ADDR": addr}[k] })
		if program.Code(err) != program.BadUsage || !strings.Contains(err.Error(), "STATIC_ADDR") {
			t.Errorf("STATIC_ADDR=%q: got %v, want a usage error naming STATIC_ADDR", addr, err)
		}
	}
	c, err := Load([]string{"--addr", "127.0.0.1:0"}, func(string) string { return "" })
	if err != nil || c.Addr != "127.0.0.1:0" {
		t.Errorf("a loopback address: got %+v, %v", c, err)
	}
}
