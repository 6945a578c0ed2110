package app_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"livecommerce/internal/sseclient"
	"livecommerce/internal/stock"
	"livecommerce/stockfeed/app"
	"livecommerce/stockfeed/feedtest"
)

// readIDs reads stock events until every sku in want has reached its
// version there, and returns their ids in the order read.
func readIDs(t *testing.T, s *feedtest.Stream, want map[string]int64) ([]string, error) {
	t.Helper()
	var ids []string
	at := map[string]int64{}
	for reached := 0; reached < len(want); {
		b, err := s.NextEvent(10 * time.Second)
		if err != nil {
			return ids, fmt.Errorf("after %v: %w", ids, err)
		}
		if b.Type != "stock" {
			return ids, fmt.Errorf("after %v: a %s event, want stock events", ids, b.Type)
		}
		l := decodeLevel(t, b.Data)
		if id := l.SKU + ":" + strconv.FormatInt(l.Version, 10); b.LastEventID != id {
			return ids, fmt.Errorf("event id %q carries %s", b.LastEventID, id)
		}
		if l.Version <= at[l.SKU] {
			return ids, fmt.Errorf("sku %s went from version %d to %d", l.SKU, at[l.SKU], l.Version)
		}
		at[l.SKU] = l.Version
		if l.Version == want[l.SKU] {
			reached++
		}
		ids = append(ids, b.LastEventID)
	}
	return ids, nil
}

// TestViewersShareTheStream: the viewers of one live, fed by the live's
// one fan-out over real sockets, all read the same events in the same
// order, ending on the last versions; a viewer that comes back with the
// id of an event half-way through gets exactly the skus that changed
// after it, at their newest versions, and then what the others get.
func TestViewersShareTheStream(t *testing.T) {
	n := feedtest.StartNATS(t)
	feed := feedtest.Start(t, n.URL, func(c *app.Config) { c.MaxConnsPerIP = 1000 })
	pub := feedtest.NewPublisher(t, n.URL)
	skus := []string{"A", "B", "C", "D"}
	for _, sku := range skus {
		pub.Level(feedtest.Level("SHARED", sku, 100, 1))
	}
	const viewers = 200
	streams := make([]*feedtest.Stream, viewers)
	for i := range streams {
		streams[i] = feedtest.Dial(t, feed.URL, "SHARED", "")
		if b, err := streams[i].NextEvent(10 * time.Second); err != nil || b.Type != "snapshot" {
			t.Fatalf("viewer %d: got %+v, %v; want the snapshot", i, b, err)
		}
	}

	// Rounds of changes a little faster than the window, so that some
	// windows carry several versions of a sku (coalesced) and some none.
	const last = 16
	want := map[string]int64{}
	for v := int64(2); v <= last; v++ {
		for _, sku := range skus {
			pub.Level(feedtest.Level("SHARED", sku, 100-v, v))
			want[sku] = v
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := make([][]string, viewers)
	var wg sync.WaitGroup
	for i, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids, err := readIDs(t, s, want)
			if err != nil {
				t.Errorf("viewer %d: %v", i, err)
			}
			got[i] = ids
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for i := range got {
		if !slices.Equal(got[i], got[0]) {
			t.Fatalf("viewer %d read %v, want what viewer 0 read, %v", i, got[i], got[0])
		}
	}

	// Back from half-way: only the skus that changed after that event.
	mid := got[0][len(got[0])/2]
	var missed []string
	seen := map[string]bool{}
	for _, id := range slices.Backward(got[0][len(got[0])/2+1:]) {
		sku := id[:1]
		if !seen[sku] {
			seen[sku] = true
			missed = append(missed, sku+":"+strconv.Itoa(last))
		}
	}
	// In stream order: the order of their newest versions, oldest first.
	slices.Reverse(missed)
	back := feedtest.Dial(t, feed.URL, "SHARED", mid)
	resumed := map[string]int64{}
	for _, id := range missed {
		resumed[id[:1]] = last
	}
	ids, err := readIDs(t, back, resumed)
	if err != nil {
		t.Fatalf("resumed from %s: %v", mid, err)
	}
	if !slices.Equal(ids, missed) {
		t.Fatalf("resumed from %s: read %v, want %v", mid, ids, missed)
	}

	// And from there on, the same as everyone.
	pub.Level(feedtest.Level("SHARED", "C", 50, last+1))
	for name, s := range map[string]*feedtest.Stream{"resumed viewer": back, "viewer 0": streams[0], "last viewer": streams[viewers-1]} {
		b, err := s.NextEvent(10 * time.Second)
		if err != nil || b.LastEventID != "C:17" {
			t.Errorf("%s: got %+v, %v; want C:17 next", name, b, err)
		}
	}
}

// TestSlowViewerStreamStaysWhole: a viewer whose socket fills up part-way
// through a window is cut, and what it then reads is still a well-formed
// chunked event stream (the half-written window is finished before the
// goodbye, or the stream just stops), while a viewer that reads gets
// every change.
func TestSlowViewerStreamStaysWhole(t *testing.T) {
	n := feedtest.StartNATS(t)
	feed := feedtest.Start(t, n.URL, func(c *app.Config) {
		c.QueueLen = 4
		c.Window = 5 * time.Millisecond
		c.WriteTimeout = time.Second
	})
	pub := feedtest.NewPublisher(t, n.URL)
	const skus = 50
	for i := range skus {
		pub.Level(feedtest.Level("HALF", fmt.Sprintf("sku-%02d", i), 1000, 1))
	}
	conn := dialNonReader(t, feed.URL, "HALF")
	fast := watch(t, feedtest.Dial(t, feed.URL, "HALF", ""))
	waitFor(t, 10*time.Second, "both viewers connected", func() bool { return feed.Streams() == 2 })

	last := publishUntilSlowCut(t, feed, pub, "HALF", skus)
	if metric(t, feed.OpsURL, "stockfeed_clients_dropped_total", `reason="slow_consumer"`) == 0 {
		t.Fatal("the viewer that does not read was never cut")
	}

	// Read everything the slow viewer was sent.
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := sseclient.NewReader(resp.Body)
	versions := map[string]int64{}
	var events int
	var disconnect string
	for {
		b, err := r.Next()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break // the stream ended, at the goodbye or at a write that timed out
		}
		if err != nil {
			t.Fatalf("slow viewer's stream after %d events: %v", events, err)
		}
		switch b.Type {
		case "", "snapshot": // a retry hint or a heartbeat; the first state
		case "stock":
			var l stock.Level
			if err := json.Unmarshal([]byte(b.Data), &l); err != nil {
				t.Fatalf("slow viewer's event %d: %v (data %q)", events, err, b.Data)
			}
			if l.Version <= versions[l.SKU] {
				t.Fatalf("slow viewer: sku %s went from version %d to %d", l.SKU, versions[l.SKU], l.Version)
			}
			versions[l.SKU] = l.Version
			events++
		case "disconnect":
			disconnect = b.Data
		default:
			t.Fatalf("slow viewer: a %q event", b.Type)
		}
	}
	if disconnect != "" && !strings.Contains(disconnect, `"reason":"slow_consumer"`) {
		t.Errorf("slow viewer's goodbye %s, want reason slow_consumer", disconnect)
	}
	t.Logf("the slow viewer read %d stock events, goodbye %q", events, disconnect)

	waitFor(t, 10*time.Second, "the reading viewer on the last round", func() bool {
		return fast.version("sku-00") == last && fast.version("sku-49") == last
	})
	if err := fast.problem(); err != nil {
		t.Errorf("reading viewer: %v", err)
	}
}
