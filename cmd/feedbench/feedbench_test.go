package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestExpectedEvents(t *testing.T) {
	ms := func(n int) time.Time { return time.Unix(0, 0).Add(time.Duration(n) * time.Millisecond) }
	tests := []struct {
		name string
		sent []published
		want int
	}{
		{"none", nil, 0},
		{"one", []published{{ms(0), 0, 0}}, 1},
		{"first goes at once, the rest of the window together", []published{{ms(0), 0, 0}, {ms(10), 0, 0}, {ms(49), 0, 0}}, 2},
		{"two skus after the first", []published{{ms(0), 0, 0}, {ms(10), 0, 1}, {ms(20), 0, 0}}, 3},
		{"a window apart, each at once", []published{{ms(0), 0, 0}, {ms(50), 0, 0}, {ms(200), 0, 0}}, 3},
		{"flush due before the next change", []published{{ms(0), 0, 0}, {ms(10), 0, 0}, {ms(70), 0, 0}}, 3},
		{"round robin every 10ms over 20 skus", roundRobin(100, 20, 10*time.Millisecond), 100},
		// The first change at once, then two skus per 50ms flush.
		{"round robin every 10ms over 2 skus", roundRobin(100, 2, 10*time.Millisecond), 41},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := expectedEvents(tt.sent, 50*time.Millisecond); got != tt.want {
				t.Errorf("expectedEvents = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestExpectedPerLive(t *testing.T) {
	// Two lives taking turns every 10ms: each sees one sku change every
	// 20ms, sent at once the first time, then once per 50ms window (19
	// flushes), and the last change after the last flush. The third live
	// got nothing.
	var sent []published
	for k := range 100 {
		sent = append(sent, published{time.Unix(0, 0).Add(time.Duration(k) * 10 * time.Millisecond), k % 2, 0})
	}
	got := expectedPerLive(sent, 3, 50*time.Millisecond)
	if want := []int{21, 21, 0}; !slices.Equal(got, want) {
		t.Errorf("expectedPerLive = %v, want %v", got, want)
	}
}

func roundRobin(n, skus int, every time.Duration) []published {
	out := make([]published, n)
	for k := range out {
		out[k] = published{time.Unix(0, 0).Add(time.Duration(k) * every), 0, k % skus}
	}
	return out
}

func TestParseSamples(t *testing.T) {
	text := `# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 20019
go_memstats_heap_inuse_bytes 1.8e+08
stockfeed_delivery_lag_seconds_bucket{le="0.1"} 42
stockfeed_delivery_lag_seconds_bucket{le="+Inf"} 50
http_request_duration_seconds_count{code="200",method="get",route="/v1/lives/{live_id}/events",service="stockfeed"} 7
`
	s, err := parseSamples(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]float64{
		"go_goroutines":                                   20019,
		"go_memstats_heap_inuse_bytes":                    1.8e8,
		`stockfeed_delivery_lag_seconds_bucket{le="0.1"}`: 42,
		`http_request_duration_seconds_count{code="200",method="get",route="/v1/lives/{live_id}/events",service="stockfeed"}`: 7,
	} {
		if got := s[k]; got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	if _, err := parseSamples(strings.NewReader("broken\n")); err == nil {
		t.Error("parseSamples accepted a line without a value")
	}
}

func TestServerLagBetween(t *testing.T) {
	before := samples{lagMetric + "_count": 100, lagMetric + "_sum": 1}
	after := samples{
		lagMetric + "_count":                          1100,
		lagMetric + "_sum":                            11,
		lagMetric + `_bucket{le="0.05"}`:              900,
		lagMetric + `_bucket{le="0.1"}`:               1095,
		lagMetric + `_bucket{le="+Inf"}`:              1100,
		`stockfeed_events_out_total`:                  1000,
		`stockfeed_events_in_total{result="applied"}`: 10,
	}
	got := serverLagBetween(before, after)
	if got.Deliveries != 1000 || got.Sum != 10 || got.P99Bound != 0.1 || got.EventsOut != 1000 || got.EventsIn != 10 {
		t.Errorf("serverLagBetween = %+v, want 1000 deliveries, sum 10, p99 bound 0.1, 1000 out, 10 in", got)
	}
}

func TestTail(t *testing.T) {
	tl := newTail(2)
	tl.Write([]byte("one\ntwo\nthr"))
	tl.Write([]byte("ee\nfour"))
	if got, want := tl.indented(), "\n    two\n    three"; got != want {
		t.Errorf("tail = %q, want %q", got, want)
	}
}
