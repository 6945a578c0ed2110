package hub

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"livecommerce/internal/sseclient"
	"livecommerce/internal/stock"
)

const testLive = "LIVE1"

// recConn is a viewer's socket: it records what it takes. take < 0 takes
// everything; otherwise each write takes at most take bytes, and take
// then drops to 0 (the socket is full) unless refill is set.
type recConn struct {
	mu     sync.Mutex
	buf    []byte
	writes [][]byte // the slices the fan-out handed over, as handed
	take   int
	refill int
}

func (r *recConn) TryWrite(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, p)
	n := len(p)
	if r.take >= 0 {
		n = min(n, r.take)
		r.take = r.refill
	}
	r.buf = append(r.buf, p[:n]...)
	return n, nil
}

// pump writes what waits for the viewer's own goroutine into conn, as
// sse's pump does, until the connection goes back to the fan-out.
func (r *recConn) pump(t *testing.T, c *Client, chunked bool) {
	t.Helper()
	var buf [8]*Frame
	for {
		n, off, err := c.Take(buf[:])
		if err != nil {
			t.Fatalf("Take: %v", err)
		}
		if n == 0 {
			return
		}
		r.mu.Lock()
		r.keepTaken(buf[:n], off, chunked)
		r.mu.Unlock()
	}
}

// keepTaken records frames taken with Take as the pump writes them: the
// first from off on. r.mu is held.
func (r *recConn) keepTaken(frames []*Frame, off int, chunked bool) {
	for i, f := range frames {
		b := f.Bytes(chunked)
		if i == 0 {
			b = b[off:]
		}
		r.buf = append(r.buf, b...)
	}
}

func (r *recConn) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.buf)
}

// testHub is a live with its fan-out running, fed by hand; use it inside
// a synctest bubble.
type testHub struct {
	t   *testing.T
	h   *Hub
	reg *prometheus.Registry
	seq uint64
}

func newTestHub(t *testing.T, queue int) *testHub {
	reg := prometheus.NewRegistry()
	h := newHub(testLive, 50*time.Millisecond, queue, NewMetrics(reg))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go h.fanOut(ctx)
	th := &testHub{t: t, h: h, reg: reg}
	h.Begin("stream-1")
	for _, sku := range []string{"A", "B", "C"} {
		th.publish(sku, 1)
	}
	h.CaughtUp()
	// As if a window had just gone out: each window of a test is then
	// flushed whole, when its timer fires.
	h.lastFlush = time.Now()
	return th
}

func (th *testHub) publish(sku string, version int64) {
	th.t.Helper()
	th.seq++
	l := stock.Level{SKU: sku, LiveID: testLive, Remaining: 100 - version, Status: stock.InStock, Version: version, UpdatedAt: time.Now()}
	body, err := json.Marshal(stock.NewEvent(l))
	if err != nil {
		th.t.Fatal(err)
	}
	th.h.Apply(th.seq, stock.Subject(testLive, sku), body)
}

// metric reads a counter or gauge; label, if not empty, is the value of
// its one label.
func (th *testHub) metric(name, label string) float64 {
	th.t.Helper()
	mfs, err := th.reg.Gather()
	if err != nil {
		th.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && (len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	th.t.Fatalf("no metric %s{%s}", name, label)
	return 0
}

// window publishes changes and lets their window go out to every viewer.
func (th *testHub) window(changes ...string) {
	th.t.Helper()
	for _, ch := range changes {
		sku, v, _ := strings.Cut(ch, ":")
		version, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			th.t.Fatal(err)
		}
		th.publish(sku, version)
	}
	// Past the window's flush, but within the next window: the next
	// call's changes wait for its timer too.
	time.Sleep(60 * time.Millisecond)
	synctest.Wait() // the fan-out has written
}

// join adds a viewer whose pump has written its First and attached conn.
func (th *testHub) join(lastEventID string, conn *recConn, chunked bool) *Client {
	th.t.Helper()
	c, err := th.h.join(lastEventID)
	if err != nil {
		th.t.Fatal(err)
	}
	c.release = func() {}
	c.Attach(conn, chunked)
	conn.pump(th.t, c, chunked)
	return c
}

// events reads SSE bytes (unchunked) as "id" or "id event" strings.
func events(t *testing.T, b []byte) []string {
	t.Helper()
	r := sseclient.NewReader(bytes.NewReader(b))
	var got []string
	for {
		blk, err := r.Next()
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		if blk.Type != "stock" {
			t.Fatalf("got a %q event, want only stock events", blk.Type)
		}
		var l stock.Level
		if err := json.Unmarshal([]byte(blk.Data), &l); err != nil {
			t.Fatalf("event data %q: %v", blk.Data, err)
		}
		id := l.SKU + ":" + strconv.FormatInt(l.Version, 10)
		if blk.LastEventID != id {
			t.Fatalf("event id %q carries %s", blk.LastEventID, id)
		}
		got = append(got, id)
	}
}

// unchunk reads an HTTP/1.1 chunked body that has not ended yet.
func unchunk(t *testing.T, b []byte) []byte {
	t.Helper()
	var out []byte
	r := bufio.NewReader(bytes.NewReader(b))
	for {
		line, err := r.ReadString('\n')
		if errors.Is(err, io.EOF) && line == "" {
			return out
		}
		if err != nil || !strings.HasSuffix(line, "\r\n") {
			t.Fatalf("chunk size line %q: %v", line, err)
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(line, "\r\n"), 16, 64)
		if err != nil || n <= 0 {
			t.Fatalf("chunk size line %q: want a size above 0", line)
		}
		chunk := make([]byte, n+2)
		if _, err := io.ReadFull(r, chunk); err != nil || string(chunk[n:]) != "\r\n" {
			t.Fatalf("chunk of %d bytes: %v, ends %q", n, err, chunk[n:])
		}
		out = append(out, chunk[:n]...)
	}
}

// TestSharedFrames: every viewer of a live gets the same windows, written
// straight from one encoding of each (the same bytes in memory), one
// write per window, in stream order; HTTP/1.0 viewers get the same events
// unchunked.
func TestSharedFrames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := newTestHub(t, 64)
		const viewers = 50
		conns := make([]*recConn, viewers)
		for i := range conns {
			conns[i] = &recConn{take: -1}
			th.join("", conns[i], true)
		}
		plain := &recConn{take: -1}
		th.join("", plain, false)

		windows := [][]string{{"A:2", "B:2", "C:2"}, {"B:3"}, {"C:3", "A:3"}, {"A:4", "A:5", "B:4"}}
		for _, w := range windows {
			th.window(w...)
		}
		// A:4 was replaced within its window by A:5.
		want := []string{"A:2", "B:2", "C:2", "B:3", "C:3", "A:3", "A:5", "B:4"}

		first := conns[0].bytes()
		if got := events(t, unchunk(t, first)); !slices.Equal(got, want) {
			t.Fatalf("viewer 0 got events %v, want %v", got, want)
		}
		if got := plain.bytes(); !bytes.Equal(got, unchunk(t, first)) {
			t.Errorf("HTTP/1.0 viewer got %q, want the chunked viewers' events unchunked %q", got, unchunk(t, first))
		}
		for i, c := range conns {
			if got := c.bytes(); !bytes.Equal(got, first) {
				t.Fatalf("viewer %d got %q, want what viewer 0 got, %q", i, got, first)
			}
			if len(c.writes) != len(windows) {
				t.Errorf("viewer %d: %d writes, want one per window (%d)", i, len(c.writes), len(windows))
			}
			for w := range min(len(c.writes), len(windows)) {
				if &c.writes[w][0] != &conns[0].writes[w][0] {
					t.Errorf("viewer %d, window %d: written from its own copy, want the window's one encoding", i, w)
				}
			}
		}
		if got := th.metric("stockfeed_events_out_total", ""); got != float64((viewers+1)*len(want)) {
			t.Errorf("stockfeed_events_out_total = %v, want %d", got, (viewers+1)*len(want))
		}
	})
}

// TestResumeMidway: a viewer that comes back with the id of the last event
// it read gets exactly the skus that changed since, at their newest
// version, then the same windows as everyone else.
func TestResumeMidway(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := newTestHub(t, 64)
		stayed := &recConn{take: -1}
		th.join("", stayed, false)
		th.window("A:2", "B:2", "C:2")
		th.window("C:3")
		left := events(t, stayed.bytes())
		lastID := left[len(left)-1] // C:3

		// Missed while away: A twice, B once; C not at all.
		th.window("A:3", "B:3")
		th.window("A:4")
		back := &recConn{take: -1}
		c := th.join(lastID, back, false)
		if got, want := events(t, c.First.Data), []string{"B:3", "A:4"}; !slices.Equal(got, want) {
			t.Errorf("resume from %s: first frame %v, want %v (stream order, newest versions)", lastID, got, want)
		}
		current := &recConn{take: -1}
		c = th.join("A:4", current, false)
		if c.First.Events != 0 || len(c.First.Data) != 0 {
			t.Errorf("resume from the newest id: first frame %q, want nothing", c.First.Data)
		}

		mark := len(stayed.bytes())
		th.window("C:4", "B:4")
		then := stayed.bytes()[mark:]
		for name, conn := range map[string]*recConn{"resumed": back, "current": current} {
			if got := conn.bytes(); !bytes.Equal(got, then) {
				t.Errorf("%s viewer got %q after its first frame, want %q like the others", name, got, then)
			}
		}
	})
}

// TestSlowViewerCut: a viewer whose socket stays full is cut once more
// windows wait for it than its queue holds; the others get every window.
// What the fan-out wrote of a window before the socket filled is finished
// by the stream's goodbye path, so the chunk framing stays whole.
func TestSlowViewerCut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const queue = 4
		th := newTestHub(t, queue)
		fast := make([]*recConn, 5)
		for i := range fast {
			fast[i] = &recConn{take: -1}
			th.join("", fast[i], true)
		}
		stuck := &recConn{take: 0}
		stuckC := th.join("", stuck, true)
		half := &recConn{take: 10} // takes 10 bytes, then nothing
		halfC := th.join("", half, true)

		var want []string
		for v := int64(2); v <= queue+3; v++ {
			id := "A:" + strconv.FormatInt(v, 10)
			th.window(id)
			want = append(want, id)
		}
		for name, c := range map[string]*Client{"stuck": stuckC, "half-written": halfC} {
			select {
			case <-c.Cut():
				if r := c.Reason(); r != ReasonSlow {
					t.Errorf("%s viewer cut for %q, want %q", name, r, ReasonSlow)
				}
			default:
				t.Errorf("%s viewer not cut after %d windows with a queue of %d", name, len(want), queue)
			}
		}
		for i, c := range fast {
			if got := events(t, unchunk(t, c.bytes())); !slices.Equal(got, want) {
				t.Errorf("fast viewer %d got %v, want %v", i, got, want)
			}
		}
		if got := th.metric("stockfeed_clients_dropped_total", ReasonSlow); got != 2 {
			t.Errorf("stockfeed_clients_dropped_total{reason=slow_consumer} = %v, want 2", got)
		}
		if got := th.metric("stockfeed_clients", ""); got != float64(len(fast)) {
			t.Errorf("stockfeed_clients = %v, want %d", got, len(fast))
		}

		// The half-written window: 10 bytes on the wire, Close gives the rest.
		rest := halfC.Close()
		whole := append(half.bytes(), rest...)
		if len(rest) == 0 || !bytes.Equal(whole, half.writes[0]) {
			t.Errorf("written %q + rest %q, want the first window whole, %q", half.bytes(), rest, half.writes[0])
		}
		if got := events(t, unchunk(t, whole)); !slices.Equal(got, want[:1]) {
			t.Errorf("half-written viewer's stream reads %v, want %v", got, want[:1])
		}
		if rest := stuckC.Close(); rest != nil {
			t.Errorf("stuck viewer: rest %q, want none (nothing was written)", rest)
		}
	})
}

// TestPumpCatchesUp: a viewer whose socket fills part-way through a window
// gets the rest, and the windows after it, from its own goroutine, all
// waiting windows in one go; then the fan-out writes to it directly again.
// Its stream is byte for byte the others'.
func TestPumpCatchesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := newTestHub(t, 64)
		fast := &recConn{take: -1}
		th.join("", fast, true)
		slow := &recConn{take: 7}
		c := th.join("", slow, true)

		th.window("A:2", "B:2")
		th.window("C:2")
		th.window("A:3")
		if got := len(slow.writes); got != 1 {
			t.Fatalf("%d direct writes to the viewer whose socket filled, want 1 (then its queue)", got)
		}
		var buf [8]*Frame
		n, off, err := c.Take(buf[:])
		if err != nil || n != 3 || off != 7 {
			t.Fatalf("Take = %d frames, offset %d, %v; want the 3 waiting windows, 7 bytes of the first written", n, off, err)
		}
		// Taken frames are the pump's to write; put them back as a pump does.
		slow.mu.Lock()
		slow.keepTaken(buf[:n], off, true)
		slow.take = -1
		slow.mu.Unlock()
		slow.pump(t, c, true) // finds nothing more: back to direct writes

		th.window("B:3")
		if got := len(slow.writes); got != 2 {
			t.Errorf("%d direct writes, want 2: the fan-out writes to it again once it caught up", got)
		}
		if got, want := slow.bytes(), fast.bytes(); !bytes.Equal(got, want) {
			t.Errorf("caught-up viewer got %q, want %q", got, want)
		}
	})
}

// TestMergedRound: when the fan-out takes several windows in one round
// (it fell behind), a viewer that keeps up gets them in one write, and a
// viewer that joined during the round only the windows after its first
// frame.
func TestMergedRound(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	h := newHub(testLive, 50*time.Millisecond, 64, m)
	enc := func(seq uint64, id string) *Frame {
		f := &Frame{Events: 1, Changed: []time.Time{time.Now()}, seq: seq, windows: 1}
		sku, v, _ := strings.Cut(id, ":")
		b := newFrameBuf(64)
		b = append(b, "id: "+id+"\nevent: stock\ndata: {\"sku\":\""+sku+"\",\"version\":"+v+"}\n\n"...)
		f.finish(b)
		return f
	}
	frames := []*Frame{enc(5, "A:2"), enc(6, "B:2"), enc(7, "A:3")}
	all := merge(frames)
	if all.windows != 3 || all.Events != 3 || len(all.Changed) != 3 {
		t.Fatalf("merged frame: %d windows, %d events, %d times; want 3 each", all.windows, all.Events, len(all.Changed))
	}

	early, late := &recConn{take: -1}, &recConn{take: -1}
	ce, cl := newClient(h, 5), newClient(h, 6)
	for _, c := range []struct {
		c    *Client
		conn *recConn
	}{{ce, early}, {cl, late}} {
		c.c.Attach(c.conn, true)
		c.conn.pump(t, c.c, true)
		if !c.c.offer(all, frames, 64, m) {
			t.Fatal("offer: cut, want kept")
		}
	}
	if len(early.writes) != 1 {
		t.Errorf("viewer from window 5: %d writes, want the round in 1", len(early.writes))
	}
	if got, want := events(t, unchunk(t, early.bytes())), []string{"A:2", "B:2", "A:3"}; !slices.Equal(got, want) {
		t.Errorf("viewer from window 5 got %v, want %v", got, want)
	}
	late.pump(t, cl, true)
	if got, want := events(t, unchunk(t, late.bytes())), []string{"B:2", "A:3"}; !slices.Equal(got, want) {
		t.Errorf("viewer from window 6 got %v, want %v", got, want)
	}
}
