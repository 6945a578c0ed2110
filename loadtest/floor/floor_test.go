package floor

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"livecommerce/loadtest/cpucost"
)

func TestQuantile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{ms(7), 0.5, 7 * time.Millisecond},
		{ms(7), 0.99, 7 * time.Millisecond},
		{ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.99, 10 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0, time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 1, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := quantile(tt.sorted, tt.q); got != tt.want {
			t.Errorf("quantile(%v, %g): got %v, want %v", tt.sorted, tt.q, got, tt.want)
		}
	}
}

func TestCost(t *testing.T) {
	us := time.Microsecond
	f := Floor{
		HTTP:   Probe{Ops: 100, P50: 60 * us, ClientCPU: 20 * us, ServerCPU: 25 * us, ServerSeen: true},
		Script: Probe{Ops: 100, P50: 40 * us, ClientCPU: 10 * us, ServerCPU: 8 * us, ServerSeen: true},
		Commit: Probe{Ops: 100, P50: 900 * us, ClientCPU: 12 * us, ServerCPU: 50 * us, ServerSeen: true},
	}
	cpu, lat, ok := f.Cost(cpucost.Purchase)
	// The serving side of HTTP (25), both sides of EVALSHA (18) and of the commit (62).
	if !ok || cpu != 105*us || lat != 1000*us {
		t.Errorf("purchase: got %v, %v, %v; want 105µs of CPU and 1ms", cpu, lat, ok)
	}
	cpu, lat, ok = f.Cost(cpucost.Read)
	if !ok || cpu != 25*us || lat != 60*us {
		t.Errorf("read: got %v, %v, %v; want 25µs and 60µs", cpu, lat, ok)
	}
	if _, _, ok := f.Cost(cpucost.Event); ok {
		t.Error("event: got a floor; want none")
	}
	for name, broken := range map[string]func(*Floor){
		"commit failed":         func(f *Floor) { f.Commit.Err = "boom" },
		"no EVALSHA done":       func(f *Floor) { f.Script.Ops = 0 },
		"Redis not told apart":  func(f *Floor) { f.Script.ServerSeen = false },
		"HTTP server not known": func(f *Floor) { f.HTTP.ServerSeen = false },
	} {
		g := f
		broken(&g)
		if _, _, ok := g.Cost(cpucost.Purchase); ok {
			t.Errorf("%s: got a purchase floor", name)
		}
	}
	g := f
	g.Commit.Err = "boom"
	if _, _, ok := g.Cost(cpucost.Read); !ok {
		t.Error("a read needs no commit: got no floor")
	}
}

// TestMeasureHTTP times a few round trips against a server in this
// process, which is therefore not told apart from the client.
func TestMeasureHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/products/FLOOR/stock" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"sku":"FLOOR"}`))
	}))
	defer srv.Close()
	f := Measure(t.Context(), Targets{HTTPBase: srv.URL, HTTPPath: "/v1/products/FLOOR/stock", Table: "floor_test"}, 50*time.Millisecond)
	h := f.HTTP
	if !h.OK() || h.Ops < 1 || h.P50 <= 0 || h.P99 < h.P50 || h.ServerSeen || h.ServerGroup != cpucost.StaticServer {
		t.Errorf("HTTP: got %+v, want round trips timed, the server not told apart", h)
	}
	if f.Script.OK() || f.Script.Err != "no Redis" || f.Commit.OK() || f.Commit.Err != "no database" {
		t.Errorf("got %q and %q, want the probes without a target skipped", f.Script.Err, f.Commit.Err)
	}

	f = Measure(t.Context(), Targets{HTTPBase: srv.URL, HTTPPath: "/nowhere"}, 50*time.Millisecond)
	if f.HTTP.OK() || !strings.Contains(f.HTTP.Err, "status 404") {
		t.Errorf("a 404: got %+v, want the probe failed naming the status", f.HTTP)
	}
	if f := Measure(t.Context(), Targets{}, 50*time.Millisecond); f.HTTP.OK() || !strings.Contains(f.HTTP.Err, "LOADGEN_STATIC_URL") {
		t.Errorf("no static server: got %+v", f.HTTP)
	}
}

func TestMeasureCommitRefusesHostileTableNames(t *testing.T) {
	for _, name := range []string{"", "orders; DROP TABLE orders", "Floor", "1floor", "floor-x", "lc_bench.orders", "floor`x", strings.Repeat("f", 65)} {
		p := measureCommit(t.Context(), nil, name, time.Millisecond)
		if p.OK() || !strings.Contains(p.Err, "scratch table") {
			t.Errorf("table %q: got %+v, want it refused before any statement", name, p)
		}
	}
}
