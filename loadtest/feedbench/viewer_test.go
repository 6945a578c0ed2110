package feedbench

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// feedServer serves body as an event stream, then holds it open until the
// request ends.
func feedServer(t *testing.T, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, body)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestViewerRun(t *testing.T) {
	skus := map[string]int{"sku-000": 0}
	snapshot := "event: snapshot\ndata: {\"products\":[{\"sku\":\"sku-000\",\"live_id\":\"L\",\"version\":1,\"updated_at\":\"2026-01-02T03:04:05Z\"}]}\n\n"
	stock := "event: stock\nid: sku-000:2\ndata: {\"sku\":\"sku-000\",\"live_id\":\"L\",\"remaining\":5,\"status\":\"in_stock\",\"version\":2,\"updated_at\":\"2026-01-02T03:04:05Z\"}\n\n"
	addr := feedServer(t, snapshot+stock)
	ctx, cancel := context.WithCancel(t.Context())
	v := newViewer(0, "L", skus)
	connected := make(chan error, 1)
	go v.run(ctx, addr, "/v1/lives/L/events", 5*time.Second, func(err error) { connected <- err })
	if err := <-connected; err != nil {
		t.Fatalf("connect: %v", err)
	}
	for deadline := time.Now().Add(5 * time.Second); !v.page.Reached([]int64{2}) && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-v.done
	if v.endErr != nil || v.page.Events != 1 || !v.page.Reached([]int64{2}) {
		t.Errorf("got end %v, %d events, versions %v; want no error, 1 event and version 2", v.endErr, v.page.Events, v.page.Versions())
	}

	// An unreadable snapshot is a failed connect.
	addr = feedServer(t, "event: snapshot\ndata: {\n\n")
	v = newViewer(0, "L", skus)
	go v.run(t.Context(), addr, "/v1/lives/L/events", 5*time.Second, func(err error) { connected <- err })
	if err := <-connected; err == nil || !strings.Contains(err.Error(), "snapshot") {
		t.Errorf("an unreadable snapshot: got %v, want a snapshot error", err)
	}
	<-v.done
}
