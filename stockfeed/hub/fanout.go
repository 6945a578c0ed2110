package hub

import (
	"context"
	"time"
)

// fanOut writes the live's windows to its viewers until ctx ends.
//
// One goroutine per live does the writing, not one per viewer: a window
// then costs a viewer one system call and no goroutine switch, and the
// viewers are served in turn, so none waits more than one round. Each
// round takes every window flushed since the last one. When the viewers
// are so many that a round outlasts a window, each still gets one write
// per round carrying all it missed: the writes per second level off as
// the load rises, instead of piling up in queues.
func (h *Hub) fanOut(ctx context.Context) {
	var frames []*Frame
	var viewers []*Client
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.kick:
		}
		h.mu.Lock()
		frames = append(frames[:0], h.outbox...)
		clear(h.outbox)
		h.outbox = h.outbox[:0]
		viewers = append(viewers[:0], h.clients...)
		h.mu.Unlock()
		if len(frames) > 0 {
			h.deliver(frames, viewers)
		}
		// Neither frames nor viewers are pinned until the next round.
		clear(frames)
		clear(viewers)
	}
}

// deliver offers one round of windows to the viewers, and cuts those that
// fell too far behind.
func (h *Hub) deliver(frames []*Frame, viewers []*Client) {
	all := merge(frames)
	last := frames[len(frames)-1].seq
	var slow []*Client
	for _, c := range viewers {
		if c.from > last {
			continue // joined after these windows: its First has them
		}
		if !c.offer(all, frames, h.queue, h.metrics) {
			slow = append(slow, c)
		}
	}
	if len(slow) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range slow {
		h.cutLocked(c, ReasonSlow)
	}
}

// merge joins consecutive windows into one frame, encoded once for every
// viewer.
func merge(frames []*Frame) *Frame {
	if len(frames) == 1 {
		return frames[0]
	}
	size, events := 0, 0
	for _, f := range frames {
		size += len(f.Data)
		events += f.Events
	}
	all := &Frame{Events: events, Changed: make([]time.Time, 0, events), seq: frames[0].seq}
	b := newFrameBuf(size)
	for _, f := range frames {
		b = append(b, f.Data...)
		all.Changed = append(all.Changed, f.Changed...)
		all.windows += f.windows
	}
	all.finish(b)
	return all
}
