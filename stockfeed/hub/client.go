package hub

import (
	"sync"
	"sync/atomic"
	"time"
)

// Conn is a viewer's connection as the fan-out writes to it.
type Conn interface {
	// TryWrite writes as much of p as the socket takes at once, without
	// waiting: fewer than len(p) bytes and no error means the socket is
	// full.
	TryWrite(p []byte) (int, error)
}

// Client is one viewer of a live.
//
// Two goroutines write to its connection, never at once. The live's
// fan-out writes each round of windows straight to it while it keeps up,
// without waiting for the socket. The viewer's own goroutine (the pump)
// writes its first frame, heartbeats, its goodbye, and whatever the
// fan-out could not write at once, waiting for the socket under a
// deadline. While the pump holds the connection the fan-out queues
// instead, and the pump hands the connection back once the queue is
// empty. So a viewer that keeps up costs no goroutine switch per window,
// and one whose socket is full stalls only its own goroutine.
type Client struct {
	hub       *Hub
	cut       chan struct{}
	reason    string // under hub.mu
	idx       int    // position in hub.clients, -1 once it is not a viewer; under hub.mu
	from      uint64 // the first window it is sent; those before are in First
	release   func()
	once      sync.Once
	wake      chan struct{}
	lastWrite atomic.Int64 // unix nanoseconds

	// First is what the viewer gets before any window: a snapshot, or the
	// changes since its Last-Event-ID (possibly none).
	First *Frame

	mu      sync.Mutex
	conn    Conn
	chunked bool
	slow    bool     // the pump holds the connection; the fan-out queues
	queue   []*Frame // windows waiting for the pump, oldest first
	off     int      // bytes of queue[0] the fan-out wrote already
	windows int      // windows in queue
	failed  error    // the fan-out's write failed: the stream is over
	closed  bool     // the stream is ending: nothing more is written
}

func newClient(h *Hub, from uint64) *Client {
	return &Client{hub: h, from: from, idx: -1, cut: make(chan struct{}), wake: make(chan struct{}, 1), slow: true}
}

// Attach gives the fan-out the viewer's connection, once the pump has
// written First; chunked is HTTP/1.1 chunked encoding. The fan-out writes
// to it from the pump's first Take that finds nothing waiting.
func (c *Client) Attach(conn Conn, chunked bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conn, c.chunked = conn, chunked
}

// Wake is signalled when windows wait for the pump, or the fan-out's
// write failed.
func (c *Client) Wake() <-chan struct{} { return c.wake }

func (c *Client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Take moves up to len(buf) of the windows waiting for the pump into buf,
// oldest first, and says how many bytes of the first one the fan-out has
// written already. When none wait it hands the connection back to the
// fan-out and returns 0. An error is the fan-out's failed write: the
// stream is over.
func (c *Client) Take(buf []*Frame) (n, off int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failed != nil {
		return 0, 0, c.failed
	}
	if len(c.queue) == 0 {
		c.queue = nil // a viewer that keeps up holds no queue
		c.slow = c.conn == nil || c.closed
		return 0, 0, nil
	}
	n = copy(buf, c.queue)
	for _, f := range buf[:n] {
		c.windows -= f.windows
	}
	off, c.off = c.off, 0
	left := copy(c.queue, c.queue[n:])
	clear(c.queue[left:])
	c.queue = c.queue[:left]
	return n, off, nil
}

// Hold takes the connection from the fan-out for a write of the pump's
// own, a heartbeat; Take gives it back. It is false when windows wait for
// the pump: it writes those instead.
func (c *Client) Hold() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) > 0 {
		return false
	}
	c.slow = true
	return true
}

// Close takes the connection for good: the fan-out writes nothing more to
// it. It returns the rest of a window the fan-out only partly wrote (nil
// if none), which must be written before anything else, or nothing may.
func (c *Client) Close() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed, c.slow = true, true
	var rest []byte
	if c.off > 0 {
		rest = c.queue[0].Bytes(c.chunked)[c.off:]
	}
	clear(c.queue)
	c.queue, c.off, c.windows = nil, 0, 0
	return rest
}

// Wrote records a write by the pump at t, so that heartbeats only fill
// silences.
func (c *Client) Wrote(t time.Time) { c.lastWrite.Store(t.UnixNano()) }

// LastWrite is when the viewer was last written to, by either goroutine.
func (c *Client) LastWrite() time.Time { return time.Unix(0, c.lastWrite.Load()) }

// offer gives the viewer a round of windows, frames, all of them also in
// one frame, all: written at once while it keeps up, queued for its pump
// otherwise. It is false when the queue then holds more than limit
// windows: the viewer is too slow and must be cut.
func (c *Client) offer(all *Frame, frames []*Frame, limit int, m *Metrics) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.failed != nil {
		return true
	}
	whole := c.from <= frames[0].seq
	if !c.slow && whole {
		b := all.Bytes(c.chunked)
		n, err := c.conn.TryWrite(b)
		switch {
		case err != nil:
			c.failed = err
			c.signal()
			return true
		case n == len(b):
			now := time.Now()
			c.lastWrite.Store(now.UnixNano())
			m.Delivered(all, now)
			return true
		}
		// The socket is full: the pump writes the rest, waiting for it.
		c.slow = true
		c.queue = append(c.queue, all)
		c.off = n
		c.windows += all.windows
		c.signal()
		return true
	}
	if whole {
		c.queue = append(c.queue, all)
		c.windows += all.windows
	} else {
		// It joined during the round: only the windows after its First.
		for _, f := range frames {
			if f.seq >= c.from {
				c.queue = append(c.queue, f)
				c.windows += f.windows
			}
		}
	}
	c.slow = true
	c.signal()
	return c.windows <= limit
}

// Cut is closed when the feed disconnects the viewer; Reason says why.
func (c *Client) Cut() <-chan struct{} { return c.cut }

// Reason is why the viewer was cut; read it after Cut is closed.
func (c *Client) Reason() string {
	c.hub.mu.Lock()
	defer c.hub.mu.Unlock()
	return c.reason
}

// Disconnect cuts the viewer for reason (a no-op if it was already cut or
// has left).
func (c *Client) Disconnect(reason string) {
	c.hub.mu.Lock()
	defer c.hub.mu.Unlock()
	c.hub.cutLocked(c, reason)
}

// Leave removes the viewer; call it once the stream has ended, however it
// ended. It is safe to call more than once.
func (c *Client) Leave() {
	c.once.Do(func() {
		c.hub.leave(c)
		c.release()
	})
}
