package livepage

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"livecommerce/internal/feedclient"
	"livecommerce/internal/sseclient"
	"livecommerce/internal/stock"
)

var eventTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// skus is a live of three products.
var skus = map[string]int{"A": 0, "B": 1, "C": 2}

func stockEvent(t *testing.T, live, sku string, version int64) sseclient.Block {
	t.Helper()
	b, err := json.Marshal(stock.Level{SKU: sku, LiveID: live, Remaining: 5, Status: stock.InStock, Version: version, UpdatedAt: eventTime})
	if err != nil {
		t.Fatal(err)
	}
	return sseclient.Block{Type: "stock", Data: string(b), LastEventID: sku + ":" + strconv.FormatInt(version, 10)}
}

func snapshotEvent(t *testing.T, live string, versions map[string]int64) sseclient.Block {
	t.Helper()
	var snap struct {
		Products []stock.Level `json:"products"`
	}
	for sku, v := range versions {
		snap.Products = append(snap.Products, stock.Level{SKU: sku, LiveID: live, Version: v, UpdatedAt: eventTime})
	}
	b, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	return sseclient.Block{Type: "snapshot", Data: string(b)}
}

func wantVersions(t *testing.T, p *Page, want ...int64) {
	t.Helper()
	got := p.Versions()
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("got versions %v, want %v", got, want)
			return
		}
	}
}

func TestHandle(t *testing.T) {
	p := New("L1", skus, nil)
	now := eventTime.Add(time.Second)
	// The first snapshot sets the versions; an unknown sku in it is
	// ignored.
	p.Handle(snapshotEvent(t, "L1", map[string]int64{"A": 3, "B": 1, "X": 9}), now)
	wantVersions(t, p, 3, 1, 0)
	for _, b := range []sseclient.Block{
		stockEvent(t, "L1", "A", 4),
		stockEvent(t, "L1", "A", 5),
		stockEvent(t, "L1", "C", 2),
		stockEvent(t, "L1", "A", 4), // older
		stockEvent(t, "L1", "C", 2), // the same
		{Type: "stock", Data: "{", LastEventID: "A:6"},
		{Type: "stock", Data: stockEvent(t, "L1", "A", 7).Data, LastEventID: "A:8"}, // the id names another version
		stockEvent(t, "L2", "A", 9), // another live's
		stockEvent(t, "L1", "X", 1), // an unknown sku
		{Type: "message", Data: "hello"},
		{Comments: 1},
	} {
		p.Handle(b, now)
	}
	wantVersions(t, p, 5, 1, 2)
	if p.Events != 5 || p.Reordered != 2 || p.Malformed != 4 || p.Resnapshots != 0 {
		t.Errorf("got %d events, %d out of order, %d unreadable, %d fresh snapshots; want 5, 2, 4 and 0", p.Events, p.Reordered, p.Malformed, p.Resnapshots)
	}
	if p.Lag.TotalCount() != 3 {
		t.Errorf("lags: got %d, want one per new version", p.Lag.TotalCount())
	}
	// A later snapshot counts as a fresh one and never lowers a version.
	p.Handle(snapshotEvent(t, "L1", map[string]int64{"A": 2, "B": 6}), now)
	wantVersions(t, p, 5, 6, 2)
	p.Handle(sseclient.Block{Type: "snapshot", Data: "not json"}, now)
	if p.Resnapshots != 2 || p.Malformed != 5 {
		t.Errorf("got %d fresh snapshots and %d unreadable, want 2 and 5", p.Resnapshots, p.Malformed)
	}
	p.Handle(sseclient.Block{Type: "disconnect", Data: `{"reason":"slow_consumer"}`}, now)
	if p.Disconnect != "slow_consumer" {
		t.Errorf("disconnect: got %q", p.Disconnect)
	}
	p.Handle(sseclient.Block{Type: "disconnect", Data: "?"}, now)
	if p.Disconnect != "unreadable" {
		t.Errorf("an unreadable disconnect: got %q", p.Disconnect)
	}
}

func TestLagWhileRecording(t *testing.T) {
	var recording atomic.Bool
	p := New("L1", skus, &recording)
	p.Handle(stockEvent(t, "L1", "A", 1), eventTime.Add(time.Second)) // not recording
	recording.Store(true)
	p.Handle(stockEvent(t, "L1", "A", 2), eventTime.Add(20*time.Millisecond))
	p.Handle(stockEvent(t, "L1", "A", 2), eventTime.Add(time.Hour))         // out of order: no lag
	p.Handle(stockEvent(t, "L1", "B", 1), eventTime.Add(-time.Millisecond)) // before its updated_at
	recording.Store(false)
	p.Handle(stockEvent(t, "L1", "A", 3), eventTime.Add(time.Minute))
	if got := p.Lag.TotalCount(); got != 2 {
		t.Fatalf("recorded %d lags, want 2", got)
	}
	if p.Early != 1 {
		t.Errorf("early events: got %d, want 1", p.Early)
	}
	if max := p.Lag.Max(); max < 19_800 || max > 20_200 {
		t.Errorf("largest lag %d µs, want about 20,000", max)
	}
	// A lag past the histogram's range is kept at its top, not lost.
	recording.Store(true)
	p.Handle(stockEvent(t, "L1", "A", 9), eventTime.Add(time.Hour))
	if p.Lag.TotalCount() != 3 || p.Lag.Max() < feedclient.LagMax*99/100 {
		t.Errorf("an hour's lag: count %d, max %d µs", p.Lag.TotalCount(), p.Lag.Max())
	}
}

func TestReached(t *testing.T) {
	p := New("L1", skus, nil)
	p.Handle(stockEvent(t, "L1", "A", 4), eventTime)
	p.Handle(stockEvent(t, "L1", "C", 1), eventTime)
	for _, tc := range []struct {
		want []int64
		ok   bool
	}{
		{[]int64{4, 0, 1}, true},
		{[]int64{3, 0, 0}, true},
		{[]int64{5, 0, 1}, false},
		{[]int64{4, 1, 1}, false},
	} {
		if got := p.Reached(tc.want); got != tc.ok {
			t.Errorf("Reached(%v): got %v, want %v", tc.want, got, tc.ok)
		}
	}
}

// feedServer serves one live's stream: events, in SSE, then an end.
func feedServer(t *testing.T, events func(lastID string) string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/lives/L1/events" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, events(r.Header.Get("Last-Event-ID")))
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func sse(b sseclient.Block) string {
	s := "event: " + b.Type + "\n"
	if b.LastEventID != "" {
		s += "id: " + b.LastEventID + "\n"
	}
	return s + "data: " + b.Data + "\n\n"
}

func TestOpenAndRead(t *testing.T) {
	addr := feedServer(t, func(lastID string) string {
		if lastID != "" {
			return ": resumed\n\n" + sse(stockEvent(t, "L1", "B", 2))
		}
		return sse(snapshotEvent(t, "L1", map[string]int64{"A": 1, "B": 1})) + sse(stockEvent(t, "L1", "A", 2)) + sse(stockEvent(t, "L1", "B", 1))
	})
	p := New("L1", skus, nil)
	s, err := p.Open(t.Context(), addr, "/v1/lives/L1/events", nil, "", 5*time.Second)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	wantVersions(t, p, 1, 1, 0)
	lastID, err := p.Read(s)
	s.Close()
	if err == nil || lastID != "B:1" {
		t.Errorf("Read: got %q, %v; want the last id B:1 and the stream's end", lastID, err)
	}
	wantVersions(t, p, 2, 1, 0)

	// Resuming, the feed may go straight on without a snapshot.
	s, err = p.Open(t.Context(), addr, "/v1/lives/L1/events", http.Header{"X-Forwarded-For": {"10.0.0.1"}}, lastID, 5*time.Second)
	if err != nil {
		t.Fatalf("Open resuming: %v", err)
	}
	s.Close()
	wantVersions(t, p, 2, 2, 0)
	if p.Reordered != 1 || p.Resnapshots != 0 {
		t.Errorf("got %d out of order and %d fresh snapshots, want 1 and 0", p.Reordered, p.Resnapshots)
	}
}

func TestOpenWantsASnapshotFirst(t *testing.T) {
	addr := feedServer(t, func(string) string { return sse(stockEvent(t, "L1", "A", 2)) })
	p := New("L1", skus, nil)
	_, err := p.Open(t.Context(), addr, "/v1/lives/L1/events", nil, "", 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "want snapshot") {
		t.Errorf("got %v, want an error asking for a snapshot", err)
	}
	if _, err := p.Open(t.Context(), addr, "/v1/lives/L2/events", nil, "", 5*time.Second); err == nil {
		t.Error("a stream that is not there: got no error")
	}
}
