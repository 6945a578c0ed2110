package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"livecommerce/internal/stock"
	"livecommerce/internal/stockstream"
	"livecommerce/origin/stockevents"
	"livecommerce/stockfeed/app"
	"livecommerce/stockfeed/feedtest"
)

func decodeSnapshot(t *testing.T, data string) feedtest.Snapshot {
	t.Helper()
	var s feedtest.Snapshot
	if err := json.Unmarshal([]byte(data), &s); err != nil {
		t.Fatalf("snapshot %q: %v", data, err)
	}
	return s
}

func decodeLevel(t *testing.T, data string) stock.Level {
	t.Helper()
	var l stock.Level
	if err := json.Unmarshal([]byte(data), &l); err != nil {
		t.Fatalf("stock event %q: %v", data, err)
	}
	return l
}

// TestSnapshotThenChanges: a viewer gets the live's state, then each change
// with its sku:version id, in order.
func TestSnapshotThenChanges(t *testing.T) {
	n := feedtest.StartNATS(t)
	feed := feedtest.Start(t, n.URL, nil)
	pub := feedtest.NewPublisher(t, n.URL)
	pub.Level(feedtest.Level("L1", "A1", 10, 1))
	pub.Level(feedtest.Level("L1", "B2", 3, 7))

	s := feedtest.Dial(t, feed.URL, "L1", "")
	if got := s.Resp.Header.Get("Content-Type"); got != "text/event-stream" {
		t.Errorf("Content-Type = %q", got)
	}
	first, err := s.Next(5 * time.Second)
	if err != nil || first.Retry < time.Second || first.Retry > 3*time.Second {
		t.Fatalf("first block = %+v, %v; want a retry hint between 1s and 3s", first, err)
	}
	b, err := s.NextEvent(5 * time.Second)
	if err != nil || b.Type != "snapshot" {
		t.Fatalf("got %+v, %v; want the snapshot", b, err)
	}
	snap := decodeSnapshot(t, b.Data)
	if snap.LiveID != "L1" || len(snap.Products) != 2 || snap.Products[0].SKU != "A1" || snap.Products[1].Version != 7 {
		t.Fatalf("snapshot = %+v", snap)
	}
	if b.LastEventID != "B2:7" {
		t.Errorf("snapshot id = %q, want B2:7 (the newest change in it)", b.LastEventID)
	}
	for v := int64(2); v <= 4; v++ {
		pub.Level(feedtest.Level("L1", "A1", 10-v, v))
		b, err := s.NextEvent(5 * time.Second)
		if err != nil || b.Type != "stock" {
			t.Fatalf("got %+v, %v; want a stock event", b, err)
		}
		l := decodeLevel(t, b.Data)
		if l.Version != v || b.LastEventID != "A1:"+string(rune('0'+v)) {
			t.Fatalf("event %+v id %q, want version %d", l, b.LastEventID, v)
		}
	}
}

// watcher follows one stream in the background and keeps what a live page
// keeps: the highest version seen per sku. It fails the test if any sku's
// version ever goes back or repeats out of order.
type watcher struct {
	t      *testing.T
	s      *feedtest.Stream
	mu     sync.Mutex
	latest map[string]stock.Level
	events int
	err    error
	done   chan struct{}
}

func watch(t *testing.T, s *feedtest.Stream) *watcher {
	w := &watcher{t: t, s: s, latest: map[string]stock.Level{}, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			b, err := s.Next(time.Minute)
			if err != nil {
				w.fail(err)
				return
			}
			switch b.Type {
			case "snapshot":
				var snap feedtest.Snapshot
				if err := json.Unmarshal([]byte(b.Data), &snap); err != nil {
					w.fail(err)
					return
				}
				w.mu.Lock()
				for _, l := range snap.Products {
					if cur, ok := w.latest[l.SKU]; !ok || l.Version > cur.Version {
						w.latest[l.SKU] = l
					}
				}
				w.mu.Unlock()
			case "stock":
				var l stock.Level
				if err := json.Unmarshal([]byte(b.Data), &l); err != nil {
					w.fail(err)
					return
				}
				w.mu.Lock()
				if cur, ok := w.latest[l.SKU]; ok && l.Version <= cur.Version {
					w.err = fmt.Errorf("sku %s went from version %d to %d", l.SKU, cur.Version, l.Version)
				}
				w.latest[l.SKU] = l
				w.events++
				w.mu.Unlock()
			}
		}
	}()
	return w
}

func (w *watcher) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

// version is the highest version seen of sku.
func (w *watcher) version(sku string) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.latest[sku].Version
}

func (w *watcher) problem() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestThousandClients: one change reaches 1,000 concurrent viewers; every
// viewer sees each sku's versions only go up and ends on the last one.
func TestThousandClients(t *testing.T) {
	n := feedtest.StartNATS(t)
	feed := feedtest.Start(t, n.URL, func(c *app.Config) { c.MaxConnsPerIP = 2000 })
	pub := feedtest.NewPublisher(t, n.URL)
	skus := []string{"A", "B", "C"}
	for _, sku := range skus {
		pub.Level(feedtest.Level("BIG", sku, 100, 1))
	}

	const clients = 1000
	watchers := make([]*watcher, clients)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50)
	for i := range watchers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s, err := feedtest.Open(t, feed.URL, "BIG", "", nil)
			if err != nil || s.Resp.StatusCode != 200 {
				t.Errorf("client %d: %v %v", i, err, s)
				return
			}
			watchers[i] = watch(t, s)
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	waitFor(t, 30*time.Second, "every client connected", func() bool { return feed.Streams() == clients })

	// Ten changes per sku, interleaved, quickly enough that some coalesce.
	for v := int64(2); v <= 11; v++ {
		for _, sku := range skus {
			pub.Level(feedtest.Level("BIG", sku, 101-v, v))
		}
	}
	waitFor(t, 30*time.Second, "every client on version 11 of every sku", func() bool {
		for _, w := range watchers {
			for _, sku := range skus {
				if w.version(sku) != 11 {
					return false
				}
			}
		}
		return true
	})
	for i, w := range watchers {
		if err := w.problem(); err != nil {
			t.Errorf("client %d: %v", i, err)
		}
	}
}

// TestCoalescingKeepsNewest: changes of a sku within one window arrive as
// fewer events, in version order, ending on the newest.
func TestCoalescingKeepsNewest(t *testing.T) {
	n := feedtest.StartNATS(t)
	feed := feedtest.Start(t, n.URL, func(c *app.Config) { c.Window = 300 * time.Millisecond })
	pub := feedtest.NewPublisher(t, n.URL)
	pub.Level(feedtest.Level("CO", "A1", 100, 1))
	s := feedtest.Dial(t, feed.URL, "CO", "")
	if b, err := s.NextEvent(5 * time.Second); err != nil || b.Type != "snapshot" {
		t.Fatalf("got %+v, %v; want the snapshot", b, err)
	}
	for v := int64(2); v <= 21; v++ {
		pub.Level(feedtest.Level("CO", "A1", 101-v, v))
	}
	var got []int64
	for len(got) == 0 || got[len(got)-1] != 21 {
		b, err := s.NextEvent(5 * time.Second)
		if err != nil {
			t.Fatalf("after versions %v: %v", got, err)
		}
		l := decodeLevel(t, b.Data)
		if len(got) > 0 && l.Version <= got[len(got)-1] {
			t.Fatalf("versions out of order: %v then %d", got, l.Version)
		}
		got = append(got, l.Version)
	}
	if len(got) >= 20 {
		t.Errorf("20 changes within a 300ms window arrived as %d events %v; want them coalesced", len(got), got)
	}
	if m := metric(t, feed.OpsURL, "stockfeed_events_coalesced_total"); m < 1 {
		t.Errorf("stockfeed_events_coalesced_total = %v, want > 0", m)
	}
}

// metric reads one unlabelled or summed sample family from /metrics.
func metric(t *testing.T, opsURL, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get(opsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		match := true
		for _, l := range labels {
			match = match && strings.Contains(line, l)
		}
		if !match {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

// readUntil reads events until one carries sku at version, returning the
// stock events read on the way (snapshots excluded).
func readUntil(t *testing.T, s *feedtest.Stream, sku string, version int64) []stock.Level {
	t.Helper()
	var got []stock.Level
	for {
		b, err := s.NextEvent(10 * time.Second)
		if err != nil {
			t.Fatalf("waiting for %s version %d (read %v): %v", sku, version, got, err)
		}
		if b.Type == "snapshot" {
			for _, l := range decodeSnapshot(t, b.Data).Products {
				if l.SKU == sku && l.Version >= version {
					return got
				}
			}
			continue
		}
		l := decodeLevel(t, b.Data)
		got = append(got, l)
		if l.SKU == sku && l.Version >= version {
			return got
		}
	}
}

// TestResumeWithLastEventID: a viewer that reconnects with its last id gets
// exactly the skus that changed meanwhile, at their newest version; on the
// same instance and on another one.
func TestResumeWithLastEventID(t *testing.T) {
	n := feedtest.StartNATS(t)
	feed := feedtest.Start(t, n.URL, nil)
	other := feedtest.Start(t, n.URL, nil)
	pub := feedtest.NewPublisher(t, n.URL)
	for _, sku := range []string{"A", "B", "C"} {
		pub.Level(feedtest.Level("RS", sku, 50, 1))
	}
	s := feedtest.Dial(t, feed.URL, "RS", "")
	pub.Level(feedtest.Level("RS", "A", 49, 2))
	readUntil(t, s, "A", 2)
	b := s.LastEventID()
	s.Close()

	// While away: B changes twice, C once; A does not.
	pub.Level(feedtest.Level("RS", "B", 49, 2))
	pub.Level(feedtest.Level("RS", "B", 48, 3))
	pub.Level(feedtest.Level("RS", "C", 0, 2))

	for name, url := range map[string]string{"same instance": feed.URL, "another instance": other.URL} {
		t.Run(name, func(t *testing.T) {
			r := feedtest.Dial(t, url, "RS", b)
			got := map[string]int64{}
			for len(got) < 2 {
				ev, err := r.NextEvent(10 * time.Second)
				if err != nil {
					t.Fatalf("resume from %s: got %v so far: %v", b, got, err)
				}
				if ev.Type != "stock" {
					t.Fatalf("resume from %s: got a %s event, want only the missed changes", b, ev.Type)
				}
				l := decodeLevel(t, ev.Data)
				got[l.SKU] = l.Version
			}
			if got["B"] != 3 || got["C"] != 2 || len(got) != 2 {
				t.Errorf("resume from %s = %v, want B:3 and C:2 only", b, got)
			}
		})
	}
}

// TestUnknownOrExpiredIDGetsSnapshot: an id the feed cannot place (made
// up, or older than the history the stream keeps) gets a full snapshot.
func TestUnknownOrExpiredIDGetsSnapshot(t *testing.T) {
	n := feedtest.StartNATS(t)
	feed := feedtest.Start(t, n.URL, nil)
	pub := feedtest.NewPublisher(t, n.URL)
	// More changes of A than the stream keeps, so A:1 is gone everywhere.
	for v := int64(1); v <= 20; v++ {
		pub.Level(feedtest.Level("EX", "A", 100-v, v))
	}
	pub.Level(feedtest.Level("EX", "B", 7, 1))
	for _, id := range []string{"A:1", "ZZ:5", "A:999", "garbage", "A:0"} {
		s := feedtest.Dial(t, feed.URL, "EX", id)
		b, err := s.NextEvent(10 * time.Second)
		if err != nil || b.Type != "snapshot" {
			t.Fatalf("Last-Event-ID %q: got %+v, %v; want a snapshot", id, b, err)
		}
		snap := decodeSnapshot(t, b.Data)
		if len(snap.Products) != 2 || snap.Products[0].Version != 20 || snap.Products[1].Version != 1 {
			t.Errorf("Last-Event-ID %q: snapshot %+v, want A at 20 and B at 1", id, snap.Products)
		}
		s.Close()
	}
	// A:14 is within the kept history: a resume, with nothing missed but
	// the newer versions of A.
	s := feedtest.Dial(t, feed.URL, "EX", "A:14")
	b, err := s.NextEvent(10 * time.Second)
	if err != nil || b.Type != "stock" || decodeLevel(t, b.Data).Version != 20 {
		t.Fatalf("Last-Event-ID A:14: got %+v, %v; want A's version 20 as a stock event", b, err)
	}
}

// TestSlowClientIsCut: a viewer that stops reading is disconnected once its
// queue is full, and the others keep receiving without delay.
func TestSlowClientIsCut(t *testing.T) {
	n := feedtest.StartNATS(t)
	feed := feedtest.Start(t, n.URL, func(c *app.Config) {
		c.QueueLen = 4
		c.Window = 5 * time.Millisecond
		c.WriteTimeout = time.Second
	})
	pub := feedtest.NewPublisher(t, n.URL)
	const skus = 50
	for i := range skus {
		pub.Level(feedtest.Level("SLOW", fmt.Sprintf("sku-%02d", i), 1000, 1))
	}

	// The slow viewer asks for the stream with a tiny receive buffer and
	// then never reads.
	dialNonReader(t, feed.URL, "SLOW")

	fast := watch(t, feedtest.Dial(t, feed.URL, "SLOW", ""))
	waitFor(t, 10*time.Second, "both viewers connected", func() bool { return feed.Streams() == 2 })
	// The kernel buffers up to 4 MiB for the slow viewer before the
	// feed's writes to it block; past that its queue fills.
	publishUntilSlowCut(t, feed, pub, "SLOW", skus)
	waitFor(t, 10*time.Second, "the slow viewer cut", func() bool {
		return metric(t, feed.OpsURL, "stockfeed_clients_dropped_total", `reason="slow_consumer"`) == 1
	})
	waitFor(t, 10*time.Second, "the slow viewer's stream ended", func() bool { return feed.Streams() == 1 })

	// The fast viewer is still there and current.
	publishRound(t, pub, "SLOW", skus, 1000)
	waitFor(t, 10*time.Second, "the fast viewer on the last round", func() bool {
		return fast.version("sku-00") == 1000 && fast.version("sku-49") == 1000
	})
	if err := fast.problem(); err != nil {
		t.Errorf("fast viewer: %v", err)
	}
}

// TestNATSRestartMidStream: NATS goes away and comes back (same store);
// the feed follows again from where it was and viewers converge on the
// latest state, including a change published while NATS was down. The
// changes go through the origin's own publisher, so this also fails if
// the origin's events and the feed's reading of them drift apart.
func TestNATSRestartMidStream(t *testing.T) {
	n := feedtest.StartNATS(t)
	feed := feedtest.Start(t, n.URL, nil)
	nc, err := nats.Connect(n.URL, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	origin, err := stockevents.New(nc, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer origin.Close()
	origin.Publish(feedtest.Level("NR", "A", 10, 1))
	origin.Publish(feedtest.Level("NR", "B", 10, 1))
	waitFor(t, 10*time.Second, "the live known", func() bool {
		s, err := feedtest.Open(t, feed.URL, "NR", "", nil)
		if err != nil {
			return false
		}
		defer s.Close()
		return s.Resp.StatusCode == http.StatusOK
	})
	w := watch(t, feedtest.Dial(t, feed.URL, "NR", ""))
	origin.Publish(feedtest.Level("NR", "A", 9, 2))
	waitFor(t, 10*time.Second, "A at version 2", func() bool { return w.version("A") == 2 })

	n.Stop()
	origin.Publish(feedtest.Level("NR", "B", 9, 2))
	n.Start()
	waitFor(t, 20*time.Second, "the origin's connection back", nc.IsConnected)
	origin.Publish(feedtest.Level("NR", "A", 8, 3))
	waitFor(t, 30*time.Second, "the viewer on A:3 and B:2", func() bool { return w.version("A") == 3 && w.version("B") == 2 })
	if err := w.problem(); err != nil {
		t.Errorf("viewer: %v", err)
	}
	// And a viewer arriving now gets the same state.
	s := feedtest.Dial(t, feed.URL, "NR", "")
	b, err := s.NextEvent(10 * time.Second)
	if err != nil || b.Type != "snapshot" {
		t.Fatalf("got %+v, %v; want a snapshot", b, err)
	}
	snap := decodeSnapshot(t, b.Data)
	if len(snap.Products) != 2 || snap.Products[0].Version != 3 || snap.Products[1].Version != 2 {
		t.Errorf("snapshot after the restart = %+v, want A:3 and B:2", snap.Products)
	}
}

// TestFollowsOnlyWhileWatched: the first viewer of a live starts following
// it on NATS; it stops after the last leaves (at once with no linger, and
// only after the linger otherwise).
func TestFollowsOnlyWhileWatched(t *testing.T) {
	n := feedtest.StartNATS(t)
	pub := feedtest.NewPublisher(t, n.URL)
	for _, linger := range []time.Duration{0, 500 * time.Millisecond} {
		t.Run(fmt.Sprintf("linger %s", linger), func(t *testing.T) {
			feed := feedtest.Start(t, n.URL, func(c *app.Config) { c.Linger = linger })
			pub.Level(feedtest.Level("FW1", "A", 1, 1))
			pub.Level(feedtest.Level("FW2", "A", 1, 1))
			if got := feed.Following(); got != 0 {
				t.Fatalf("following %d lives before any viewer", got)
			}
			a := feedtest.Dial(t, feed.URL, "FW1", "")
			b := feedtest.Dial(t, feed.URL, "FW1", "")
			c := feedtest.Dial(t, feed.URL, "FW2", "")
			if got := feed.Following(); got != 2 {
				t.Fatalf("following %d lives with viewers on 2", got)
			}
			a.Close()
			c.Close()
			waitFor(t, 5*time.Second, "FW2 dropped", func() bool { return feed.Following() == 1 })
			b.Close()
			if linger > 0 {
				time.Sleep(linger / 5)
				if got := feed.Following(); got != 1 {
					t.Errorf("following %d lives during the linger, want 1", got)
				}
			}
			waitFor(t, 5*time.Second, "no live followed", func() bool { return feed.Following() == 0 })
		})
	}
}

// TestStaleVersionIgnored: two origin instances can publish one sku's
// versions out of order. A late older version never reaches a viewer, and
// a feed that starts later (reading the stream's last few events of the
// sku) still shows the newest.
func TestStaleVersionIgnored(t *testing.T) {
	n := feedtest.StartNATS(t)
	feed := feedtest.Start(t, n.URL, nil)
	pub := feedtest.NewPublisher(t, n.URL)
	pub.Level(feedtest.Level("ST", "A", 8, 2))
	s := feedtest.Dial(t, feed.URL, "ST", "")
	b, err := s.NextEvent(10 * time.Second)
	if err != nil || b.Type != "snapshot" || b.LastEventID != "A:2" {
		t.Fatalf("got %+v, %v; want the snapshot A:2", b, err)
	}
	stale := metric(t, feed.OpsURL, "stockfeed_events_in_total", `result="stale"`)

	pub.Level(feedtest.Level("ST", "A", 9, 1)) // late
	pub.Level(feedtest.Level("ST", "B", 4, 1)) // a marker after it
	for _, l := range readUntil(t, s, "B", 1) {
		if l.SKU == "A" {
			t.Errorf("viewer got %+v, want no event for A (version 1 is older than 2)", l)
		}
	}
	if got := metric(t, feed.OpsURL, "stockfeed_events_in_total", `result="stale"`) - stale; got != 1 {
		t.Errorf(`stockfeed_events_in_total{result="stale"} rose by %v, want 1`, got)
	}

	for name, url := range map[string]string{
		"same instance":  feed.URL,
		"fresh instance": feedtest.Start(t, n.URL, nil).URL,
	} {
		b, err := feedtest.Dial(t, url, "ST", "").NextEvent(10 * time.Second)
		if err != nil || b.Type != "snapshot" {
			t.Fatalf("%s: got %+v, %v; want a snapshot", name, b, err)
		}
		snap := decodeSnapshot(t, b.Data)
		if len(snap.Products) != 2 || snap.Products[0].Version != 2 || snap.Products[0].Remaining != 8 {
			t.Errorf("%s: snapshot %+v, want A at version 2 with 8 remaining, and B", name, snap.Products)
		}
	}
}

// TestMetrics: the feed's own series follow what happens: events read,
// applied and written, the delivery lag, the clients and the lives.
func TestMetrics(t *testing.T) {
	n := feedtest.StartNATS(t)
	feed := feedtest.Start(t, n.URL, func(c *app.Config) { c.Linger = 300 * time.Millisecond })
	pub := feedtest.NewPublisher(t, n.URL)
	pub.Level(feedtest.Level("MT", "A", 10, 1))
	pub.Level(feedtest.Level("MT", "B", 10, 1))
	m := func(name string, labels ...string) float64 { return metric(t, feed.OpsURL, name, labels...) }

	s1 := feedtest.Dial(t, feed.URL, "MT", "")
	s2 := feedtest.Dial(t, feed.URL, "MT", "")
	for _, s := range []*feedtest.Stream{s1, s2} {
		if b, err := s.NextEvent(10 * time.Second); err != nil || b.Type != "snapshot" {
			t.Fatalf("got %+v, %v; want the snapshot", b, err)
		}
	}
	waitFor(t, 10*time.Second, "both streams open", func() bool { return feed.Streams() == 2 })
	if got := m("stockfeed_clients"); got != 2 {
		t.Errorf("stockfeed_clients = %v with 2 streams open", got)
	}
	if got := m("stockfeed_lives_followed"); got != 1 {
		t.Errorf("stockfeed_lives_followed = %v, want 1", got)
	}
	if got := m("stockfeed_events_in_total", `result="applied"`); got != 2 {
		t.Errorf(`stockfeed_events_in_total{result="applied"} = %v after the history of 2 events`, got)
	}

	pub.Level(feedtest.Level("MT", "A", 9, 2))
	for _, s := range []*feedtest.Stream{s1, s2} {
		readUntil(t, s, "A", 2)
	}
	// A frame is counted just after it is written: poll.
	waitFor(t, 10*time.Second, "the change counted for both viewers", func() bool {
		return m("stockfeed_delivery_lag_seconds_count") >= 2 && m("stockfeed_events_out_total") >= 4
	})
	if got := m("stockfeed_delivery_lag_seconds_count"); got != 2 {
		t.Errorf("stockfeed_delivery_lag_seconds_count = %v, want 2 (one change, two viewers; snapshots stay out)", got)
	}
	if got := m("stockfeed_events_out_total"); got != 4 {
		t.Errorf("stockfeed_events_out_total = %v, want 4 (two snapshots, one change twice)", got)
	}
	if got := m("stockfeed_events_in_total", `result="applied"`); got != 3 {
		t.Errorf(`stockfeed_events_in_total{result="applied"} = %v, want 3`, got)
	}

	s1.Close()
	waitFor(t, 10*time.Second, "one client left", func() bool { return m("stockfeed_clients") == 1 })
	s2.Close()
	waitFor(t, 10*time.Second, "no client left", func() bool { return m("stockfeed_clients") == 0 })
	waitFor(t, 10*time.Second, "no live followed after the linger", func() bool { return m("stockfeed_lives_followed") == 0 })
}

// TestStreamReplaced: the STOCK stream is deleted and made again (its
// sequence numbers start over). Viewers are cut with reason "resync" rather
// than left waiting on positions that no longer exist, and on reconnecting
// they get the new stream's state.
func TestStreamReplaced(t *testing.T) {
	n := feedtest.StartNATS(t)
	feed := feedtest.Start(t, n.URL, func(c *app.Config) { c.StreamCheck = 200 * time.Millisecond })
	pub := feedtest.NewPublisher(t, n.URL)
	for v := int64(1); v <= 3; v++ {
		pub.Level(feedtest.Level("RP", "A", 10-v, v))
	}
	s := feedtest.Dial(t, feed.URL, "RP", "")
	readUntil(t, s, "A", 3)
	last := s.LastEventID()

	js, err := jetstream.New(pub.Conn())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := js.DeleteStream(ctx, stockstream.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := stockstream.Ensure(ctx, js, 1); err != nil {
		t.Fatal(err)
	}
	pub.Level(feedtest.Level("RP", "A", 5, 4))

	for {
		b, err := s.NextEvent(20 * time.Second)
		if err != nil {
			t.Fatalf("waiting for the resync: %v", err)
		}
		if b.Type == "disconnect" {
			if !strings.Contains(b.Data, `"reason":"resync"`) {
				t.Fatalf("disconnect %s, want reason resync", b.Data)
			}
			break
		}
	}
	r := feedtest.Dial(t, feed.URL, "RP", last)
	b, err := r.NextEvent(10 * time.Second)
	if err != nil || b.Type != "snapshot" {
		t.Fatalf("after the resync, Last-Event-ID %s: %+v, %v; want a snapshot", last, b, err)
	}
	if snap := decodeSnapshot(t, b.Data); len(snap.Products) != 1 || snap.Products[0].Version != 4 {
		t.Errorf("snapshot after the resync = %+v, want A at version 4", snap.Products)
	}
}

// dialNonReader asks for a live's stream with a tiny receive buffer and
// never reads it: the slowest viewer there is. The connection closes when
// the test ends.
func dialNonReader(t *testing.T, feedURL, live string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048) })
	}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(feedURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /v1/lives/%s/events HTTP/1.1\r\nHost: feed\r\n\r\n", live)
	return conn
}

// publishRound publishes version v of skus products of a live
// (sku-00, sku-01, ...) without waiting for each to be stored.
func publishRound(t *testing.T, pub *feedtest.Publisher, live string, skus int, v int64) {
	t.Helper()
	for i := range skus {
		l := feedtest.Level(live, fmt.Sprintf("sku-%02d", i), 1000, v)
		body, _ := json.Marshal(stock.NewEvent(l))
		pub.Conn().Publish(stock.Subject(live, l.SKU), body)
	}
	if err := pub.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
}

// publishUntilSlowCut publishes rounds of a live's skus, from version 2
// on, until the feed has cut a viewer as too slow (checked every 20
// rounds) or 3000 rounds are out, and returns the last version published.
func publishUntilSlowCut(t *testing.T, feed *feedtest.Feed, pub *feedtest.Publisher, live string, skus int) int64 {
	t.Helper()
	cut := func() bool {
		return metric(t, feed.OpsURL, "stockfeed_clients_dropped_total", `reason="slow_consumer"`) > 0
	}
	v := int64(2)
	for ; v <= 3000 && (v%20 != 0 || !cut()); v++ {
		publishRound(t, pub, live, skus, v)
		time.Sleep(time.Millisecond)
	}
	return v - 1
}
