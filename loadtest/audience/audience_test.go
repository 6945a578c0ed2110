package audience

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"livecommerce/internal/feedclient"
	"livecommerce/internal/sseclient"
	"livecommerce/internal/stock"
	"livecommerce/loadtest/scenario"
)

// audienceFixture is 2 lives of 3 skus and 3 viewers: viewers 0 and 2
// watch live 0, viewer 1 live 1.
func audienceFixture(t *testing.T) (*scenario.Plan, *Audience) {
	t.Helper()
	cfg := scenario.Config{Lives: 2, SKUsPerLive: 3, HotSKUsPerLive: 1, Seed: 1}
	p := scenario.NewPlan(&cfg, "bVIEW")
	a, err := New(p, "http://127.0.0.1:1", 3)
	if err != nil {
		t.Fatal(err)
	}
	return p, a
}

var eventTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// stockEvent is the feed's stock event for version of sku, claiming live.
func stockEvent(t *testing.T, p *scenario.Plan, sku int, version int64, live int) sseclient.Block {
	t.Helper()
	id := p.SKUs[sku].ID
	b, err := json.Marshal(stock.Level{SKU: id, LiveID: p.Lives[live], Remaining: 5, Status: stock.InStock, Version: version, UpdatedAt: eventTime})
	if err != nil {
		t.Fatal(err)
	}
	return sseclient.Block{Type: "stock", Data: string(b), LastEventID: id + ":" + strconv.FormatInt(version, 10)}
}

// snapshotEvent is a live's snapshot with the given versions by sku index.
func snapshotEvent(t *testing.T, p *scenario.Plan, versions map[int]int64) sseclient.Block {
	t.Helper()
	var snap struct {
		Products []stock.Level `json:"products"`
	}
	for sku, v := range versions {
		snap.Products = append(snap.Products, stock.Level{SKU: p.SKUs[sku].ID, LiveID: p.Lives[p.SKUs[sku].Live], Version: v, UpdatedAt: eventTime})
	}
	b, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	return sseclient.Block{Type: "snapshot", Data: string(b)}
}

func wantVersions(t *testing.T, v *viewer, want ...int64) {
	t.Helper()
	got := v.page.Versions()
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("viewer %d: got versions %v, want %v", v.n, got, want)
			return
		}
	}
}

func TestNewAudience(t *testing.T) {
	p, a := audienceFixture(t)
	if len(a.viewers) != 3 || a.addr != "127.0.0.1:1" {
		t.Fatalf("got %d viewers of %q, want 3 of 127.0.0.1:1", len(a.viewers), a.addr)
	}
	for i, v := range a.viewers {
		if v.n != i || v.live != i%2 || len(v.page.Versions()) != 3 {
			t.Errorf("viewer %d: got n %d, live %d, %d versions", i, v.n, v.live, len(v.page.Versions()))
		}
	}
	if _, err := New(p, "http://[::1", 1); err == nil {
		t.Error("New with a bad feed URL: got no error")
	}
}

func TestAudienceHandle(t *testing.T) {
	p, a := audienceFixture(t)
	v := a.viewers[0] // live 0: skus 0, 1, 2
	now := eventTime.Add(time.Second)

	// The first snapshot sets the versions; another live's sku in it is
	// ignored.
	v.page.Handle(snapshotEvent(t, p, map[int]int64{0: 3, 1: 1, 4: 9}), now)
	wantVersions(t, v, 3, 1, 0)
	if v.page.Resnapshots != 0 {
		t.Errorf("snapshots after the first: got %d, want 0", v.page.Resnapshots)
	}

	steps := []struct {
		name  string
		block sseclient.Block
	}{
		{"version 4 of sku 0", stockEvent(t, p, 0, 4, 0)},
		{"version 5 of sku 0", stockEvent(t, p, 0, 5, 0)},
		{"version 2 of sku 2", stockEvent(t, p, 2, 2, 0)},
		{"an older version 4 of sku 0", stockEvent(t, p, 0, 4, 0)},
		{"the same version 2 of sku 2", stockEvent(t, p, 2, 2, 0)},
		{"unreadable data", sseclient.Block{Type: "stock", Data: "{", LastEventID: p.SKUs[0].ID + ":6"}},
		{"an id that names another version", sseclient.Block{Type: "stock", Data: stockEvent(t, p, 0, 7, 0).Data, LastEventID: p.SKUs[0].ID + ":8"}},
		{"another live's event", stockEvent(t, p, 4, 3, 1)},
		{"another live's sku claimed for this live", stockEvent(t, p, 4, 3, 0)},
		{"an unknown sku", sseclient.Block{Type: "stock", Data: strings.Replace(stockEvent(t, p, 0, 9, 0).Data, p.SKUs[0].ID, "nope", 1), LastEventID: "nope:9"}},
		{"a huge hostile event", sseclient.Block{Type: "stock", Data: `{"sku":"` + strings.Repeat("A", 1<<20) + `"}`, LastEventID: strings.Repeat(":", 1<<16)}},
		{"a message", sseclient.Block{Type: "message", Data: "hello"}},
		{"a heartbeat", sseclient.Block{Comments: 1}},
	}
	for _, s := range steps {
		v.page.Handle(s.block, now)
	}
	wantVersions(t, v, 5, 1, 2)
	if v.page.Events != 5 || v.page.Reordered != 2 || v.page.Malformed != 6 {
		t.Errorf("got %d events, %d out of order, %d unreadable; want 5, 2 and 6", v.page.Events, v.page.Reordered, v.page.Malformed)
	}

	// A later snapshot counts as a fresh one and never lowers a version.
	v.page.Handle(snapshotEvent(t, p, map[int]int64{0: 2, 1: 6}), now)
	wantVersions(t, v, 5, 6, 2)
	if v.page.Resnapshots != 1 {
		t.Errorf("snapshots after the first: got %d, want 1", v.page.Resnapshots)
	}
	v.page.Handle(sseclient.Block{Type: "snapshot", Data: "not json"}, now)
	if v.page.Malformed != 7 || v.page.Resnapshots != 2 {
		t.Errorf("an unreadable snapshot: got %d unreadable and %d snapshots, want 7 and 2", v.page.Malformed, v.page.Resnapshots)
	}
	// Other viewers are untouched.
	wantVersions(t, a.viewers[2], 0, 0, 0)
	if v.page.Lag.TotalCount() != 0 {
		t.Errorf("lag recorded while not recording: got %d, want none", v.page.Lag.TotalCount())
	}
}

func TestAudienceRecordsLag(t *testing.T) {
	p, a := audienceFixture(t)
	v := a.viewers[1]                                                    // live 1: skus 3, 4, 5
	v.page.Handle(stockEvent(t, p, 4, 1, 1), eventTime.Add(time.Second)) // not recording
	a.recording.Store(true)
	v.page.Handle(stockEvent(t, p, 4, 2, 1), eventTime.Add(20*time.Millisecond))
	v.page.Handle(stockEvent(t, p, 4, 2, 1), eventTime.Add(time.Hour))         // out of order: no lag
	v.page.Handle(stockEvent(t, p, 5, 1, 1), eventTime.Add(-time.Millisecond)) // before its updated_at
	a.recording.Store(false)
	v.page.Handle(stockEvent(t, p, 4, 3, 1), eventTime.Add(time.Minute))
	if got := v.page.Lag.TotalCount(); got != 2 {
		t.Fatalf("recorded %d lags, want 2", got)
	}
	if v.page.Early != 1 {
		t.Errorf("early events: got %d, want 1", v.page.Early)
	}
	if max := v.page.Lag.Max(); max < 19_800 || max > 20_200 {
		t.Errorf("largest lag %d µs, want about 20,000", max)
	}
	// A lag past the histogram's range is kept at its top, not lost.
	a.recording.Store(true)
	v.page.Handle(stockEvent(t, p, 4, 9, 1), eventTime.Add(time.Hour))
	if v.page.Lag.TotalCount() != 3 || v.page.Lag.Max() < feedclient.LagMax*99/100 {
		t.Errorf("an hour's lag: count %d, max %d µs", v.page.Lag.TotalCount(), v.page.Lag.Max())
	}
}

func TestAudienceConverged(t *testing.T) {
	p, a := audienceFixture(t)
	final := make([]int64, len(p.SKUs))
	final[0], final[2] = 4, 1 // live 0; live 1's skus never changed
	a.viewers[0].page.Handle(stockEvent(t, p, 0, 4, 0), eventTime)
	a.viewers[0].page.Handle(stockEvent(t, p, 2, 1, 0), eventTime)
	a.viewers[2].page.Handle(stockEvent(t, p, 0, 3, 0), eventTime)

	// Viewer 2 is behind on sku 0: with no time to wait, 2 of 3.
	if got := a.Converged(t.Context(), final, 0); got != 2 {
		t.Errorf("converged with a viewer behind: got %d, want 2", got)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if got := a.Converged(ctx, final, time.Hour); got != 2 {
		t.Errorf("converged with an ended context: got %d, want 2", got)
	}
	a.viewers[2].page.Handle(stockEvent(t, p, 0, 4, 0), eventTime)
	a.viewers[2].page.Handle(stockEvent(t, p, 2, 1, 0), eventTime)
	if got := a.Converged(t.Context(), final, time.Hour); got != 3 {
		t.Errorf("converged with every viewer up to date: got %d, want 3", got)
	}
}

func TestAudienceStats(t *testing.T) {
	p, a := audienceFixture(t)
	a.recording.Store(true)
	v0, v1, v2 := a.viewers[0], a.viewers[1], a.viewers[2]
	v0.page.Handle(stockEvent(t, p, 0, 1, 0), eventTime.Add(5*time.Millisecond))
	v0.page.Handle(stockEvent(t, p, 0, 2, 0), eventTime.Add(-time.Millisecond)) // early
	v1.page.Handle(stockEvent(t, p, 4, 1, 1), eventTime.Add(20*time.Millisecond))
	v2.page.Handle(stockEvent(t, p, 0, 1, 0), eventTime.Add(5*time.Millisecond))
	v2.page.Handle(stockEvent(t, p, 0, 1, 0), eventTime.Add(6*time.Millisecond)) // out of order
	v2.page.Handle(sseclient.Block{Type: "stock", Data: "{"}, eventTime)
	v2.page.Handle(snapshotEvent(t, p, map[int]int64{0: 1}), eventTime) // after events: a fresh snapshot
	v1.reconnects = 2
	v1.endErr = errors.New("stream ended")
	a.failed = []error{errors.New("refused")}
	a.connected.Store(2)

	fs := a.Stats()
	if fs.Viewers != 3 || fs.Connected != 2 {
		t.Errorf("got %d viewers, %d connected; want 3 and 2", fs.Viewers, fs.Connected)
	}
	if fs.Events != 5 || fs.Reordered != 1 || fs.Malformed != 1 || fs.Resnapshots != 1 || fs.Reconnects != 2 || fs.Early != 1 {
		t.Errorf("got %+v", fs)
	}
	lag := fs.Lag
	if lag.Count != 4 || lag.Name != scenario.OpEvent {
		t.Errorf("lag: got %d of %q, want 4 of %q", lag.Count, lag.Name, scenario.OpEvent)
	}
	if lag.Max < 19800*time.Microsecond || lag.Max > 20200*time.Microsecond {
		t.Errorf("lag max: got %s, want 20ms", lag.Max)
	}
	if len(fs.FirstErrors) != 2 {
		t.Errorf("first errors: %q", fs.FirstErrors)
	}
}
