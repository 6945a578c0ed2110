package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"livecommerce/edge-invalidator/app"
	"livecommerce/internal/natstest"
	"livecommerce/internal/stock"
)

// fakeEdge plays the Varnish purge listener: PURGE / with an xkey header.
type fakeEdge struct {
	mu    sync.Mutex
	xkeys []string
}

func (f *fakeEdge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	xkey := r.Header.Get("xkey")
	if r.Method != "PURGE" || r.URL.Path != "/" || xkey == "" {
		http.Error(w, "want PURGE / with xkey", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.xkeys = append(f.xkeys, xkey)
	f.mu.Unlock()
	fmt.Fprintf(w, `{"purged":%d}`, len(strings.Fields(xkey)))
}

func (f *fakeEdge) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.xkeys)
}

// freeAddr finds a loopback port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func until(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func get(url string) (int, string) {
	res, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestRun(t *testing.T) {
	ns := natstest.Start(t)
	edge := &fakeEdge{}
	edgeSrv := httptest.NewServer(edge)
	t.Cleanup(edgeSrv.Close)
	addr := freeAddr(t)
	cfg, err := app.Load(nil, env(map[string]string{
		"NATS_URL":              ns.URL,
		"EDGE_INVALIDATOR_ADDR": addr,
		"VARNISH_PURGE_URLS":    edgeSrv.URL,
		"PURGE_WINDOW":          "250ms",
		"PURGE_CALL_TIMEOUT":    "2s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cancel()
			<-done
		}
	})

	base := "http://" + addr
	until(t, 5*time.Second, "/healthz", func() bool { code, _ := get(base + "/healthz"); return code == http.StatusOK })
	until(t, 10*time.Second, "/readyz", func() bool { code, _ := get(base + "/readyz"); return code == http.StatusOK })
	_, metrics := get(base + "/metrics")
	for _, series := range []string{
		"edge_invalidator_events_total", "edge_invalidator_purge_tags_requested_total",
		"edge_invalidator_purge_calls_total", "edge_invalidator_purge_batch_tags",
		"edge_invalidator_purge_failures_total", "edge_invalidator_purge_lag_seconds",
		"edge_invalidator_breaker_open", "edge_invalidator_tags_waiting",
	} {
		if !strings.Contains(metrics, series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}

	// Readiness means the consumer exists, and with it the stream Run
	// keeps in place.
	nc, err := nats.Connect(ns.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := json.Marshal(stock.NewEvent(stock.Level{SKU: "A1", LiveID: "L1", Remaining: 0,
		Status: stock.SoldOut, Version: 1, UpdatedAt: time.Now()}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, stock.StatusSubject("L1", "A1"), ev); err != nil {
		t.Fatal(err)
	}
	until(t, 5*time.Second, "a purge at the edge", func() bool { return len(edge.got()) > 0 })
	if got, want := edge.got(), []string{"sku-A1 live-L1"}; !slices.Equal(got, want) {
		t.Errorf("edge got xkey %q, want %q", got, want)
	}
	until(t, 5*time.Second, "the purge counted", func() bool {
		_, m := get(base + "/metrics")
		return strings.Contains(m, "edge_invalidator_purge_calls_total 1\n") &&
			strings.Contains(m, `edge_invalidator_events_total{result="transition"} 1`)
	})

	start := time.Now()
	cancel()
	stopped = true
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of cancelling its context")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Run took %v to stop, want it prompt", took)
	}
	if code, _ := get(base + "/healthz"); code != 0 {
		t.Errorf("ops server still answers %d after Run returned", code)
	}
}

func TestRunRefusesBadSettings(t *testing.T) {
	// Settings not from Load: Run checks the backend before it starts.
	err := app.Run(context.Background(), app.Config{Backend: "fastly", Addr: freeAddr(t)}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "PURGE_BACKEND") {
		t.Errorf("got %v, want an error naming PURGE_BACKEND", err)
	}
}
