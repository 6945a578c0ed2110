package app_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	dto "github.com/prometheus/client_model/go"

	"livecommerce/origin/origintest"
)

// hammer runs b.N requests from 32 concurrent clients (2 cores × 16),
// each built by send from its sequence number, and reports p50 and p99
// from an HdrHistogram. It fails the benchmark if any request errs or
// answers another status than want.
func hammer(b *testing.B, client *http.Client, want int, send func(n int64) *http.Request) {
	b.Helper()
	h := hdrhistogram.New(1, int64(10*time.Second/time.Microsecond), 3)
	samples := make(chan time.Duration, 4096)
	recorded := make(chan struct{})
	go func() {
		for d := range samples {
			h.RecordValue(int64(d / time.Microsecond))
		}
		close(recorded)
	}()
	var seq, failures atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := send(seq.Add(1))
			start := time.Now()
			res, err := client.Do(req)
			if err != nil {
				failures.Add(1)
				continue
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			samples <- time.Since(start)
			if res.StatusCode != want {
				failures.Add(1)
			}
		}
	})
	b.StopTimer()
	close(samples)
	<-recorded
	b.ReportMetric(float64(h.ValueAtQuantile(50))/1000, "p50-ms")
	b.ReportMetric(float64(h.ValueAtQuantile(99))/1000, "p99-ms")
	if f := failures.Load(); f > 0 {
		b.Fatalf("%d of %d requests failed", f, b.N)
	}
}

func counter(b *testing.B, e *origintest.Env, name string) float64 {
	b.Helper()
	mfs, err := e.Server.Deps().Registry.Gather()
	if err != nil {
		b.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			total += metricValue(m)
		}
	}
	return total
}

func metricValue(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return 0
}

// BenchmarkPurchase buys one unit of one hot sku per operation through
// HTTP, from many buyers at once: the whole path, Redis script, batched
// MySQL commit, confirmation and event included.
func BenchmarkPurchase(b *testing.B) {
	e := origintest.Start(b, origintest.Options{})
	e.SetUpLive("BENCH", "", origintest.Product{SKU: "HOT", Stock: 50_000_000, PerBuyerLimit: 10_000})
	const buyers = 256
	tokens := make([]string, buyers)
	for i := range tokens {
		tokens[i] = e.Token(fmt.Sprintf("bench-buyer-%d", i))
	}
	rowsBefore := counter(b, e, "purchase_product_row_updates_total")
	hammer(b, e.Client, 201, func(n int64) *http.Request {
		req, _ := http.NewRequest("POST", e.URL+"/v1/purchases", strings.NewReader(`{"sku":"HOT","quantity":1}`))
		req.Header.Set("Authorization", "Bearer "+tokens[n%buyers])
		req.Header.Set("Idempotency-Key", fmt.Sprintf("bench-%d", n))
		return req
	})
	rows := counter(b, e, "purchase_product_row_updates_total") - rowsBefore
	b.ReportMetric(rows/float64(b.N), "row-updates/purchase")
}

// BenchmarkStockRead reads one sku's stock from many clients at once: the
// herd the micro-cache and request collapsing are for.
func BenchmarkStockRead(b *testing.B) {
	e := origintest.Start(b, origintest.Options{})
	e.SetUpLive("BENCHR", "", origintest.Product{SKU: "READ", Stock: 1000, PerBuyerLimit: 2})
	hammer(b, e.Client, 200, func(int64) *http.Request {
		req, _ := http.NewRequest("GET", e.URL+"/v1/products/READ/stock", nil)
		return req
	})
}
