package purge

import (
	"sync"
	"time"
)

// Acker is the part of a JetStream message the queue settles.
type Acker interface {
	Ack() error
	Nak() error
	InProgress() error
}

// waiter is one message waiting for its tags to be purged.
type waiter struct {
	msg       Acker
	seq       uint64
	left      int // tags not yet purged
	updatedAt time.Time
}

// Queue holds the tags waiting to be purged, deduplicated, and the messages
// waiting on them. A message is acked once every one of its tags has gone
// out in a successful call made at least a settle time after the message
// arrived; until then it stays unacked, so a crash or a shutdown hands it to
// the next process.
//
// Why a settle time: the origins keep each stock answer in a micro-cache
// for up to stock.MaxOriginCache. A purge sent sooner after a change can be
// followed by a refetch that an origin answers from before the change, and
// the edge would keep the old status for a whole TTL.
type Queue struct {
	mu      sync.Mutex
	tags    map[string][]arrival // waiting tag -> messages that need it
	order   []string             // waiting tags in arrival order
	since   time.Time            // arrival of the oldest waiting tag
	pending map[uint64]*waiter   // every unacked message, by stream sequence
	notify  chan struct{}
}

// NewQueue returns an empty queue.
func NewQueue() *Queue {
	return &Queue{tags: make(map[string][]arrival), pending: make(map[uint64]*waiter), notify: make(chan struct{}, 1)}
}

// arrival is a message waiting on a tag, and when it came.
type arrival struct {
	w  *waiter
	at time.Time
}

// Batch is a set of distinct tags taken for one call.
type Batch struct {
	Tags    []string
	waiters [][]arrival
	newest  time.Time // arrival of its newest message
}

// Settled is when every message of b has waited settle: the earliest
// moment b may be sent and its messages acked.
func (b Batch) Settled(settle time.Duration) time.Time { return b.newest.Add(settle) }

// Pending reports whether the message with stream sequence seq is waiting.
// A redelivery of it is ignored: the first delivery will be acked.
func (q *Queue) Pending(seq uint64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, ok := q.pending[seq]
	return ok
}

// Add queues tags for msg. A tag already waiting is not queued twice. A
// tag already taken into a batch is queued again: that call may have
// reached the edge before this change was made.
func (q *Queue) Add(seq uint64, msg Acker, tags []string, updatedAt time.Time, now time.Time) {
	q.mu.Lock()
	w := &waiter{msg: msg, seq: seq, left: len(tags), updatedAt: updatedAt}
	q.pending[seq] = w
	for _, tag := range tags {
		ws, ok := q.tags[tag]
		if !ok {
			if len(q.order) == 0 {
				q.since = now
			}
			q.order = append(q.order, tag)
		}
		q.tags[tag] = append(ws, arrival{w, now})
	}
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// Len is the number of distinct tags waiting.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.order)
}

// Since is when the oldest waiting tag arrived; ok is false when none waits.
func (q *Queue) Since() (t time.Time, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.since, len(q.order) > 0
}

// Take removes up to n of the oldest waiting tags.
func (q *Queue) Take(n int) Batch {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(q.order))
	b := Batch{Tags: make([]string, n), waiters: make([][]arrival, n)}
	for i, tag := range q.order[:n] {
		b.Tags[i], b.waiters[i] = tag, q.tags[tag]
		for _, a := range b.waiters[i] {
			if a.at.After(b.newest) {
				b.newest = a.at
			}
		}
		delete(q.tags, tag)
	}
	q.order = append(q.order[:0:0], q.order[n:]...)
	// What remains has already waited a window: it is due at once.
	if len(q.order) > 0 {
		q.since = time.Time{}
	}
	return b
}

// Done settles a batch whose call went out at sent (or that was
// deliberately dropped: settle 0): messages with no tag left are acked and
// removed. A message that had not waited settle by then is not settled by
// this call (a call rushed out at shutdown); it stays for the next process.
// Done returns the updated_at times of the acked messages, for the lag
// metric.
func (q *Queue) Done(b Batch, sent time.Time, settle time.Duration) []time.Time {
	q.mu.Lock()
	var acked []*waiter
	for _, as := range b.waiters {
		for _, a := range as {
			if sent.Sub(a.at) < settle {
				continue
			}
			w := a.w
			w.left--
			if w.left == 0 {
				delete(q.pending, w.seq)
				acked = append(acked, w)
			}
		}
	}
	q.mu.Unlock()
	times := make([]time.Time, len(acked))
	for i, w := range acked {
		_ = w.msg.Ack() // a lost ack only means one purge more after a redelivery
		times[i] = w.updatedAt
	}
	return times
}

// Touch tells the server every waiting message is still being worked on,
// so a purge held up by the rate limit or an outage is not redelivered.
func (q *Queue) Touch() {
	for _, w := range q.snapshot() {
		_ = w.msg.InProgress()
	}
}

// NakAll hands every waiting message back to the stream at once, for the
// next process to purge; called on shutdown, after the last call.
func (q *Queue) NakAll() int {
	ws := q.snapshot()
	for _, w := range ws {
		_ = w.msg.Nak()
	}
	q.mu.Lock()
	clear(q.pending)
	clear(q.tags)
	q.order = nil
	q.mu.Unlock()
	return len(ws)
}

func (q *Queue) snapshot() []*waiter {
	q.mu.Lock()
	defer q.mu.Unlock()
	ws := make([]*waiter, 0, len(q.pending))
	for _, w := range q.pending {
		ws = append(ws, w)
	}
	return ws
}
