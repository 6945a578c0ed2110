// Package hub keeps, for every live that has viewers on this instance, the
// latest stock of each of its skus, and fans changes out to those viewers.
//
// A live's hub is fed by a Source in stream order (each change carries the
// stream sequence number it was stored under). A change after a quiet
// spell is sent at once; during a burst, changes are sent at most once per
// coalescing window, one event per sku with the newest version: a viewer
// needs the current count, not every step to it.
//
// Each window's changes are encoded once, as a Frame every viewer of the
// live shares, and one goroutine per live writes them out (fanout.go): to
// each viewer that keeps up, straight to its socket without waiting, all
// the windows since its last write in one system call. A viewer whose
// socket is full gets the rest from its own goroutine, through a bounded
// queue; fan-out never blocks, and a viewer whose queue is full is cut off
// rather than allowed to hold memory or slow the others.
//
// Event ids are "{sku}:{version}" of the change they carry. Every instance
// reads the same stream, so an id names one stream position everywhere:
// a viewer that reconnects, to this instance or another, gets every sku
// that changed after that position, or a fresh snapshot when the position
// is no longer known.
package hub

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"livecommerce/internal/stock"
)

// Reasons a viewer is disconnected by the feed.
const (
	ReasonSlow     = "slow_consumer"
	ReasonShutdown = "shutdown"
	// ReasonResync: the stream the live's state came from was replaced
	// (deleted and made again); its positions mean nothing any more, so
	// viewers start over with a fresh snapshot.
	ReasonResync = "resync"
)

// recentCap bounds the ids a hub can resume from: the current version of
// every sku, and the last this many changes of the live (about 100 KiB).
const recentCap = 1024

// Frame is a piece of the event stream, ready to write: one or more SSE
// events. Frames are shared by every viewer of a live and never modified.
type Frame struct {
	Data []byte
	// chunk is Data framed as one HTTP/1.1 chunk, in the same array (Data
	// is a slice of it), so that no viewer frames it again.
	chunk []byte
	// Events is the number of SSE events in Data.
	Events int
	// Changed holds the commit time of each stock change in Data, for the
	// delivery-lag histogram; snapshots leave it empty.
	Changed []time.Time
	seq     uint64 // the live's window it was flushed in (the first one, when merged)
	windows int    // coalescing windows it carries: the unit of a viewer's queue
}

// Bytes is what goes on the wire: Data, as one HTTP/1.1 chunk when
// chunked. An empty frame is nothing at all (an empty chunk would end the
// response).
func (f *Frame) Bytes(chunked bool) []byte {
	if chunked {
		return f.chunk
	}
	return f.Data
}

// chunkRoom is the room kept in front of a frame's data for its chunk
// size line: up to 16 hex digits and CRLF.
const chunkRoom = 18

// newFrameBuf starts a frame's array, with room for the chunk size line.
func newFrameBuf(size int) []byte { return make([]byte, chunkRoom, chunkRoom+size+2) }

// finish sets f's Data and chunk from b, an array from newFrameBuf with
// the data appended.
func (f *Frame) finish(b []byte) {
	n := len(b) - chunkRoom
	b = slices.Grow(b, 2) // the chunk's CRLF, in the same array
	f.Data = b[chunkRoom:len(b):len(b)]
	if n == 0 {
		return
	}
	var size [chunkRoom]byte
	line := append(strconv.AppendInt(size[:0], int64(n), 16), '\r', '\n')
	start := chunkRoom - len(line)
	copy(b[start:], line)
	f.chunk = append(b, '\r', '\n')[start:]
}

type entry struct {
	level stock.Level
	seq   uint64
}

type key struct {
	sku     string
	version int64
}

// Hub is one live's state and viewers.
type Hub struct {
	liveID  string
	window  time.Duration
	queue   int
	metrics *Metrics

	mu        sync.Mutex
	state     map[string]entry
	cursor    uint64 // highest stream sequence seen, applied or not
	newest    key    // the change with the highest sequence that was applied
	recent    map[key]uint64
	ring      []key // recent's keys, oldest first, for eviction
	ringHead  int
	pending   map[string]entry
	armed     bool // a flush is scheduled
	lastFlush time.Time
	snapshot  *Frame // cached until the next applied change
	clients   []*Client
	nextSeq   uint64   // the seq of the next window flushed
	outbox    []*Frame // flushed, not yet taken by the fan-out
	kick      chan struct{}
	ready     chan struct{}
	isReady   bool
	epoch     string // identity of the stream the state came from
}

func newHub(liveID string, window time.Duration, queue int, m *Metrics) *Hub {
	return &Hub{
		liveID: liveID, window: window, queue: queue, metrics: m,
		state:   map[string]entry{},
		recent:  map[key]uint64{},
		pending: map[string]entry{},
		kick:    make(chan struct{}, 1),
		ready:   make(chan struct{}),
	}
}

// Apply takes one message of the live's subject from the stream. A
// malformed or foreign message is counted and dropped; an older version
// than the one known is ignored (versions never go back on screen).
func (h *Hub) Apply(seq uint64, subject string, data []byte) {
	ev, err := stock.DecodeEvent(data)
	if err == nil && (ev.LiveID != h.liveID || subject != stock.Subject(ev.LiveID, ev.SKU)) {
		err = fmt.Errorf("event for %s/%s arrived on subject %q", ev.LiveID, ev.SKU, subject)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if seq <= h.cursor {
		return // a redelivery after the source restarted
	}
	h.cursor = seq
	if err != nil {
		h.metrics.eventsIn.WithLabelValues(resultMalformed).Inc()
		return
	}
	if cur, ok := h.state[ev.SKU]; ok && ev.Version <= cur.level.Version {
		// Never sent to anyone, so never an id a viewer could resume from.
		h.metrics.eventsIn.WithLabelValues(resultStale).Inc()
		return
	}
	k := key{ev.SKU, ev.Version}
	if cur, ok := h.state[ev.SKU]; ok {
		k.sku = cur.level.SKU // one copy of the string per sku, not per change
	}
	h.remember(k, seq)
	h.metrics.eventsIn.WithLabelValues(resultApplied).Inc()
	e := entry{level: ev.Level, seq: seq}
	h.state[ev.SKU] = e
	h.newest = k
	h.snapshot = nil
	if !h.isReady {
		return // nobody is watching yet: this is the history being read
	}
	if _, ok := h.pending[ev.SKU]; ok {
		h.metrics.coalesced.Inc()
	}
	h.pending[ev.SKU] = e
	if h.armed {
		return // a flush is due; this change goes with it
	}
	// A change after a quiet spell goes out at once; during a burst, at
	// most one flush per window.
	if wait := h.window - time.Since(h.lastFlush); wait > 0 {
		h.armed = true
		time.AfterFunc(wait, h.flush)
		return
	}
	h.flushLocked()
}

// Begin tells the hub which stream the messages that follow come from. The
// same stream again (a source restarted after a failure) changes nothing:
// what it delivers again is skipped by sequence. A different one (the
// stream was deleted and made again, its sequences starting over) resets
// the live: its state is read anew, and viewers are cut so that they
// reconnect to a fresh snapshot instead of waiting on positions that no
// longer exist.
func (h *Hub) Begin(epoch string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.epoch == "" || h.epoch == epoch {
		h.epoch = epoch
		return
	}
	h.epoch = epoch
	clear(h.state)
	clear(h.pending)
	clear(h.recent)
	h.ring, h.ringHead = h.ring[:0], 0
	h.cursor, h.newest, h.snapshot = 0, key{}, nil
	clear(h.outbox)
	h.outbox = h.outbox[:0]
	if h.isReady {
		h.isReady = false
		h.ready = make(chan struct{})
	}
	// From the last, so that each cut removes the slice's last element.
	for i := len(h.clients) - 1; i >= 0; i-- {
		h.cutLocked(h.clients[i], ReasonResync)
	}
}

// readyChan is closed once the live's history has been read.
func (h *Hub) readyChan() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ready
}

// CaughtUp marks the history as read: from now on changes go to viewers.
func (h *Hub) CaughtUp() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.isReady {
		h.isReady = true
		close(h.ready)
	}
}

func (h *Hub) remember(k key, seq uint64) {
	if _, ok := h.recent[k]; ok {
		return
	}
	if len(h.ring) < recentCap {
		h.ring = append(h.ring, k)
	} else {
		delete(h.recent, h.ring[h.ringHead])
		h.ring[h.ringHead] = k
		h.ringHead = (h.ringHead + 1) % recentCap
	}
	h.recent[k] = seq
}

func (h *Hub) flush() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.flushLocked()
}

// flushLocked encodes the pending changes, in stream order, into the
// window's frame, and hands it to the fan-out for every viewer.
func (h *Hub) flushLocked() {
	h.armed = false
	h.lastFlush = time.Now()
	if len(h.pending) == 0 {
		return
	}
	entries := make([]entry, 0, len(h.pending))
	for _, e := range h.pending {
		entries = append(entries, e)
	}
	clear(h.pending)
	f := encodeChanges(entries)
	f.seq, f.windows = h.nextSeq, 1
	h.nextSeq++
	if len(h.clients) == 0 {
		return
	}
	h.outbox = append(h.outbox, f)
	select {
	case h.kick <- struct{}{}:
	default: // the fan-out is due to look already
	}
}

// join adds a viewer. Its first frame is computed under the same lock as
// every flush, so nothing falls between it and the windows it is sent.
func (h *Hub) join(lastEventID string) (*Client, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.state) == 0 {
		return nil, ErrUnknownLive
	}
	c := newClient(h, h.nextSeq)
	c.First = h.resumeLocked(lastEventID)
	if c.First == nil {
		c.First = h.snapshotLocked()
	}
	c.idx = len(h.clients)
	h.clients = append(h.clients, c)
	h.metrics.clients.Inc()
	return c, nil
}

// resumeLocked returns the changes after the position lastEventID names
// (an empty frame when there are none), or nil when that position is
// unknown here.
func (h *Hub) resumeLocked(lastEventID string) *Frame {
	k, ok := parseID(lastEventID)
	if !ok {
		return nil
	}
	// The current version of a sku stays resumable however long ago it
	// changed; older ones while they are among the recent changes.
	var seq uint64
	if cur, ok := h.state[k.sku]; ok && cur.level.Version == k.version {
		seq = cur.seq
	} else if seq, ok = h.recent[k]; !ok {
		return nil
	}
	var entries []entry
	for _, e := range h.state {
		if e.seq > seq {
			entries = append(entries, e)
		}
	}
	return encodeChanges(entries)
}

func (h *Hub) snapshotLocked() *Frame {
	if h.snapshot != nil {
		return h.snapshot
	}
	products := make([]stock.Level, 0, len(h.state))
	for _, e := range h.state {
		products = append(products, e.level)
	}
	slices.SortFunc(products, func(a, b stock.Level) int { return strings.Compare(a.SKU, b.SKU) })
	body, err := json.Marshal(struct {
		LiveID   string        `json:"live_id"`
		Products []stock.Level `json:"products"`
	}{h.liveID, products})
	if err != nil {
		panic(err) // plain structs of strings, numbers and times
	}
	b := newFrameBuf(len(body) + 100)
	b = append(b, "id: "...)
	b = append(b, formatID(h.newest)...)
	b = append(b, "\nevent: snapshot\ndata: "...)
	b = append(b, body...)
	b = append(b, "\n\n"...)
	h.snapshot = &Frame{Events: 1}
	h.snapshot.finish(b)
	return h.snapshot
}

func (h *Hub) cutLocked(c *Client, reason string) {
	if !h.removeLocked(c) {
		return
	}
	c.reason = reason
	close(c.cut)
	h.metrics.dropped.WithLabelValues(reason).Inc()
}

func (h *Hub) leave(c *Client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(c)
}

// removeLocked takes c out of the viewers, reporting whether it was one.
func (h *Hub) removeLocked(c *Client) bool {
	if c.idx < 0 {
		return false
	}
	last := len(h.clients) - 1
	h.clients[c.idx] = h.clients[last]
	h.clients[c.idx].idx = c.idx
	h.clients[last] = nil
	h.clients = h.clients[:last]
	c.idx = -1
	h.metrics.clients.Dec()
	return true
}

// encodeChanges writes one stock event per entry, in stream order.
func encodeChanges(entries []entry) *Frame {
	slices.SortFunc(entries, func(a, b entry) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	f := &Frame{Events: len(entries), Changed: make([]time.Time, len(entries))}
	b := newFrameBuf(200 * len(entries))
	for i, e := range entries {
		body, err := json.Marshal(e.level)
		if err != nil {
			panic(err)
		}
		b = append(b, "id: "...)
		b = append(b, formatID(key{e.level.SKU, e.level.Version})...)
		b = append(b, "\nevent: stock\ndata: "...)
		b = append(b, body...)
		b = append(b, "\n\n"...)
		f.Changed[i] = e.level.UpdatedAt
	}
	f.finish(b)
	return f
}

func formatID(k key) string { return k.sku + ":" + strconv.FormatInt(k.version, 10) }

// parseID reads an event id. Anything that is not exactly one this
// package wrote, a hostile or truncated header included, is unknown.
func parseID(s string) (key, bool) {
	if len(s) > 90 {
		return key{}, false
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return key{}, false
	}
	sku, num := s[:i], s[i+1:]
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v <= 0 || !stock.ValidID(sku) || strconv.FormatInt(v, 10) != num {
		return key{}, false
	}
	return key{sku, v}, true
}
