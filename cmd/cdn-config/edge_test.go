package main

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestEdgeRefusesBadSettings(t *testing.T) {
	for _, tt := range []struct{ key, val, want string }{
		{"EDGE_ADDR", "nowhere", "EDGE_ADDR"},
		{"EDGE_PURGE_ADDR", "127.0.0.1:99999", "EDGE_PURGE_ADDR"},
		{"EDGE_ORIGINS", " , ,", "EDGE_ORIGINS"},
		{"EDGE_ORIGINS", `127.0.0.1:8080,evil"; }:1`, "EDGE_ORIGINS"},
		{"EDGE_ORIGINS", "127.0.0.1:0", "EDGE_ORIGINS"},
		{"EDGE_ORIGINS", strings.Repeat("a", 10000) + ":80", "EDGE_ORIGINS"},
		{"EDGE_FEEDS", "127.0.0.1:80\n81", "EDGE_FEEDS"},
		{"EDGE_CACHE_SIZE", "1t", "EDGE_CACHE_SIZE"},
		{"EDGE_CACHE_SIZE", "1m -p vcc_allow_inline_c=on", "EDGE_CACHE_SIZE"},
		{"EDGE_PROBE_INTERVAL", "soon", "EDGE_PROBE_INTERVAL"},
		{"EDGE_PROBE_INTERVAL", "1ms", "EDGE_PROBE_INTERVAL"},
		{"EDGE_WORK_DIR", " ", "EDGE_WORK_DIR"},
		{"EDGE_WORK_DIR", "/tmp/a\nb", "EDGE_WORK_DIR"},
		{"VARNISHD", "/nonexistent/varnishd", "VARNISHD"},
		{"VARNISHD", "/etc/passwd", "VARNISHD"},
		{"VARNISHD", "/usr", "VARNISHD"},
	} {
		env := map[string]string{"EDGE_ORIGINS": "127.0.0.1:8080", tt.key: tt.val}
		r := runCmd(t, func(k string) string { return env[k] }, "edge", "--print-vcl")
		if r.code != exitConfig || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%s=%q: got exit %d, stderr %q; want exit 2 naming %s", tt.key, tt.val, r.code, r.stderr, tt.want)
		}
		if r.stdout != "" {
			t.Errorf("%s=%q: printed %d bytes despite the bad setting", tt.key, tt.val, len(r.stdout))
		}
	}
	if r := runCmd(t, env(nil, nil), "edge", "extra"); r.code != exitConfig {
		t.Errorf("extra argument: got exit %d, want 2", r.code)
	}
}

func TestEdgePrintsVCL(t *testing.T) {
	env := map[string]string{"EDGE_ORIGINS": "127.0.0.1:8080, 127.0.0.1:8082", "EDGE_FEEDS": "127.0.0.1:8081"}
	r := runCmd(t, func(k string) string { return env[k] }, "edge", "--print-vcl")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{`.port = "8080";`, `.port = "8082";`, `origins.add_backend(origin_1);`, `feeds.add_backend(feed_0);`, "import xkey;"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("VCL lacks %q", want)
		}
	}
}

// syncBuffer is written by varnishd's output copier and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestEdgeRunsUntilStopped(t *testing.T) {
	env := map[string]string{
		"EDGE_ADDR": "127.0.0.1:0", "EDGE_PURGE_ADDR": "127.0.0.1:0",
		"EDGE_ORIGINS": "127.0.0.1:9", "EDGE_WORK_DIR": t.TempDir(), "EDGE_CACHE_SIZE": "16m",
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"edge"}, &bytes.Buffer{}, &stderr, func(k string) string { return env[k] })
	}()
	ready := regexp.MustCompile(`"msg":"local edge ready","url":"(http://[^"]+)"`)
	deadline := time.Now().Add(60 * time.Second)
	var url string
	for url == "" {
		if m := ready.FindStringSubmatch(stderr.String()); m != nil {
			url = m[1]
		}
		select {
		case code := <-done:
			t.Fatalf("edge exited %d before it was ready: %s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("edge not ready after 60s: %s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// No origin listens on port 9: the edge answers for it, in the contract's shape.
	res, err := http.Get(url + "/v1/products/A1/stock")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Errorf("with no origin: got %d Retry-After %q, want 503 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("after cancel: exit %d, want 0: %s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("edge did not stop within 20s of cancel")
	}
	if _, err := http.Get(url + "/"); err == nil {
		t.Error("edge still answers after it stopped")
	}
}
