package origintest

import (
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Hammer runs b.N requests from 32 concurrent clients (2 cores × 16),
// each built by send from its sequence number, and reports p50 and p99
// from an HdrHistogram. It fails the benchmark if any request errs or
// answers another status than want.
func Hammer(b *testing.B, client *http.Client, want int, send func(n int64) *http.Request) {
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
