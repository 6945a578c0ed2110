package opsserver_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"livecommerce/internal/opsserver"
)

func TestOpsRoutes(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "things_total", Help: "Things."})
	reg.MustRegister(c)
	c.Add(3)
	var down atomic.Bool
	ready := func(context.Context) opsserver.Report {
		if down.Load() {
			return opsserver.Report{Checks: map[string]string{"db": "down"}, Problem: "not ready: db unreachable"}
		}
		return opsserver.Report{Checks: map[string]string{"db": "ok"}}
	}
	s, err := opsserver.Listen("127.0.0.1:0", "OPS_ADDR", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s.Serve(opsserver.Handler(reg, ready))
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	base := "http://" + s.Addr()

	get := func(method, path string) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, string(b)
	}
	tests := []struct {
		method, path string
		status       int
		contains     string
	}{
		{"GET", "/healthz", 200, `"status":"ok"`},
		{"GET", "/readyz", 200, `"db":"ok"`},
		{"GET", "/metrics", 200, "things_total 3"},
		{"HEAD", "/healthz", 200, ""},
		{"POST", "/healthz", 405, `"invalid_request"`},
		{"DELETE", "/metrics", 405, `"invalid_request"`},
		{"GET", "/", 404, `"not_found"`},
		{"GET", "/v1/purchases", 404, `"not_found"`},
		{"GET", "/debug/pprof/", 200, "goroutine"},
		{"GET", "/debug/pprof/heap?debug=1", 200, "heap profile"},
		{"GET", "/debug/pprof/goroutine?debug=1", 200, "goroutine profile"},
		{"GET", "/debug/pprof/allocs?debug=1", 200, "heap profile"},
		{"GET", "/debug/pprof/symbol", 200, "num_symbols"},
		{"GET", "/debug/pprof/cmdline", 404, `"not_found"`},
		{"GET", "/debug/pprof/nonsense", 404, "Unknown profile"},
		{"POST", "/debug/pprof/profile", 405, `"invalid_request"`},
		{"DELETE", "/debug/pprof/heap", 405, `"invalid_request"`},
	}
	for _, tt := range tests {
		status, _, body := get(tt.method, tt.path)
		if status != tt.status || !strings.Contains(body, tt.contains) {
			t.Errorf("%s %s: got %d %.100s, want %d with %s", tt.method, tt.path, status, body, tt.status, tt.contains)
		}
	}

	down.Store(true)
	status, h, body := get("GET", "/readyz")
	var b struct {
		Error  struct{ Code, Message string } `json:"error"`
		Checks map[string]string              `json:"checks"`
	}
	if err := json.Unmarshal([]byte(body), &b); err != nil || status != 503 || b.Error.Code != "unavailable" || b.Checks["db"] != "down" || h.Get("Retry-After") == "" {
		t.Errorf("not ready: got %d %s (Retry-After %q), want 503 unavailable naming the check", status, body, h.Get("Retry-After"))
	}
}

// TestProfilerAnswersOnTheOpsListener takes a short CPU profile the way
// the load test does: gzipped protobuf, which go tool pprof reads.
func TestProfilerAnswersOnTheOpsListener(t *testing.T) {
	s, err := opsserver.Listen("127.0.0.1:0", "OPS_ADDR", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s.Serve(opsserver.Handler(prometheus.NewRegistry(), func(context.Context) opsserver.Report { return opsserver.Report{} }))
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	res, err := http.Get("http://" + s.Addr() + "/debug/pprof/profile?seconds=1")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("CPU profile: got %d %.80q, want 200 and a gzip stream", res.StatusCode, b)
	}
}

func TestListenNamesTheSetting(t *testing.T) {
	s, err := opsserver.Listen("127.0.0.1:0", "OPS_ADDR", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	for _, addr := range []string{s.Addr(), "256.0.0.1:1", "nonsense", "127.0.0.1:99999"} {
		if _, err := opsserver.Listen(addr, "OPS_ADDR", slog.New(slog.DiscardHandler)); err == nil || !strings.HasPrefix(err.Error(), "OPS_ADDR: ") {
			t.Errorf("Listen(%q): got %v, want an error naming OPS_ADDR", addr, err)
		}
	}
}
