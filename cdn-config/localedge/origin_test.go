package localedge_test

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"livecommerce/origin/origintest"
)

// originStockReads is what the origin's own metrics count of stock reads
// of one sku, whatever their status.
func originStockReads(t testing.TB, o *origintest.Env) int64 {
	t.Helper()
	return originCount(t, o, func(line string) bool { return strings.Contains(line, `route="/v1/products/`) })
}

// originCount sums the origin's request counts on the routes keep says.
func originCount(t testing.TB, o *origintest.Env, keep func(line string) bool) int64 {
	t.Helper()
	res, err := http.Get(o.OpsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var n int64
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "http_request_duration_seconds_count{") || !keep(line) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		n += int64(v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// originRequests is how many requests the origin's own metrics counted,
// on every route but the load balancer's probe (/readyz).
func originRequests(t testing.TB, o *origintest.Env) int64 {
	t.Helper()
	return originCount(t, o, func(line string) bool { return !strings.Contains(line, `route="/readyz"`) })
}

// TestEdgeOffloadsTheOrigin sends 5,000 reads of one sku through the edge
// within one second, at a steady rate, and counts on the origin's own
// metrics how many reached it.
func TestEdgeOffloadsTheOrigin(t *testing.T) {
	o := origintest.Start(t, origintest.Options{})
	o.SetUpLive("LOFF", "", origintest.Product{SKU: "OFF1", Stock: 100, PerBuyerLimit: 5, LowStockThreshold: 10})
	e := startEdge(t, []string{strings.TrimPrefix(o.URL, "http://")}, nil)
	url := e.URL() + "/v1/products/OFF1/stock"
	before := originStockReads(t, o)

	const reads, workers = 5000, 50
	start := time.Now()
	interval := time.Second / reads
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= reads {
					return
				}
				// Open-loop: each read has its slot in the second.
				if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
					time.Sleep(d)
				}
				res, err := client.Get(url)
				if err != nil {
					failed.Add(1)
					continue
				}
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	hits := originStockReads(t, o) - before
	t.Logf("%d reads in %v through the edge; %d reached the origin", reads, elapsed.Round(time.Millisecond), hits)
	if failed.Load() > 0 {
		t.Errorf("%d of %d reads failed", failed.Load(), reads)
	}
	// One miss, and one refresh per second of TTL that passed.
	if limit := 2 + int64(elapsed/time.Second); hits < 1 || hits > limit {
		t.Errorf("origin served %d of %d reads in %v, want 1 to %d", hits, reads, elapsed, limit)
	}
}

// TestEdgeServesStaleWhileTheOriginIsDown stops the origin and keeps
// reading past max-age and stale-while-revalidate: the edge answers with
// the last JSON it had (stale-if-error, 60 s).
func TestEdgeServesStaleWhileTheOriginIsDown(t *testing.T) {
	o := origintest.Start(t, origintest.Options{})
	o.SetUpLive("LDOWN", "", origintest.Product{SKU: "DOWN1", Stock: 7, PerBuyerLimit: 5, LowStockThreshold: 2})
	e := startEdge(t, []string{strings.TrimPrefix(o.URL, "http://")}, nil)
	url := e.URL() + "/v1/products/DOWN1/stock"
	first := do(t, "GET", url)
	if first.status != 200 || !strings.Contains(first.body, `"remaining":7`) {
		t.Fatalf("got %d %s, want the sku's stock", first.status, first.body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := o.Server.Shutdown(ctx); err != nil {
		t.Fatalf("stop the origin: %v", err)
	}
	if _, err := http.Get(o.URL + "/readyz"); err == nil {
		t.Fatal("origin still answers after shutdown")
	}
	// max-age 1 s + stale-while-revalidate 5 s: reading for 7.5 s reaches
	// the part served only because of stale-if-error.
	lastAge := -1
	for end := time.Now().Add(7500 * time.Millisecond); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		a := do(t, "GET", url)
		if a.status != 200 || a.body != first.body {
			t.Fatalf("with the origin down: got %d %s, want the stale JSON", a.status, a.body)
		}
		if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type %q, want JSON", ct)
		}
		age, err := strconv.Atoi(a.header.Get("Age"))
		if err != nil || age < lastAge {
			t.Fatalf("Age %q after %d, want a growing number", a.header.Get("Age"), lastAge)
		}
		lastAge = age
	}
	if lastAge < 6 {
		t.Errorf("last Age %d, want the copy served past max-age + stale-while-revalidate (6 s)", lastAge)
	}
	// A sku the edge never cached has nothing stale to give.
	if a := do(t, "GET", e.URL()+"/v1/products/NEVER/stock"); a.status != 503 || !strings.Contains(a.body, `"unavailable"`) {
		t.Errorf("uncached sku with the origin down: got %d %s, want 503 unavailable", a.status, a.body)
	}
}

// BenchmarkStockReadThroughEdge is origin/app's BenchmarkStockRead with
// the local edge in front: the same 32 concurrent readers of one sku, and
// how many of their reads the origin still served.
func BenchmarkStockReadThroughEdge(b *testing.B) {
	o := origintest.Start(b, origintest.Options{})
	o.SetUpLive("BENCHE", "", origintest.Product{SKU: "EREAD", Stock: 1000, PerBuyerLimit: 2})
	e := startEdge(b, []string{strings.TrimPrefix(o.URL, "http://")}, nil)
	url := e.URL() + "/v1/products/EREAD/stock"
	before := originStockReads(b, o)
	origintest.Hammer(b, client, http.StatusOK, func(int64) *http.Request {
		req, _ := http.NewRequest("GET", url, nil)
		return req
	})
	b.ReportMetric(float64(originStockReads(b, o)-before)*1000/float64(b.N), "origin-reads/1k")
}
