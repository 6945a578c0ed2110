package feedmetrics

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

// exposition is /metrics text as the stockfeed writes it: count lag
// observations summing sum seconds, b05 and b1 of them within 0.05 s and
// 0.1 s, and out events written.
func exposition(count, b05, b1 int, sum float64, out int) string {
	n := strconv.Itoa
	return strings.NewReplacer("COUNT", n(count), "B05", n(b05), "B1", n(b1), "SUM", strconv.FormatFloat(sum, 'g', -1, 64), "OUT", n(out)).Replace(`# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 20019
# TYPE go_memstats_heap_inuse_bytes gauge
go_memstats_heap_inuse_bytes 1.8e+08
# TYPE go_memstats_stack_inuse_bytes gauge
go_memstats_stack_inuse_bytes 4.2e+07
# HELP stockfeed_delivery_lag_seconds Lag from a change's updated_at to its write.
# TYPE stockfeed_delivery_lag_seconds histogram
stockfeed_delivery_lag_seconds_bucket{le="0.05"} B05
stockfeed_delivery_lag_seconds_bucket{le="0.1"} B1
stockfeed_delivery_lag_seconds_bucket{le="+Inf"} COUNT
stockfeed_delivery_lag_seconds_sum SUM
stockfeed_delivery_lag_seconds_count COUNT
# TYPE stockfeed_events_out_total counter
stockfeed_events_out_total OUT
# TYPE stockfeed_events_in_total counter
stockfeed_events_in_total{result="applied"} 10
stockfeed_events_in_total{result="stale"} 4
# TYPE stockfeed_clients_dropped_total counter
stockfeed_clients_dropped_total{reason="slow_consumer"} 2
# TYPE http_requests_total counter
http_requests_total{code="200",method="get",route="/v1/lives/{live_id}/events",service="stockfeed"} 7
`)
}

func parse(t *testing.T, text string) Scrape {
	t.Helper()
	s, err := Parse(strings.NewReader(text))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return s
}

func TestValue(t *testing.T) {
	s := parse(t, exposition(50, 40, 42, 1.5, 1000))
	tests := []struct {
		name   string
		labels []string
		want   float64
		ok     bool
	}{
		{"go_goroutines", nil, 20019, true},
		{"go_memstats_heap_inuse_bytes", nil, 1.8e8, true},
		{"stockfeed_events_in_total", []string{"result", "applied"}, 10, true},
		{"stockfeed_events_in_total", []string{"result", "stale"}, 4, true},
		{"stockfeed_events_in_total", nil, 0, false}, // only labelled series
		{"stockfeed_events_in_total", []string{"result", "applied", "x", "y"}, 0, false},
		{"http_requests_total", []string{"code", "200", "method", "get", "route", "/v1/lives/{live_id}/events", "service", "stockfeed"}, 7, true},
		{"http_requests_total", []string{"route", "/v1/lives/{live_id}/events", "service", "stockfeed", "code", "200", "method", "get"}, 7, true},
		{"nope", nil, 0, false},
	}
	for _, tc := range tests {
		got, ok := s.Value(tc.name, tc.labels...)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Value(%s, %q): got %v, %v; want %v, %v", tc.name, tc.labels, got, ok, tc.want, tc.ok)
		}
	}
	m, err := s.GoMemory()
	if err != nil || m.Goroutines != 20019 || m.HeapAndStack() != 1.8e8+4.2e7 {
		t.Errorf("GoMemory: got %+v, %v", m, err)
	}
	if _, err := parse(t, "# TYPE x gauge\nx 1\n").GoMemory(); err == nil {
		t.Error("GoMemory without the Go collector's series: got no error")
	}
	if _, err := Parse(strings.NewReader("broken\n")); err == nil {
		t.Error("Parse accepted a line without a value")
	}
}

func TestLagBetween(t *testing.T) {
	before := parse(t, exposition(100, 100, 100, 1, 0))
	after := parse(t, exposition(1100, 900, 1095, 11, 1000))
	got := LagBetween(before, after)
	if got.Deliveries != 1000 || got.Sum != 10 || got.P99Bound != 0.1 || got.EventsOut != 1000 || got.EventsIn != 0 || got.DropSlow != 0 {
		t.Errorf("LagBetween = %+v, want 1000 deliveries, sum 10, p99 bound 0.1, 1000 out, none in or dropped since", got)
	}
	// Past the last bound, the p99 is beyond it.
	after = parse(t, exposition(1100, 900, 950, 11, 1000))
	if got := LagBetween(before, after); !math.IsInf(got.P99Bound, 1) {
		t.Errorf("P99Bound with 5%% past the last bound: got %v, want +Inf", got.P99Bound)
	}
	// A first scrape without the histogram counts from zero.
	got = LagBetween(parse(t, "# TYPE go_goroutines gauge\ngo_goroutines 1\n"), after)
	if got.Deliveries != 1100 || got.EventsIn != 10 || got.DropSlow != 2 {
		t.Errorf("from an empty scrape: got %+v", got)
	}
}
