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

// latencies records per-request latency across goroutines and reports
// percentiles with the benchmark.
type latencies struct {
	ch chan time.Duration
	h  *hdrhistogram.Histogram
}

func newLatencies() *latencies {
	l := &latencies{ch: make(chan time.Duration, 4096), h: hdrhistogram.New(1, int64(10*time.Second/time.Microsecond), 3)}
	return l
}

func (l *latencies) collect() chan struct{} {
	done := make(chan struct{})
	go func() {
		for d := range l.ch {
			l.h.RecordValue(int64(d / time.Microsecond))
		}
		close(done)
	}()
	return done
}

func (l *latencies) report(b *testing.B) {
	b.ReportMetric(float64(l.h.ValueAtQuantile(50))/1000, "p50-ms")
	b.ReportMetric(float64(l.h.ValueAtQuantile(99))/1000, "p99-ms")
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
	lat := newLatencies()
	done := lat.collect()
	var seq, failures atomic.Int64
	rowsBefore := counter(b, e, "purchase_product_row_updates_total")
	b.SetParallelism(16) // 32 concurrent buyers on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			req, _ := http.NewRequest("POST", e.URL+"/v1/purchases", strings.NewReader(`{"sku":"HOT","quantity":1}`))
			req.Header.Set("Authorization", "Bearer "+tokens[n%buyers])
			req.Header.Set("Idempotency-Key", fmt.Sprintf("bench-%d", n))
			start := time.Now()
			res, err := e.Client.Do(req)
			if err != nil {
				failures.Add(1)
				continue
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			lat.ch <- time.Since(start)
			if res.StatusCode != 201 {
				failures.Add(1)
			}
		}
	})
	b.StopTimer()
	close(lat.ch)
	<-done
	lat.report(b)
	rows := counter(b, e, "purchase_product_row_updates_total") - rowsBefore
	b.ReportMetric(rows/float64(b.N), "row-updates/purchase")
	if f := failures.Load(); f > 0 {
		b.Fatalf("%d of %d purchases failed", f, b.N)
	}
}

// BenchmarkStockRead reads one sku's stock from many clients at once: the
// herd the micro-cache and request collapsing are for.
func BenchmarkStockRead(b *testing.B) {
	e := origintest.Start(b, origintest.Options{})
	e.SetUpLive("BENCHR", "", origintest.Product{SKU: "READ", Stock: 1000, PerBuyerLimit: 2})
	lat := newLatencies()
	done := lat.collect()
	var failures atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			start := time.Now()
			res, err := e.Client.Get(e.URL + "/v1/products/READ/stock")
			if err != nil {
				failures.Add(1)
				continue
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			lat.ch <- time.Since(start)
			if res.StatusCode != 200 {
				failures.Add(1)
			}
		}
	})
	b.StopTimer()
	close(lat.ch)
	<-done
	lat.report(b)
	if f := failures.Load(); f > 0 {
		b.Fatalf("%d of %d reads failed", f, b.N)
	}
}
